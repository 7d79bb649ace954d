import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: ArchiveStore {
    public func insertArchive(_ a: ArchiveRecord) async throws {
        do {
            try await run(
                """
                INSERT INTO archives (id, device_id, person_id, receipt_id, size, sha256, files, received, state, created_at, completed_at,
                                      retain_until, legal_hold, purged_at)
                VALUES (\(a.id), \(a.deviceId), \(a.personId), \(a.receiptId), \(a.size), \(a.sha256), \(a.files), \(a.received), \(a.state.rawValue),
                        \(seconds(a.createdAt)), \(seconds(a.completedAt)), \(seconds(a.retainUntil)), \(a.legalHold ? 1 : 0), \(seconds(a.purgedAt)))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.archiveExists(a.id)
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownDevice(a.deviceId)
        }
    }

    public func archive(id: String) async throws -> ArchiveRecord? {
        try await row("SELECT * FROM archives WHERE id = \(id)", Self.record)
    }

    public func archives(deviceId: String?) async throws -> [ArchiveRecord] {
        if let deviceId { return try await rows("SELECT * FROM archives WHERE device_id = \(deviceId) ORDER BY created_at DESC, id DESC", Self.record) }
        return try await rows("SELECT * FROM archives ORDER BY created_at DESC, id DESC", Self.record)
    }

    public func recordArchiveProgress(id: String, received: Int64) async throws -> Bool {
        try await run(
            "UPDATE archives SET received = \(received) WHERE id = \(id) AND state = 'uploading' AND received < \(received) AND \(received) <= size RETURNING 1"
        ) > 0
    }

    public func completeArchive(id: String, at: Date, retainUntil: Date) async throws -> Bool {
        try await run(
            """
            UPDATE archives SET state = 'complete', completed_at = \(seconds(at)), retain_until = \(seconds(retainUntil))
            WHERE id = \(id) AND state = 'uploading' AND received = size RETURNING 1
            """) > 0
    }

    public func setArchiveHold(id: String, _ hold: Bool) async throws -> Bool {
        try await run("UPDATE archives SET legal_hold = \(hold ? 1 : 0) WHERE id = \(id) AND state <> 'purged' RETURNING 1") > 0
    }

    public func markArchivePurged(id: String, at: Date) async throws -> Bool {
        try await transaction { tx in
            let found = try await tx.row("SELECT state, legal_hold FROM archives WHERE id = \(id) FOR UPDATE") {
                (try $0.get("state", as: String.self), try $0.get("legal_hold", as: Int.self))
            }
            guard let (state, hold) = found, state != ArchiveState.purged.rawValue else { return false }
            guard hold == 0 else { throw StoreError.archiveOnHold }
            try await tx.run("UPDATE archives SET state = 'purged', purged_at = \(seconds(at)) WHERE id = \(id)")
            return true
        }
    }
}
