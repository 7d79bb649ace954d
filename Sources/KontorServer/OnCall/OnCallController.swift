import Foundation
import HTTPTypes
import Hummingbird
import KontorCore

/// Who is on call: a JSON answer for admins and bots (`GET /api/v1/oncall`), and a group's iCalendar feed
/// (`GET /api/v1/oncall/{group}.ics`) that a phone calendar subscribes to. The feed takes the token in
/// the `Authorization` header or, for calendar apps that cannot send one, in `?token=`; any role may read
/// it, and the `feed` role may read nothing else.
struct OnCallController {
    let services: Services

    func register(on api: AdminRoutes, table: RouteTable) {
        api.on(.get, AdminAPI.prefix, "oncall", table: table, use: answer)
    }

    /// The feed sits outside the admin group: it authenticates by itself (a `feed` token is refused there).
    func registerFeed(on router: Router<KontorRequestContext>, table: RouteTable) {
        router.on(.get, "", AdminAPI.prefix + "/oncall/{group}.ics", table: table, use: feed)
    }

    @Sendable func answer(_ request: Request, context: AdminRequestContext) async throws -> OnCallAnswer {
        try context.require(.auditor)
        return try await services.onCall.answer(group: try request.queryParameter("group"), at: try request.dateQueryParameter("at"))
    }

    @Sendable func feed(_ request: Request, context: KontorRequestContext) async throws -> Response {
        guard let presented = try request.bearerToken ?? request.queryParameter("token"),
            let principal = try await services.tokens.authenticate(bearer: presented), principal.role != .directory
        else {
            throw APIError(
                .unauthorized, .unauthorized, "the feed needs an API token (Authorization: Bearer, or ?token=)", headers: [.wwwAuthenticate: "Bearer"])
        }
        context.logger.debug("on-call feed read", metadata: ["api.token": "\(principal.name)"])
        let group = try context.parameters.require("group")
        let from = try request.dateQueryParameter("from")
        var days: Int?
        if let text = try request.queryParameter("days") {
            guard let parsed = Int(text) else { throw APIError.invalid("days: expected a whole number of days, found \"\(text)\"") }
            days = parsed
        }
        let calendar = try await services.onCall.feed(group: group, from: from, days: days)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/calendar; charset=utf-8", .contentDisposition: "inline; filename=\"oncall-\(group).ics\"", .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: calendar.text(stamp: services.clock.now()))))
    }
}
