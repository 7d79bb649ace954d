import Foundation
import KontorCore

/// The records of archived work data (the bytes themselves are files the server keeps beside the store).
public protocol ArchiveStore: Sendable {
    /// `StoreError.conflict` when the ID is known, `StoreError.notFound` when the device is not.
    func insertArchive(_ archive: ArchiveRecord) async throws
    func archive(id: String) async throws -> ArchiveRecord?
    /// Every archive, or one device's, newest first.
    func archives(deviceId: String?) async throws -> [ArchiveRecord]
    /// Records that `received` bytes are stored: only forward, only while uploading. False when nothing changed.
    func recordArchiveProgress(id: String, received: Int64) async throws -> Bool
    /// Marks an upload whose every byte is stored complete, with its retention end. False when it is not
    /// uploading or not whole.
    func completeArchive(id: String, at: Date, retainUntil: Date) async throws -> Bool
    /// Puts an archive on legal hold or releases it; false when there is no such archive or it is purged.
    func setArchiveHold(id: String, _ hold: Bool) async throws -> Bool
    /// Marks an archive purged (its bytes are deleted by the caller); `StoreError.conflict` when it is on
    /// legal hold. False when there is no such archive or it was purged already.
    func markArchivePurged(id: String, at: Date) async throws -> Bool
}

extension ArchiveRecord: RowDecodable {
    package init(row: some StoreRow) throws {
        let stateName = try row.string("state")
        guard let state = ArchiveState(rawValue: stateName) else { throw StoreError.notFound("archive state \(stateName)") }
        self.init(
            id: try row.string("id"), deviceId: try row.string("device_id"), personId: try row.optionalString("person_id"),
            receiptId: try row.optionalString("receipt_id"), size: Int64(try row.int("size")), sha256: try row.string("sha256"), files: try row.int("files"),
            received: Int64(try row.int("received")), state: state, createdAt: try row.date("created_at"), completedAt: try row.optionalDate("completed_at"),
            retainUntil: try row.optionalDate("retain_until"), legalHold: try row.int("legal_hold") != 0, purgedAt: try row.optionalDate("purged_at"))
    }
}

extension StoreError {
    package static func archiveExists(_ id: String) -> StoreError { .conflict("archive \(id) exists") }
    package static let archiveOnHold = StoreError.conflict("the archive is on legal hold; release it first")
}
