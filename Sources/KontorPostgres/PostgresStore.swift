import Foundation
import KontorCore
import KontorStore
import Logging
import NIOCore
import PostgresNIO

/// The store on PostgreSQL (postgres-nio), for installations with several server instances. Same schema
/// shape and the same conformance suite as SQLite: dates are seconds since 1970 (DOUBLE PRECISION),
/// documents are JSON text, and everything a check-in or an admin action changes is one transaction.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    /// Connects to `url` (`postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require|verify-full]`),
    /// migrates the schema, and keeps a pool of at most `maxConnections`. `schema` puts every table in
    /// that schema (created if missing) instead of `public`: the tests give each store its own.
    public static func connect(url: String, schema: String? = nil, maxConnections: Int = 20, logger: Logger) async throws -> PostgresStore {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.maximumConnections = maxConnections
        if let schema {
            guard schema.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }), !schema.isEmpty else {
                throw PostgresURLError("schema \"\(schema)\": only lowercase letters, digits and _")
            }
            configuration.options.additionalStartupParameters = [("search_path", schema)]
        }
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger)
        // Give the pool's run loop a chance to start before the first lease.
        for _ in 0..<3 { await Task.yield() }
        do {
            if let schema { try await store.client.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger) }
            try await PostgresMigrations.migrate(store)
        } catch {
            await store.close()
            throw error
        }
        return store
    }

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    /// Closes the pool; queries fail afterwards.
    public func close() async {
        runner.cancel()
        await runner.value
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

    /// Runs raw SQL statements one by one, for tests that play an attacker with access to the database.
    public func tamper(sql: String) async throws {
        for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
            try await run(PostgresQuery(unsafeSQL: statement))
        }
    }
}

// Dates are stored as seconds since 1970, exactly as in SQLite.
func seconds(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
func seconds(_ date: Date) -> Double { date.timeIntervalSince1970 }
func date(_ value: Double?) -> Date? { value.map { Date(timeIntervalSince1970: $0) } }

func encodeJSON<T: Encodable>(_ value: T?) throws -> String? {
    guard let value else { return nil }
    return String(decoding: try KontorJSON.encode(value), as: UTF8.self)
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
    guard let text else { return nil }
    return try KontorJSON.decode(type, from: Data(text.utf8))
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
    /// `postgres://user[:password]@host[:port]/database[?sslmode=...]`; libpq's sslmode names.
    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw PostgresURLError("expected postgres://user@host:port/database, found \"\(redacted(url))\"")
        }
        guard let host = c.host, !host.isEmpty else { throw PostgresURLError("no host in \"\(redacted(url))\"") }
        guard let user = c.user, !user.isEmpty else { throw PostgresURLError("no user in \"\(redacted(url))\" (postgres://USER@host/database)") }
        let database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        let tls: PostgresClient.Configuration.TLS
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
        return PostgresClient.Configuration(
            host: host, port: c.port ?? 5432, username: user, password: c.password, database: database.isEmpty ? nil : database, tls: tls)
    }

    /// The URL with its password replaced, for messages and logs.
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? "postgres://***"
    }
}
