import Foundation
import GRDB
import Logging
import PostgresNIO

@testable import KontorPostgres
@testable import KontorSQLite

/// Runs a PostgreSQL store's pool (its Service) for as long as a test holds on to this, and stops it
/// (closing its connections) when the test lets go: the tests run in parallel against one server with a
/// limited number of connections.
final class PoolRunner: Sendable {
    private let task: Task<Void, Never>

    init(_ store: PostgresStore) { task = Task { await store.run() } }

    /// Stops the pool now and waits until its connections are closed.
    func stop() async {
        task.cancel()
        await task.value
    }

    deinit { task.cancel() }
}

extension PostgresStore {
    /// A migrated store on its own schema of the test server at `url`, with a small pool that runs while
    /// the returned runner is held.
    static func forTest(url: String, schema: String) async throws -> (PostgresStore, PoolRunner) {
        var logger = Logger(label: "kontor-test-postgres")
        logger.logLevel = .error
        let store = try PostgresStore(url: url, schema: schema, maxConnections: 4, logger: logger)
        let pool = PoolRunner(store)
        try await store.migrate()
        return (store, pool)
    }

    /// Runs raw SQL statements one by one, for tests that play an attacker with access to the database.
    func tamper(sql: String) async throws {
        for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
            try await run(PostgresQuery(unsafeSQL: statement))
        }
    }
}

extension SQLiteStore {
    /// Runs raw SQL, for tests that play an attacker with access to the database file.
    func tamper(sql: String) async throws {
        try await writer.write { db in try db.execute(sql: sql) }
    }
}
