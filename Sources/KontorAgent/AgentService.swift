import Dispatch
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the agent loop until SIGTERM or SIGINT, which end the sleep or the long poll at once and let the
/// process exit 0 ("stopping"); a confirmed wipe ends it too. A signal source and task cancellation: all
/// the agent needed of swift-service-lifecycle's `ServiceGroup` (docs/benchmarks.md).
struct AgentService {
    let agent: Agent

    func run() async throws {
        // The person's way to the agent without root (status, quiet-hours override, terms), on threads of its own.
        let local = agent.startLocalSocket()
        defer { local?.stop() }
        do {
            let stopped = try await StopSignals.cancelling(on: [SIGTERM, SIGINT]) {
                // Start-up and each check-in touch pages of the binary (code, constants) that waiting for the
                // next one does not need: hand them back (they stay in the page cache; docs/benchmarks.md).
                let trim = TrimSchedule(started: .now)
                try await agent.run { seconds in
                    if trim.due(.now) { AgentProcess.trimExecutable() }
                    try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                }
            }
            if stopped { agent.logger.notice("stopping") }
        } catch is CancellationError {
            agent.logger.notice("stopping")
        }
    }
}

/// Turns termination signals into task cancellation.
enum StopSignals {
    /// Runs `body` in a task that the first of `signals` cancels; returns whether a signal came. The
    /// signals are ignored for the process meanwhile, as swift-service-lifecycle did (a signal source
    /// only sees them when their default action, ending the process, is off).
    static func cancelling(on signals: [Int32], _ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let task = Task { try await body() }
        let signalled = Flag()
        let sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                signalled.value.store(true, ordering: .relaxed)
                task.cancel()
            }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
        return signalled.value.load(ordering: .relaxed)
    }

    /// Set from the signal queue, read after the task ended.
    final class Flag: Sendable {
        let value = Atomic(false)
    }
}
