import Foundation
import KontorCore
import KontorStore

/// The usage terms: publishing a version (immutable), handing its text to devices, recording the answers
/// devices sign for their person, and the report a data-protection officer asks for. Every change reloads
/// the policy catalog (here and on the other instances), since each device's effective policy carries the
/// terms its profiles name and its person's answer.
struct TermsService: Sendable {
    let store: any TermsStore & PersonStore & DeviceStore
    let clock: WallClock
    let audit: AuditService
    let policies: PolicyService

    /// What `kontorctl terms publish` sends.
    struct PublishRequest: Codable, Sendable {
        var version: String
        var text: String
        var undertaking: String?
        /// Seconds a device may go without an answer before its work container is locked; default 14 days.
        var graceSeconds: Int?
        /// Whether accepting these terms allows an offline wipe on the person's personal devices (default false).
        var allowsOfflineWipeOnPersonalDevices: Bool?
    }

    static let defaultGrace = 14 * 86_400

    func publish(_ input: PublishRequest, by principal: Principal) async throws -> UsageTerms {
        let grace = input.graceSeconds ?? Self.defaultGrace
        if let problem = UsageTerms.problem(version: input.version, text: input.text, undertaking: input.undertaking, graceSeconds: grace) {
            throw KontorError.invalid(problem)
        }
        if let hidden = VisibleText.firstHidden(in: input.text + (input.undertaking ?? ""), keeping: ["\n", "\t", "\r"]) {
            throw KontorError.invalid("text: contains an invisible or control character (U+\(String(hidden.value, radix: 16, uppercase: true)))")
        }
        let terms = UsageTerms(
            version: input.version, text: input.text, undertaking: input.undertaking, graceSeconds: grace, publishedAt: clock.now(),
            publishedBy: principal.name, allowsOfflineWipeOnPersonalDevices: input.allowsOfflineWipeOnPersonalDevices ?? false)
        do {
            try await store.insertTerms(terms)
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict(why)
        }
        try await audit.record(
            AuditService.actor(principal), "terms.published", target: terms.version,
            detail: [
                "sha256": terms.sha256, "undertakingSha256": terms.undertakingSha256 ?? "", "graceSeconds": String(grace),
                "deadline": ISO8601.string(from: terms.deadline),
                "allowsOfflineWipeOnPersonalDevices": String(terms.allowsOfflineWipeOnPersonalDevices == true),
            ])
        await policies.catalogChanged()
        return terms
    }

    func list() async throws -> [UsageTerms] { try await store.allTerms() }

    func terms(_ version: String) async throws -> UsageTerms {
        guard UsageTerms.isVersion(version), let terms = try await store.terms(version: version) else {
            throw KontorError.notFound("no usage terms \(VisibleText.escaped(version))")
        }
        return terms
    }

    /// Records an answer the device signed: the signature verifies with the device key, and the statement
    /// names this device, its person, a published version and that version's texts exactly.
    func record(_ signed: SignedTermsResponse, from device: Device) async throws -> TermsResponseConfirmation {
        let statement = try verify(signed, from: device)
        let terms = UsageTerms.isVersion(statement.version) ? try await store.terms(version: statement.version) : nil
        guard let terms else { throw KontorError.invalid("statement.version: no usage terms \(VisibleText.escaped(statement.version)) are published") }
        guard statement.textSha256 == terms.sha256, statement.undertakingSha256 == terms.undertakingSha256 else {
            throw KontorError.invalid("statement.textSha256: not the hash of the published text of \(terms.version); show the person the published text")
        }
        let now = clock.now()
        guard statement.at <= now.addingTimeInterval(300) else { throw KontorError.invalid("statement.at: in the future") }
        let stored = StoredTermsResponse(
            id: statement.id, version: statement.version, deviceId: device.id, personId: device.personId, decision: statement.decision,
            answeredAt: statement.at, receivedAt: now, signed: signed)
        let isNew = try await store.recordTermsResponse(stored)
        if isNew {
            try await audit.record(
                "device:\(device.id)", "terms.\(statement.decision.rawValue)", target: statement.version,
                detail: [
                    "response": statement.id, "person": device.personId ?? "", "login": VisibleText.escaped(statement.login),
                    "sha256": statement.textSha256, "at": ISO8601.string(from: statement.at), "digest": signed.digest,
                ])
            await policies.catalogChanged()
        }
        return TermsResponseConfirmation(id: statement.id, decision: statement.decision, duplicate: !isNew)
    }

    private func verify(_ signed: SignedTermsResponse, from device: Device) throws -> TermsStatement {
        guard let key = DeviceKeys.publicKey(base64: device.publicKey) else { throw KontorError.invalid("device \(device.id) has no usable key") }
        guard signed.payload.utf8.count <= 16 * 1024 else { throw KontorError.invalid("payload: at most 16 KiB") }
        guard let statement = signed.verified(by: key) else {
            throw KontorError(
                .invalid, .signatureInvalid, "statement: the signature does not verify with the device key, or the payload is not a terms response")
        }
        guard statement.deviceId == device.id else { throw KontorError.invalid("statement.deviceId: \(statement.deviceId) is not the signing device") }
        guard statement.personId == device.personId else {
            throw KontorError.invalid(
                "statement.personId: the device is enrolled for \(device.personId ?? "no person"), not \(statement.personId ?? "no person")")
        }
        guard IdentifierGenerator.isWellFormed(statement.id) else { throw KontorError.invalid("statement.id: not a response ID") }
        guard (1...64).contains(statement.login.count), VisibleText.firstHidden(in: statement.login) == nil else {
            throw KontorError.invalid("statement.login: 1 to 64 visible characters")
        }
        return statement
    }
}

extension TermsService {
    /// The answers to `version` (every version when nil), with who has not answered it and who does not
    /// take part. Without a version, "not answered" is about the latest published one.
    func report(version: String?) async throws -> TermsReport {
        if let version { _ = try await terms(version) }
        let persons = try await store.persons()
        let byId = Dictionary(uniqueKeysWithValues: persons.map { ($0.id, $0) })
        let devices = try await store.devices(personId: nil)
        let deviceById = Dictionary(uniqueKeysWithValues: devices.map { ($0.id, $0) })
        let responses = try await store.termsResponses(version: version)
        let answers = responses.map { r -> TermsReport.Answer in
            let statement = try? KontorJSON.decode(TermsStatement.self, from: Data(r.signed.payload.utf8))
            return TermsReport.Answer(
                id: r.id, version: r.version, decision: r.decision, person: r.personId.flatMap { byId[$0] }.map(TermsReport.PersonRef.init),
                deviceId: r.deviceId, hostname: deviceById[r.deviceId]?.facts.hostname, login: statement?.login ?? "", answeredAt: r.answeredAt,
                receivedAt: r.receivedAt, textSha256: statement?.textSha256 ?? "", payload: r.signed.payload, signature: r.signed.signature,
                publicKey: deviceById[r.deviceId]?.publicKey ?? "")
        }
        var pending: [TermsReport.PersonRef] = []
        var asked = version
        if asked == nil { asked = try await store.allTerms().last?.version }
        if let asked {
            let toAsked = asked == version ? responses : try await store.termsResponses(version: asked)
            let answered = Set(toAsked.compactMap(\.personId))
            let withDevice = Set(devices.filter { $0.status == .active }.compactMap(\.personId))
            pending = persons.filter { $0.status == .active && $0.participation == .takingPart && withDevice.contains($0.id) && !answered.contains($0.id) }
                .map(TermsReport.PersonRef.init)
        }
        return TermsReport(
            version: version, answers: answers, pending: pending,
            notTakingPart: persons.filter { $0.participation == .declined }.map(TermsReport.PersonRef.init))
    }
}
