import Crypto
import Foundation
import Hummingbird
import KontorCore
import KontorStore

/// Erasure of a person on request (GDPR Art. 17): once none of their devices is active, their email, name
/// and phone, their devices' hostnames and their SCIM user name become a keyed pseudonym, their devices'
/// events and last reports go, and every audit value naming them is erased — in one transaction, with the
/// audit chain still verifying. What the law asks to keep stays: wipe receipts and answers to the usage
/// terms, as the device signed them, and the person's ID (never reused) with its links.
struct ErasureService: Sendable {
    let store: any KontorStore
    let audit: AuditService
    let devices: DeviceCache

    static let keySetting = "pseudonymKey"
    static let pseudonymPrefix = "erased-"

    /// Whether `person` was erased (or pseudonymised by retention) already.
    static func isErased(_ person: Person) -> Bool { person.email.hasSuffix("@erased.invalid") }

    /// `erased-` and 12 hex digits of HMAC-SHA256 over the person ID, with a key made once and kept in the
    /// settings: the same person always gets the same pseudonym, and nothing about them can be read from it.
    func pseudonym(for personId: String) async throws -> String {
        var key = try await store.setting(Self.keySetting).flatMap { Bytes.fromHex($0) }
        if key?.count != 32 {
            var random = SystemRandomNumberGenerator()
            try await store.setSetting(Self.keySetting, value: Bytes.hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &random) }))
            // Another instance may have made one at the same moment: the stored one counts.
            key = try await store.setting(Self.keySetting).flatMap { Bytes.fromHex($0) }
        }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(personId.utf8), using: SymmetricKey(data: key ?? []))
        return Self.pseudonymPrefix + String(Bytes.hex(mac).prefix(12))
    }

    /// Erases `person`; refused while a device of theirs is active, or when they were erased already. The
    /// retention's pseudonymisation is the same step, audited as `person.pseudonymised`.
    func erase(_ person: Person, reason: String, actor: String, action: String = "person.erased") async throws -> PseudonymisedPerson {
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (3...500).contains(reason.count) else {
            throw KontorError.invalid("reason: say why in 3 to 500 characters (kept in the audit log; do not name the person in it)")
        }
        guard !Self.isErased(person) else { throw KontorError.conflict("person \(person.id) was erased already") }
        let active = try await store.devices(personId: person.id).filter { $0.status == .active }
        guard active.isEmpty else {
            throw KontorError.conflict(
                "\(person.email) still has \(active.count) active device(s) (\(active.map(\.id).joined(separator: ", "))): offboard first, so the work data is wiped before the directory data goes"
            )
        }
        let pseudonym = try await pseudonym(for: person.id)
        guard let result = try await store.pseudonymisePerson(id: person.id, pseudonym: pseudonym) else {
            throw KontorError.notFound("no person \(person.id)")
        }
        for device in try await store.devices(personId: person.id) { devices.invalidate(deviceId: device.id) }
        try await audit.record(
            actor, action, target: person.id,
            detail: [
                "reason": reason, "pseudonym": pseudonym, "devices": String(result.devices), "events": String(result.events),
                "auditEntries": String(result.auditEntries),
            ])
        return result
    }
}

extension Services {
    var erasure: ErasureService { ErasureService(store: store, audit: audit, devices: devices) }
}

/// `POST /api/v1/persons/{person}/erase` (admin): erasure on request.
struct ErasureController {
    let services: Services

    struct Input: Decodable {
        var reason: String
    }

    func register(on api: AdminRoutes, table: RouteTable) {
        api.on(.post, AdminAPI.prefix, "persons/{person}/erase", table: table, use: erase)
    }

    @Sendable func erase(_ request: Request, context: AdminRequestContext) async throws -> PseudonymisedPerson {
        try context.require(.admin)
        let input = try await request.decodeJSON(Input.self, limit: services.config.maxBodyBytes)
        let person = try await services.directory.person(try context.parameters.require("person"))
        let result = try await services.erasure.erase(person, reason: input.reason, actor: AuditService.actor(context.principal))
        context.logger.notice("person erased", metadata: ["person.id": "\(person.id)", "audit.entries": "\(result.auditEntries)"])
        return result
    }
}
