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

/// The router with every route; `table` records what was registered.
public func buildRouter(
    _ services: Services,
    table: RouteTable = RouteTable(),
    console: ConsoleRouteTable = ConsoleRouteTable()
) -> Router<KontorRequestContext> {
    let router = Router(context: KontorRequestContext.self)
    router.add(middleware: HeldCheckinMiddleware(longPolls: services.longPolls))
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: RequestLogMiddleware(.debug))
    OperationsController(services: services).register(on: router, table: table)
    DeviceController(services: services).register(on: router, table: table)
    TermsController(services: services).registerDevice(on: router, table: table)
    ArchivesController(services: services).registerDevice(on: router, table: table)
    AdminAPI(services: services).register(on: router, table: table)
    OnCallController(services: services).registerFeed(on: router, table: table)
    SCIMController(services: services).register(on: router)
    ConsoleController(services: services, table: console).register(on: router)
    return router
}

/// The whole server: HTTP (or HTTPS) with every route, plus the check-in flusher.
public func buildApplication(
    config: ServerConfig, services: Services, logger: Logger, extraServices: [any Service] = [], periods: BackgroundPeriods = BackgroundPeriods()
) throws -> some ApplicationProtocol {
    let router = buildRouter(services)
    // Every connection lives by the header, body and idle deadlines and counts against the connection
    // limit, which stays below the open-file limit (Edge/).
    let connections = OpenConnections(
        limit: try OpenFileLimit.connectionLimit(configured: config.maxConnections, openFiles: OpenFileLimit.current()), logger: logger)
    let timeouts = ConnectionTimeouts(config)
    let longPolls = services.longPolls
    let http1 = HTTPServerBuilder.http1(
        configuration: .init(additionalChannelHandlers: [ConnectionGuard(timeouts: timeouts, connections: connections, longPolls: longPolls)]))
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
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "kontor", backlog: config.listenBacklog),
        services: [
            CheckinFlushService(recorder: services.recorder, clock: services.clock, logger: logger, period: periods.checkinFlush),
            DeviceCacheWarmupService(devices: services.devices, store: services.store, clock: services.clock, logger: logger),
            OffboardingSchedulerService(offboarding: services.offboarding, period: periods.offboarding, logger: logger),
            ApprovalSweepService(approvals: services.approvals, period: periods.approvalSweep, logger: logger),
            ArchivePurgeService(archives: services.archives, period: periods.archivePurge, logger: logger),
            RetentionSchedulerService(retention: services.retention, period: periods.retention, logger: logger),
            EventLimitService(reports: services.checkinReports, logger: logger, period: periods.eventLimits),
            MemoryTrimService(period: periods.memoryTrim, logger: logger),
        ] + checkpoints + extraServices,
        logger: logger)
}

/// How often the server's background services run. A test stretches them all to an hour: a service that
/// sleeps its period out instead of ending on a graceful shutdown then holds the stop for that hour.
public struct BackgroundPeriods: Sendable {
    public var checkinFlush: Duration = .seconds(5)
    public var offboarding: Double = 15
    public var approvalSweep: Double = 60
    public var archivePurge: Double = 3600
    public var retention: Duration = .seconds(3600)
    public var eventLimits: Duration = .seconds(60)
    public var memoryTrim: Duration = .seconds(15)

    public init() {}
}
