import Foundation
import KontorCore
import KontorStore

/// The admin actions the API and the console both offer: each changes the store and writes its audit entry
/// in one place, so the two front ends cannot drift apart.
extension Services {
    public func createPerson(_ input: DirectoryService.NewPerson, by principal: Principal) async throws -> Person {
        let person = try await directory.createPerson(input)
        try await audit.record(
            AuditService.actor(principal), "person.created", target: person.email, detail: ["id": person.id, "groups": person.groups.joined(separator: ",")])
        return person
    }

    /// Changes a person's name, groups, phone or participation; each change is audited. A group change
    /// reaches the person's devices at their next check-in (a held one answers now). Declining to take part
    /// revokes their unused enrollment tokens; devices they already enrolled stay as they are (offboard or
    /// wipe them to end them).
    public func updatePerson(_ reference: String, _ change: DirectoryService.PersonChange, by principal: Principal) async throws -> Person {
        let (before, updated) = try await directory.updatePerson(reference, change)
        let actor = AuditService.actor(principal)
        var detail: [String: String] = [:]
        if updated.displayName != before.displayName { detail["displayName"] = updated.displayName }
        if updated.groups != before.groups { detail["groups"] = updated.groups.joined(separator: ",") }
        if updated.phone != before.phone { detail["phone"] = updated.phone ?? "" }
        if !detail.isEmpty {
            detail["id"] = updated.id
            try await audit.record(actor, "person.updated", target: updated.email, detail: detail)
        }
        if updated.groups != before.groups { refreshPolicies(deviceIds: try await store.devices(personId: updated.id).map(\.id)) }
        guard let participation = change.participation, participation != updated.participation else { return updated }
        guard try await store.setParticipation(personId: updated.id, participation, at: clock.now()) else {
            throw KontorError.notFound("no person \(reference)")
        }
        try await audit.record(actor, "person.participation", target: updated.email, detail: ["participation": participation.rawValue])
        return try await directory.person(updated.id)
    }

    /// A person who left comes back as a new person linked to the old one (audited with both IDs).
    public func rehirePerson(_ reference: String, _ change: DirectoryService.PersonChange, by principal: Principal) async throws -> Person {
        let (previous, person) = try await directory.rehire(reference, change)
        try await audit.record(
            AuditService.actor(principal), "person.rehired", target: person.email,
            detail: ["id": person.id, "previous": previous.id, "groups": person.groups.joined(separator: ",")])
        return person
    }

    /// The devices' policies changed without a catalog change (their person's groups): their cached policy
    /// goes (here and, announced, on the other instances) and a held check-in answers now.
    func refreshPolicies(deviceIds: [String]) {
        for id in deviceIds {
            devices.invalidate(deviceId: id)
            longPolls.wake(id)
        }
    }

    public func createEnrollmentToken(_ input: EnrollmentService.CreateTokenRequest, by principal: Principal) async throws -> EnrollmentService.CreatedToken {
        let created = try await enrollment.createToken(input, directory: directory, createdBy: principal)
        let t = created.enrollmentToken
        try await audit.record(
            AuditService.actor(principal), "enroll-token.created", target: t.id,
            detail: [
                "uses": String(t.maxUses), "expiresAt": ISO8601.string(from: t.expiresAt), "person": t.personId ?? "", "group": t.group ?? "",
                "ownership": t.ownership.rawValue,
            ])
        return created
    }

    public func revokeEnrollmentToken(id: String, by principal: Principal) async throws -> EnrollmentToken {
        let token = try await enrollment.revokeToken(id: id)
        try await audit.record(AuditService.actor(principal), "enroll-token.revoked", target: token.id)
        return token
    }

    public func issueCommand(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, by principal: Principal) async throws -> CommandRecord {
        try await issueCommand(
            deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn, actor: AuditService.actor(principal), name: principal.name)
    }

    /// Issues a command for `actor` (named `name` on the command); `approvedBy` names the second person of a
    /// command that waited for approval, in its audit entry.
    func issueCommand(
        deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, actor: String, name: String, approvedBy: String? = nil
    ) async throws -> CommandRecord {
        let command = try await commands.issue(deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn, by: name)
        var detail = ["command": command.id, "reason": command.reason ?? ""]
        if let approvedBy { detail["approvedBy"] = approvedBy }
        try await audit.record(actor, "command.\(command.type.rawValue)", target: command.deviceId, detail: detail)
        return command
    }

    public func cancelCommand(id: String, reason: String?, by principal: Principal) async throws -> CommandRecord {
        let command = try await commands.cancel(id: id, reason: reason)
        try await audit.record(
            AuditService.actor(principal), "command.cancelled", target: command.deviceId, detail: ["command": command.id, "reason": reason ?? ""])
        return command
    }

    func startOffboarding(_ person: Person, _ input: OffboardingService.Request, by principal: Principal) async throws -> Offboarding {
        try await offboarding.start(person, input, role: principal.role, actor: AuditService.actor(principal), by: principal.name)
    }

    /// Ends an offboarding in its notice period (no wipe went out): the person is active again.
    func cancelOffboarding(_ person: Person, by principal: Principal) async throws -> Offboarding {
        try await offboarding.cancel(person, actor: AuditService.actor(principal))
    }

    /// Mints a token that belongs to whoever answers for `principal` (a person, or the token's own owner).
    public func createAPIToken(name: String, role: Role, purpose: TokenPurpose = .automation, by principal: Principal) async throws -> (APIToken, String) {
        let owner = principal.accountable.map { String($0.dropFirst("person:".count)) }
        let (token, secret) = try await tokens.create(name: name, role: role, purpose: purpose, owner: owner, ownerName: principal.accountableName)
        try await auditTokenCreated(token, actor: AuditService.actor(principal))
        return (token, secret)
    }

    /// `api-token.created` by `actor`, with the second person when it waited for approval.
    func auditTokenCreated(_ token: APIToken, actor: String, approvedBy: String? = nil) async throws {
        var detail = ["name": token.name, "role": token.role.rawValue, "purpose": token.purpose.rawValue]
        if let owner = token.owner { detail["owner"] = owner }
        if let approvedBy { detail["approvedBy"] = approvedBy }
        try await audit.record(actor, "api-token.created", target: token.id, detail: detail)
    }

    public func revokeAPIToken(id: String, by principal: Principal) async throws -> APIToken {
        let token = try await tokens.revoke(id: id)
        try await audit.record(AuditService.actor(principal), "api-token.revoked", target: token.id, detail: ["name": token.name])
        return token
    }

    /// Revokes a device without a wipe receipt (its key is refused from now on), records why, and moves
    /// its person's offboarding on.
    public func revokeDevice(id: String, reason: String, by principal: Principal) async throws -> Device {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (3...500).contains(reason.count) else { throw KontorError.invalid("reason: say in 3 to 500 characters why") }
        guard try await revokeDevice(id: id) else { throw KontorError.notFound("no device \(id)") }
        let revoked = try await directory.device(id)
        try await audit.record(
            AuditService.actor(principal), "device.revoked", target: id, detail: ["reason": reason, "wipeConfirmed": String(revoked.wipeConfirmedAt != nil)])
        if let personId = revoked.personId { try await offboarding.tick(personId: personId) }
        return try await directory.device(id)
    }

    public func applyProfile(source: String, dryRun: Bool, by principal: Principal) async throws -> PolicyService.ApplyResult {
        let result = try await policies.apply(source: source, dryRun: dryRun, by: principal.name)
        if let revision = result.revision {
            try await audit.record(
                AuditService.actor(principal), "profile.applied", target: result.profile.name,
                detail: ["revision": String(revision), "devicesChanged": String(result.devicesChanged)])
        }
        return result
    }

    public func rollbackProfile(name: String, to revision: Int, by principal: Principal) async throws -> PolicyService.ApplyResult {
        let result = try await policies.rollback(name: name, to: revision, by: principal.name)
        try await audit.record(
            AuditService.actor(principal), "profile.rolled-back", target: result.profile.name,
            detail: ["to": String(revision), "revision": String(result.revision ?? 0)])
        return result
    }

    public func assignProfile(_ profile: String, scope: String, target: String?, by principal: Principal) async throws -> ProfileAssignment {
        let assignment = try await policies.assign(profile: profile, scope: scope, target: target, by: principal.name)
        try await audit.record(
            AuditService.actor(principal), "profile.assigned", target: assignment.profile, detail: ["scope": assignment.scope, "target": assignment.target])
        return assignment
    }

    public func unassignProfile(scope: String, target: String?, by principal: Principal) async throws {
        try await policies.unassign(scope: scope, target: target)
        try await audit.record(AuditService.actor(principal), "profile.unassigned", target: nil, detail: ["scope": scope, "target": target ?? ""])
    }

    /// Changes the run-time settings that `changes` sets; returns them all.
    public func changeSettings(_ changes: Settings, by principal: Principal) async throws -> Settings {
        // Retention's fields are checked together before anything is written: a bad one changes nothing.
        try changes.retention?.validate()
        try changes.approvals?.validate()
        if let interval = changes.checkinInterval {
            guard (10...86_400).contains(interval) else { throw KontorError.invalid("checkinInterval: expected 10 to 86400 seconds, found \(interval)") }
            try await policies.setCheckinInterval(interval)
            try await audit.record(AuditService.actor(principal), "settings.changed", target: "checkinInterval", detail: ["value": String(interval)])
        }
        if let days = changes.offboardingNoticeDays {
            guard (1...365).contains(days) else { throw KontorError.invalid("offboardingNoticeDays: expected 1 to 365 days, found \(days)") }
            try await store.setSetting(Settings.offboardingNoticeDaysKey, value: String(days))
            try await audit.record(AuditService.actor(principal), "settings.changed", target: "offboardingNoticeDays", detail: ["value": String(days)])
        }
        try await changes.retention?.apply(to: store, audit: audit, actor: AuditService.actor(principal))
        try await changes.approvals?.apply(to: store, audit: audit, actor: AuditService.actor(principal))
        return try await settings()
    }

    /// The run-time settings as they are now.
    func settings() async throws -> Settings {
        Settings(
            checkinInterval: try await policies.checkinInterval(), offboardingNoticeDays: try await offboardingNoticeDays(),
            retention: try await retention.settings(), approvals: try await approvals.settings())
    }

    /// The notice period of an offboarding a directory starts, in days.
    func offboardingNoticeDays() async throws -> Int {
        try await store.setting(Settings.offboardingNoticeDaysKey).flatMap { Int($0) } ?? Settings.defaultNoticeDays
    }

    /// The staff directory as CSV, with each person's number of active devices.
    public func personsCSV() async throws -> String {
        let persons = try await directory.persons()
        let devices = try await directory.deviceSummaries()
        let counts = Dictionary(grouping: devices.filter { $0.status == .active }, by: { $0.personId ?? "" }).mapValues(\.count)
        return CSV.document(
            header: ["id", "email", "displayName", "groups", "status", "createdAt", "activeDevices"],
            rows: persons.map {
                [
                    $0.id, $0.email, $0.displayName, $0.groups.joined(separator: ";"), $0.status.rawValue, ISO8601.string(from: $0.createdAt),
                    String(counts[$0.id] ?? 0),
                ]
            })
    }
}
