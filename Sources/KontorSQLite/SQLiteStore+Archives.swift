import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: ArchiveStore {
    public func insertArchive(_ a: ArchiveRecord) async throws {
        try await writer.write { db in
            do {
                try db.execute(
                    sql: """
                        INSERT INTO archives (id, device_id, person_id, receipt_id, size, sha256, files, received, state, created_at, completed_at,
                                              retain_until, legal_hold, purged_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        a.id, a.deviceId, a.personId, a.receiptId, a.size, a.sha256, a.files, a.received, a.state.rawValue, seconds(a.createdAt),
                        seconds(a.completedAt), seconds(a.retainUntil), a.legalHold ? 1 : 0, seconds(a.purgedAt),
                    ])
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
                throw StoreError.archiveExists(a.id)
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
                throw StoreError.unknownDevice(a.deviceId)
            }
        }
    }

    public func archive(id: String) async throws -> ArchiveRecord? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM archives WHERE id = ?", arguments: [id]).map(Self.record) }
    }

    public func archives(deviceId: String?) async throws -> [ArchiveRecord] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM archives WHERE ? IS NULL OR device_id = ? ORDER BY created_at DESC, id DESC", arguments: [deviceId, deviceId]
            ).map(Self.record)
        }
    }

    public func recordArchiveProgress(id: String, received: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE archives SET received = ? WHERE id = ? AND state = 'uploading' AND received < ? AND ? <= size",
                arguments: [received, id, received, received])
            return db.changesCount > 0
        }
    }

    public func completeArchive(id: String, at: Date, retainUntil: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE archives SET state = 'complete', completed_at = ?, retain_until = ? WHERE id = ? AND state = 'uploading' AND received = size",
                arguments: [seconds(at), seconds(retainUntil), id])
            return db.changesCount > 0
        }
    }

    public func setArchiveHold(id: String, _ hold: Bool) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE archives SET legal_hold = ? WHERE id = ? AND state <> 'purged'", arguments: [hold ? 1 : 0, id])
            return db.changesCount > 0
        }
    }

    public func markArchivePurged(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT state, legal_hold FROM archives WHERE id = ?", arguments: [id]) else { return false }
            guard (row["state"] as String) != ArchiveState.purged.rawValue else { return false }
            guard (row["legal_hold"] as Int) == 0 else { throw StoreError.archiveOnHold }
            try db.execute(sql: "UPDATE archives SET state = 'purged', purged_at = ? WHERE id = ?", arguments: [seconds(at), id])
            return true
        }
    }
}
