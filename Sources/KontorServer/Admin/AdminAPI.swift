import Hummingbird

/// The admin API under /api/v1: every route passes ``AdminAuthMiddleware`` and gets an
/// ``AdminRequestContext`` (a non-optional principal); each feature registers its own routes.
struct AdminAPI {
    let services: Services

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        let api = router.group(RouterPath(Self.prefix)).add(middleware: AdminAuthMiddleware(tokens: services.tokens, people: services.people))
            .group(context: AdminRequestContext.self)
        AuthController(services: services).register(on: router, api: api, table: table)
        TokensController(services: services).register(on: api, table: table)
        PersonsController(services: services).register(on: api, table: table)
        ErasureController(services: services).register(on: api, table: table)
        DevicesController(services: services).register(on: api, table: table)
        EnrollTokensController(services: services).register(on: api, table: table)
        ProfilesController(services: services).register(on: api, table: table)
        CommandsController(services: services).register(on: api, table: table)
        AuditController(services: services).register(on: api, table: table)
        SettingsController(services: services).register(on: api, table: table)
        OnCallController(services: services).register(on: api, table: table)
        TermsController(services: services).register(on: api, table: table)
        ArchivesController(services: services).register(on: api, table: table)
        ReportsController(services: services).register(on: api, table: table)
        RetentionController(services: services).register(on: api, table: table)
        ApprovalsController(services: services).register(on: api, table: table)
    }

    static let prefix = "/api/v1"
}

/// What every admin route group is.
typealias AdminRoutes = RouterGroup<AdminRequestContext>
