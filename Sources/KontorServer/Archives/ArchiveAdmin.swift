import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// What admins do with archives: list them, fetch one (the age file, which only the organisation's
/// identities open), put one on legal hold or release it, and purge; every access, hold and purge is audited.
extension ArchiveService {
    func list(deviceId: String?) async throws -> [ArchiveRecord] { try await store.archives(deviceId: deviceId) }

    func show(_ id: String) async throws -> ArchiveRecord {
        guard IdentifierGenerator.isWellFormed(id), let archive = try await store.archive(id: id) else {
            throw KontorError.notFound("no archive \(VisibleText.escaped(id))")
        }
        return archive
    }

    /// The complete archive's file, audited as a download by `actor`.
    func content(_ id: String, actor: String) async throws -> (record: ArchiveRecord, path: String) {
        let archive = try await show(id)
        guard archive.state == .complete else {
            throw KontorError.conflict("archive \(id) is \(archive.state.rawValue); only a complete archive can be fetched")
        }
        try await audit.record(actor, "archive.downloaded", target: id, detail: ["sha256": archive.sha256, "size": String(archive.size)])
        return (archive, finalPath(id))
    }

    func hold(_ id: String, _ hold: Bool, reason: String?, actor: String) async throws -> ArchiveRecord {
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if hold, !(3...500).contains(reason.count) { throw KontorError.invalid("reason: say in 3 to 500 characters why the archive is held") }
        _ = try await show(id)
        guard try await store.setArchiveHold(id: id, hold) else {
            throw KontorError.conflict("archive \(id) is purged")
        }
        try await audit.record(actor, hold ? "archive.held" : "archive.released", target: id, detail: hold ? ["reason": reason] : nil)
        return try await show(id)
    }

    /// Purges an archive now (its file deleted, its record kept as purged); refused while on legal hold.
    func purge(_ id: String, reason: String, actor: String) async throws -> ArchiveRecord {
        let archive = try await show(id)
        let trimmed = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (3...500).contains(trimmed.count) else { throw KontorError.invalid("reason: say in 3 to 500 characters why the archive is purged") }
        do {
            guard try await store.markArchivePurged(id: id, at: clock.now()) else { throw KontorError.conflict("archive \(id) is purged already") }
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict("archive \(id): \(why)")
        }
        removeFiles(id)
        try await audit.record(
            actor, "archive.purged", target: id,
            detail: ["reason": trimmed, "sha256": archive.sha256, "retainUntil": archive.retainUntil.map(ISO8601.string(from:)) ?? ""])
        return try await show(id)
    }

    /// Purges every complete archive whose retention is over and that no hold keeps; returns their IDs.
    @discardableResult
    func purgeDue() async throws -> [String] {
        let now = clock.now()
        var purged: [String] = []
        for archive in try await store.archives(deviceId: nil) where archive.isDue(at: now) {
            guard (try? await store.markArchivePurged(id: archive.id, at: now)) == true else { continue }
            removeFiles(archive.id)
            try await audit.record(
                "system:retention", "archive.purged", target: archive.id,
                detail: ["reason": "retention over", "sha256": archive.sha256, "retainUntil": archive.retainUntil.map(ISO8601.string(from:)) ?? ""])
            purged.append(archive.id)
        }
        return purged
    }

    private func removeFiles(_ id: String) {
        unlink(finalPath(id))
        unlink(partPath(id))
    }
}

/// Purges archives whose retention is over, every `period` seconds.
struct ArchivePurgeService: Service {
    let archives: ArchiveService
    let period: Double
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let purged = try await archives.purgeDue()
                    if !purged.isEmpty { logger.notice("archives purged after their retention", metadata: ["count": "\(purged.count)"]) }
                } catch {
                    logger.error("archive purge failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(Int64(period * 1000)))
            }
        }
    }
}
