#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import KontorCore
import KontorStore
import Logging
import NIOCore
import ServiceLifecycle

/// Somewhere outside the database a signed audit checkpoint is written to, so that someone who can write
/// the database cannot also rewrite the checkpoints.
protocol CheckpointSink: Sendable {
    /// How the sink is named in replies and logs (a path, `syslog`, a webhook's host; never a secret).
    var name: String { get }
    func write(_ checkpoint: AuditCheckpoint) async throws
}

/// Appends each checkpoint as one JSON line to a file (created 0600 or 0640; never followed through a
/// symlink; an existing file that others may write or read is refused), and syncs it to disk.
struct FileCheckpointSink: CheckpointSink {
    let path: String
    let mode: Int
    var name: String { "file \(path)" }

    /// Opens the file once at start-up, so a wrong path or mode stops the server with a clear message.
    func check() throws {
        let fd = try open()
        close(fd)
    }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        let fd = try open()
        defer { close(fd) }
        let line = Array((checkpoint.jsonLine + "\n").utf8)
        // O_APPEND: one write of the whole line lands at the end, after any other writer's.
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw ConfigError("auditCheckpointFile \(path): cannot append (\(String(cString: strerror(errno))))") }
        guard fsync(fd) == 0 else { throw ConfigError("auditCheckpointFile \(path): cannot sync (\(String(cString: strerror(errno))))") }
    }

    private func open() throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw ConfigError("auditCheckpointFile \(path): cannot open for appending (\(String(cString: strerror(errno))))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ConfigError("auditCheckpointFile \(path): not a regular file")
        }
        // Group write or any access by others would let someone else edit or forge the record.
        let extra = Int(info.st_mode) & 0o777 & ~mode
        guard extra & 0o037 == 0 else {
            close(fd)
            throw ConfigError(
                "auditCheckpointFile \(path): mode \(String(Int(info.st_mode) & 0o777, radix: 8)) is wider than \(String(mode, radix: 8)); chmod \(String(mode, radix: 8)) \(path)")
        }
        return fd
    }
}

/// Sends each checkpoint to syslog (facility auth, priority notice, tag kontor-server), from where the
/// system's log shipping can take it off the machine.
struct SyslogCheckpointSink: CheckpointSink {
    var name: String { "syslog" }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        let message = "kontor audit checkpoint " + checkpoint.jsonLine
        withVaList([message]) { vsyslog(LOG_AUTH | LOG_NOTICE, "%s", $0) }
    }
}

/// POSTs each checkpoint as JSON to a URL (a log collector, a notary service). The URL may carry a
/// secret, so only its scheme and host are ever shown.
struct WebhookCheckpointSink: CheckpointSink {
    let url: String
    let http: HTTPClient
    /// The whole exchange, connecting included (a refused connection is retried until then).
    var timeout: TimeAmount = .seconds(10)

    var name: String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "webhook" }
        return "webhook \(scheme)://\(host)\(c.port.map { ":\($0)" } ?? "")"
    }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: checkpoint.jsonLine))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            // Said by the sink's name (scheme and host): the client's own error text might quote the whole URL.
            throw CheckpointSinkError("\(name) could not be reached (\(type(of: error)))")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw CheckpointSinkError("\(name) answered \(response.status.code)") }
    }
}

struct CheckpointSinkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

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

/// Writes a checkpoint every `interval` seconds when the audit log has grown.
struct AuditCheckpointScheduler: Service {
    let checkpointer: AuditCheckpointer
    let interval: Int
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(interval))
                do {
                    _ = try await checkpointer.checkpoint(always: false)
                } catch let broken as AuditChainBroken {
                    logger.critical("the audit log does not verify; no checkpoint signed", metadata: ["audit.seq": "\(broken.seq)", "problem": "\(broken.problem)"])
                } catch {
                    logger.error("audit checkpoint failed", metadata: ["error": "\(String(reflecting: error))"])
                }
            }
        }
    }
}

extension ServerConfig {
    /// The checkpoint sinks the settings name (file, syslog, webhook), in that order.
    func checkpointSinks(http: HTTPClient = .shared) -> [any CheckpointSink] {
        var sinks: [any CheckpointSink] = []
        if let file = auditCheckpointFile { sinks.append(FileCheckpointSink(path: file, mode: auditCheckpointFileMode)) }
        if auditCheckpointSyslog { sinks.append(SyslogCheckpointSink()) }
        if let url = auditCheckpointWebhook { sinks.append(WebhookCheckpointSink(url: url, http: http)) }
        return sinks
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
            throw APIError(
                .conflict, .conflict,
                "the audit log does not verify at entry \(broken.seq) (\(broken.problem)); no checkpoint was signed. See kontorctl audit verify")
        }
        guard let (checkpoint, sinks) = made else { throw APIError(.conflict, .conflict, "the audit log is empty; there is nothing to sign yet") }
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
        guard checkpoints.count <= 10_000 else { throw APIError.invalid("checkpoints: at most 10000 at a time") }
        let entries = try await store.auditEntries(since: nil, target: nil)
        var result = AuditChain.verify(entries)
        result.checkpoints = checkpoints.map { $0.check(key: serverKey.publicKey, entries: entries) }
        return result
    }
}
