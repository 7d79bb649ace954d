import Foundation
import KontorStore
import Synchronization
import Testing

private let postgresURL = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"] ?? ""

/// The channel between instances exists only where several instances share a store: PostgreSQL.
@Suite("PostgreSQL notification channel", .enabled(if: !postgresURL.isEmpty, "needs KONTOR_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct NotificationChannelTests {
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
