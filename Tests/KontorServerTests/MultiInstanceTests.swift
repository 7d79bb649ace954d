import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KontorClient
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import KontorServer

private let postgresURL = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"] ?? ""

/// One server instance of a cluster: its own services (caches, replay memory, command index) on the
/// shared store, the store's pool and its cluster end run as the server's service group runs them, and
/// the events it has applied, for the test to wait on.
private final class Instance: Sendable {
    let services: Services
    let store: PostgresStore
    let applied: AsyncStream<ClusterEvent>
    private let group: ServiceGroup
    private let running: Task<Void, any Error>

    init(url: String, schema: String, key: ServerSigningKey, clock: TestClock) async throws {
        var logger = Logger(label: "kontor-test-cluster")
        logger.logLevel = .error
        store = try PostgresStore(url: url, schema: schema, maxConnections: 4, logger: logger)
        var config = ServerConfig()
        config.enrollRatePerMinute = 0
        let cluster = ClusterEvents(channel: store, logger: logger)
        services = Services(
            config: config, store: store, clock: clock.wall, serverKey: key, registry: nil, cluster: cluster, replay: SharedReplayWindow(store: store))
        let (stream, continuation) = AsyncStream.makeStream(of: ClusterEvent.self)
        applied = stream
        // Registered after the services' own handler, so an event seen here has been applied.
        cluster.onEvent { continuation.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [store, cluster], logger: logger))
        self.group = group
        running = Task { try await group.run() }
        try await store.migrate()
    }

    /// Waits until this instance has applied `event` (sent by another instance over PostgreSQL).
    func waitFor(_ event: ClusterEvent) async {
        for await seen in applied where seen == event { return }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await running.result
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var logger = Logger(label: "kontor-test")
        logger.logLevel = .error
        try await Application(router: buildRouter(services), logger: logger).test(.router, body)
    }
}

@Suite("Several instances on one PostgreSQL", .enabled(if: !postgresURL.isEmpty, "needs KONTOR_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct MultiInstanceTests {
    @Test("a device alternates between two instances: each serves it, a replay sent to the other is refused, commands, revocation and profiles reach both")
    func alternatingDevice() async throws {
        let schema = "m_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let key = ServerSigningKey(privateKey: Curve25519.Signing.PrivateKey())
        let clock = TestClock()
        let a = try await Instance(url: postgresURL, schema: schema, key: key, clock: clock)
        let b = try await Instance(url: postgresURL, schema: schema, key: key, clock: clock)
        await a.waitFor(.resync)
        await b.waitFor(.resync)
        let admin = try await a.services.tokens.create(name: "admin", role: .admin).1

        try await a.test { clientA in
            try await b.test { clientB in
                // Enrolled through A, checked in through B, then A, then B.
                let (deviceKey, enrolled) = try await clientA.enroll(token: try await clientA.enrollToken(admin), at: clock.now)
                #expect(enrolled.status == .created)
                let deviceId = try enrolled.decode(EnrollResponse.self).deviceId
                for (i, client) in [clientB, clientA, clientB].enumerated() {
                    clock.advance(30)
                    let (reply, response) = try await checkin(client, key: deviceKey, at: clock.now)
                    #expect(response.status == .ok, "check-in \(i) answered \(response.status)")
                    #expect(reply?.policyHash != nil)
                }
                let seen = try #require(try await b.services.directory.device(deviceId).lastSeen)
                #expect(seen >= clock.now - 30, "the last check-ins are visible through the other instance")

                // One signed request, accepted by A, sent again to B: refused as a replay.
                let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
                let (pairs, _) = try DeviceClient.sign(
                    method: "POST", server: try ServerURL("http://localhost"), path: DeviceAPI.checkinPath, body: body, key: deviceKey, now: clock.now)
                var headers = HTTPFields()
                for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
                let first = try await clientA.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body))
                #expect(first.status == .ok)
                let replayed = try await clientB.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body))
                #expect(replayed.status == .unauthorized)
                #expect(replayed.errorCode == "nonce_replayed")
                #expect(
                    try await clientA.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body)).errorCode
                        == "nonce_replayed")

                // A command queued through A goes out in B's reply (B's index heard of it).
                let queued = try await clientA.api(.post, "/api/v1/devices/\(deviceId)/commands", token: admin, json: #"{"type": "lock", "reason": "lost"}"#)
                #expect(queued.status == .created)
                await b.waitFor(.commands(deviceId))
                clock.advance(30)
                let (withCommand, _) = try await checkin(clientB, key: deviceKey, at: clock.now)
                #expect(withCommand?.commands.map(\.type) == ["lock"])

                // A profile applied through A reaches the device through B.
                let source = #"{"source": "name: office\ncheckinInterval: 120\n"}"#
                #expect(try await clientA.api(.post, "/api/v1/profiles", token: admin, json: source).status == .created)
                #expect(try await clientA.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile":"office","scope":"default"}"#).status == .ok)
                await b.waitFor(.catalog)
                clock.advance(30)
                let (withPolicy, _) = try await checkin(clientB, key: deviceKey, at: clock.now)
                #expect(withPolicy?.policy?.checkinInterval == 120)
                #expect(withPolicy?.policy?.sources == ["office@1 (default)"])

                // Revoked through A: B refuses the device's next request at once, not after its cache expires.
                let revoked = try await clientA.api(.post, "/api/v1/devices/\(deviceId)/revoke", token: admin, json: #"{"reason": "stolen"}"#)
                #expect(revoked.status == .ok)
                await b.waitFor(.device(deviceId))
                clock.advance(30)
                let (_, refused) = try await checkin(clientB, key: deviceKey, at: clock.now)
                #expect(refused.status == .unauthorized)
                #expect(refused.errorCode == "device_revoked")
            }
        }
        await a.stop()
        await b.stop()
    }
}

@Suite("migrate-store: SQLite to PostgreSQL", .enabled(if: !postgresURL.isEmpty, "needs KONTOR_TEST_POSTGRES_URL (scripts/test starts a PostgreSQL)"))
struct MigrateStoreTests {
    @Test("an installation moves whole: every table, the audit chain with its head, and the devices keep working against the new store")
    func move() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-move-\(UUID().uuidString).sqlite").path
        let sqlite = try SQLiteStore(path: file)
        let source = try await Harness(store: sqlite)
        let admin = try await source.token(.admin)
        let enrolledDevice = Mutex<(Curve25519.Signing.PrivateKey, String)?>(nil)
        try await source.test { client in
            _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email":"ada@example.org","displayName":"Ada","groups":["office"]}"#)
            #expect(
                try await client.api(.post, "/api/v1/profiles", token: admin, json: #"{"source": "name: office\ncheckinInterval: 120\n"}"#).status == .created)
            _ = try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile":"office","scope":"default"}"#)
            let (key, enrolled) = try await client.enroll(
                token: try await client.enrollToken(admin, json: #"{"person":"ada@example.org"}"#), at: source.clock.now)
            let deviceId = try enrolled.decode(EnrollResponse.self).deviceId
            enrolledDevice.withLock { $0 = (key, deviceId) }
            let body = try KontorJSON.encode(
                CheckinRequest(
                    appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil,
                    events: [DeviceEvent(at: source.clock.now, kind: "quiet.start", detail: "Feierabend")]))
            #expect(try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: source.clock.now).status == .ok)
            _ = try await client.api(.post, "/api/v1/devices/\(deviceId)/commands", token: admin, json: #"{"type": "lock", "reason": "lost"}"#)
        }
        _ = try await source.services.recorder.flush(now: source.clock.now, all: true)
        let (deviceKey, deviceId) = try #require(enrolledDevice.withLock { $0 })

        var logger = Logger(label: "kontor-test-move")
        logger.logLevel = .error
        let schema = "v_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresStore.withStore(url: postgresURL, schema: schema, maxConnections: 4, logger: logger) { target in
            let report = try await migrateStore(from: sqlite, to: target)
            let counts = Dictionary(uniqueKeysWithValues: report.counts.map { ($0.table, $0.rows) })
            #expect(counts["devices"] == 1)
            #expect(counts["persons"] == 1)
            #expect(counts["commands"] == 1)
            #expect(counts["device_events"] == 1)
            #expect(counts["profile_revisions"] == 1)
            #expect(report.auditEntries == (try await sqlite.auditEntries(since: nil, target: nil)).count)
            #expect(report.auditHead == (try await sqlite.auditEntries(since: nil, target: nil)).last?.hash)
            #expect(try await target.device(id: deviceId) == (try await sqlite.device(id: deviceId)))
            #expect(try await target.commands(deviceId: deviceId) == (try await sqlite.commands(deviceId: deviceId)))
            #expect(try await target.events(deviceId: deviceId, limit: 10) == (try await sqlite.events(deviceId: deviceId, limit: 10)))

            // Moving again into a database that holds an installation is refused, and changes nothing.
            await #expect(throws: ConfigError.self) { try await migrateStore(from: sqlite, to: target) }
            #expect(try await target.count("devices") == 1)

            // The device checks in against the new store and gets its command; new events get fresh IDs.
            let moved = try await Harness(store: target, clock: source.clock)
            try await moved.test { client in
                let body = try KontorJSON.encode(
                    CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [DeviceEvent(at: moved.clock.now, kind: "quiet.end", detail: nil)]))
                let response = try await client.signed(DeviceAPI.checkinPath, body: body, key: deviceKey, at: moved.clock.now + 60)
                #expect(response.status == .ok)
                #expect(try response.decode(CheckinResponse.self).commands.map(\.type) == ["lock"])
            }
            #expect(try await target.events(deviceId: deviceId, limit: 10).count == 2)
        }
    }
}
