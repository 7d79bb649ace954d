import AsyncHTTPClient
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
#endif

/// The audit log does not verify, so no checkpoint is signed for it.
struct AuditChainBroken: Error {
    let seq: Int
    let problem: String
}

/// Signs checkpoints of the audit log's head and writes them to the configured sinks.
///
/// Before signing, it checks the entries added since the last checkpoint it signed (the whole log, the
/// first time after start) chain on from that one, so it never puts its signature under a log that was
/// tampered with. Checkpoints are made at an interval when the log has grown and on demand.
actor AuditCheckpointer {
    let store: any AuditStore
    let clock: WallClock
    let key: ServerSigningKey
    let sinks: [any CheckpointSink]
    let logger: Logger
    /// How far the log has been verified.
    private var cursor = AuditChainCursor()
    /// The entry of the last checkpoint written, so an idle log gets no new ones.
    private var lastSigned = 0

    init(store: any AuditStore, clock: WallClock, key: ServerSigningKey, sinks: [any CheckpointSink], logger: Logger) {
        self.store = store
        self.clock = clock
        self.key = key
        self.sinks = sinks
        self.logger = logger
    }

    /// One sink's outcome.
    struct SinkResult: Codable, Sendable, Equatable {
        var sink: String
        var ok: Bool
        var error: String?
    }

    /// Signs the head of the log and writes the checkpoint to every sink; nil when the log is empty, or,
    /// unless `always`, when it has not grown since the last checkpoint. Throws ``AuditChainBroken``.
    func checkpoint(always: Bool) async throws -> (AuditCheckpoint, [SinkResult])? {
        try await advance()
        guard cursor.seq > 0, always || cursor.seq != lastSigned else { return nil }
        let checkpoint = try AuditCheckpoint.sign(seq: cursor.seq, head: cursor.head, at: clock.now(), key: key.privateKey)
        lastSigned = cursor.seq
        var results: [SinkResult] = []
        for sink in sinks {
            do {
                try await sink.write(checkpoint)
                results.append(SinkResult(sink: sink.name, ok: true, error: nil))
            } catch {
                logger.error("audit checkpoint not written", metadata: ["sink": "\(sink.name)", "error": "\(error)"])
                results.append(SinkResult(sink: sink.name, ok: false, error: "\(error)"))
            }
        }
        logger.notice("audit checkpoint signed", metadata: ["audit.seq": "\(checkpoint.seq)", "audit.head": "\(checkpoint.head)"])
        return (checkpoint, results)
    }

    /// Verifies the entries after the cursor, page by page, and moves it to the head.
    private func advance() async throws {
        while true {
            let page = try await store.auditEntries(afterSeq: cursor.seq, limit: 1_000)
            for entry in page {
                if let problem = cursor.check(entry) { throw AuditChainBroken(seq: entry.seq, problem: problem) }
            }
            if page.count < 1_000 { return }
        }
    }
}

/// What an admin's checkpoint request gets back: the checkpoint, to keep, and where else it went.
struct SignedCheckpoint: Codable, Sendable {
    var checkpoint: AuditCheckpoint
    var sinks: [AuditCheckpointer.SinkResult]
}

extension Services {
    /// Signs a checkpoint of the log's head now, writes it to the sinks and records the request in the
    /// audit log (the entry comes after the head it vouches for, so the next checkpoint covers it).
    func signAuditCheckpoint(by principal: Principal) async throws -> SignedCheckpoint {
        let made: (AuditCheckpoint, [AuditCheckpointer.SinkResult])?
        do {
            made = try await checkpointer.checkpoint(always: true)
        } catch let broken as AuditChainBroken {
            throw KontorError.conflict(
                "the audit log does not verify at entry \(broken.seq) (\(broken.problem)); no checkpoint was signed. See kontorctl audit verify")
        }
        guard let (checkpoint, sinks) = made else { throw KontorError.conflict("the audit log is empty; there is nothing to sign yet") }
        try await audit.record(
            AuditService.actor(principal), "audit.checkpoint", target: "audit-log",
            detail: [
                "seq": String(checkpoint.seq), "head": checkpoint.head, "at": ISO8601.string(from: checkpoint.at), "signature": checkpoint.signature,
                "sinks": sinks.map { "\($0.sink): \($0.ok ? "written" : "failed")" }.joined(separator: "; "),
            ])
        return SignedCheckpoint(checkpoint: checkpoint, sinks: sinks)
    }

    /// Checks the chain and, against it and this server's key, each of `checkpoints`.
    func verifyAudit(checkpoints: [AuditCheckpoint]) async throws -> AuditVerification {
        guard checkpoints.count <= 10_000 else { throw KontorError.invalid("checkpoints: at most 10000 at a time") }
        let entries = try await store.auditEntries(since: nil, target: nil)
        var result = AuditChain.verify(entries)
        result.checkpoints = checkpoints.map { $0.check(key: serverKey.publicKey, entries: entries) }
        return result
    }
}
