#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Where an archive of retained work data is in its life: uploaded in chunks by the device before its
/// wipe destroys the container key, complete once its size and SHA-256 are checked, purged after its
/// retention unless on legal hold. The server only ever holds the age-encrypted bytes.
public enum ArchiveState: String, Codable, Sendable, CaseIterable {
    case uploading
    case complete
    case purged
}

/// An archive as the server keeps it (the bytes are in a file beside the database).
public struct ArchiveRecord: Codable, Sendable, Equatable {
    public var id: String
    public var deviceId: String
    public var personId: String?
    /// The wipe (receipt ID) it was made for.
    public var receiptId: String?
    /// The size and SHA-256 (hex) the device announced; the upload completes only when they match.
    public var size: Int64
    public var sha256: String
    /// How many files the archive holds, as the device counted them.
    public var files: Int
    /// Bytes stored so far, in order.
    public var received: Int64
    public var state: ArchiveState
    public var createdAt: Date
    public var completedAt: Date?
    /// When the retention ends; purged then unless on legal hold.
    public var retainUntil: Date?
    public var legalHold: Bool
    public var purgedAt: Date?

    public init(
        id: String, deviceId: String, personId: String?, receiptId: String?, size: Int64, sha256: String, files: Int, received: Int64 = 0,
        state: ArchiveState = .uploading, createdAt: Date, completedAt: Date? = nil, retainUntil: Date? = nil, legalHold: Bool = false,
        purgedAt: Date? = nil
    ) {
        self.id = id
        self.deviceId = deviceId
        self.personId = personId
        self.receiptId = receiptId
        self.size = size
        self.sha256 = sha256
        self.files = files
        self.received = received
        self.state = state
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.retainUntil = retainUntil
        self.legalHold = legalHold
        self.purgedAt = purgedAt
    }

    /// Whether the retention is over at `now` and nothing holds it.
    public func isDue(at now: Date) -> Bool {
        state == .complete && !legalHold && (retainUntil.map { $0 <= now } ?? false)
    }
}
