import Foundation
import KontorStore
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import KontorServer

/// A channel in memory: what is notified is recorded, and delivered to the listener (as PostgreSQL echoes
/// a notification to its sender too).
private final class MemoryChannel: NotificationChannel {
    let sent = Mutex<[String]>([])
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream(of: String.self) }

    func notify(_ payload: String) async throws {
        sent.withLock { $0.append(payload) }
        continuation.yield(payload)
    }

    func listen(connected: @escaping @Sendable () async -> Void, received: @escaping @Sendable (String) async -> Void) async {
        await connected()
        for await payload in stream { await received(payload) }
    }
}

/// Collects the events an instance applies, for the test to wait on.
private func applied(_ events: ClusterEvents) -> AsyncStream<ClusterEvent> {
    let (stream, continuation) = AsyncStream.makeStream(of: ClusterEvent.self)
    events.onEvent { continuation.yield($0) }
    return stream
}

@Suite("Cluster events")
struct ClusterEventsTests {
    @Test("without a channel an event is applied before publish returns, and nothing needs running")
    func single() async throws {
        let events = ClusterEvents()
        let seen = Mutex<[ClusterEvent]>([])
        events.onEvent { event in seen.withLock { $0.append(event) } }
        await events.publish(.commands("d1"))
        await events.publish(.catalog)
        events.post(.device("d2"))
        #expect(seen.withLock { $0 } == [.commands("d1"), .catalog])
        #expect(!events.isShared)
    }

    @Test("with a channel, what was published is sent in order once the service runs, and comes back to be applied")
    func shared() async throws {
        let channel = MemoryChannel()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let events = ClusterEvents(channel: channel, logger: logger)
        var seen = applied(events).makeAsyncIterator()
        // Published before the service group starts: queued, not lost.
        await events.publish(.commands("d1"))
        events.post(.device("d2"))
        let group = ServiceGroup(configuration: .init(services: [events], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await seen.next() == .resync, "a listener that connects first drops what it cached")
            #expect(await seen.next() == .commands("d1"))
            #expect(await seen.next() == .device("d2"))
            await events.publish(.catalog)
            #expect(await seen.next() == .catalog)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(channel.sent.withLock { $0 } == ["c:d1", "d:d2", "p"])
    }

    @Test("at graceful shutdown the events still queued are sent before the service ends")
    func drainsAtShutdown() async throws {
        let channel = MemoryChannel()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let events = ClusterEvents(channel: channel, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [events], logger: logger))
        var seen = applied(events).makeAsyncIterator()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await seen.next() == .resync)
            for n in 0..<50 { events.post(.commands("d\(n)")) }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(channel.sent.withLock { $0 } == (0..<50).map { "c:d\($0)" })
    }
}
