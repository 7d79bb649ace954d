import Foundation
import GRDB
import KontorCore
import KontorStore

/// The embedded store: one SQLite file in WAL mode behind a GRDB `DatabasePool`, migrated on open.
public final class SQLiteStore: Sendable {
    let writer: any DatabaseWriter

    /// Opens (creating if needed) the database file at `path` and migrates it.
    public convenience init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Deleted and overwritten content is zeroed on disk, so an erased person's data is not left in free pages.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try self.init(writer: pool)
    }

    /// An in-memory database, for tests.
    public static func inMemory() throws -> SQLiteStore {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        return try SQLiteStore(writer: DatabaseQueue(configuration: configuration))
    }

    init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
        try Self.upgradeAuditChain(writer)
    }
}

extension SQLiteStore: StoreHealth {
    public func ping() async throws {
        _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }
}
