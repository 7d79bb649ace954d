import Foundation
import GRDB

@testable import KontorSQLite

extension SQLiteStore {
    /// Runs raw SQL, for tests that play an attacker with access to the database file.
    func tamper(sql: String) async throws {
        try await writer.write { db in try db.execute(sql: sql) }
    }
}
