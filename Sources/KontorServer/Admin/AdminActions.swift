import Foundation
import KontorCore
import KontorStore

/// The admin actions the API and the console both offer: each changes the store and writes its audit entry
/// in one place, so the two front ends cannot drift apart.
extension Services {
    public func createPerson(_ input: DirectoryService.NewPerson, by principal: Principal) async throws -> Person {
        let person = try await directory.createPerson(input)
        try await audit.record(AuditService.actor(principal), "person.created", target: person.email, detail: ["id": person.id, "groups": person.groups.joined(separator: ",")])
        return person
    }

    public func createEnrollmentToken(_ input: EnrollmentService.CreateTokenRequest, by principal: Principal) async throws -> EnrollmentService.CreatedToken {
        let created = try await enrollment.createToken(input, directory: directory, createdBy: principal)
        let t = created.enrollmentToken
        try await audit.record(
            AuditService.actor(principal), "enroll-token.created", target: t.id,
            detail: ["uses": String(t.maxUses), "expiresAt": ISO8601.string(from: t.expiresAt), "person": t.personId ?? "", "group": t.group ?? ""])
        return created
    }

    public func revokeEnrollmentToken(id: String, by principal: Principal) async throws -> EnrollmentToken {
        let token = try await enrollment.revokeToken(id: id)
        try await audit.record(AuditService.actor(principal), "enroll-token.revoked", target: token.id)
        return token
    }

    public func issueCommand(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, by principal: Principal) async throws -> CommandRecord {
        let command = try await commands.issue(deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn, by: principal.name)
        try await audit.record(
            AuditService.actor(principal), "command.\(command.type.rawValue)", target: command.deviceId, detail: ["command": command.id, "reason": command.reason ?? ""])
        return command
    }

    public func cancelCommand(id: String, reason: String?, by principal: Principal) async throws -> CommandRecord {
        let command = try await commands.cancel(id: id, reason: reason)
        try await audit.record(AuditService.actor(principal), "command.cancelled", target: command.deviceId, detail: ["command": command.id, "reason": reason ?? ""])
        return command
    }

    func startOffboarding(_ person: Person, _ input: OffboardingService.Request, by principal: Principal) async throws -> Offboarding {
        try await offboarding.start(person, input, role: principal.role, actor: AuditService.actor(principal), by: principal.name)
    }

    /// The staff directory as CSV, with each person's number of active devices.
    public func personsCSV() async throws -> String {
        let persons = try await directory.persons()
        let devices = try await store.deviceSummaries()
        let counts = Dictionary(grouping: devices.filter { $0.status == .active }, by: { $0.personId ?? "" }).mapValues(\.count)
        return CSV.document(
            header: ["id", "email", "displayName", "groups", "status", "createdAt", "activeDevices"],
            rows: persons.map {
                [$0.id, $0.email, $0.displayName, $0.groups.joined(separator: ";"), $0.status.rawValue, ISO8601.string(from: $0.createdAt), String(counts[$0.id] ?? 0)]
            })
    }
}
