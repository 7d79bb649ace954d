import Foundation
import Synchronization
import Testing

@testable import KontorAgent

/// SIGTERM and SIGINT stop the agent's run by cancelling it (`kontor-agent run` under systemd); here with
/// SIGUSR2, which the test runner does not otherwise use.
@Suite(.serialized, .timeLimit(.minutes(1))) struct StopSignalsTests {
    @Test("a signal cancels the running body (a sleep of an hour ends at once)")
    func signalCancels() async throws {
        signal(SIGUSR2, SIG_IGN)  // before the source is up, a signal must not end the test runner
        let finished = Finished()
        let stopping = Task {
            defer { finished.value.store(true, ordering: .relaxed) }
            return try await StopSignals.cancelling(on: [SIGUSR2]) { try await Task.sleep(for: .seconds(3600)) }
        }
        // The signal source may not be listening yet: signal until the body has ended. Between signals the
        // loop sleeps rather than yields, so on a loaded machine it does not keep a thread of the
        // cooperative pool that the cancelled body needs to finish.
        while !finished.value.load(ordering: .relaxed) {
            kill(getpid(), SIGUSR2)
            try await Task.sleep(for: .milliseconds(10))
        }
        await #expect(throws: CancellationError.self) { try await stopping.value }
    }

    @Test("a body that ends by itself (a confirmed wipe) ends the run, and no signal is reported")
    func bodyEnds() async throws {
        let signalled = try await StopSignals.cancelling(on: [SIGUSR2]) {}
        #expect(!signalled)
    }

    final class Finished: Sendable {
        let value = Atomic(false)
    }
}
