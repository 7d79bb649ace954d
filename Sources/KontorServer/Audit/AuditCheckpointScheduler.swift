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
                    logger.critical(
                        "the audit log does not verify; no checkpoint signed", metadata: ["audit.seq": "\(broken.seq)", "problem": "\(broken.problem)"])
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
