import Foundation
import GRDB
import Logging
import PostgresNIO

@testable import KontorPostgres
@testable import KontorSQLite

extension PostgresStore {
    /// A migrated store on its own schema of the test server at `url`, with a small pool. The pool runs
    /// for the rest of the test process, as a server's service group runs it until shutdown.
    static func forTest(url: String, schema: String) async throws -> PostgresStore {
        var logger = Logger(label: "kontor-test-postgres")
        logger.logLevel = .error
        let store = try PostgresStore(url: url, schema: schema, maxConnections: 4, logger: logger)
        Task { await store.run() }
        try await store.migrate()
        return store
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
