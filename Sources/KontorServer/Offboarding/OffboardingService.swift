import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Offboarding: an optional restricted phase (the person's devices move to a restricted profile), then at
/// the date a wipe for every active device; each device is revoked when its receipt is in, and when no
/// active device is left the person is `offboarded` and the seat is free.
struct OffboardingService: Sendable {
    let store: any OffboardingStore & PersonStore & DeviceStore & CommandStore
    let clock: WallClock
    let commands: CommandService
    let policies: PolicyService
    let audit: AuditService
    /// The one profile an operator may restrict an offboarding with (`offboardingProfile`); empty: none.
    let operatorProfile: String

    struct Request: Codable {
        var at: Date?
        var restrictNow: Bool?
        var profile: String?
        var reason: String?
    }

    /// Starts (or replans) `person`'s offboarding. Assigning a profile is an admin's power, so with a
    /// `profile` an operator (`role`) may only use the configured restricted one.
    /// `approvedBy` names the second person when the offboarding waited for approval (in its audit entry).
    func start(_ person: Person, _ input: Request, role: Role, actor: String, by: String, approvedBy: String? = nil) async throws -> Offboarding {
        let reason = try await check(person, input, role: role)
        let now = clock.now()
        let offboarding = Offboarding(
            personId: person.id, requestedAt: now, requestedBy: by, wipeAt: max(input.at ?? now, now), restrictedProfile: input.profile,
            reason: reason?.isEmpty == true ? nil : reason)
        do {
            try await store.startOffboarding(offboarding, now: now)
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict("\(person.email): \(why)")
        }
        // The person's devices learn the date with their policy (`offboardingWipeAt`), at their next check-in.
        await policies.catalogChanged()
        let devices = try await store.devices(personId: person.id).filter { $0.status == .active }
        if let profile = input.profile {
            for device in devices { _ = try await policies.assign(profile: profile, scope: "device", target: device.id, by: by) }
        }
        var detail = [
            "wipeAt": ISO8601.string(from: offboarding.wipeAt), "restrictedProfile": input.profile ?? "", "reason": offboarding.reason ?? "",
            "devices": devices.map(\.id).joined(separator: ","),
        ]
        if let approvedBy { detail["approvedBy"] = approvedBy }
        try await audit.record(actor, "person.offboarding", target: person.email, detail: detail)
        try await tick(personId: person.id)
        return try await store.offboarding(personId: person.id) ?? offboarding
    }

    /// Throws unless `person`'s offboarding may start as `input` asks, by someone with `role`; returns the trimmed
    /// reason. A request waiting for approval is checked with it when asked and when approved.
    func check(_ person: Person, _ input: Request, role: Role) async throws -> String? {
        guard person.status != .offboarded else { throw KontorError.conflict("\(person.email) is already offboarded") }
        let restrict = input.restrictNow ?? false
        if restrict != (input.profile != nil) { throw KontorError.invalid("restrictNow and profile go together: the restricted phase needs a profile") }
        if let profile = input.profile, !role.allows(.admin), profile != operatorProfile {
            let allowed =
                operatorProfile.isEmpty
                ? "no profile is configured for operators (offboardingProfile)" : "an operator may only use \(operatorProfile) (offboardingProfile)"
            throw KontorError.forbidden("profile: restricting an offboarding with \(profile) assigns that profile, which needs an admin; \(allowed)")
        }
        let reason = input.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let reason, reason.count > 500 { throw KontorError.invalid("reason: at most 500 characters") }
        let now = clock.now()
        if let at = input.at, at > now + 366 * 86_400 { throw KontorError.invalid("at: at most a year ahead") }
        if let profile = input.profile, try await policies.snapshot().latest[profile] == nil {
            throw KontorError.invalid("profile: no profile named \(profile); apply it first")
        }
        return reason
    }

    /// Cancels `person`'s offboarding while no wipe has gone out: the person is active again, and devices the
    /// offboarding moved to its restricted profile lose it (their default and group profiles apply again).
    func cancel(_ person: Person, actor: String) async throws -> Offboarding {
        let cancelled: Offboarding
        do {
            cancelled = try await store.cancelOffboarding(personId: person.id)
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict("\(person.email): \(why)")
        } catch StoreError.notFound {
            throw KontorError.conflict("\(person.email) is \(person.status.rawValue), not in the notice period of an offboarding")
        }
        var restored: [String] = []
        if let profile = cancelled.restrictedProfile {
            let assigned = Set(try await policies.assignments().filter { $0.scope == "device" && $0.profile == profile }.map(\.target))
            for device in try await store.devices(personId: person.id) where assigned.contains(device.id) {
                try await policies.unassign(scope: "device", target: device.id)
                restored.append(device.id)
            }
        }
        await policies.catalogChanged()
        try await audit.record(
            actor, "person.offboarding-cancelled", target: person.email,
            detail: ["wipeAt": ISO8601.string(from: cancelled.wipeAt), "devicesRestored": restored.joined(separator: ",")])
        return cancelled
    }

    /// Issues the wipes that are due and completes offboardings whose devices are all revoked.
    func tick(personId: String? = nil) async throws {
        let now = clock.now()
        for offboarding in try await store.openOffboardings() where personId == nil || offboarding.personId == personId {
            // The notice period: nothing to do until the date.
            if offboarding.wipesIssuedAt == nil, offboarding.wipeAt > now { continue }
            let devices = try await store.devices(personId: offboarding.personId)
            let email = try await store.person(id: offboarding.personId)?.email ?? offboarding.personId
            if offboarding.wipesIssuedAt == nil {
                var issued: [String] = []
                for device in devices where device.status == .active {
                    let existing = try await store.commands(deviceId: device.id)
                    if existing.contains(where: { $0.type == .wipe && ($0.state == .succeeded || !$0.state.isFinal) }) { continue }
                    let command = try await commands.issue(deviceId: device.id, type: .wipe, reason: "offboarding", expiresIn: nil, by: "offboarding")
                    issued.append("\(device.id)=\(command.id)")
                }
                try await store.markWipesIssued(personId: offboarding.personId, at: now)
                try await audit.record("system:offboarding", "person.wipes-issued", target: email, detail: ["wipes": issued.joined(separator: ",")])
            }
            if devices.allSatisfy({ $0.status != .active }) {
                try await store.completeOffboarding(personId: offboarding.personId, at: now)
                await policies.catalogChanged()
                let confirmed = devices.filter { $0.wipeConfirmedAt != nil }.count
                try await audit.record(
                    "system:offboarding", "person.offboarded", target: email,
                    detail: ["devices": String(devices.count), "wipesConfirmed": String(confirmed), "wipesUnconfirmed": String(devices.count - confirmed)])
            }
        }
    }
}
