import Foundation

extension Process {
    /// Waits for the process to exit, sleeping between looks. Foundation's `waitUntilExit` on Linux runs
    /// the current run loop until the process ends; a test thread's run loop has no sources, so it spins,
    /// burning a core on a thread of the cooperative pool that libdispatch then counts as busy and does
    /// not replace. On this 2-core machine two such waits stalled every other test of the run.
    public func waitForExit() {
        while isRunning { usleep(5_000) }
    }
}

/// Runs blocking `body` (a child process read to its end, a wait) on a thread of its own and awaits it.
/// Swift's global executor on Linux runs at most as many jobs at once as there are CPUs (two here): a test
/// blocked in a read on one of them halves what every other test of the run, and every server the tests
/// run in-process, can do.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
