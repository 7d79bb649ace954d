import Foundation
import KontorCore
import KontorStore
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// The store on PostgreSQL (postgres-nio), for installations with several server instances. Same schema
/// shape and the same conformance suite as SQLite: dates are seconds since 1970 (DOUBLE PRECISION),
/// documents are JSON text, and everything a check-in or an admin action changes is one transaction.
///
/// A Service: its connection pool serves queries while ``run()`` runs, so whoever opens the store runs it —
/// in a service group, or in a task group around its use (``withStore(url:schema:maxConnections:logger:_:)``).
public final class PostgresStore: Service, Sendable {
    let client: PostgresClient
    let logger: Logger
    /// For the dedicated LISTEN connection.
    private let url: String
    let schema: String?

    /// A store on `url` (`postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require|verify-full]`)
    /// with a pool of at most `maxConnections`; connects nothing yet (see ``run()`` and ``migrate()``).
    /// `schema` puts every table in that schema (created if missing) instead of `public`: the tests give
    /// each store its own. Throws `PostgresURLError` for a bad URL or schema name.
    public init(url: String, schema: String? = nil, maxConnections: Int = 20, logger: Logger) throws {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.maximumConnections = maxConnections
        if let schema {
            guard schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }), !schema.isEmpty else {
                throw PostgresURLError("schema \"\(schema)\": only lowercase letters, digits and _")
            }
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        self.url = url
        self.schema = schema
    }

    /// Runs the connection pool until cancelled or, in a service group, until graceful shutdown; queries
    /// wait for it.
    public func run() async {
        await client.run()
    }

    /// Creates the schema (when one was given) and migrates it. Needs ``run()`` running.
    public func migrate() async throws {
        if let schema { try await run("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)") }
        try await PostgresMigrations.migrate(self)
        try await upgradeAuditChain()
    }

    /// Opens and migrates a store, runs its pool while `body` uses it, and stops the pool when `body` returns
    /// or throws: for commands and tests that use a store without a service group.
    public static func withStore<T>(
        url: String, schema: String? = nil, maxConnections: Int = 20, logger: Logger, _ body: (PostgresStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresStore(url: url, schema: schema, maxConnections: maxConnections, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    // MARK: Query helpers

    /// Runs `query` and maps every row.
    func rows<T>(_ query: PostgresQuery, _ map: (PostgresRandomAccessRow) throws -> T) async throws -> [T] {
        do {
            var out: [T] = []
            for try await row in try await client.query(query, logger: logger) { out.append(try map(row.makeRandomAccess())) }
            return out
        } catch {
            throw PostgresErrors.map(error)
        }
    }

    func row<T>(_ query: PostgresQuery, _ map: (PostgresRandomAccessRow) throws -> T) async throws -> T? {
        try await rows(query, map).first
    }

    /// Runs a statement; returns how many rows it returned (use `RETURNING 1` to count changed rows).
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        do {
            var n = 0
            for try await _ in try await client.query(query, logger: logger) { n += 1 }
            return n
        } catch {
            throw PostgresErrors.map(error)
        }
    }

    /// Runs `body` in one transaction; a `StoreError` thrown inside comes out as itself.
    func transaction<T: Sendable>(_ body: @Sendable (Transaction) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await body(Transaction(connection: connection, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            throw PostgresErrors.map(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        } catch {
            throw PostgresErrors.map(error)
        }
    }

    struct Transaction: Sendable {
        let connection: PostgresConnection
        let logger: Logger

        func rows<T>(_ query: PostgresQuery, _ map: (PostgresRandomAccessRow) throws -> T) async throws -> [T] {
            var out: [T] = []
            for try await row in try await connection.query(query, logger: logger) { out.append(try map(row.makeRandomAccess())) }
            return out
        }

        func row<T>(_ query: PostgresQuery, _ map: (PostgresRandomAccessRow) throws -> T) async throws -> T? { try await rows(query, map).first }

        @discardableResult
        func run(_ query: PostgresQuery) async throws -> Int {
            var n = 0
            for try await _ in try await connection.query(query, logger: logger) { n += 1 }
            return n
        }

        /// Serialises transactions that take the same lock (released at commit or rollback).
        func lock(_ name: String) async throws {
            try await run("SELECT pg_advisory_xact_lock(hashtext(\(name)))")
        }
    }
}

extension PostgresRandomAccessRow {
    /// The column `name` as `T` (NULL decodes only into an Optional).
    func get<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws -> T {
        try self[name].decode(T.self)
    }
}

/// SQLSTATE codes the store turns into `StoreError`s; anything else passes through.
enum PostgresErrors {
    static func sqlState(_ error: any Error) -> (code: String, constraint: String?)? {
        guard let p = error as? PSQLError, p.code == .server, let info = p.serverInfo, let state = info[.sqlState] else { return nil }
        return (state, info[.constraintName])
    }

    static func map(_ error: any Error) -> any Error {
        if let t = error as? PostgresTransactionError {
            return map(t.closureError ?? t.commitError ?? t.beginError ?? t.rollbackError ?? error)
        }
        return error
    }

    static func isUniqueViolation(_ error: any Error) -> Bool { sqlState(map(error))?.code == "23505" }
    static func isForeignKeyViolation(_ error: any Error) -> Bool { sqlState(map(error))?.code == "23503" }
}

/// A bad database URL, named.
public struct PostgresURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "database URL: \(description)" }
}

enum PostgresURL {
    enum TLSMode {
        case disable
        case prefer(TLSConfiguration)
        case require(TLSConfiguration)
    }

    struct Parsed {
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String?
        var tls: TLSMode
    }

    /// `postgres://user[:password]@host[:port]/database[?sslmode=...]`; libpq's sslmode names.
    static func parse(_ url: String) throws -> Parsed {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw PostgresURLError("expected postgres://user@host:port/database, found \"\(redacted(url))\"")
        }
        guard let host = c.host, !host.isEmpty else { throw PostgresURLError("no host in \"\(redacted(url))\"") }
        guard let user = c.user, !user.isEmpty else { throw PostgresURLError("no user in \"\(redacted(url))\" (postgres://USER@host/database)") }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        let tls: TLSMode
        switch c.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require":
            var t = TLSConfiguration.makeClientConfiguration()
            t.certificateVerification = .none
            tls = .require(t)
        case "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other: throw PostgresURLError("sslmode \"\(other)\": expected disable, prefer, require or verify-full")
        }
        return Parsed(host: host, port: c.port ?? 5432, user: user, password: c.password, database: database.isEmpty ? nil : database, tls: tls)
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        let p = try parse(url)
        let tls: PostgresClient.Configuration.TLS
        switch p.tls {
        case .disable: tls = .disable
        case .prefer(let t): tls = .prefer(t)
        case .require(let t): tls = .require(t)
        }
        return PostgresClient.Configuration(host: p.host, port: p.port, username: p.user, password: p.password, database: p.database, tls: tls)
    }

    /// The same server for a single connection (its TLS takes a context, not a configuration).
    static func connectionConfiguration(_ url: String, schema: String?) throws -> PostgresConnection.Configuration {
        let p = try parse(url)
        let tls: PostgresConnection.Configuration.TLS
        switch p.tls {
        case .disable: tls = .disable
        case .prefer(let t): tls = .prefer(try NIOSSLContext(configuration: t))
        case .require(let t): tls = .require(try NIOSSLContext(configuration: t))
        }
        var c = PostgresConnection.Configuration(host: p.host, port: p.port, username: p.user, password: p.password, database: p.database, tls: tls)
        if let schema { c.options.additionalStartupParameters = [("search_path", schema)] }
        return c
    }

    /// The URL with its password replaced, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? "postgres://***"
    }
}

extension PostgresStore {
    /// Rows per table, for checking a move.
    public func count(_ table: String) async throws -> Int {
        guard StoreTables.moved.contains(table) else { throw StoreError.unknownTable(table) }
        return try await row(PostgresQuery(unsafeSQL: "SELECT COUNT(*) AS n FROM \(table)")) { try $0.get("n", as: Int.self) } ?? 0
    }

    /// Writes an installation's tables into this (empty) store in one transaction: all or nothing.
    /// Identity columns keep their values, and their sequences continue after them.
    public func importTables(_ tables: [TableRows]) async throws {
        try await transaction { tx in
            for t in tables {
                guard StoreTables.moved.contains(t.table), !t.columns.isEmpty else { throw StoreError.unknownTable(t.table) }
                let columns = t.columns.map { "\"\($0)\"" }.joined(separator: ", ")
                let identity = ["consent_records", "device_events"].contains(t.table)
                var start = 0
                while start < t.rows.count {
                    let batch = t.rows[start..<min(t.rows.count, start + 200)]
                    var query = PostgresQuery(unsafeSQL: "")
                    var tuples: [String] = []
                    for row in batch {
                        var slots: [String] = []
                        for value in row {
                            switch value {
                            case .null: query.binds.appendNull()
                            case .integer(let n): query.binds.append(Int(n))
                            case .real(let d): query.binds.append(d)
                            case .text(let s): query.binds.append(s)
                            }
                            slots.append("$\(query.binds.count)")
                        }
                        tuples.append("(" + slots.joined(separator: ", ") + ")")
                    }
                    query.sql = "INSERT INTO \(t.table) (\(columns)) \(identity ? "OVERRIDING SYSTEM VALUE " : "")VALUES " + tuples.joined(separator: ", ")
                    try await tx.run(query)
                    start += batch.count
                }
                if identity {
                    try await tx.run(
                        PostgresQuery(
                            unsafeSQL: "SELECT setval(pg_get_serial_sequence('\(t.table)', 'id'), COALESCE((SELECT MAX(id) FROM \(t.table)), 0) + 1, false)"))
                }
            }
        }
    }
}

extension PostgresStore: NotificationChannel {
    /// The channel every instance listens on (per schema, so test stores in one database stay apart).
    var channel: String { "kontor_events" + (schema.map { "_" + $0 } ?? "") }

    public func notify(_ payload: String) async throws {
        try await run("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Listens on a connection of its own; reconnects a second after the connection drops.
    public func listen(connected: @escaping @Sendable () async -> Void, received: @escaping @Sendable (String) async -> Void) async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: try PostgresURL.connectionConfiguration(url, schema: schema), id: attempt, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        await connected()
                        for try await notification in notifications { await received(notification.payload) }
                    }
                } catch {
                    if !Task.isCancelled { logger.warning("cluster listener lost its connection", metadata: ["error": "\(String(reflecting: error))"]) }
                }
                try? await connection.close()
            } catch {
                logger.warning("cluster listener cannot connect", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

/// The replay window shared by every instance: a request accepted by one is refused by all.
extension PostgresStore: ReplayNonceStore {
    public func recordNonce(_ hash: String, expiresAt: Double, now: Double) async throws -> Bool {
        try await run(
            """
            INSERT INTO replay_nonces (hash, expires_at) VALUES (\(hash), \(expiresAt))
            ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_nonces.expires_at < \(now)
            RETURNING 1
            """) == 1
    }

    public func recordNonces(_ hashes: [String], expiresAt: Double) async throws {
        guard !hashes.isEmpty else { return }
        try await run(
            """
            INSERT INTO replay_nonces (hash, expires_at) SELECT DISTINCT unnest(\(hashes)::text[]), \(expiresAt)
            ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at
            """)
    }

    public func liveNonces(at now: Double) async throws -> [String: Double] {
        var out: [String: Double] = [:]
        for (hash, expiry) in try await rows(
            "SELECT hash, expires_at FROM replay_nonces WHERE expires_at >= \(now)",
            { (try $0.get("hash", as: String.self), try $0.get("expires_at", as: Double.self)) })
        {
            out[hash] = expiry
        }
        return out
    }

    @discardableResult
    public func purgeNonces(before: Double) async throws -> Int {
        try await run("DELETE FROM replay_nonces WHERE expires_at < \(before) RETURNING 1")
    }
}

extension PostgresStore: StoreHealth {
    public func ping() async throws { try await run("SELECT 1") }
}
