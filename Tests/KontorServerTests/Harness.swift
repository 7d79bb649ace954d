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
import Synchronization
import Testing

@testable import KontorServer

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 += seconds } }
    var wall: WallClock { WallClock { self.now } }
}

/// A server with a hand-moved clock, driven through HummingbirdTesting, on an in-memory SQLite store —
/// or, when `KONTOR_TEST_API_STORE=postgres` and `KONTOR_TEST_POSTGRES_URL` are set, on a fresh schema of
/// that PostgreSQL server (scripts/test runs the API tests both ways).
struct Harness {
    let clock: TestClock
    let store: any KontorStore
    /// Runs the pool of a PostgreSQL store this harness opened, until the test lets go of the harness.
    private let pool: PoolRunner?
    let services: Services
    let routes = RouteTable()
    let consoleRoutes = ConsoleRouteTable()

    init(
        store: (any KontorStore)? = nil, clock: TestClock = TestClock(), longPolls: LongPolls = LongPolls(), replay: (any ReplayWindow)? = nil,
        configure: (inout ServerConfig) -> Void = { _ in }
    ) async throws {
        var config = ServerConfig()
        config.enrollRatePerMinute = 0
        config.archiveDir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-archives-\(UUID().uuidString)").path
        configure(&config)
        self.clock = clock
        if let store {
            self.store = store
            self.pool = nil
        } else {
            (self.store, self.pool) = try await Self.makeStore()
        }
        services = Services(
            config: config, store: self.store, clock: clock.wall, serverKey: ServerSigningKey(privateKey: Curve25519.Signing.PrivateKey()), registry: nil,
            replay: replay ?? NonceCache(), longPolls: longPolls)
    }

    static var usesPostgres: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["KONTOR_TEST_API_STORE"] == "postgres" && !(env["KONTOR_TEST_POSTGRES_URL"] ?? "").isEmpty
    }

    static func makeStore() async throws -> (any KontorStore, PoolRunner?) {
        guard usesPostgres, let url = ProcessInfo.processInfo.environment["KONTOR_TEST_POSTGRES_URL"] else { return (try SQLiteStore.inMemory(), nil) }
        let schema = "a_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let (store, pool) = try await PostgresStore.forTest(url: url, schema: schema)
        return (store, pool)
    }

    /// Plays someone with write access to the database: removes the audit log's append-only guard.
    func dropAuditGuard() async throws {
        if let postgres = store as? PostgresStore {
            try await postgres.tamper(sql: "DROP TRIGGER audit_log_no_update ON audit_log")
        } else {
            try await tamper("DROP TRIGGER audit_log_no_update")
        }
    }

    /// Raw SQL on either backend.
    func tamper(_ sql: String) async throws {
        if let postgres = store as? PostgresStore { try await postgres.tamper(sql: sql) } else { try await (store as! SQLiteStore).tamper(sql: sql) }
    }

    /// Closes a PostgreSQL store's pool now rather than when the process ends (tests that make many
    /// harnesses would otherwise hold the server's connections).
    func close() async {
        await pool?.stop()
    }

    func token(_ role: Role) async throws -> String {
        try await services.tokens.create(name: "test-\(role.rawValue)", role: role).1
    }

    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var logger = Logger(label: "kontor-test")
        logger.logLevel = .error
        let app = Application(router: buildRouter(services, table: routes, console: consoleRoutes), logger: logger)
        try await app.test(.router, body)
    }

    /// The same over a real socket on loopback (the peer address is 127.0.0.1).
    func testLive(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var logger = Logger(label: "kontor-test")
        logger.logLevel = .error
        let app = Application(
            router: buildRouter(services, table: routes, console: consoleRoutes), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger
        )
        try await app.test(.live, body)
    }
}

let sampleFacts = DeviceFacts(
    hostname: "laptop-7", osRelease: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64", machineIdHash: "abc123", agentVersion: "0.1.0")

extension TestClientProtocol {
    /// An admin API call with an optional bearer token and JSON body.
    func api(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil, headers extra: HTTPFields = [:]) async throws
        -> TestResponse
    {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// A request signed like the agent signs, optionally altered after signing.
    func signed(
        _ path: String, body: Data, key: Curve25519.Signing.PrivateKey, at now: Date, alter: (inout HTTPFields, inout Data) -> Void = { _, _ in }
    ) async throws -> TestResponse {
        let (pairs, _) = try DeviceClient.sign(method: "POST", server: try ServerURL("http://localhost"), path: path, body: body, key: key, now: now)
        var headers = HTTPFields()
        for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
        var payload = body
        alter(&headers, &payload)
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: payload))
    }

    /// Creates an enrollment token with `json` options and returns the token string.
    func enrollToken(_ adminToken: String, json: String = "{}") async throws -> String {
        let response = try await api(.post, "/api/v1/enroll-tokens", token: adminToken, json: json)
        #expect(response.status == .created)
        return try JSONDecoder().decode([String: JSONValue].self, from: Data(buffer: response.body))["token"]!.string!
    }

    /// Enrolls a new key and returns the key and the reply.
    func enroll(token: String, key: Curve25519.Signing.PrivateKey = .init(), facts: DeviceFacts = sampleFacts, at now: Date) async throws -> (
        Curve25519.Signing.PrivateKey, TestResponse
    ) {
        let body = try KontorJSON.encode(EnrollRequest(token: token, publicKey: DeviceKeys.base64(key.publicKey), facts: facts, acceptedTermsVersion: "2026-1"))
        return (key, try await signed(DeviceAPI.enrollPath, body: body, key: key, at: now))
    }
}

extension TestResponse {
    /// The `error.code` of a JSON error body.
    var errorCode: String? { (try? KontorJSON.decode(APIErrorBody.self, from: Data(buffer: body)))?.error.code }
    var errorMessage: String? { (try? KontorJSON.decode(APIErrorBody.self, from: Data(buffer: body)))?.error.message }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try KontorJSON.decode(type, from: Data(buffer: body)) }
}

extension Data {
    init(buffer: ByteBuffer) { self.init(buffer.readableBytesView) }
}
