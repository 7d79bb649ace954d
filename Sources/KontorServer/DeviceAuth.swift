import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Metrics

/// Remembers the nonces of accepted signatures until they could no longer pass the freshness check,
/// so a captured request cannot be replayed within the window.
actor NonceCache {
    private var seen: [String: Date] = [:]
    private var lastPurge = Date.distantPast

    /// Records `nonce` for `keyId` until `expiry`; false when it was already there (a replay).
    func insert(keyId: String, nonce: String, expiry: Date, now: Date) -> Bool {
        if now.timeIntervalSince(lastPurge) > 30 {
            seen = seen.filter { $0.value > now }
            lastPurge = now
        }
        let key = keyId + " " + nonce
        if let existing = seen[key], existing > now { return false }
        seen[key] = expiry
        return true
    }
}

/// Verifies RFC 9421 signatures on device requests and finds the device from the verified key alone.
public struct DeviceAuthenticator: Sendable {
    let store: any KontorStore
    let clock: WallClock
    let nonces = NonceCache()

    /// The request as the signature sees it. Authority comes from Host / :authority, path and query
    /// exactly as sent; the scheme is not covered, so TLS may end at a proxy.
    static func signatureMessage(_ request: Request) -> SignatureMessage {
        let target = request.head.path ?? "/"
        let (path, query): (String, String?) = {
            guard let q = target.firstIndex(of: "?") else { return (target, nil) }
            return (String(target[..<q]), String(target[target.index(after: q)...]))
        }()
        var headers: [(String, String)] = []
        for field in request.headers { headers.append((field.name.canonicalName, field.value)) }
        return SignatureMessage(
            method: request.method.rawValue, authority: request.head.authority ?? "", path: path, query: query,
            headers: headers)
    }

    /// Checks the signature of `request` with `body`; returns the device and the verified signature.
    /// The signature is verified before the device's status is looked at, so a `device_revoked` refusal
    /// (``DeviceRefusal``) is only ever said to the holder of the key, in a reply the agent can verify.
    /// `allowRevoked` lets a revoked device through (to send its wipe receipt).
    func authenticate(_ request: Request, body: Data, allowRevoked: Bool = false) async throws -> (Device, VerifiedSignature, SignatureMessage) {
        let message = Self.signatureMessage(request)
        let device: Device
        let verified: VerifiedSignature
        do {
            let parsed = try HTTPMessageSignatures.parse(message, label: DeviceAPI.signatureLabel)
            guard let keyID = parsed.1.keyID else { throw HTTPSignatureError.malformed("no keyid parameter") }
            guard let stored = try await store.device(keyId: keyID) else {
                throw APIError(.unauthorized, .unknownKey, "keyid \(keyID) is not enrolled here")
            }
            device = stored
            guard let key = DeviceKeys.publicKey(base64: device.publicKey) else {
                throw APIError(.unauthorized, .unknownKey, "stored key of device \(device.id) is unusable")
            }
            verified = try HTTPMessageSignatures.verify(parsed: parsed, of: message, required: DeviceAPI.requiredRequestComponents) { _ in key }
        } catch let error as HTTPSignatureError {
            throw Self.map(error)
        }
        try await checkFreshness(verified, keyId: device.keyId)
        do {
            try ContentDigest.verify(message.fields["content-digest"], body: body)
        } catch let error as HTTPSignatureError {
            throw Self.map(error)
        }
        switch device.status {
        case .active: break
        case .replaced:
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

    /// Checks `created` against the clock and records the nonce.
    func checkFreshness(_ verified: VerifiedSignature, keyId: String) async throws {
        let now = clock.now()
        guard let created = verified.parameters.created else {
            throw APIError(.unauthorized, .signatureMalformed, "signature: the created parameter is required")
        }
        let window = TimeInterval(DeviceAPI.signatureWindow)
        let age = now.timeIntervalSince1970 - TimeInterval(created)
        guard abs(age) <= window else {
            throw APIError(.unauthorized, .signatureExpired, "signature: created \(Int(age)) s from the server clock; at most \(DeviceAPI.signatureWindow) s allowed (check the device clock)")
        }
        if let expires = verified.parameters.expires, TimeInterval(expires) < now.timeIntervalSince1970 {
            throw APIError(.unauthorized, .signatureExpired, "signature: past its expires parameter")
        }
        guard let nonce = verified.parameters.nonce, (8...128).contains(nonce.utf8.count) else {
            throw APIError(.unauthorized, .signatureMalformed, "signature: a nonce of 8 to 128 characters is required")
        }
        let expiry = Date(timeIntervalSince1970: TimeInterval(created) + window + 1)
        guard await nonces.insert(keyId: keyId, nonce: nonce, expiry: expiry, now: now) else {
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

/// Signs server replies to device requests with the server key, bound to the request they answer.
struct ResponseSigner: Sendable {
    let key: ServerSigningKey
    let clock: WallClock

    func signedJSON<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, answering request: SignatureMessage) throws -> Response {
        let body = try KontorJSON.encode(value)
        let digest = ContentDigest.header(for: body)
        var message = SignatureMessage(status: Int(status.code), headers: [("Content-Digest", digest)], request: request)
        let parameters = SignatureParameters(
            components: DeviceAPI.responseComponents, created: Int(clock.now().timeIntervalSince1970), keyID: key.keyID)
        let (input, signature) = try HTTPMessageSignatures.sign(message, parameters: parameters, key: key.privateKey)
        message.setField("Signature", signature)
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[HTTPField.Name("Content-Digest")!] = digest
        headers[HTTPField.Name("Signature-Input")!] = input
        headers[HTTPField.Name("Signature")!] = signature
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The error body of `refusal`, signed like any reply.
    func signedError(_ refusal: DeviceRefusal) throws -> Response {
        try signedJSON(APIErrorBody(code: refusal.error.code.rawValue, message: refusal.error.message), status: refusal.error.status, answering: refusal.request)
    }
}
