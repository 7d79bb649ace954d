import Foundation
import Hummingbird
import KontorCore
import KontorStore

extension ConsolePages {
    // MARK: Persons

    func personNames() async throws -> [String: Person] {
        Dictionary(uniqueKeysWithValues: try await services.directory.persons().map { ($0.id, $0) })
    }

    func persons(_ request: Request, _ session: ConsoleSession) async throws -> Response {
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

    func person(_ request: Request, _ session: ConsoleSession, id: String) async throws -> Response {
        let detail = try await services.directory.personDetail(id)
        let format = self.format
        let person = detail.person
        var values: [String: Any] = [
            "id": person.id, "email": person.email, "name": person.displayName, "groups": ConsoleFormat.optional(person.groups.joined(separator: ", ")),
            "status": person.status.rawValue, "created": format.time(person.createdAt),
        ]
        values["notTakingPart"] = person.participation == .declined
        values["ownershipCounts"] = (detail.devicesByOwnership ?? OwnershipCounts(company: 0, personal: 0)).described
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
        values["canCancelOffboarding"] =
            session.principal.role.allows(.operator) && person.status == .offboarding && detail.offboarding?.wipesIssuedAt == nil
        values["canExport"] = session.principal.role.allows(.admin)
        values["canEdit"] = session.principal.role.allows(.operator) && person.status != .offboarded
        values["editGroups"] = person.groups.joined(separator: "; ")
        values["phone"] = person.phone ?? ""
        values["takingPart"] = person.participation == .takingPart
        values["zone"] = ZoneInfo.current.identifier
        values["today"] = WallClockResolver.localDate(of: services.clock.now(), in: .current).description
        // Operators may restrict an offboarding only with the configured profile (assigning others is an admin's).
        let profiles = try await services.policies.snapshot().latest.keys.sorted()
        let offered = session.principal.role.allows(.admin) ? profiles : profiles.filter { $0 == services.config.offboardingProfile }
        values["profiles"] = offered.map { ["name": $0] }
        return console.render("person", title: person.displayName, nav: "persons", session: session, request: request, values)
    }

    func offboard(_ form: ConsoleFormRequest, _ session: ConsoleSession, id: String) async throws -> Response {
        let person = try await services.directory.person(id)
        var at: Date?
        if let day = form.text("date") {
            guard let date = LocalDate(day) else { throw APIError.invalid("The offboarding was not started: \"\(day)\" is not a date (YYYY-MM-DD).") }
            let zoneName = form.text("zone") ?? ZoneInfo.current.identifier
            guard let zone = ZoneInfo(identifier: zoneName) else {
                throw APIError.invalid("The offboarding was not started: \"\(zoneName)\" is not a time zone.")
            }
            let time = form.text("time") ?? "17:00"
            let parts = time.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) else {
                throw APIError.invalid("The offboarding was not started: \"\(time)\" is not a time of day (HH:MM).")
            }
            at = WallClockResolver.instant(date, minutes: parts[0] * 60 + parts[1], in: zone)
        }
        let restrict = form["restrictNow"] != nil
        let input = OffboardingService.Request(at: at, restrictNow: restrict, profile: restrict ? form.text("profile") : nil, reason: form.text("reason"))
        let gated = try await services.requestOffboarding(person, input, by: session.principal)
        guard case .done(let offboarding) = gated else {
            return console.redirect(
                "\(ConsoleController.prefix)/approvals",
                flash: Flash(kind: .ok, text: "The offboarding of \(person.displayName) waits for a second person to approve it."))
        }
        let when = offboarding.wipeAt <= services.clock.now() ? "now" : "on \(format.text(offboarding.wipeAt))"
        return console.redirect(
            "\(ConsoleController.prefix)/persons/\(person.id)",
            flash: Flash(kind: .ok, text: "Offboarding of \(person.displayName) started: every device of theirs is wiped \(when)."))
    }

    /// The edit form: name, groups (separated by ; or ,), phone (empty removes it), taking part.
    func editPerson(_ form: ConsoleFormRequest, _ session: ConsoleSession, id: String) async throws -> Response {
        let groups = (form["groups"] ?? "").split(whereSeparator: { $0 == ";" || $0 == "," }).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let change = DirectoryService.PersonChange(
            displayName: form["displayName"] ?? "", groups: groups, phone: form["phone"] ?? "",
            participation: form["takingPart"] != nil ? .takingPart : .declined)
        let person: Person
        do {
            person = try await services.updatePerson(id, change, by: session.principal)
        } catch let error as KontorError where error.kind == .invalid {
            throw APIError.invalid("Nothing was changed: \(error.message)")
        }
        return console.redirect("\(ConsoleController.prefix)/persons/\(person.id)", flash: Flash(kind: .ok, text: "\(person.displayName) was saved."))
    }
}
