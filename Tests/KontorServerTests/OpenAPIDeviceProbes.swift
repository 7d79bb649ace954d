import Crypto
import Foundation
import HTTPTypes
import KontorClient
import KontorCore
import Testing

@testable import KontorServer

/// The device operations' probes: enrollment signed by the key being enrolled, check-ins and receipts by
/// the active device, and each of them unsigned, badly signed, replayed and with bad bodies.
extension ProbePlan {
    func deviceProbes() throws -> [Probe] {
        let key = world.active.key
        switch operation.path {
        case DeviceAPI.enrollPath:
            let fresh = Curve25519.Signing.PrivateKey()
            return try signatureProbes(body: enrollBody(key: fresh), key: fresh) + enrollBodies() + enrollTokens()
        case DeviceAPI.receiptsPath: return try receiptProbes()
        case DeviceAPI.termsResponsesPath: return try termsResponseProbes()
        default:
            let good = goodBody ?? .object([:])
            return try signatureProbes(body: good, key: key) + signedBodies(good, key: key) { ($0, key) }
        }
    }

    /// `body` signed by `key` at `at` (default now), like the agent signs, then changed by `alter`.
    func signed(
        _ label: String, body: Data, key: Curve25519.Signing.PrivateKey, at: Date? = nil, contentType: String? = "application/json",
        alter: (inout HTTPFields) -> Void = { _ in }
    ) throws -> Probe {
        let (pairs, _) = try DeviceClient.sign(
            method: "POST", server: try ServerURL("http://localhost"), path: operation.path, body: body, key: key, now: at ?? now)
        var headers = HTTPFields()
        for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
        headers[.contentType] = contentType
        alter(&headers)
        return Probe(label: label, method: .post, uri: operation.path, headers: headers, body: body)
    }

    /// A good body unsigned, signed badly in each way the server tells apart, and signed well but replayed.
    func signatureProbes(body value: JSONValue, key: Curve25519.Signing.PrivateKey) throws -> [Probe] {
        let body = Data(value.text.utf8)
        let input = "Signature-Input"
        let signature = "Signature"
        let digest = "Content-Digest"
        func set(_ name: String, _ value: String?) -> (inout HTTPFields) -> Void { { $0[HTTPField.Name(name)!] = value } }
        let good = try signed("signed", body: body, key: key)
        var probes = [
            Probe(label: "unsigned", method: .post, uri: operation.path, headers: [.contentType: "application/json"], body: body),
            Probe(
                label: "unsigned with an admin token", method: .post, uri: operation.path, headers: admin.merging([.contentType: "application/json"]),
                body: body),
            try signed("without Signature", body: body, key: key, alter: set(signature, nil)),
            try signed("without Signature-Input", body: body, key: key, alter: set(input, nil)),
            try signed("without Content-Digest", body: body, key: key, alter: set(digest, nil)),
            try signed("with a garbage Signature", body: body, key: key, alter: set(signature, "kontor=:AAAA:")),
            try signed("with a Signature that is not a dictionary", body: body, key: key, alter: set(signature, "((((")),
            try signed("with a Signature-Input covering only @method", body: body, key: key) {
                $0[HTTPField.Name(input)!] = "kontor=(\"@method\");created=\(Int(now.timeIntervalSince1970));keyid=\"x\";alg=\"ed25519\";nonce=\"abcdefgh12\""
            },
            try signed("with another label", body: body, key: key) {
                $0[HTTPField.Name(input)!] = $0[HTTPField.Name(input)!]?.replacingOccurrences(of: "kontor=", with: "other=")
                $0[HTTPField.Name(signature)!] = $0[HTTPField.Name(signature)!]?.replacingOccurrences(of: "kontor=", with: "other=")
            },
            try signed("with another digest", body: body, key: key, alter: set(digest, ContentDigest.header(for: Data("{}".utf8)))),
            try signed("with a malformed digest", body: body, key: key, alter: set(digest, "sha-256=:nonsense")),
            try signed("signed 400 s ago", body: body, key: key, at: now - 400),
            try signed("signed 400 s ahead", body: body, key: key, at: now + 400),
            try signed("signed by an unknown key", body: body, key: Curve25519.Signing.PrivateKey()),
            try signed("signed by a revoked device", body: body, key: world.revoked.key),
            try signed("signed by a replaced device", body: body, key: world.replaced.key),
            good, Probe(label: "replayed", method: good.method, uri: good.uri, headers: good.headers, body: good.body),
        ]
        var changed = try signed("with the body changed after signing", body: body, key: key)
        changed.body = Data((value.text + " ").utf8)
        var query = try signed("with a query added after signing", body: body, key: key)
        query.uri += "?x=1"
        probes += [changed, query]
        return probes
    }

    /// Every malformed whole body and every one-field change of `good`, each signed: raw bodies by `key`,
    /// JSON ones by the key `prepare` picks for them (which may also change the body to name that key).
    func signedBodies(
        _ good: JSONValue, key: Curve25519.Signing.PrivateKey, prepare: (JSONValue) -> (JSONValue, Curve25519.Signing.PrivateKey) = { ($0, .init()) }
    ) throws -> [Probe] {
        var probes: [Probe] = []
        for (label, data) in RawBodies.all(maxBodyBytes: maxBodyBytes) { probes.append(try signed("signed, with \(label)", body: data, key: key)) }
        let (body, bodyKey) = prepare(good)
        probes.append(try signed("signed, with text/plain", body: Data(body.text.utf8), key: bodyKey, contentType: "text/plain"))
        probes.append(try signed("signed, without a content type", body: Data(body.text.utf8), key: bodyKey, contentType: nil))
        for (label, value) in schema.mutations(of: good, schema: operation.bodySchema ?? .null) {
            let (body, bodyKey) = prepare(value)
            probes.append(try signed("signed, with \(label)", body: Data(body.text.utf8), key: bodyKey))
        }
        return probes
    }

    // MARK: Enrollment

    func enrollBody(key: Curve25519.Signing.PrivateKey, token: String? = nil, machine: String = "machine-new") -> JSONValue {
        var facts = sampleFacts
        facts.machineIdHash = machine
        let request = EnrollRequest(
            token: token ?? world.enrollToken, publicKey: DeviceKeys.base64(key.publicKey), facts: facts, acceptedTermsVersion: "2026-1")
        return (try? KontorJSON.encode(request)).flatMap { JSONValue(parsing: String(decoding: $0, as: UTF8.self)) } ?? .null
    }

    /// Bad bodies, each signed by a fresh key that the body names (so only the bad field is wrong), or
    /// when the change is to `publicKey` or the whole body, by some other key.
    func enrollBodies() throws -> [Probe] {
        let good = enrollBody(key: Curve25519.Signing.PrivateKey())
        return try signedBodies(good, key: Curve25519.Signing.PrivateKey()) { body in
            let fresh = Curve25519.Signing.PrivateKey()
            guard case .object(var object) = body, object["publicKey"] == good["publicKey"] else { return (body, fresh) }
            object["publicKey"] = .string(DeviceKeys.base64(fresh.publicKey))
            return (.object(object), fresh)
        }
    }

    /// Tokens in each state, and a machine another owner's device holds.
    func enrollTokens() throws -> [Probe] {
        func enroll(_ label: String, token: String, machine: String = "machine-new", key: Curve25519.Signing.PrivateKey = .init()) throws -> Probe {
            try signed(label, body: Data(enrollBody(key: key, token: token, machine: machine).text.utf8), key: key)
        }
        let reused = world.active.key
        return [
            try enroll("with a single-use token", token: world.singleUseToken, machine: "machine-single"),
            try enroll("with a used-up token", token: world.singleUseToken, machine: "machine-single-2"),
            try enroll("with a revoked token", token: world.revokedToken),
            try enroll("with a made-up token", token: "ket_000000000000_" + String(repeating: "A", count: 43)),
            try enroll("with a token that is not one", token: "x"),
            try enroll("with another owner's machine", token: world.strangerToken, machine: "machine-a"),
            try enroll("with a key already enrolled", token: world.enrollToken, machine: "machine-a", key: reused),
            try enroll("re-enrolling the active device's machine", token: world.enrollToken, machine: "machine-a"),
        ]
    }

    /// Enrollment with the token that expired after `now` moved on.
    func expiredEnrollment() throws -> [Probe] {
        let key = Curve25519.Signing.PrivateKey()
        return [try signed("with an expired token", body: Data(enrollBody(key: key, token: world.expiringToken, machine: "machine-late").text.utf8), key: key)]
    }

    // MARK: Receipts

    /// A wipe receipt of the active device, as the JSON value the document's WipeReceipt schema describes.
    func receiptValue(deviceId: String? = nil) -> JSONValue {
        let signed = try? receipt(deviceId: deviceId ?? world.active.id, commandId: nil, key: world.active.key, at: now)
        return signed.flatMap { JSONValue(parsing: $0.payload) } ?? .null
    }

    /// `payload` signed as a receipt by `key`, as the request body.
    func signedReceipt(_ payload: String, key: Curve25519.Signing.PrivateKey) throws -> JSONValue {
        let signature = try key.signature(for: Data(payload.utf8)).base64EncodedString()
        return .object(["payload": .string(payload), "signature": .string(signature)])
    }

    func receiptProbes() throws -> [Probe] {
        let key = world.active.key
        let good = try signedReceipt(receiptValue().text, key: key)
        var probes = try signatureProbes(body: good, key: key) + signedBodies(good, key: key) { ($0, key) }
        // The receipt inside, one field at a time, signed by the device key.
        let payloadSchema = schema.resolve(schema.resolve(operation.bodySchema ?? .null)["properties"]?["payload"] ?? .null)["contentSchema"] ?? .null
        for (label, value) in schema.mutations(of: receiptValue(), schema: payloadSchema, at: "payload") {
            probes.append(try signed("signed, with \(label)", body: Data(try signedReceipt(value.text, key: key).text.utf8), key: key))
        }
        let others: [(String, JSONValue)] = [
            ("a receipt signed by another key", try signedReceipt(receiptValue().text, key: .init())),
            ("another device's receipt", try signedReceipt(receiptValue(deviceId: world.revoked.id).text, key: key)),
            ("a payload that is not JSON", try signedReceipt("not json", key: key)),
            ("a payload over 64 KiB", try signedReceipt(String(repeating: " ", count: 70_000) + receiptValue().text, key: key)),
            ("a new receipt after the wipe was confirmed", try signedReceipt(receiptValue().text, key: key)),
        ]
        for (label, body) in others { probes.append(try signed("signed, with \(label)", body: Data(body.text.utf8), key: key)) }
        probes.append(
            try signed(
                "signed by the revoked device, its own receipt",
                body: Data(try signedReceipt(receiptValue(deviceId: world.revoked.id).text, key: world.revoked.key).text.utf8), key: world.revoked.key))
        return probes
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var out = self
        for field in other { out[field.name] = field.value }
        return out
    }
}
