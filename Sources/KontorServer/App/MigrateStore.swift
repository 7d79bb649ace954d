import ArgumentParser
import Foundation
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging

/// What a move copied, and the proof it is whole.
public struct MigrationReport: Sendable, Equatable {
    public var counts: [(table: String, rows: Int)]
    public var auditEntries: Int
    public var auditHead: String

    public static func == (a: MigrationReport, b: MigrationReport) -> Bool {
        a.auditEntries == b.auditEntries && a.auditHead == b.auditHead && a.counts.map(\.table) == b.counts.map(\.table)
            && a.counts.map(\.rows) == b.counts.map(\.rows)
    }
}

/// Moves an installation from SQLite into an empty PostgreSQL database in one transaction, then checks
/// that every table has as many rows as the source and that the audit chain verifies with the same head.
public func migrateStore(from source: SQLiteStore, to target: PostgresStore) async throws -> MigrationReport {
    for table in ["api_tokens", "persons", "devices", "audit_log"] where try await target.count(table) > 0 {
        throw ConfigError("the target database already holds an installation (\(table) is not empty); migrate into an empty database")
    }
    let sourceChain = AuditChain.verify(try await source.auditEntries(since: nil, target: nil))
    guard sourceChain.ok else {
        throw ConfigError(
            "the source's audit chain is broken at entry \(sourceChain.firstBadSeq ?? 0) (\(sourceChain.problem ?? "")); nothing was moved — find out why first (kontorctl audit verify)"
        )
    }
    let tables = try await source.export(StoreTables.moved)
    try await target.importTables(tables)
    var counts: [(String, Int)] = []
    for t in tables {
        let copied = try await target.count(t.table)
        guard copied == t.rows.count else {
            throw ConfigError("\(t.table): \(t.rows.count) rows in the source but \(copied) in the target; the move is not whole")
        }
        counts.append((t.table, copied))
    }
    let targetChain = AuditChain.verify(try await target.auditEntries(since: nil, target: nil))
    guard targetChain.ok, targetChain.head == sourceChain.head, targetChain.entries == sourceChain.entries else {
        throw ConfigError("the audit chain in the target does not match the source (\(targetChain.problem ?? "head \(targetChain.head)"))")
    }
    return MigrationReport(counts: counts, auditEntries: targetChain.entries, auditHead: targetChain.head)
}

struct MigrateStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-store",
        abstract: "Move an installation from SQLite to an empty PostgreSQL database, verified by row counts and the audit chain.",
        discussion: """
            Stop kontor-server first: the source is read in one snapshot, and anything written after it is not moved.
            Then start the instances with --database set to the target, each with the same server-signing.key.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "The source: sqlite:PATH (the kontor.sqlite of the data directory).") var from: String
    @Option(help: "The target: postgres://user[:password]@host[:port]/database[?sslmode=...], an empty database.") var to: String

    func run() async throws {
        do {
            guard from.hasPrefix("sqlite:") else { throw ConfigError("--from: expected sqlite:PATH, found \"\(from)\"") }
            let path = String(from.dropFirst("sqlite:".count))
            guard FileManager.default.fileExists(atPath: path) else { throw ConfigError("--from: \(path) does not exist") }
            guard to.hasPrefix("postgres://") || to.hasPrefix("postgresql://") else {
                throw ConfigError("--to: expected postgres://user@host:port/database, found \"\(ServerConfig.redacted(to))\"")
            }
            let config = try options.load()
            let key = try ServerSigningKey.loadOrCreate(dataDir: config.dataDir)
            let source = try openSQLite(path: path)
            var logger = Logger(label: "kontor-server")
            logger.logLevel = .warning
            var connected = false
            do {
                try await PostgresStore.withStore(url: to, logger: logger) { target in
                    connected = true
                    let report = try await migrateStore(from: source, to: target)
                    try await checkSharedKey(key, store: target, dataDir: config.dataDir)
                    for (table, rows) in report.counts { print("\(table): \(rows)") }
                    print("audit chain: \(report.auditEntries) entries, intact, head \(report.auditHead)")
                    print(
                        "moved into \(ServerConfig.redacted(to)); copy \((config.dataDir as NSString).appendingPathComponent("server-signing.key")) (0600) to every instance and start them with --database"
                    )
                }
            } catch let error as PostgresURLError {
                throw ConfigError(error.description)
            } catch let error where !connected && !(error is ConfigError) {
                throw ConfigError("--to \(ServerConfig.redacted(to)): cannot connect or migrate (\(String(reflecting: error)))")
            }
        } catch let error as ConfigError {
            throw fail(error.description)
        }
    }
}
