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

/// What a device says before it uploads an archive (`POST /api/v1/device/archives`); sent again with the
/// same values, it asks how far the upload got.
public struct ArchiveAnnouncement: Codable, Sendable, Equatable {
    public var id: String
    /// The wipe (its receipt ID) the archive is made for.
    public var receiptId: String?
    public var size: Int64
    /// Hex SHA-256 of the whole age file.
    public var sha256: String
    public var files: Int
    /// Days to keep it, from the profile's `retention.retainDays`.
    public var retainDays: Int

    public init(id: String, receiptId: String?, size: Int64, sha256: String, files: Int, retainDays: Int) {
        self.id = id
        self.receiptId = receiptId
        self.size = size
        self.sha256 = sha256
        self.files = files
        self.retainDays = retainDays
    }
}

/// One piece of an archive (`POST /api/v1/device/archives/chunk`): the bytes at `offset`, base64.
public struct ArchiveChunk: Codable, Sendable, Equatable {
    public var id: String
    public var offset: Int64
    public var data: String

    public init(id: String, offset: Int64, data: String) {
        self.id = id
        self.offset = offset
        self.data = data
    }
}

/// The end of an upload (`POST /api/v1/device/archives/complete`): the server checks size and SHA-256.
public struct ArchiveCompletion: Codable, Sendable, Equatable {
    public var id: String

    public init(id: String) { self.id = id }
}

/// How far an upload got, in the server's signed answer: the device sends the bytes from `received` on,
/// at most `chunkSize` at a time.
public struct ArchiveUploadState: Codable, Sendable, Equatable {
    public var id: String
    public var received: Int64
    public var chunkSize: Int
    public var state: ArchiveState

    public init(id: String, received: Int64, chunkSize: Int, state: ArchiveState) {
        self.id = id
        self.received = received
        self.chunkSize = chunkSize
        self.state = state
    }
}

/// What a wipe receipt says about the archive made before the wipe: which one, and what the device packed.
public struct ArchiveSummary: Codable, Sendable, Equatable {
    public var id: String
    /// Hex SHA-256 of the age file.
    public var sha256: String
    public var size: Int64
    public var files: Int
    /// What the retained paths held that is not in the archive, and why (a symlink, another mount, a path
    /// outside the container); nil when nothing was left out.
    public var leftOut: [String]?

    public init(id: String, sha256: String, size: Int64, files: Int, leftOut: [String]? = nil) {
        self.id = id
        self.sha256 = sha256
        self.size = size
        self.files = files
        self.leftOut = leftOut
    }
}
