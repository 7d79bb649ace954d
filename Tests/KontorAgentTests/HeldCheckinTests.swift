import Foundation
import KontorClient
import KontorCore
import Logging
import Synchronization
import Testing

@testable import KontorAgent

@Suite struct HeldCheckinTests {
    func agent() throws -> (Agent, AgentStore) {
        let paths = scratchRoot()
        let store = AgentStore(paths: paths)
        var weekly: [String: [String]] = [:]
        for d in QuietHoursPolicy.weekdays { weekly[d] = ["all"] }
        let policy = EffectivePolicy(checkinInterval: 60, quietHours: QuietHoursPolicy(timeZone: "UTC", weekly: weekly), apps: nil, container: nil)
        try store.save(StoredPolicy(hash: "h", policy: policy, receivedAt: Date()))
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        return (
            Agent(paths: paths, config: AgentConfig(), transport: HTTP1Transport(), logger: logger, enforcer: Enforcer(paths: paths, deviceZone: .gmt)),
            store
        )
    }

    /// Waits (by yielding, never sleeping) until the policy was enforced: quiet hours begun.
    static func enforced(_ store: AgentStore) async -> Bool {
        for _ in 0..<100_000 {
            if (try? store.state().enforcement.events.contains { $0.kind == "quiet.begin" }) == true { return true }
            await Task.yield()
        }
        return false
    }

    @Test("while the server holds a check-in the policy is still enforced")
    func enforcesWhileHeld() async throws {
        let (agent, store) = try agent()
        let enforced = try await agent.enforcing(while: true, sleep: { _ in await Task.yield() }) { await Self.enforced(store) }
        #expect(enforced)
    }

    @Test("a held check-in settles once, after the first enforcement beside it, however long it is held")
    func settlesOnce() async throws {
        let (agent, store) = try agent()
        let settled = Counter()
        let rounds = Counter()
        let enforcedFirst = try await agent.enforcing(
            while: true,
            sleep: { _ in
                rounds.add()
                await Task.yield()
            }, settled: { settled.add() }
        ) {
            // Held until the enforcement loop went round five times.
            while rounds.value < 6 { await Task.yield() }
            return (try? store.state().enforcement.events.contains { $0.kind == "quiet.begin" }) == true
        }
        #expect(enforcedFirst)
        #expect(settled.value == 1)
        let (plain, _) = try self.agent()
        _ = try await plain.enforcing(while: false, settled: { settled.add() }) { true }
        #expect(settled.value == 1, "a check-in that is not held does not settle")
    }

    @Test("a check-in that is not held runs alone")
    func notHeld() async throws {
        let (agent, store) = try agent()
        let enforced = try await agent.enforcing(while: false, sleep: { _ in await Task.yield() }) {
            (try? store.state().enforcement.events.contains { $0.kind == "quiet.begin" }) == true
        }
        #expect(!enforced)
    }
}

/// Counts calls from concurrent tasks.
final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
