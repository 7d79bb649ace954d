import Synchronization

extension Agent {
    /// Runs `body`; while `held` (a long poll the server may hold for a minute) the policy is enforced
    /// every `period` beside it, so quiet hours begin and forbidden programs end on time. `settled` runs
    /// once, after the first of those enforcements.
    func enforcing<T: Sendable>(
        while held: Bool, every period: Duration = .seconds(10), sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        settled: @escaping @Sendable () -> Void = {}, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard held else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                var first = true
                while !Task.isCancelled {
                    // Awake also for a quiet-hours warning due before the next round.
                    let notice = secondsUntilNextNotice().map { Duration.milliseconds(Int64($0 * 1000)) } ?? period
                    try await sleep(min(period, notice))
                    do { try enforce() } catch { logger.error("enforcement failed", metadata: ["reason": "\(error)"]) }
                    if first { settled() }
                    first = false
                }
                return nil
            }
            // The first result is the check-in's (the enforcement loop only ends by cancellation).
            while let next = try await group.next() {
                if let result = next {
                    group.cancelAll()
                    return result
                }
            }
            throw CancellationError()
        }
    }
}

/// A lock around the agent's read-modify-write of its state.
final class Serial: Sendable {
    private let mutex = Mutex(())

    func run<T>(_ body: () throws -> T) throws -> T {
        try mutex.withLock { _ in try body() }
    }
}
