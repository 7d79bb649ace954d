import Foundation
import Hummingbird
import KontorCore
import KontorStore

extension ConsolePages {
    // MARK: Devices

    func devices(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let q = query.get("q").map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        let state = query.get("state") ?? ""
        let compliance = query.get("compliance").flatMap { ConsoleFormat.Compliance(rawValue: String($0)) }
        let ownership = query.get("ownership").flatMap { Ownership(rawValue: String($0)) }
        let sort = query.get("sort").flatMap { FleetQuery.Sort(rawValue: String($0)) } ?? .hostname
        let descending = query.get("dir") == "desc"
        let format = self.format
        let page = try await services.fleet.page(
            FleetQuery(
                search: q, state: state.isEmpty ? nil : state, compliance: compliance, ownership: ownership, sort: sort, descending: descending,
                limit: Self.pageSize),
            page: query.get("page").flatMap { Int($0) } ?? 1)
        func link(page p: Int? = nil, sort s: FleetQuery.Sort? = nil) -> String {
            let newSort = s ?? sort
            let dir = s == nil ? (descending ? "desc" : nil) : (s == sort && !descending ? "desc" : nil)
            return "\(ConsoleController.prefix)/devices"
                + ConsoleFormat.query([
                    ("q", q), ("state", state), ("compliance", compliance?.rawValue), ("ownership", ownership?.rawValue), ("sort", newSort.rawValue),
                    ("dir", dir), ("page", p.map { String($0) }),
                ])
        }
        let columns = [(FleetQuery.Sort.hostname, "Device"), (.person, "Person"), (.lastSeen, "Last seen"), (.enrolled, "Enrolled")].map {
            key, label -> [String: Any] in
            [
                "label": label, "link": link(sort: key), "active": key == sort,
                "aria": key == sort ? (descending ? "descending" : "ascending") : "none",
            ]
        }
        return console.render(
            "devices", title: "Devices", nav: "devices", session: session, request: request,
            [
                "q": q, "rows": page.entries.map { deviceRow($0, format: format) }, "count": page.total,
                "columns": columns, "page": page.page, "pages": page.pages, "paged": page.pages > 1,
                "prev": page.page > 1 ? link(page: page.page - 1) : "", "next": page.page < page.pages ? link(page: page.page + 1) : "",
                "states": ["active", "wiped", "revoked", "replaced"].map { ["value": $0, "selected": $0 == state] as [String: Any] },
                "complianceOptions": ConsoleFormat.Compliance.allCases.map {
                    ["value": $0.rawValue, "label": $0.label, "selected": $0 == compliance] as [String: Any]
                },
                "ownerships": Ownership.allCases.map { ["value": $0.rawValue, "selected": $0 == ownership] as [String: Any] },
                "filtered": !q.isEmpty || !state.isEmpty || compliance != nil || ownership != nil,
            ])
    }

    /// A fleet page's entry as a row of the device tables.
    func deviceRow(_ entry: FleetService.Entry, format: ConsoleFormat) -> [String: Any] {
        let person = entry.device.summary.personId.flatMap { id in entry.personEmail.map { (id: id, email: $0, name: entry.personName ?? "") } }
        return deviceRow(entry.device, person: person, format: format)
    }

    func deviceRow(_ entry: FleetDevice, names: [String: Person], format: ConsoleFormat) -> [String: Any] {
        deviceRow(entry, person: entry.summary.personId.flatMap { names[$0] }.map { (id: $0.id, email: $0.email, name: $0.displayName) }, format: format)
    }

    func deviceRow(_ entry: FleetDevice, person: (id: String, email: String, name: String)?, format: ConsoleFormat) -> [String: Any] {
        let state = ConsoleFormat.state(entry)
        let d = entry.summary
        var row: [String: Any] = [
            "id": d.id, "hostname": d.hostname, "group": ConsoleFormat.optional(d.group), "state": state.key, "stateLabel": state.label,
            "lastSeen": format.time(d.lastSeen), "enrolled": format.time(d.enrolledAt), "agentVersion": d.agentVersion,
            "person": false, "compliance": false, "wipe": false, "ownership": d.ownership.rawValue, "personal": d.ownership == .personal,
        ]
        if let person { row["person"] = ["id": person.id, "email": person.email, "name": person.name] }
        if d.status == .active {
            let c = ConsoleFormat.compliance(entry)
            row["compliance"] = ["key": c.rawValue, "label": ConsoleFormat.complianceLabel(entry)]
        }
        return row
    }

    /// How the device's confirmed wipe erased the work data, from its signed receipt.
    func wipeMethod(_ device: Device) async throws -> String {
        guard let id = device.wipeReceiptId, let stored = try await services.store.receipt(id: id), let key = DeviceKeys.publicKey(base64: device.publicKey),
            let receipt = stored.signed.verified(by: key), let method = receipt.method
        else { return "deletion (the agent predates crypto-erase)" }
        let erased =
            method == "cryptoErase+delete"
            ? "cryptographic erase (the container key destroyed), then deletion" : "deletion only: \(receipt.methodNote ?? "")"
        if let archive = receipt.archive {
            return erased + "; archived first: archive \(archive.id), \(archive.files) files, \(archive.size) bytes, SHA-256 \(archive.sha256)"
        }
        return erased + (receipt.archiveFailed.map { "; no archive: \($0)" } ?? "")
    }

    /// Whether a wipe of the device can destroy its container's key, as the agent last reported.
    static func cryptoErase(_ c: ComplianceReport) -> String {
        switch c.cryptoErase {
        case "available":
            "available: the work home is encrypted; a wipe destroys its key"
                + (c.containerKey?.hasPrefix("locked") == true ? ". The key is out of the kernel now (container locked)" : "")
        case "unavailable": "unavailable — a wipe can only delete: \(c.cryptoEraseReason ?? "no reason given")"
        default: "not reported"
        }
    }

    func device(_ request: Request, _ session: ConsoleSession, id: String) async throws -> Response {
        let (device, effective) = try await services.directory.deviceWithPolicy(id)
        var names: [String: Person] = [:]
        if let personId = device.personId, let person = try await services.directory.person(id: personId) { names[personId] = person }
        let format = self.format
        var values = deviceRow(FleetDevice(device), names: names, format: format)
        let facts = device.facts
        values["facts"] = [
            ["label": "Hostname", "value": facts.hostname], ["label": "Operating system", "value": facts.osRelease],
            ["label": "Kernel", "value": facts.kernel],
            ["label": "Agent", "value": facts.agentVersion], ["label": "Machine ID (hash)", "value": facts.machineIdHash],
            ["label": "Device ID", "value": device.id],
            ["label": "Signing key", "value": device.keyId], ["label": "Usage terms accepted", "value": device.acceptedTermsVersion ?? "—"],
        ]
        values["posture"] = facts.posture != nil
        values["postureRows"] = (facts.posture?.described ?? []).map { ["label": $0.label.prefix(1).uppercased() + $0.label.dropFirst(), "value": $0.value] }
        if let report = device.agentStatus { values["agent"] = ["state": report.state, "message": ConsoleFormat.optional(report.message)] }
        if let c = device.compliance {
            values["complianceReport"] = [
                "quiet": c.quiet.map { $0 ? "quiet hours (\(c.quietReason ?? ""))" : "working hours" } ?? "not reported",
                "account": c.containerAccount ?? "—", "containerState": c.containerState ?? "—",
                "cryptoErase": Self.cryptoErase(c),
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
                "json": String(decoding: try Self.prettyJSON(policy, dropping: ["sources", "origins", "notApplied"]), as: UTF8.self),
                "notApplied": policy.notApplied ?? [],
            ]
        }
        let commands = try await services.commands.commands(deviceId: device.id).sorted { $0.issuedAt > $1.issuedAt }
        values["commands"] = commands.map { c -> [String: Any] in
            [
                "id": c.id, "commandId": c.id, "deviceId": device.id, "type": c.type.rawValue, "state": c.state.rawValue, "reason": c.reason ?? "",
                "issued": format.time(c.issuedAt),
                "by": c.issuedBy ?? "", "completed": format.time(c.completedAt), "error": ConsoleFormat.optional(c.error),
                "cancellable": c.state.isOpen && session.principal.role.allows(.operator),
            ]
        }
        let openWipe = commands.first { $0.type == .wipe && !$0.state.isFinal }
        values["openWipe"] = openWipe.map { ["state": $0.state.rawValue, "issued": format.time($0.issuedAt)] } ?? false
        values["refresh"] = openWipe != nil
        values["canWipe"] = session.principal.role.allows(.operator) && device.status == .active && openWipe == nil
        if let confirmed = device.wipeConfirmedAt {
            values["wipeConfirmed"] = ["at": format.time(confirmed), "receipt": device.wipeReceiptId ?? "", "method": try await wipeMethod(device)]
        }
        values["events"] = try await services.directory.events(deviceId: device.id, limit: 20).map { e -> [String: Any] in
            ["at": format.time(e.at), "kind": e.kind, "detail": e.detail ?? ""]
        }
        values["checkinInterval"] = try await services.policies.checkinInterval()
        return console.render("device", title: facts.hostname, nav: "devices", session: session, request: request, values)
    }

    func wipe(_ form: ConsoleFormRequest, _ session: ConsoleSession, id: String) async throws -> Response {
        let device = try await services.directory.device(id)
        // The page shows the name with invisible characters written out (a name stored before they were
        // refused); what it shows is what can be typed, so that form is accepted too.
        let confirm = form.text("confirm")
        guard confirm == device.facts.hostname || confirm == VisibleText.escaped(device.facts.hostname, keeping: ConsoleRenderer.layoutCharacters) else {
            throw APIError.invalid("The wipe was not sent: type the device name \(device.facts.hostname) exactly to confirm.")
        }
        let reason = form.text("reason") ?? ""
        guard (3...500).contains(reason.count) else { throw APIError.invalid("The wipe was not sent: say in 3 to 500 characters why the device is wiped.") }
        let gated = try await services.requestCommand(deviceId: device.id, type: .wipe, reason: reason, expiresIn: nil, by: session.principal)
        if case .pending(let approval, _) = gated {
            return console.redirect(
                "\(ConsoleController.prefix)/approvals",
                flash: Flash(kind: .ok, text: "The wipe of \(device.facts.hostname) waits for a second person to approve it (request \(approval.id)).")
            )
        }
        let interval = try await services.policies.checkinInterval()
        return console.redirect(
            "\(ConsoleController.prefix)/devices/\(device.id)",
            flash: Flash(
                kind: .ok,
                text: "Wipe queued for \(device.facts.hostname). The agent runs it at its next check-in (about every \(interval) s) and sends a signed receipt."
            ))
    }

    static func prettyJSON<T: Encodable>(_ value: T, dropping keys: Set<String>) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: KontorJSON.encode(value)) as? [String: Any] else { return Data() }
        for key in keys { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    }
}
