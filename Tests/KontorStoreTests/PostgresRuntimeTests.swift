import Foundation
import KontorPostgres
import KontorStore
import Logging
import Testing

private let postgresURL = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"] ?? ""

/// The parts of the PostgreSQL store that only it has: its pool as a Service, and the channel between instances.
@Suite(
    "PostgreSQL store: pool and notification channel", .enabled(if: !postgresURL.isEmpty, "needs KONTOR_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct PostgresRuntimeTests {
    @Test("withStore runs the pool for its body only: afterwards the store answers nothing")
    func scopedPool() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let schema = "r_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let store = try await PostgresStore.withStore(url: postgresURL, schema: schema, maxConnections: 2, logger: logger) { store in
            try await store.ping()
            try await store.setSetting("x", value: "1")
            return store
        }
        await #expect(throws: (any Error).self) { try await store.ping() }
    }

    @Test("a bad URL or schema is refused before anything connects")
    func badConfiguration() async throws {
        let logger = Logger(label: "test")
        #expect(throws: PostgresURLError.self) { try PostgresStore(url: "mysql://x@localhost/db", logger: logger) }
        #expect(throws: PostgresURLError.self) { try PostgresStore(url: postgresURL, schema: "Bad-Name", logger: logger) }
    }

    @Test("what one store sends, a listener on the same schema receives in order, after it has connected")
    func sendAndReceive() async throws {
        let channel: any NotificationChannel = try await TestPostgres.store(url: postgresURL)
        let (events, continuation) = AsyncStream.makeStream(of: String.self)
        let listener = Task {
            await channel.listen(connected: { continuation.yield("connected") }, received: { continuation.yield($0) })
        }
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == "connected")
        try await channel.notify("d:one")
        try await channel.notify("c:two")
        #expect(await iterator.next() == "d:one")
        #expect(await iterator.next() == "c:two")
        listener.cancel()
        await listener.value
    }

    @Test("stores on other schemas of the same database do not hear each other")
    func schemasApart() async throws {
        let a: any NotificationChannel = try await TestPostgres.store(url: postgresURL)
        let b: any NotificationChannel = try await TestPostgres.store(url: postgresURL)
        let (events, continuation) = AsyncStream.makeStream(of: String.self)
        let listener = Task {
            await a.listen(connected: { continuation.yield("connected") }, received: { continuation.yield($0) })
        }
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next() == "connected")
        try await b.notify("for b")
        try await a.notify("for a")
        #expect(await iterator.next() == "for a")
        listener.cancel()
        await listener.value
    }
}
