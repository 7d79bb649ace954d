import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Metrics
import Synchronization

/// Verifies RFC 9421 signatures on device requests and finds the device from the verified key alone.
public struct DeviceAuthenticator: Sendable {
    let store: any DeviceStore & CommandStore
    let clock: WallClock
    /// Enrolled devices by key ID (the check-in path reads no store).
    let devices: DeviceCache
    /// Nonces accepted within the signature window, of every key: this process's memory with SQLite,
    /// PostgreSQL when several instances share the store.
    let nonces: any ReplayWindow
    /// Signatures created before this second are refused (``ReplayWindow/notBefore``) — with Retry-After,
    /// since an honest agent whose clock is a little behind only has to sign again a moment later.
    let notBefore: Int?

    init(store: any DeviceStore & CommandStore, clock: WallClock, devices: DeviceCache, nonces: any ReplayWindow) {
        self.store = store
        self.clock = clock
        self.devices = devices
        self.nonces = nonces
        self.notBefore = nonces.notBefore
    }

    /// The request as the signature sees it. Authority comes from Host / :authority, path and query
    /// exactly as sent; the scheme is not covered, so TLS may end at a proxy.
    static func signatureMessage(_ request: Request) -> SignatureMessage {
        let target = request.head.path ?? "/"
        let (path, query): (String, String?) = {
            guard let q = target.firstIndex(of: "?") else { return (target, nil) }
            return (String(target[..<q]), String(target[target.index(after: q)...]))
        }()
        var headers: [(String, String)] = []
        headers.reserveCapacity(request.headers.count)
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        return SignatureMessage(
            method: request.method.rawValue, authority: request.head.authority ?? "", path: path, query: query,
            headers: headers)
    }

    /// Checks the signature of `request` with `body`; returns the device and the verified signature.
    /// The signature is verified before the device's status is looked at, so a `device_revoked` refusal
    /// (``DeviceRefusal``) is only ever said to the holder of the key, in a reply the agent can verify.
    /// `allowRevoked` lets a revoked device through (to send its wipe receipt).
    func authenticate(_ request: Request, body: Data, allowRevoked: Bool = false) async throws -> (AuthenticatedDevice, VerifiedSignature, SignatureMessage) {
        let (device, verified, message) = try await verify(request, body: body) { keyID in
            let found: (AuthenticatedDevice, Curve25519.Signing.PublicKey)?
            do {
                found = try await devices.device(keyId: keyID, store: store, now: clock.seconds())
            } catch DeviceCacheError.unusableKey(let id) {
                throw APIError(.unauthorized, .unknownKey, "stored key of device \(id) is unusable")
            }
            guard let found else { throw APIError(.unauthorized, .unknownKey, "keyid \(keyID) is not enrolled here") }
            return found
        }
        switch device.status {
        case .active: break
        case .replaced:
            // A replaced device may still send the receipt of a wipe it did.
            if allowRevoked { break }
            if let why = try await wipeFollows(device) {
                throw DeviceRefusal(
                    error: APIError(
                        .unauthorized, .deviceRevoked,
                        "device \(device.id) was replaced by a new enrollment and \(why); wipe the work container and send the receipt"),
                    request: message)
            }
            throw APIError(.unauthorized, .keyRevoked, "this key was replaced when the device re-enrolled as \(device.successorId ?? "a new device")")
        case .revoked:
            if !allowRevoked {
                throw DeviceRefusal(
                    error: APIError(.unauthorized, .deviceRevoked, "device \(device.id) has been revoked; wipe the work container and send the receipt"),
                    request: message)
            }
        }
        return (device, verified, message)
    }

    /// Proof of possession at enrollment: the request is signed with `publicKey`, the key being enrolled,
    /// under the same checks as every later request (freshness, nonce, body digest).
    func verifyPossession(_ request: Request, body: Data, publicKey: Curve25519.Signing.PublicKey) async throws -> SignatureMessage {
        let expected = DeviceKeys.keyID(for: publicKey)
        return try await verify(request, body: body) { keyID in
            guard keyID == expected else { throw HTTPSignatureError.unknownKey(keyID) }
            return ((), publicKey)
        }.2
    }

    /// The checks every device request passes: the signature parses, verifies with the key `lookup` finds
    /// for its key ID (which also returns what the caller wants with it), is fresh and was not seen
    /// before, and the body matches its Content-Digest.
    private func verify<Found>(
        _ request: Request, body: Data, lookup: (String) async throws -> (Found, Curve25519.Signing.PublicKey)
    ) async throws -> (Found, VerifiedSignature, SignatureMessage) {
        var message = Self.signatureMessage(request)
        let found: Found
        let verified: VerifiedSignature
        let keyID: String
        do {
            let parsed = try HTTPMessageSignatures.parse(message, label: DeviceAPI.signatureLabel)
            // The reply covers this member ("signature";key="kontor";req): keep it rather than parse again.
            message.rememberMember(field: "signature", key: parsed.label, serialized: parsed.serializedMember)
            guard let id = parsed.parameters.keyID else { throw HTTPSignatureError.malformed("no keyid parameter") }
            let (value, key) = try await lookup(id)
            verified = try HTTPMessageSignatures.verify(parsed: parsed, of: message, required: DeviceAPI.requiredRequestComponents) { _ in key }
            (found, keyID) = (value, id)
        } catch let error as HTTPSignatureError {
            throw Self.map(error)
        }
        try await checkFreshness(verified, keyId: keyID)
        do {
            try ContentDigest.verify(message.fields["content-digest"], body: body)
        } catch let error as HTTPSignatureError {
            throw Self.map(error)
        }
        return (found, verified, message)
    }

    /// Whether a replaced device must wipe itself, and why: a wipe was ordered for it, or for the device
    /// that took its place (followed along the chain of re-enrollments), or that device was revoked.
    /// Re-enrolling a machine (or claiming its machine-id hash from elsewhere) must not keep the old
    /// installation's work data out of reach of a wipe: the old key, should it ever check in again, is
    /// told in a signed reply to wipe, exactly like a revoked device. Replaced keys are rare, so this reads
    /// the store.
    func wipeFollows(_ device: AuthenticatedDevice) async throws -> String? {
        func wipeOrdered(_ id: String) async throws -> Bool {
            // Cancelled or expired wipes were taken back; any other state means someone decided it goes.
            try await store.commands(deviceId: id).contains { $0.type == .wipe && $0.state != .cancelled && $0.state != .expired }
        }
        if try await wipeOrdered(device.id) { return "a wipe was ordered for it" }
        var next = device.successorId
        var seen: Set<String> = [device.id]
        while let id = next, seen.insert(id).inserted, seen.count <= 64 {
            guard let successor = try await store.device(id: id) else { return nil }
            if successor.status == .revoked { return "its successor \(id) was revoked" }
            if try await wipeOrdered(id) { return "its successor \(id) is being wiped" }
            guard successor.status == .replaced else { return nil }
            next = successor.successorId
        }
        return nil
    }

    /// Checks `created` against the clock and records the nonce.
    func checkFreshness(_ verified: VerifiedSignature, keyId: String) async throws {
        let now = clock.now()
        guard let created = verified.parameters.created else {
            throw APIError(.unauthorized, .signatureMalformed, "signature: the created parameter is required")
        }
        let window = TimeInterval(DeviceAPI.signatureWindow)
        let age = now.timeIntervalSince1970 - TimeInterval(created)
        guard abs(age) <= window else {
            throw APIError(
                .unauthorized, .signatureExpired,
                "signature: created \(Int(age)) s from the server clock; at most \(DeviceAPI.signatureWindow) s allowed (check the device clock)")
        }
        if let expires = verified.parameters.expires, TimeInterval(expires) < now.timeIntervalSince1970 {
            throw APIError(.unauthorized, .signatureExpired, "signature: past its expires parameter")
        }
        guard let nonce = verified.parameters.nonce, (8...128).contains(nonce.utf8.count) else {
            throw APIError(.unauthorized, .signatureMalformed, "signature: a nonce of 8 to 128 characters is required")
        }
        if let notBefore, created < notBefore {
            let wait = notBefore - created
            throw APIError(
                .serviceUnavailable, .signatureExpired,
                "signature: created before this server started, so it cannot be told from a replay; sign the request again in \(wait) s",
                headers: [.retryAfter: String(wait)])
        }
        let expiry = created + DeviceAPI.signatureWindow + 1
        let seconds = Int(now.timeIntervalSince1970)
        guard try await nonces.firstUse(key: keyId, nonce: nonce, expiry: expiry, now: seconds) else {
            throw APIError(.unauthorized, .nonceReplayed, "signature: nonce already used; this request was replayed")
        }
    }

    static func map(_ error: HTTPSignatureError) -> APIError {
        switch error {
        case .missing: APIError(.unauthorized, .signatureMissing, "this endpoint needs an RFC 9421 signature (Signature-Input and Signature fields)")
        case .invalidSignature: APIError(.unauthorized, .signatureInvalid, "signature does not verify")
        case .digestMismatch(let why): APIError(.badRequest, .digestMismatch, "content-digest: \(why)")
        case .unknownKey(let id): APIError(.unauthorized, .unknownKey, "keyid \(id) is not enrolled here")
        case .malformed, .unsupported, .missingComponent, .requiredComponentNotCovered:
            APIError(.unauthorized, .signatureMalformed, error.description)
        }
    }
}

/// A refusal said to a device whose request signature verified: answered with a signed error body, so
/// the agent can trust it (a revoked device wipes itself; an unsigned "revoked" is never acted on).
struct DeviceRefusal: Error {
    let error: APIError
    let request: SignatureMessage
}
