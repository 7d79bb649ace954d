import Crypto
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import Metrics

#if canImport(Glibc)
#endif

/// Enrollment tokens and the enrollment of devices.
public struct EnrollmentService: Sendable {
    let store: any EnrollmentStore & AuditStore
    let clock: WallClock
    let config: ServerConfig
    let serverKey: ServerSigningKey
    let policies: PolicyService
    /// Told when a re-enrollment replaces a device, so its old key is refused at once.
    let devices: DeviceCache
    /// Records refused re-enrollments of an enrolled machine.
    let audit: AuditService

    public struct CreateTokenRequest: Codable, Sendable {
        /// Email or ID of the person the device will belong to.
        public var person: String?
        public var group: String?
        public var uses: Int?
        /// Lifetime in seconds.
        public var expiresIn: Int?
        /// `company` (the default) or `personal`: whom the devices enrolled with it belong to.
        public var ownership: String?

        public init(person: String? = nil, group: String? = nil, uses: Int? = nil, expiresIn: Int? = nil, ownership: String? = nil) {
            self.person = person
            self.group = group
            self.uses = uses
            self.expiresIn = expiresIn
            self.ownership = ownership
        }
    }

    public struct CreatedToken: Codable, Sendable {
        /// The token itself: shown once, never stored.
        public var token: String
        public var enrollmentToken: EnrollmentToken
        /// The command to run on the endpoint, ready to paste.
        public var agentCommand: String
    }

    public func createToken(_ input: CreateTokenRequest, directory: DirectoryService, createdBy: Principal) async throws -> CreatedToken {
        let uses = input.uses ?? 1
        guard (1...10_000).contains(uses) else { throw KontorError.invalid("uses: expected 1 to 10000, found \(uses)") }
        let lifetime = input.expiresIn ?? config.enrollTokenLifetime
        guard (60...(366 * 86_400)).contains(lifetime) else { throw KontorError.invalid("expiresIn: expected 60 seconds to 366 days, found \(lifetime)") }
        if let group = input.group, !Validation.isName(group) {
            throw KontorError.invalid("group: \"\(group)\" must be 1 to 64 letters, digits, '.', '_' or '-'")
        }
        let ownership = try input.ownership.map { value in
            guard let ownership = Ownership(rawValue: value) else {
                throw KontorError.invalid("ownership: expected company or personal, found \"\(value.prefix(64))\"")
            }
            return ownership
        }
        var personId: String?
        if let person = input.person {
            do {
                let found = try await directory.person(person)
                guard found.status == .active else {
                    throw KontorError.conflict("person: \(found.email) is \(found.status.rawValue); no new devices can be enrolled for them")
                }
                guard found.participation == .takingPart else {
                    throw KontorError.conflict("person: \(found.email) declined to take part; no enrollment token can be made for them")
                }
                personId = found.id
            } catch let error as KontorError where error.kind == .notFound {
                throw KontorError.invalid("person: no person \(person)")
            }
        }
        let now = clock.now()
        let secret = IssuedSecret.generate(.enrollmentToken)
        let token = EnrollmentToken(
            id: secret.id, personId: personId, group: input.group, maxUses: uses, expiresAt: now + TimeInterval(lifetime), createdAt: now,
            createdBy: createdBy.name, ownership: ownership ?? .company)
        try await store.insertEnrollmentToken(StoredEnrollmentToken(token: token, secretHash: secret.secretHash))
        return CreatedToken(
            token: secret.token, enrollmentToken: token,
            agentCommand: "sudo kontor-agent enroll --server \(config.advertisedURL) --token \(secret.token)")
    }

    /// An enrollment token with what it can still do.
    public struct ListedToken: Codable, Sendable {
        public var token: EnrollmentToken
        public var state: EnrollmentTokenState
    }

    /// Every enrollment token, newest first, with its state now.
    func tokens() async throws -> [ListedToken] {
        let now = clock.now()
        return try await store.enrollmentTokens().sorted { $0.createdAt > $1.createdAt }.map { ListedToken(token: $0, state: $0.state(at: now)) }
    }

    public func revokeToken(id: String) async throws -> EnrollmentToken {
        guard try await store.revokeEnrollmentToken(id: id, at: clock.now()), let token = try await store.enrollmentToken(id: id) else {
            throw KontorError.notFound("no enrollment token \(id)")
        }
        return token.token
    }

    /// Enrolls a device whose request has been decoded and whose proof-of-possession signature checked.
    public func enroll(_ request: EnrollRequest, publicKey: Curve25519.Signing.PublicKey) async throws -> EnrollResponse {
        guard let presented = PresentedSecret(request.token, kind: .enrollmentToken),
            let stored = try await store.enrollmentToken(id: presented.id), presented.matches(storedHash: stored.secretHash)
        else { throw KontorError(.unauthenticated, .enrollTokenInvalid, "token: not a valid enrollment token") }
        let now = clock.now()
        var facts = request.facts
        // A personal device's posture is not the organisation's business: not kept even when sent.
        if stored.token.ownership == .personal { facts.posture = nil }
        let device = NewDevice(
            id: IdentifierGenerator.uuidV7(now: now), keyId: DeviceKeys.keyID(for: publicKey), publicKey: DeviceKeys.base64(publicKey),
            facts: facts, acceptedTermsVersion: request.acceptedTermsVersion)
        let enrolled: Device
        do {
            enrolled = try await store.enroll(device, tokenId: stored.token.id, now: now)
        } catch StoreError.enrollmentTokenUnusable(let state) {
            switch state {
            case .expired: throw KontorError(.forbidden, .enrollTokenExpired, "token: the enrollment token has expired")
            case .usedUp: throw KontorError(.forbidden, .enrollTokenUsedUp, "token: the enrollment token has no uses left")
            case .revoked: throw KontorError(.forbidden, .enrollTokenRevoked, "token: the enrollment token was revoked")
            case .active: throw KontorError(.unauthenticated, .enrollTokenInvalid, "token: not a valid enrollment token")
            }
        } catch StoreError.enrollmentTokenUnknown {
            throw KontorError(.unauthenticated, .enrollTokenInvalid, "token: not a valid enrollment token")
        } catch StoreError.conflict {
            throw KontorError.conflict("publicKey: this key is already enrolled; generate a new key to enroll again")
        } catch StoreError.machineEnrolled(let existing, let why) {
            // Someone holding a token tried to take over an enrolled machine: the device stays as it is
            // (and wipeable), and the attempt is on record — once an hour per token and device, as the
            // token is not used up by a refusal and could otherwise be replayed into the log.
            let actor = "enroll-token:\(stored.token.id)"
            let recent = AuditFilter(actor: actor, actionPrefix: "device.enroll-refused", target: existing, since: now - 3600)
            if try await store.auditEntries(matching: recent, limit: 1, offset: 0).total == 0 {
                try await audit.record(
                    actor, "device.enroll-refused", target: existing,
                    detail: [
                        "reason": why.rawValue, "hostname": request.facts.hostname, "person": stored.token.personId ?? "", "group": stored.token.group ?? "",
                    ])
            }
            throw KontorError(.conflict, .machineEnrolled, Self.refusal(existing, why))
        }
        if let predecessor = enrolled.predecessorId { devices.invalidate(deviceId: predecessor) }
        let policy = try await policies.effectivePolicy(for: enrolled)
        return EnrollResponse(
            deviceId: enrolled.id, keyId: enrolled.keyId, serverPublicKey: DeviceKeys.base64(serverKey.publicKey), serverKeyId: serverKey.keyID,
            checkinInterval: policy.checkinInterval, predecessorId: enrolled.predecessorId)
    }
}

extension EnrollmentService {
    /// What the enrolling agent is told when its machine's device may not be replaced.
    static func refusal(_ deviceId: String, _ why: MachineConflict) -> String {
        switch why {
        case .otherOwner:
            "facts.machineIdHash: this machine is enrolled as device \(deviceId), which belongs to someone else; an operator must revoke that device (kontorctl devices revoke \(deviceId)) or offboard its person before the machine can be enrolled with this token"
        case .openWipe:
            "facts.machineIdHash: this machine is enrolled as device \(deviceId), which has a wipe in progress; it can be enrolled again once the wipe's receipt is in or an operator has revoked the device"
        case .offboarding:
            "facts.machineIdHash: this machine is enrolled as device \(deviceId), whose person is being offboarded; it cannot be enrolled again until the offboarding is complete"
        }
    }
}
