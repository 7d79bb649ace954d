import Foundation
import Hummingbird
import KontorCore
import KontorStore

extension ConsolePages {
    // MARK: Enrollment tokens

    static let lifetimes: [(seconds: Int, label: String)] = [(3600, "1 hour"), (86_400, "1 day"), (7 * 86_400, "7 days"), (30 * 86_400, "30 days")]

    func enrollTokens(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let format = self.format
        let names = try await personNames()
        let tokens = try await services.enrollment.tokens().map(\.token)
        let defaultLifetime = services.config.enrollTokenLifetime
        var lifetimes = Self.lifetimes
        if !lifetimes.contains(where: { $0.seconds == defaultLifetime }) { lifetimes.append((defaultLifetime, "\(defaultLifetime / 60) minutes")) }
        return console.render(
            "enroll-tokens", title: "Enrollment tokens", nav: "enroll-tokens", session: session, request: request,
            [
                "tokens": tokens.map { t -> [String: Any] in
                    let state = t.state(at: format.now)
                    return [
                        "id": t.id, "state": state.rawValue, "uses": t.uses, "maxUses": t.maxUses, "expires": format.time(t.expiresAt),
                        "created": format.time(t.createdAt), "by": t.createdBy ?? "", "person": t.personId.flatMap { names[$0]?.email } ?? "",
                        "group": ConsoleFormat.optional(t.group), "revocable": state == .active && session.principal.role.allows(.operator),
                        "ownership": t.ownership.rawValue,
                    ]
                },
                "persons": names.values.filter { $0.status == .active }.sorted { $0.email < $1.email }.map {
                    ["id": $0.id, "email": $0.email, "name": $0.displayName]
                },
                "lifetimes": lifetimes.map { ["seconds": $0.seconds, "label": $0.label, "selected": $0.seconds == defaultLifetime] as [String: Any] },
            ])
    }

    func createEnrollToken(_ form: ConsoleFormRequest, _ context: KontorRequestContext, _ session: ConsoleSession) async throws -> Response {
        var uses: Int?
        if let text = form.text("uses") {
            guard let n = Int(text) else { throw APIError.invalid("No token was created: uses must be a whole number, not \"\(text)\".") }
            uses = n
        }
        var lifetime: Int?
        if let text = form.text("expiresIn") {
            guard let n = Int(text) else { throw APIError.invalid("No token was created: the lifetime must be a number of seconds, not \"\(text)\".") }
            lifetime = n
        }
        let created = try await services.createEnrollmentToken(
            .init(person: form.text("person"), group: form.text("group"), uses: uses, expiresIn: lifetime, ownership: form.text("ownership")),
            by: session.principal)
        context.logger.notice("enrollment token created", metadata: ["enrollToken.id": "\(created.enrollmentToken.id)"])
        let t = created.enrollmentToken
        let format = self.format
        var values: [String: Any] = [
            "token": created.token, "command": created.agentCommand, "id": t.id, "maxUses": t.maxUses, "expires": format.time(t.expiresAt),
            "group": ConsoleFormat.optional(t.group), "ownership": t.ownership.rawValue,
        ]
        if let personId = t.personId, let person = try await services.directory.person(id: personId) { values["person"] = person.email }
        // Shown once, answered directly (no redirect) and never cached.
        return console.render(
            "enroll-token-created", title: "Enrollment token created", nav: "enroll-tokens", session: session, request: form.request, status: .created, values)
    }
}
