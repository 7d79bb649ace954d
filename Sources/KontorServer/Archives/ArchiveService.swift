import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Archives of retained work data: a device uploads one before its wipe destroys the container key, in
/// signed chunks it can resume; the server checks size and SHA-256, keeps the age-encrypted bytes (it never
/// sees anything else) for the retention the profile named, and purges them then unless an admin put them on
/// legal hold. Files live in `directory` (0700), one per archive; a multi-instance installation shares it.
struct ArchiveService: Sendable {
    let store: any ArchiveStore & DeviceStore
    let clock: WallClock
    let audit: AuditService
    let directory: String
    let maxSize: Int64
    /// Raw bytes per chunk: base64 in a JSON body stays well under the device body limit.
    static let chunkSize = 128 * 1024

    // MARK: the device's side

    func announce(_ input: ArchiveAnnouncement, device: AuthenticatedDevice) async throws -> ArchiveUploadState {
        guard IdentifierGenerator.isWellFormed(input.id) else { throw KontorError.invalid("id: expected a UUID in lowercase") }
        if let receipt = input.receiptId, !IdentifierGenerator.isWellFormed(receipt) { throw KontorError.invalid("receiptId: expected a UUID in lowercase") }
        guard input.sha256.utf8.count == 64, input.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw KontorError.invalid("sha256: expected 64 lowercase hex digits")
        }
        guard (0...maxSize).contains(input.size) else { throw KontorError.invalid("size: expected 0 to \(maxSize) bytes (archiveMaxBytes)") }
        guard (0...10_000_000).contains(input.files) else { throw KontorError.invalid("files: expected 0 to 10000000") }
        guard (1...4000).contains(input.retainDays) else { throw KontorError.invalid("retainDays: expected 1 to 4000 days") }
        if let existing = try await store.archive(id: input.id) {
            guard existing.deviceId == device.id, existing.size == input.size, existing.sha256 == input.sha256 else {
                throw KontorError.conflict("archive \(input.id) exists with other values")
            }
            return state(existing)
        }
        let now = clock.now()
        let record = ArchiveRecord(
            id: input.id, deviceId: device.id, personId: device.personId, receiptId: input.receiptId, size: input.size, sha256: input.sha256,
            files: input.files, createdAt: now, retainUntil: now.addingTimeInterval(TimeInterval(input.retainDays) * 86_400))
        do {
            try await store.insertArchive(record)
        } catch StoreError.conflict {
            // The same announcement at the same moment: the first one made it.
            return try await announce(input, device: device)
        }
        // Only the announcement whose record was made creates (or empties a crash's leftover) file.
        try makeDirectory()
        let fd = open(partPath(input.id), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ArchiveFileError("cannot create \(partPath(input.id)): \(String(cString: strerror(errno)))") }
        close(fd)
        try await audit.record(
            "device:\(device.id)", "archive.started", target: input.id,
            detail: ["size": String(input.size), "sha256": input.sha256, "files": String(input.files), "receipt": input.receiptId ?? ""])
        return state(record)
    }

    func chunk(_ input: ArchiveChunk, device: AuthenticatedDevice) async throws -> ArchiveUploadState {
        let archive = try await uploading(input.id, device: device)
        guard let data = Data(base64Encoded: input.data), !data.isEmpty, data.count <= Self.chunkSize else {
            throw KontorError.invalid("data: expected 1 to \(Self.chunkSize) bytes in base64")
        }
        guard (0...archive.size).contains(input.offset) else { throw KontorError.invalid("offset: expected 0 to \(archive.size), found \(input.offset)") }
        let end = input.offset + Int64(data.count)
        // A chunk sent again (its answer was lost) changes nothing.
        if input.offset >= 0, end <= archive.received { return state(archive) }
        guard input.offset == archive.received else {
            throw KontorError.conflict("offset: the upload continues at \(archive.received), not \(input.offset)")
        }
        guard end <= archive.size else { throw KontorError.invalid("data: the chunk ends at \(end), past the announced size \(archive.size)") }
        try write(data, to: partPath(input.id), at: input.offset)
        _ = try await store.recordArchiveProgress(id: input.id, received: end)
        return state(try await store.archive(id: input.id) ?? archive)
    }

    func complete(_ input: ArchiveCompletion, device: AuthenticatedDevice) async throws -> ArchiveUploadState {
        let archive = try await devicesArchive(input.id, device: device)
        // Completed already (its answer was lost): the same answer again.
        if archive.state == .complete { return state(archive) }
        guard archive.state == .uploading else { throw KontorError.conflict("archive \(input.id) is \(archive.state.rawValue)") }
        guard archive.received == archive.size else {
            throw KontorError.conflict("the upload has \(archive.received) of \(archive.size) bytes; send the rest first")
        }
        let digest = try Self.sha256(of: partPath(input.id))
        guard digest == archive.sha256 else {
            throw KontorError.conflict("sha256: the uploaded bytes hash to \(digest), not the announced \(archive.sha256); the archive is not kept")
        }
        guard rename(partPath(input.id), finalPath(input.id)) == 0 else {
            throw ArchiveFileError("cannot keep \(finalPath(input.id)): \(String(cString: strerror(errno)))")
        }
        let now = clock.now()
        let retainUntil = archive.retainUntil ?? now
        _ = try await store.completeArchive(id: input.id, at: now, retainUntil: retainUntil)
        try await audit.record(
            "device:\(device.id)", "archive.received", target: input.id,
            detail: [
                "size": String(archive.size), "sha256": archive.sha256, "files": String(archive.files), "receipt": archive.receiptId ?? "",
                "retainUntil": ISO8601.string(from: retainUntil),
            ])
        return state(try await store.archive(id: input.id) ?? archive)
    }

    /// The device's own archive `id`; not found for any other (or a malformed ID).
    private func devicesArchive(_ id: String, device: AuthenticatedDevice) async throws -> ArchiveRecord {
        // Only a well-formed ID reaches the store (PostgreSQL refuses text with NUL with an error of its own).
        guard IdentifierGenerator.isWellFormed(id), let archive = try await store.archive(id: id), archive.deviceId == device.id else {
            throw KontorError.notFound("no archive \(VisibleText.escaped(id)) of this device")
        }
        return archive
    }

    private func uploading(_ id: String, device: AuthenticatedDevice) async throws -> ArchiveRecord {
        let archive = try await devicesArchive(id, device: device)
        guard archive.state == .uploading else { throw KontorError.conflict("archive \(id) is \(archive.state.rawValue)") }
        return archive
    }

    private func state(_ archive: ArchiveRecord) -> ArchiveUploadState {
        ArchiveUploadState(id: archive.id, received: archive.received, chunkSize: Self.chunkSize, state: archive.state)
    }

    // MARK: files

    func partPath(_ id: String) -> String { directory + "/" + id + ".age.part" }
    func finalPath(_ id: String) -> String { directory + "/" + id + ".age" }

    private func makeDirectory() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ArchiveFileError("cannot create the archive folder \(directory): \(error)")
        }
    }

    private func write(_ data: Data, to path: String, at offset: Int64) throws {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveFileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == data.count, fsync(fd) == 0 else { throw ArchiveFileError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// Hex SHA-256 of a file, read in 1 MiB pieces.
    static func sha256(of path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveFileError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ArchiveFileError("cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            hasher.update(data: buffer[0..<n])
        }
        return Bytes.hex(hasher.finalize())
    }
}

/// A problem with the archive folder (the server's own disk, not the caller's input).
struct ArchiveFileError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
