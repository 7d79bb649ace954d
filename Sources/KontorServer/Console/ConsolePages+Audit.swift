import Foundation
import Hummingbird
import KontorCore
import KontorStore

extension ConsolePages {
    // MARK: Audit

    func audit(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let actor = query.get("actor").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let action = query.get("action").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let target = query.get("target").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let sinceText = query.get("since") ?? ""
        var since: Date?
        if !sinceText.isEmpty {
            guard let day = LocalDate(sinceText) else { throw APIError.invalid("since: \"\(sinceText)\" is not a date (YYYY-MM-DD).") }
            since = WallClockResolver.instant(day, minutes: 0, in: .current)
        }
        let filter = AuditFilter(actor: actor, actionPrefix: action, target: target.isEmpty ? nil : target, since: since)
        let size = 100
        let requested = max(1, query.get("page").flatMap { Int($0) } ?? 1)
        var found = try await services.audit.entries(matching: filter, limit: size, offset: (requested - 1) * size)
        let pages = max(1, (found.total + size - 1) / size)
        if requested > pages { found = try await services.audit.entries(matching: filter, limit: size, offset: (pages - 1) * size) }
        let page = (items: found.entries, page: min(requested, pages), pages: pages)
        let format = self.format
        let filters: [(String, String?)] = [("actor", actor), ("action", action), ("target", target), ("since", sinceText)]
        let link = { (p: Int) in "\(ConsoleController.prefix)/audit" + ConsoleFormat.query(filters + [("page", String(p))]) }
        var values: [String: Any] = [
            "actor": actor, "action": action, "target": target, "since": sinceText, "count": found.total,
            "filtered": !(actor.isEmpty && action.isEmpty && target.isEmpty && sinceText.isEmpty),
            "entries": page.items.map { e -> [String: Any] in
                [
                    "seq": e.seq, "at": format.time(e.at), "actor": e.actor, "action": e.action, "target": e.target ?? "",
                    "detail": (e.detail ?? [:]).sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key): \($0.value)" }.joined(
                        separator: "; "),
                ]
            },
            "page": page.page, "pages": page.pages, "paged": page.pages > 1,
            "prev": page.page > 1 ? link(page.page - 1) : "", "next": page.page < page.pages ? link(page.page + 1) : "",
            "verifyLink": "\(ConsoleController.prefix)/audit" + ConsoleFormat.query(filters + [("verify", "1")]),
        ]
        if query.get("verify") != nil {
            let result = try await services.audit.verify()
            values["verification"] = [
                "ok": result.ok, "entries": result.entries, "head": result.head, "firstBad": result.firstBadSeq ?? 0, "problem": result.problem ?? "",
            ]
        }
        return console.render("audit", title: "Audit log", nav: "audit", session: session, request: request, values)
    }
}
