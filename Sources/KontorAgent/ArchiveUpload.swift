import KontorClient
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

extension Agent {
    /// Uploads the wipe's packed archive in signed chunks, resuming where the server says it got to. Returns
    /// nil once the journal says `uploaded` (confirmed, or given up: the server refused it, or one failed
    /// try in `bestEffort` mode), or the reason it must be tried again (`required` mode, before the deadline).
    func uploadArchive(_ journal: inout WipeJournal, client: DeviceClient, device: DeviceIdentity) async throws -> String? {
        guard var archive = journal.archive, archive.awaitingUpload, let summary = archive.summary, let spool = archive.spool else { return nil }
        do {
            try await ArchiveUpload(client: client, device: device, summary: summary, spool: spool).run(
                receiptId: journal.id, retainDays: archive.retention.retainDays
            ) {
                if !journal.done(.uploadStarted) { try wiper.record(.uploadStarted, &journal) }
            }
            archive.uploaded = true
            logger.notice("archive of retained work data confirmed", metadata: ["archive.id": "\(summary.id)", "archive.bytes": "\(summary.size)"])
        } catch let error as ClientError where ArchiveUpload.isFinal(error) {
            archive.failed = "the server refused the archive: \(error)"
        } catch let error as ClientError {
            guard !archive.isRequired else {
                logger.warning("the archive could not be uploaded yet; the wipe waits for it", metadata: ["reason": "\(error)"])
                return "\(error)"
            }
            archive.failed = "the archive could not be uploaded (retention.mode bestEffort tries once): \(error)"
        } catch let error as ArchiveUpload.Unusable {
            archive.failed = "the packed archive cannot be uploaded: \(error)"
        }
        if let failed = archive.failed { logger.error("no archive of the retained work data", metadata: ["reason": "\(failed)"]) }
        journal.archive = archive
        try wiper.record(.uploaded, &journal)
        wiper.dropSpool(journal)
        return nil
    }
}

/// One upload of a packed archive: announce (which also says how far an earlier try got), send the rest in
/// the server's chunk size, complete (the server checks size and SHA-256).
struct ArchiveUpload {
    let client: DeviceClient
    let device: DeviceIdentity
    let summary: ArchiveSummary
    let spool: String

    /// The spool file is gone or damaged, or the server holds the archive in a state no upload changes.
    struct Unusable: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static let maxChunk = 1 << 20

    /// Refusals that no retry changes (the archive is too large, malformed, or its bytes do not match).
    static func isFinal(_ error: ClientError) -> Bool {
        if case .api(let status, _, _) = error { return [400, 404, 409, 413, 422].contains(status) }
        if case .deviceRevoked = error { return true }
        return false
    }

    /// Uploads what the server does not have yet; `accepted` is called after every chunk the server took.
    func run(receiptId: String, retainDays: Int, accepted: () throws -> Void) async throws {
        let fd = open(spool, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Unusable("\(spool): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, Int64(info.st_size) == summary.size else {
            throw Unusable("\(spool): not the \(summary.size) bytes that were packed")
        }
        let announcement = ArchiveAnnouncement(
            id: summary.id, receiptId: receiptId, size: summary.size, sha256: summary.sha256, files: summary.files, retainDays: retainDays)
        var state = try await client.announceArchive(announcement, identity: device)
        var resends = 0
        while state.state != .complete {
            guard state.state == .uploading else { throw Unusable("the server says archive \(summary.id) is \(state.state.rawValue)") }
            guard (0...summary.size).contains(state.received) else {
                throw Unusable("the server says it holds \(state.received) bytes of an archive of \(summary.size)")
            }
            if state.received >= summary.size {
                state = try await client.completeArchive(id: summary.id, identity: device)
                continue
            }
            // The server's chunk size, within bounds: a reply never makes the agent read more than 1 MiB at once.
            let chunk = Int64(min(max(state.chunkSize, 1024), Self.maxChunk))
            let bytes = try read(fd, at: state.received, count: Int(min(chunk, summary.size - state.received)))
            do {
                state = try await client.sendArchiveChunk(id: summary.id, offset: state.received, bytes: bytes, identity: device)
                try accepted()
            } catch ClientError.api(409, let code, let message) {
                // Another try got further meanwhile (an answer was lost): ask where the upload stands.
                resends += 1
                guard resends <= 3 else { throw ClientError.api(status: 409, code: code, message: message) }
                state = try await client.announceArchive(announcement, identity: device)
            }
        }
    }

    private func read(_ fd: Int32, at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes[got...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset) + off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Unusable("\(spool): cannot read: \(n == 0 ? "it ends early" : String(cString: strerror(errno)))") }
            got += n
        }
        return bytes
    }
}
