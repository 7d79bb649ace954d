import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging
import Metrics
import NIOSSL
import Prometheus
import ServiceLifecycle

/// Counters the server keeps besides Hummingbird's per-route request metrics. Created once, fixed labels.
public struct ServerMetrics: Sendable {
    enum Outcome: String { case ok, refused, rateLimited = "rate_limited", unchanged, policy }

    private let enrollOK = Counter(label: "kontor_enrollments_total", dimensions: [("result", "ok")])
    private let enrollRefused = Counter(label: "kontor_enrollments_total", dimensions: [("result", "refused")])
    private let enrollLimited = Counter(label: "kontor_enrollments_total", dimensions: [("result", "rate_limited")])
    private let checkinUnchanged = Counter(label: "kontor_checkins_total", dimensions: [("result", "unchanged")])
    private let checkinPolicy = Counter(label: "kontor_checkins_total", dimensions: [("result", "policy")])
    private let checkinRefused = Counter(label: "kontor_checkins_total", dimensions: [("result", "refused")])

    func enrollments(_ outcome: Outcome) {
        switch outcome {
        case .ok: enrollOK.increment()
        case .rateLimited: enrollLimited.increment()
        default: enrollRefused.increment()
        }
    }

    func checkins(_ outcome: Outcome) {
        switch outcome {
        case .unchanged: checkinUnchanged.increment()
        case .policy: checkinPolicy.increment()
        default: checkinRefused.increment()
        }
    }
}

/// Everything the handlers need, built once per application.
public struct Services: Sendable {
    public let config: ServerConfig
    public let store: any KontorStore
    public let clock: WallClock
    public let serverKey: ServerSigningKey
    public let registry: PrometheusCollectorRegistry?
    public let recorder: CheckinRecorder
    /// Enrolled devices by key, for the check-in path.
    public let devices: DeviceCache
    /// The other instances on the same store (none with SQLite).
    public let cluster: ClusterEvents
    /// Check-ins held open until a command comes.
    public let longPolls: LongPolls
    let tokens: APITokenService
    let directory: DirectoryService
    let enrollment: EnrollmentService
    let policies: PolicyService
    let deviceAuth: DeviceAuthenticator
    let signer: ResponseSigner
    let enrollLimiter: RateLimiter
    /// Console sign-in attempts per client address: ten a minute.
    let signInLimiter = RateLimiter(perMinute: 10)
    let consoleSessions: ConsoleSessionService
    let audit: AuditService
    let commands: CommandService
    let receipts: ReceiptService
    let offboarding: OffboardingService
    /// Signs the audit log's head and writes it outside the database.
    let checkpointer: AuditCheckpointer
    let metrics = ServerMetrics()
    /// A check-in's events and acknowledgements: validated, then written within each device's limits.
    let checkinReports: CheckinReports
    /// The client behind each request (the peer, or behind a trusted proxy the forwarded address).
    let clientAddresses: ClientAddresses

    public init(
        config: ServerConfig, store: any KontorStore, clock: WallClock, serverKey: ServerSigningKey, registry: PrometheusCollectorRegistry?,
        cluster: ClusterEvents = ClusterEvents(), replay: any ReplayWindow = NonceCache(), longPolls: LongPolls = LongPolls()
    ) {
        self.cluster = cluster
        self.longPolls = longPolls
        var announce: (@Sendable (String) -> Void)?
        if cluster.isShared { announce = { @Sendable id in cluster.publish(.device(id)) } }
        self.devices = DeviceCache(announce: announce)
        self.config = config
        self.store = store
        self.clock = clock
        self.serverKey = serverKey
        self.registry = registry
        self.recorder = CheckinRecorder(store: store, writeInterval: TimeInterval(config.lastSeenWriteInterval))
        self.tokens = APITokenService(store: store, clock: clock)
        self.policies = PolicyService(store: store, config: config, clock: clock, devices: devices, cluster: cluster)
        self.directory = DirectoryService(store: store, clock: clock, recorder: recorder, policies: policies)
        self.audit = AuditService(store: store, clock: clock)
        self.enrollment = EnrollmentService(
            store: store, clock: clock, config: config, serverKey: serverKey, policies: policies, devices: devices, audit: audit)
        self.deviceAuth = DeviceAuthenticator(store: store, clock: clock, devices: devices, nonces: replay)
        self.signer = ResponseSigner(key: serverKey, clock: clock)
        self.enrollLimiter = RateLimiter(perMinute: config.enrollRatePerMinute)
        self.clientAddresses = ClientAddresses(trustedProxies: config.trustedProxies)
        self.commands = CommandService(store: store, clock: clock, cluster: cluster)
        self.checkinReports = CheckinReports(
            store: store, clock: clock, audit: audit, commands: commands,
            budget: DeviceEventBudget(limits: .init(eventsPerHour: config.deviceEventsPerHour, auditedPerHour: config.deviceAuditEventsPerHour)),
            maxEventDetailBytes: config.maxEventDetailBytes)
        self.receipts = ReceiptService(store: store, clock: clock, audit: audit, commands: commands, devices: devices)
        self.consoleSessions = ConsoleSessionService(
            store: store, tokens: tokens, clock: clock, idleTimeout: TimeInterval(config.consoleIdleTimeout), lifetime: TimeInterval(config.consoleSessionLifetime))
        self.offboarding = OffboardingService(
            store: store, clock: clock, commands: commands, policies: policies, audit: audit, operatorProfile: config.offboardingProfile)
        self.checkpointer = AuditCheckpointer(
            store: store, clock: clock, key: serverKey, sinks: config.checkpointSinks(), logger: Logger(label: "kontor.audit-checkpoints"))
        let (devices, policies, commands) = (self.devices, self.policies, self.commands)
        cluster.onEvent { event in
            switch event {
            case .device(let id): devices.invalidate(deviceId: id, announce: false)
            case .commands(let id):
                await commands.index.insert(id)
                longPolls.wake(id)
            case .catalog:
                await policies.catalog.invalidate()
                // Held check-ins answer now, with the new policy.
                longPolls.wakeAll()
            case .resync:
                devices.invalidateAll()
                await commands.index.reset()
                await policies.catalog.invalidate()
                longPolls.wakeAll()
            }
        }
    }
}

extension Services {
    /// The address of the client that sent `request`, for rate limits and logs (``ClientAddresses``).
    func clientAddress(_ request: Request, _ context: KontorRequestContext) -> String {
        clientAddresses.client(peer: context.remoteAddress, headers: request.headers)
    }

    /// Revokes a device without a wipe receipt: its key is refused from its next request on (the cache
    /// entry is dropped at once) and its open commands are closed. False when there is no such device.
    public func revokeDevice(id: String) async throws -> Bool {
        guard try await store.revokeDevice(id: id, at: clock.now()) else { return false }
        devices.invalidate(deviceId: id)
        try await commands.closeAll(deviceId: id)
        return true
    }
}

/// The router with every route; `table` records what was registered.
public func buildRouter(_ services: Services, table: RouteTable = RouteTable(), console: ConsoleRouteTable = ConsoleRouteTable()) -> Router<KontorRequestContext> {
    let router = Router(context: KontorRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    OperationsController(services: services).register(on: router, table: table)
    DeviceController(services: services).register(on: router, table: table)
    AdminController(services: services).register(on: router, table: table)
    ConsoleController(services: services, table: console).register(on: router)
    return router
}

/// An open store with the server's key, and how to close the store when the server stops.
public struct OpenedStore: Sendable {
    public let store: any KontorStore
    public let key: ServerSigningKey
    /// How instances sharing the store keep each other's memory right (nothing shared with SQLite).
    public var cluster = ClusterEvents()
    public var replay: any ReplayWindow = NonceCache()
    /// What runs beside the HTTP server for it (the PostgreSQL listener).
    public var services: [any Service] = []
    public let close: @Sendable () async -> Void
    /// The store as a log line may show it.
    public var description = ""

    init(store: any KontorStore, key: ServerSigningKey, close: @escaping @Sendable () async -> Void) {
        self.store = store
        self.key = key
        self.close = close
    }

    /// Called by the server (not by other commands that open the store) before it serves: on SQLite the
    /// replay window takes over from the previous server process. Returns what to call once the server
    /// has answered its last request.
    public mutating func beginServing(now: Date) async throws -> @Sendable () async throws -> Void {
        guard let sqlite = store as? SQLiteStore else { return {} }
        let window = try await SQLiteReplayWindow.beginServing(store: sqlite, now: Int(now.timeIntervalSince1970))
        replay = window
        return { try await window.endServing() }
    }

    /// The services of a server on this store.
    public func services(config: ServerConfig, registry: PrometheusCollectorRegistry?, clock: WallClock = .system) -> Services {
        Services(config: config, store: store, clock: clock, serverKey: key, registry: registry, cluster: cluster, replay: replay)
    }
}

/// Opens the configured store (SQLite in the data directory unless `database` says otherwise) and loads
/// or creates the server key in the data directory (0700). With PostgreSQL, the key every instance uses
/// must be the same: the first instance records its public key in the store and the others check theirs.
public func openStore(_ given: ServerConfig, logger: Logger) async throws -> OpenedStore {
    try ensureDataDirectory(given.dataDir)
    let config = try recordedDatabase(given)
    let key = try ServerSigningKey.loadOrCreate(dataDir: config.dataDir)
    guard config.usesPostgres, let url = config.database else {
        var opened = OpenedStore(store: try openSQLite(path: config.sqlitePath), key: key, close: {})
        opened.description = config.databaseDescription
        return opened
    }
    let store: PostgresStore
    do {
        store = try await PostgresStore.connect(url: url, logger: logger)
    } catch let error as PostgresURLError {
        throw ConfigError(error.description)
    } catch {
        throw ConfigError("database \(config.databaseDescription): cannot connect or migrate (\(String(reflecting: error)))")
    }
    do {
        try await checkSharedKey(key, store: store, dataDir: config.dataDir)
    } catch {
        await store.close()
        throw error
    }
    var opened = OpenedStore(store: store, key: key, close: { await store.close() })
    opened.description = config.databaseDescription
    opened.cluster = ClusterEvents(transport: PostgresClusterTransport(store: store), logger: logger)
    opened.replay = SharedReplayWindow(store: store)
    opened.services = [ClusterListenerService(store: store, events: opened.cluster, logger: logger)]
    return opened
}

/// The data directory remembers the store it was last served with (`database`, 0600: the URL may hold a
/// password), so `kontor-server admin-token create --data-dir DIR` reaches the same store as `serve`.
func recordedDatabase(_ config: ServerConfig) throws -> ServerConfig {
    let path = (config.dataDir as NSString).appendingPathComponent("database")
    var out = config
    if let database = config.database {
        if (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) != database {
            guard FileManager.default.createFile(atPath: path, contents: Data((database + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ConfigError("\(path): cannot record the database")
            }
        }
    } else if let recorded = try? String(contentsOfFile: path, encoding: .utf8) {
        try out.set("database", recorded.trimmingCharacters(in: .whitespacesAndNewlines), source: path)
    }
    return out
}

/// Records the server's public key in a shared store, or refuses to start with a key the fleet does not know.
func checkSharedKey(_ key: ServerSigningKey, store: any KontorStore, dataDir: String) async throws {
    let mine = key.publicKey.rawRepresentation.base64EncodedString()
    guard let recorded = try await store.setting(ServerSigningKey.sharedSettingKey) else {
        try await store.setSetting(ServerSigningKey.sharedSettingKey, value: mine)
        return
    }
    guard recorded == mine else {
        throw ConfigError(
            "\((dataDir as NSString).appendingPathComponent("server-signing.key")): this instance's signing key is not the one the fleet trusts (recorded in the database by the first instance); copy server-signing.key from that instance (0600) into this data directory")
    }
}

private func ensureDataDirectory(_ dataDir: String) throws {
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory) {
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigError("dataDir \(dataDir): cannot create it (\(error.localizedDescription))")
        }
    } else if !isDirectory.boolValue {
        throw ConfigError("dataDir \(dataDir): exists and is not a directory")
    }
}

/// Opens (creating and migrating) an SQLite file that only the server may read.
public func openSQLite(path: String) throws -> SQLiteStore {
    let store: SQLiteStore
    do {
        store = try SQLiteStore(path: path)
    } catch {
        throw ConfigError("\(path): cannot open the database (\(error))")
    }
    // Only the server reads its database (SQLite creates -wal and -shm with the same mode).
    for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
    }
    return store
}

/// The whole server: HTTP (or HTTPS) with every route, plus the check-in flusher.
public func buildApplication(
    config: ServerConfig, services: Services, logger: Logger, extraServices: [any Service] = []
) throws -> some ApplicationProtocol {
    let router = buildRouter(services)
    // Every connection lives by the header, body and idle deadlines and counts against the connection
    // limit, which stays below the open-file limit (Edge/).
    let connections = OpenConnections(
        limit: try OpenFileLimit.connectionLimit(configured: config.maxConnections, openFiles: OpenFileLimit.current()), logger: logger)
    let timeouts = ConnectionTimeouts(config)
    let http1 = HTTPServerBuilder.http1(configuration: .init(additionalChannelHandlers: [ConnectionGuard(timeouts: timeouts, connections: connections)]))
    let server: HTTPServerBuilder
    if let certificate = config.tlsCertificate, let key = config.tlsKey {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            server = try .tls(http1, tlsConfiguration: tls)
        } catch {
            throw ConfigError("TLS: cannot load certificate \(certificate) or key \(key): \(error)")
        }
    } else {
        server = http1
    }
    // Checkpoints go outside the database: a file that cannot be opened stops the server now, not at the first one.
    for case let file as FileCheckpointSink in services.checkpointer.sinks { try file.check() }
    var checkpoints: [any Service] = []
    if config.auditCheckpointInterval > 0, !services.checkpointer.sinks.isEmpty {
        checkpoints.append(AuditCheckpointScheduler(checkpointer: services.checkpointer, interval: config.auditCheckpointInterval, logger: logger))
    }
    return Application(
        router: router,
        server: server,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "kontor"),
        services: [
            CheckinFlushService(recorder: services.recorder, clock: services.clock, logger: logger),
            DeviceCacheWarmupService(devices: services.devices, store: services.store, clock: services.clock, logger: logger),
            OffboardingSchedulerService(offboarding: services.offboarding, period: 15, logger: logger),
            EventLimitService(reports: services.checkinReports, logger: logger),
        ] + checkpoints + extraServices,
        logger: logger)
}
