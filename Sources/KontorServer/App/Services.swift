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
    /// The console's fleet pages, counted and paged by the store.
    let fleet: FleetService
    let enrollment: EnrollmentService
    let policies: PolicyService
    let deviceAuth: DeviceAuthenticator
    let signer: ResponseSigner
    let enrollLimiter: RateLimiter
    /// Console sign-in attempts per client address: ten a minute.
    let signInLimiter = RateLimiter(perMinute: 10)
    let consoleSessions: ConsoleSessionService
    /// Sign-in through the organisation's OpenID provider; nil when none is configured (API tokens only).
    let people: PersonSignInService?
    let audit: AuditService
    let commands: CommandService
    let receipts: WipeReceiptService
    let offboarding: OffboardingService
    /// Who is on call, and the on-call calendar feed.
    let onCall: OnCallService
    let terms: TermsService
    let archives: ArchiveService
    /// A person's access request (GDPR Art. 15): everything held about them, in one document.
    let personExport: PersonExportService
    /// Deletes what is kept longer than the retention settings allow.
    let retention: RetentionService
    /// Four-eyes approvals of the actions the settings hold back.
    let approvals: ApprovalService
    /// Signs the audit log's head and writes it outside the database.
    let checkpointer: AuditCheckpointer
    let metrics = ServerMetrics()
    /// A check-in's events and acknowledgements: validated, then written within each device's limits.
    let checkinReports: CheckinReports
    /// One check-in, start to end.
    let checkins: CheckinService
    /// The client behind each request (the peer, or behind a trusted proxy the forwarded address).
    let clientAddresses: ClientAddresses

    public init(
        config: ServerConfig, store: any KontorStore, clock: WallClock, serverKey: ServerSigningKey, registry: PrometheusCollectorRegistry?,
        cluster: ClusterEvents = ClusterEvents(), replay: any ReplayWindow = NonceCache(), longPolls: LongPolls = LongPolls()
    ) {
        self.cluster = cluster
        self.longPolls = longPolls
        var announce: (@Sendable (String) -> Void)?
        if cluster.isShared { announce = { @Sendable id in cluster.post(.device(id)) } }
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
        self.fleet = FleetService(
            store: store, recorder: recorder, expected: ExpectedPolicies(store: store, policies: policies), clock: clock,
            logger: Logger(label: "kontor.console"))
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
        self.checkins = CheckinService(
            reports: checkinReports, policies: policies, commands: commands, recorder: recorder, devices: devices, longPolls: longPolls, clock: clock,
            metrics: metrics, longPollMax: config.longPollMax)
        self.receipts = WipeReceiptService(store: store, clock: clock, audit: audit, commands: commands, devices: devices)
        self.consoleSessions = ConsoleSessionService(
            store: store, tokens: tokens, clock: clock, idleTimeout: TimeInterval(config.consoleIdleTimeout),
            lifetime: TimeInterval(config.consoleSessionLifetime))
        self.people = (try? config.oidc()).flatMap { $0 }.map { settings in
            PersonSignInService(provider: OIDCProvider(settings: settings, clock: clock), store: store, clock: clock)
        }
        self.offboarding = OffboardingService(
            store: store, clock: clock, commands: commands, policies: policies, audit: audit, operatorProfile: config.offboardingProfile)
        self.onCall = OnCallService(store: store, policies: policies, clock: clock)
        self.terms = TermsService(store: store, clock: clock, audit: audit, policies: policies)
        self.archives = ArchiveService(
            store: store, clock: clock, audit: audit, directory: config.archiveDir ?? (config.dataDir as NSString).appendingPathComponent("archives"),
            maxSize: config.archiveMaxBytes)
        self.personExport = PersonExportService(store: store, clock: clock, directory: directory, policies: policies, audit: audit)
        self.retention = RetentionService(
            store: store, clock: clock, audit: audit, consoleIdleTimeout: TimeInterval(config.consoleIdleTimeout),
            erasure: ErasureService(store: store, audit: audit, devices: devices))
        self.approvals = ApprovalService(store: store, clock: clock, audit: audit)
        self.checkpointer = AuditCheckpointer(
            store: store, clock: clock, key: serverKey, sinks: config.checkpointSinks(), logger: Logger(label: "kontor.audit-checkpoints"))
        Self.followCluster(cluster, devices: devices, policies: policies, commands: commands, longPolls: longPolls)
    }
}

extension Services {
    /// What another instance announces reaches this one's caches, command index and held check-ins.
    private static func followCluster(
        _ cluster: ClusterEvents, devices: DeviceCache, policies: PolicyService, commands: CommandService, longPolls: LongPolls
    ) {
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

    /// Throws unless the store answers (readiness).
    func pingStore() async throws { try await store.ping() }

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
