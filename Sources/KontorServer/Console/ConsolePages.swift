import Foundation
import Hummingbird
import KontorCore
import KontorStore

/// The console's pages and forms. Each handler reads through the same services as the API and hands
/// a plain dictionary to its template; each form is one service action (see Actions.swift).
struct ConsolePages {
    let console: ConsoleController
    var services: Services { console.services }

    static let pageSize = 50

    func register(on group: RouterGroup<KontorRequestContext>) {
        let prefix = ConsoleController.prefix
        console.page(group, "") { request, _, session in try await dashboard(request, session) }
        console.page(group, "devices") { request, _, session in try await devices(request, session) }
        console.page(group, "devices/{id}") { request, context, session in try await device(request, session, id: try context.parameters.require("id")) }
        console.form(group, "devices/{id}/wipe", role: .operator, back: { _, c in "\(prefix)/devices/\(c.parameters.get("id") ?? "")" }) { form, context, session in
            try await wipe(form, session, id: try context.parameters.require("id"))
        }
        console.form(group, "devices/{id}/commands/{command}/cancel", role: .operator, back: { _, c in "\(prefix)/devices/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            let deviceId = try context.parameters.require("id")
            let command = try await services.commands.command(try context.parameters.require("command"))
            guard command.deviceId == deviceId else { throw APIError.notFound("device \(deviceId) has no command \(command.id)") }
            let reason = form.text("reason") ?? "cancelled in the console"
            let cancelled = try await services.cancelCommand(id: command.id, reason: reason, by: session.principal)
            return console.redirect(
                "\(prefix)/devices/\(deviceId)", flash: Flash(kind: .ok, text: "The \(cancelled.type.rawValue) command is cancelled; the device will not run it."))
        }
        console.page(group, "persons") { request, _, session in try await persons(request, session) }
        console.page(group, "persons/export.csv") { _, _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"kontor-persons.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: try await services.personsCSV())))
        }
        console.form(group, "persons", role: .operator, back: { _, _ in "\(prefix)/persons" }) { form, _, session in
            let person = try await services.createPerson(
                .init(
                    email: form.text("email") ?? "", displayName: form.text("displayName") ?? "",
                    groups: (form.text("groups") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }),
                by: session.principal)
            return console.redirect("\(prefix)/persons/\(person.id)", flash: Flash(kind: .ok, text: "\(person.displayName) <\(person.email)> was added."))
        }
        console.page(group, "persons/{id}") { request, context, session in try await person(request, session, id: try context.parameters.require("id")) }
        console.form(group, "persons/{id}/offboard", role: .operator, back: { _, c in "\(prefix)/persons/\(c.parameters.get("id") ?? "")" }) {
            form, context, session in
            try await offboard(form, session, id: try context.parameters.require("id"))
        }
        console.page(group, "enroll-tokens") { request, _, session in try await enrollTokens(request, session) }
        console.form(group, "enroll-tokens", role: .operator, back: { _, _ in "\(prefix)/enroll-tokens" }) { form, context, session in
            try await createEnrollToken(form, context, session)
        }
        console.form(group, "enroll-tokens/{id}/revoke", role: .operator, back: { _, _ in "\(prefix)/enroll-tokens" }) { _, context, session in
            let token = try await services.revokeEnrollmentToken(id: try context.parameters.require("id"), by: session.principal)
            return console.redirect("\(prefix)/enroll-tokens", flash: Flash(kind: .ok, text: "Enrollment token \(token.id) is revoked; it enrolls no more devices."))
        }
        console.page(group, "profiles") { request, _, session in try await profiles(request, session) }
        console.page(group, "profiles/{name}") { request, context, session in try await profile(request, session, name: try context.parameters.require("name")) }
        console.page(group, "quiet-hours") { request, _, session in try await quietHours(request, session) }
        console.page(group, "audit") { request, _, session in try await audit(request, session) }
    }

    private var format: ConsoleFormat { ConsoleFormat(now: services.clock.now()) }

    // MARK: Dashboard

    private func dashboard(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let offlineDays = (request.uri.queryParameters.get("offlineDays").flatMap { Int($0) }).map { min(max($0, 1), 365) } ?? 7
        let (all, names) = try await services.directory.fleet()
        let format = self.format
        let active = all.filter { $0.summary.status == .active }
        var byState: [String: Int] = [:]
        for d in all { byState[ConsoleFormat.state(d).key, default: 0] += 1 }
        var byCompliance: [ConsoleFormat.Compliance: Int] = [:]
        for d in active { byCompliance[ConsoleFormat.compliance(d), default: 0] += 1 }
        let offline = active.filter { format.isOffline($0, days: offlineDays) }
            .sorted { ($0.summary.lastSeen ?? $0.summary.enrolledAt) < ($1.summary.lastSeen ?? $1.summary.enrolledAt) }

        var pendingWipes: [[String: Any]] = []
        for deviceId in try await services.commands.devicesWithOpenCommands().sorted() {
            for command in try await services.commands.commands(deviceId: deviceId) where command.type == .wipe && !command.state.isFinal {
                let device = all.first { $0.summary.id == deviceId }
                pendingWipes.append([
                    "deviceId": deviceId, "hostname": device?.summary.hostname ?? deviceId, "state": command.state.rawValue,
                    "issued": format.time(command.issuedAt), "by": command.issuedBy ?? "",
                ])
            }
        }
        var offboardings: [[String: Any]] = []
        for o in try await services.directory.openOffboardings() {
            let person = try await services.directory.person(id: o.personId)
            offboardings.append([
                "personId": o.personId, "name": person?.displayName ?? o.personId, "email": person?.email ?? "",
                "wipeAt": format.time(o.wipeAt), "issued": o.wipesIssuedAt != nil,
            ])
        }
        let states = ["active", "wiped", "revoked", "replaced"].map { ["key": $0, "count": byState[$0] ?? 0] as [String: Any] }
        let compliance = ConsoleFormat.Compliance.allCases.map { c -> [String: Any] in
            ["key": c.rawValue, "label": c.label, "count": byCompliance[c] ?? 0, "link": "\(ConsoleController.prefix)/devices?compliance=\(c.rawValue)"]
        }
        return console.render(
            "dashboard", title: "Dashboard", nav: "dashboard", session: session, request: request,
            [
                "total": all.count, "activeCount": active.count, "states": states, "compliance": compliance,
                "offlineDays": offlineDays, "offlineCount": offline.count,
                "offline": offline.prefix(20).map { deviceRow($0, names: names, format: format) }, "offlineMore": max(0, offline.count - 20),
                "pendingWipes": pendingWipes, "offboardings": offboardings, "noDevices": all.isEmpty,
            ])
    }

    // MARK: Devices

    private func devices(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let q = query.get("q").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let state = query.get("state") ?? ""
        let compliance = query.get("compliance").flatMap { ConsoleFormat.Compliance(rawValue: String($0)) }
        let sort = query.get("sort").flatMap { ["hostname", "person", "lastSeen", "enrolled"].contains($0) ? $0 : nil } ?? "hostname"
        let descending = query.get("dir") == "desc"
        let format = self.format
        var (list, names) = try await services.directory.fleet()
        if !q.isEmpty {
            let needle = q.lowercased()
            list = list.filter { entry in
                let d = entry.summary
                return [d.hostname, d.id, d.group ?? "", names[d.personId ?? ""]?.email ?? "", names[d.personId ?? ""]?.displayName ?? ""]
                    .contains { $0.lowercased().contains(needle) }
            }
        }
        if !state.isEmpty { list = list.filter { ConsoleFormat.state($0).key == state } }
        if let compliance { list = list.filter { $0.summary.status == .active && ConsoleFormat.compliance($0) == compliance } }
        // Sort keys are computed once per device, not once per comparison.
        func key(_ d: DeviceSummary) -> String {
            switch sort {
            case "person": names[d.personId ?? ""]?.email.lowercased() ?? "~"
            case "lastSeen": String(format: "%020.3f", d.lastSeen?.timeIntervalSince1970 ?? 0)
            case "enrolled": String(format: "%020.3f", d.enrolledAt.timeIntervalSince1970)
            default: d.hostname.lowercased()
            }
        }
        let keyed = list.map { (key: key($0.summary), entry: $0) }.sorted { descending ? $0.key > $1.key : $0.key < $1.key }
        list = keyed.map(\.entry)
        let page = ConsoleFormat.paginate(list, page: query.get("page").flatMap { Int($0) } ?? 1, size: Self.pageSize)
        func link(page p: Int? = nil, sort s: String? = nil) -> String {
            let newSort = s ?? sort
            let dir = s == nil ? (descending ? "desc" : nil) : (s == sort && !descending ? "desc" : nil)
            return "\(ConsoleController.prefix)/devices"
                + ConsoleFormat.query([
                    ("q", q), ("state", state), ("compliance", compliance?.rawValue), ("sort", newSort), ("dir", dir), ("page", p.map { String($0) }),
                ])
        }
        let columns = [("hostname", "Device"), ("person", "Person"), ("lastSeen", "Last seen"), ("enrolled", "Enrolled")].map { key, label -> [String: Any] in
            [
                "label": label, "link": link(sort: key), "active": key == sort,
                "aria": key == sort ? (descending ? "descending" : "ascending") : "none",
            ]
        }
        return console.render(
            "devices", title: "Devices", nav: "devices", session: session, request: request,
            [
                "q": q, "rows": page.items.map { deviceRow($0, names: names, format: format) }, "count": list.count,
                "columns": columns, "page": page.page, "pages": page.pages, "paged": page.pages > 1,
                "prev": page.page > 1 ? link(page: page.page - 1) : "", "next": page.page < page.pages ? link(page: page.page + 1) : "",
                "states": ["active", "wiped", "revoked", "replaced"].map { ["value": $0, "selected": $0 == state] as [String: Any] },
                "complianceOptions": ConsoleFormat.Compliance.allCases.map { ["value": $0.rawValue, "label": $0.label, "selected": $0 == compliance] as [String: Any] },
                "filtered": !q.isEmpty || !state.isEmpty || compliance != nil,
            ])
    }

    private func deviceRow(_ entry: FleetDevice, names: [String: Person], format: ConsoleFormat) -> [String: Any] {
        let state = ConsoleFormat.state(entry)
        let d = entry.summary
        var row: [String: Any] = [
            "id": d.id, "hostname": d.hostname, "group": ConsoleFormat.optional(d.group), "state": state.key, "stateLabel": state.label,
            "lastSeen": format.time(d.lastSeen), "enrolled": format.time(d.enrolledAt), "agentVersion": d.agentVersion,
            "person": false, "compliance": false, "wipe": false,
        ]
        if let person = d.personId.flatMap({ names[$0] }) { row["person"] = ["id": person.id, "email": person.email, "name": person.displayName] }
        if d.status == .active {
            let c = ConsoleFormat.compliance(entry)
            row["compliance"] = ["key": c.rawValue, "label": c.label]
        }
        return row
    }

    private func device(_ request: Request, _ session: ConsoleSession, id: String) async throws -> Response {
        let (device, effective) = try await services.directory.deviceWithPolicy(id)
        var names: [String: Person] = [:]
        if let personId = device.personId, let person = try await services.directory.person(id: personId) { names[personId] = person }
        let format = self.format
        var values = deviceRow(FleetDevice(device), names: names, format: format)
        let facts = device.facts
        values["facts"] = [
            ["label": "Hostname", "value": facts.hostname], ["label": "Operating system", "value": facts.osRelease], ["label": "Kernel", "value": facts.kernel],
            ["label": "Agent", "value": facts.agentVersion], ["label": "Machine ID (hash)", "value": facts.machineIdHash], ["label": "Device ID", "value": device.id],
            ["label": "Signing key", "value": device.keyId], ["label": "Usage terms accepted", "value": device.acceptedTermsVersion ?? "—"],
        ]
        if let report = device.agentStatus { values["agent"] = ["state": report.state, "message": ConsoleFormat.optional(report.message)] }
        if let c = device.compliance {
            values["complianceReport"] = [
                "quiet": c.quiet.map { $0 ? "quiet hours (\(c.quietReason ?? ""))" : "working hours" } ?? "not reported",
                "account": c.containerAccount ?? "—", "containerState": c.containerState ?? "—",
            ]
            values["violations"] = c.violations.map { v -> [String: Any] in
                let fields = (try? JSONSerialization.jsonObject(with: KontorJSON.encode(v))) as? [String: Any] ?? [:]
                return ["text": fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")]
            }
        }
        if let policy = effective {
            values["policy"] = [
                "hash": policy.canonicalHash, "applied": device.appliedPolicyHash == policy.canonicalHash,
                "sources": policy.sources.isEmpty ? ["built-in default"] : policy.sources,
                "origins": (policy.origins ?? [:]).sorted { $0.key < $1.key }.map { ["field": $0.key, "source": $0.value] },
                "json": String(decoding: try Self.prettyJSON(policy, dropping: ["sources", "origins"]), as: UTF8.self),
            ]
        }
        let commands = try await services.commands.commands(deviceId: device.id).sorted { $0.issuedAt > $1.issuedAt }
        values["commands"] = commands.map { c -> [String: Any] in
            [
                "id": c.id, "commandId": c.id, "deviceId": device.id, "type": c.type.rawValue, "state": c.state.rawValue, "reason": c.reason ?? "", "issued": format.time(c.issuedAt),
                "by": c.issuedBy ?? "", "completed": format.time(c.completedAt), "error": ConsoleFormat.optional(c.error),
                "cancellable": c.state.isOpen && session.principal.role.allows(.operator),
            ]
        }
        let openWipe = commands.first { $0.type == .wipe && !$0.state.isFinal }
        values["openWipe"] = openWipe.map { ["state": $0.state.rawValue, "issued": format.time($0.issuedAt)] } ?? false
        values["refresh"] = openWipe != nil
        values["canWipe"] = session.principal.role.allows(.operator) && device.status == .active && openWipe == nil
        if let confirmed = device.wipeConfirmedAt {
            values["wipeConfirmed"] = ["at": format.time(confirmed), "receipt": device.wipeReceiptId ?? ""]
        }
        values["events"] = try await services.directory.events(deviceId: device.id, limit: 20).map { e -> [String: Any] in
            ["at": format.time(e.at), "kind": e.kind, "detail": e.detail ?? ""]
        }
        values["checkinInterval"] = try await services.policies.checkinInterval()
        return console.render("device", title: facts.hostname, nav: "devices", session: session, request: request, values)
    }

    private func wipe(_ form: ConsoleFormRequest, _ session: ConsoleSession, id: String) async throws -> Response {
        let device = try await services.directory.device(id)
        // The page shows the name with invisible characters written out (a name stored before they were
        // refused); what it shows is what can be typed, so that form is accepted too.
        let confirm = form.text("confirm")
        guard confirm == device.facts.hostname || confirm == VisibleText.escaped(device.facts.hostname, keeping: ConsoleRenderer.layoutCharacters) else {
            throw APIError.invalid("The wipe was not sent: type the device name \(device.facts.hostname) exactly to confirm.")
        }
        let reason = form.text("reason") ?? ""
        guard (3...500).contains(reason.count) else { throw APIError.invalid("The wipe was not sent: say in 3 to 500 characters why the device is wiped.") }
        _ = try await services.issueCommand(deviceId: device.id, type: .wipe, reason: reason, expiresIn: nil, by: session.principal)
        let interval = try await services.policies.checkinInterval()
        return console.redirect(
            "\(ConsoleController.prefix)/devices/\(device.id)",
            flash: Flash(kind: .ok, text: "Wipe queued for \(device.facts.hostname). The agent runs it at its next check-in (about every \(interval) s) and sends a signed receipt."))
    }

    static func prettyJSON<T: Encodable>(_ value: T, dropping keys: Set<String>) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: KontorJSON.encode(value)) as? [String: Any] else { return Data() }
        for key in keys { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }

    // MARK: Persons

    private func personNames() async throws -> [String: Person] {
        Dictionary(uniqueKeysWithValues: try await services.directory.persons().map { ($0.id, $0) })
    }

    private func persons(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let q = request.uri.queryParameters.get("q").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        var list = try await services.directory.persons()
        if !q.isEmpty {
            let needle = q.lowercased()
            list = list.filter { ([$0.email, $0.displayName] + $0.groups).contains { $0.lowercased().contains(needle) } }
        }
        list.sort { $0.displayName.lowercased() < $1.displayName.lowercased() }
        let devices = try await services.directory.deviceSummaries()
        let counts = Dictionary(grouping: devices.filter { $0.status == .active }, by: { $0.personId ?? "" }).mapValues(\.count)
        let page = ConsoleFormat.paginate(list, page: request.uri.queryParameters.get("page").flatMap { Int($0) } ?? 1, size: Self.pageSize)
        let link = { (p: Int) in "\(ConsoleController.prefix)/persons" + ConsoleFormat.query([("q", q), ("page", String(p))]) }
        return console.render(
            "persons", title: "Persons", nav: "persons", session: session, request: request,
            [
                "q": q, "count": list.count, "filtered": !q.isEmpty,
                "rows": page.items.map { p -> [String: Any] in
                    [
                        "id": p.id, "email": p.email, "name": p.displayName, "groups": p.groups.joined(separator: ", "), "status": p.status.rawValue,
                        "devices": counts[p.id] ?? 0,
                    ]
                },
                "page": page.page, "pages": page.pages, "paged": page.pages > 1,
                "prev": page.page > 1 ? link(page.page - 1) : "", "next": page.page < page.pages ? link(page.page + 1) : "",
            ])
    }

    private func person(_ request: Request, _ session: ConsoleSession, id: String) async throws -> Response {
        let detail = try await services.directory.personDetail(id)
        let format = self.format
        let person = detail.person
        var values: [String: Any] = [
            "id": person.id, "email": person.email, "name": person.displayName, "groups": ConsoleFormat.optional(person.groups.joined(separator: ", ")),
            "status": person.status.rawValue, "created": format.time(person.createdAt),
        ]
        let names = [person.id: person]
        values["devices"] = detail.devices.map { d -> [String: Any] in
            var row = deviceRow(FleetDevice(d), names: names, format: format)
            if let p = detail.progress.first(where: { $0.deviceId == d.id }), let wipe = p.wipe { row["wipe"] = wipe.rawValue }
            return row
        }
        if let o = detail.offboarding {
            values["offboarding"] = [
                "requested": format.time(o.requestedAt), "by": o.requestedBy ?? "", "wipeAt": format.time(o.wipeAt), "reason": ConsoleFormat.optional(o.reason),
                "restricted": ConsoleFormat.optional(o.restrictedProfile), "issued": format.time(o.wipesIssuedAt), "completed": format.time(o.completedAt),
            ]
        }
        values["canOffboard"] = session.principal.role.allows(.operator) && person.status == .active
        values["zone"] = TimeZone.current.identifier
        values["today"] = WallClockResolver.localDate(of: services.clock.now(), in: .current).description
        // Operators may restrict an offboarding only with the configured profile (assigning others is an admin's).
        let profiles = try await services.policies.snapshot().latest.keys.sorted()
        let offered = session.principal.role.allows(.admin) ? profiles : profiles.filter { $0 == services.config.offboardingProfile }
        values["profiles"] = offered.map { ["name": $0] }
        return console.render("person", title: person.displayName, nav: "persons", session: session, request: request, values)
    }

    private func offboard(_ form: ConsoleFormRequest, _ session: ConsoleSession, id: String) async throws -> Response {
        let person = try await services.directory.person(id)
        var at: Date?
        if let day = form.text("date") {
            guard let date = LocalDate(day) else { throw APIError.invalid("The offboarding was not started: \"\(day)\" is not a date (YYYY-MM-DD).") }
            let zoneName = form.text("zone") ?? TimeZone.current.identifier
            guard let zone = TimeZone(identifier: zoneName) else { throw APIError.invalid("The offboarding was not started: \"\(zoneName)\" is not a time zone.") }
            let time = form.text("time") ?? "17:00"
            let parts = time.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) else {
                throw APIError.invalid("The offboarding was not started: \"\(time)\" is not a time of day (HH:MM).")
            }
            at = WallClockResolver.instant(date, minutes: parts[0] * 60 + parts[1], in: zone)
        }
        let restrict = form["restrictNow"] != nil
        let input = OffboardingService.Request(at: at, restrictNow: restrict, profile: restrict ? form.text("profile") : nil, reason: form.text("reason"))
        let offboarding = try await services.startOffboarding(person, input, by: session.principal)
        let when = offboarding.wipeAt <= services.clock.now() ? "now" : "on \(format.text(offboarding.wipeAt))"
        return console.redirect(
            "\(ConsoleController.prefix)/persons/\(person.id)",
            flash: Flash(kind: .ok, text: "Offboarding of \(person.displayName) started: every device of theirs is wiped \(when)."))
    }

    // MARK: Enrollment tokens

    static let lifetimes: [(seconds: Int, label: String)] = [(3600, "1 hour"), (86_400, "1 day"), (7 * 86_400, "7 days"), (30 * 86_400, "30 days")]

    private func enrollTokens(_ request: Request, _ session: ConsoleSession) async throws -> Response {
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
                    ]
                },
                "persons": names.values.filter { $0.status == .active }.sorted { $0.email < $1.email }.map { ["id": $0.id, "email": $0.email, "name": $0.displayName] },
                "lifetimes": lifetimes.map { ["seconds": $0.seconds, "label": $0.label, "selected": $0.seconds == defaultLifetime] as [String: Any] },
            ])
    }

    private func createEnrollToken(_ form: ConsoleFormRequest, _ context: KontorRequestContext, _ session: ConsoleSession) async throws -> Response {
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
            .init(person: form.text("person"), group: form.text("group"), uses: uses, expiresIn: lifetime), by: session.principal)
        context.logger.notice("enrollment token created", metadata: ["enrollToken.id": "\(created.enrollmentToken.id)"])
        let t = created.enrollmentToken
        let format = self.format
        var values: [String: Any] = [
            "token": created.token, "command": created.agentCommand, "id": t.id, "maxUses": t.maxUses, "expires": format.time(t.expiresAt), "group": ConsoleFormat.optional(t.group),
        ]
        if let personId = t.personId, let person = try await services.directory.person(id: personId) { values["person"] = person.email }
        // Shown once, answered directly (no redirect) and never cached.
        return console.render("enroll-token-created", title: "Enrollment token created", nav: "enroll-tokens", session: session, request: form.request, status: .created, values)
    }

    // MARK: Profiles and quiet hours

    private func profiles(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let snapshot = try await services.policies.snapshot()
        let listed = try await services.policies.listing()
        let format = self.format
        return console.render(
            "profiles", title: "Profiles", nav: "profiles", session: session, request: request,
            [
                "profiles": listed.map { r -> [String: Any] in
                    [
                        "name": r.name, "revision": r.revision, "description": r.description ?? "", "created": format.time(r.createdAt),
                        "by": r.createdBy ?? "", "held": r.held,
                        "assigned": r.assignedTo.map { $0 == "default" ? "everyone (default)" : $0 }.joined(separator: ", "),
                    ]
                },
                "held": listed.filter(\.held).map { ["name": $0.name, "revision": $0.revision, "issues": ($0.issues ?? []).map { ["text": $0] }] as [String: Any] },
                "assignments": snapshot.assignments.map { ["profile": $0.profile, "scope": $0.scope, "target": $0.scope == "default" ? "everyone" : $0.target] },
                "checkinInterval": snapshot.checkinInterval,
            ])
    }

    private func profile(_ request: Request, _ session: ConsoleSession, name: String) async throws -> Response {
        let revisions = (try? await services.policies.revisions(name: name)) ?? []
        guard let latest = revisions.last else { throw APIError.notFound("There is no profile named \(name).") }
        let wanted = request.uri.queryParameters.get("revision").flatMap { Int($0) }
        guard let shown = wanted.map({ w in revisions.first { $0.revision == w } }) ?? latest else {
            throw APIError.notFound("Profile \(name) has no revision \(wanted ?? 0).")
        }
        let format = self.format
        let assignments = try await services.policies.assignments().filter { $0.profile == name }
        return console.render(
            "profile", title: "Profile \(name)", nav: "profiles", session: session, request: request,
            [
                "name": name, "description": shown.profile.description ?? "", "revision": shown.revision, "latest": latest.revision,
                "isLatest": shown.revision == latest.revision, "source": shown.source,
                "revisions": revisions.reversed().map { r -> [String: Any] in
                    [
                        "revision": r.revision, "created": format.time(r.createdAt), "by": r.createdBy ?? "", "current": r.revision == shown.revision,
                        "link": "\(ConsoleController.prefix)/profiles/\(name)?revision=\(r.revision)",
                    ]
                },
                "assignments": assignments.map { ["scope": $0.scope, "target": $0.scope == "default" ? "everyone" : $0.target] },
            ])
    }

    private func quietHours(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let persons = try await services.directory.persons().sorted { $0.email < $1.email }
        let chosen = query.get("person").flatMap { ref in persons.first { $0.id == ref || $0.email == ref } }
        var weekOf = services.clock.now()
        if let text = query.get("week") {
            guard let day = LocalDate(String(text)) else { throw APIError.invalid("week: \"\(text)\" is not a date (YYYY-MM-DD).") }
            weekOf = WallClockResolver.instant(day, minutes: 12 * 60, in: .current)
        }
        var values: [String: Any] = [
            "persons": persons.map { ["id": $0.id, "email": $0.email, "name": $0.displayName, "selected": $0.id == chosen?.id] as [String: Any] },
            "week": WallClockResolver.localDate(of: weekOf, in: .current).description,
        ]
        if let person = chosen {
            values["person"] = ["name": person.displayName, "email": person.email]
            let devices = try await services.directory.devices(person: person.id).filter { $0.status == .active }
            let policy: EffectivePolicy
            if let device = devices.first {
                policy = try await services.policies.effectivePolicy(for: device)
                values["basis"] = "as enforced on \(device.facts.hostname)"
            } else {
                let snapshot = try await services.policies.snapshot()
                policy = PolicyService.effectivePolicy(deviceId: "", person: person, group: nil, snapshot: snapshot, defaultInterval: snapshot.checkinInterval)
                values["basis"] = "for a device without a group (no device enrolled yet)"
            }
            values["sources"] = policy.sources.isEmpty ? "built-in default" : policy.sources.joined(separator: ", ")
            if let quiet = policy.quietHours {
                let week = QuietWeek(policy: quiet, weekOf: weekOf)
                values["zone"] = week.zone.identifier
                values["hours"] = (0..<24).map { String(format: "%02d", $0) }
                values["days"] = week.days.map { day -> [String: Any] in
                    [
                        "date": day.date.description, "weekday": QuietHoursPolicy.weekdays[day.date.isoWeekday - 1].capitalized,
                        "cells": day.hours.enumerated().map { ["hour": String(format: "%02d", $0.offset), "kind": $0.element.rawValue] },
                        "spans": day.spans.map { ["from": week.clock($0.start, dayEnd: day.end), "to": week.clock($0.end, dayEnd: day.end), "reason": $0.reason] },
                    ]
                }
                if let first = week.days.first?.date {
                    values["prevWeek"] = "\(ConsoleController.prefix)/quiet-hours" + ConsoleFormat.query([("person", person.email), ("week", first.adding(days: -7).description)])
                    values["nextWeek"] = "\(ConsoleController.prefix)/quiet-hours" + ConsoleFormat.query([("person", person.email), ("week", first.adding(days: 7).description)])
                }
            } else {
                values["noQuietHours"] = true
            }
        }
        return console.render("quiet-hours", title: "Quiet hours", nav: "profiles", session: session, request: request, values)
    }

    // MARK: Audit

    private func audit(_ request: Request, _ session: ConsoleSession) async throws -> Response {
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
                    "detail": (e.detail ?? [:]).sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key): \($0.value)" }.joined(separator: "; "),
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
