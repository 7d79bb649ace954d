import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorClient
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("Enrollment")
struct EnrollmentTests {
    @Test("a device enrolls with a token, gets a fresh ID and the server key, and the token is used up")
    func enrolls() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let token = try await client.enrollToken(op)
            let (_, response) = try await client.enroll(token: token, at: harness.clock.now)
            #expect(response.status == .created)
            let reply = try response.decode(EnrollResponse.self)
            #expect(IdentifierGenerator.isWellFormed(reply.deviceId))
            #expect(reply.serverPublicKey == DeviceKeys.base64(harness.services.serverKey.publicKey))
            #expect(reply.checkinInterval == 60)
            let (_, again) = try await client.enroll(token: token, at: harness.clock.now)
            #expect(again.status == .forbidden)
            #expect(again.errorCode == "enroll_token_used_up")
        }
        let device = try #require(try await harness.store.devices(personId: nil).first)
        #expect(device.acceptedTermsVersion == "2026-1")
        #expect(device.facts == sampleFacts)
    }

    @Test("expired, revoked and made-up tokens each get their own error and enroll nothing")
    func unusableTokens() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let expiring = try await client.enrollToken(op, json: #"{"expiresIn": 60}"#)
            let revoked = try await client.enrollToken(op)
            let id = String(revoked.split(separator: "_")[1])
            #expect(try await client.api(.delete, "/api/v1/enroll-tokens/\(id)", token: op).status == .ok)
            harness.clock.advance(61)
            let (_, e) = try await client.enroll(token: expiring, at: harness.clock.now)
            #expect(e.errorCode == "enroll_token_expired")
            let (_, r) = try await client.enroll(token: revoked, at: harness.clock.now)
            #expect(r.errorCode == "enroll_token_revoked")
            let (_, m) = try await client.enroll(token: "ket_000000000000_" + String(repeating: "A", count: 43), at: harness.clock.now)
            #expect(m.status == .unauthorized)
            #expect(m.errorCode == "enroll_token_invalid")
            let (_, wrongSecret) = try await client.enroll(token: String(revoked.dropLast()) + "B", at: harness.clock.now)
            #expect(wrongSecret.errorCode == "enroll_token_invalid")
        }
        #expect(try await harness.store.deviceCount() == 0)
    }

    @Test("an enrollment not signed by the enrolled key is refused and the token stays unused")
    func proofOfPossession() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let token = try await client.enrollToken(op)
            let claimed = Curve25519.Signing.PrivateKey()
            let signer = Curve25519.Signing.PrivateKey()
            let body = try KontorJSON.encode(
                EnrollRequest(token: token, publicKey: DeviceKeys.base64(claimed.publicKey), facts: sampleFacts, acceptedTermsVersion: nil))
            let response = try await client.signed(DeviceAPI.enrollPath, body: body, key: signer, at: harness.clock.now)
            #expect(response.status == .unauthorized)
            let unsigned = try await client.api(.post, DeviceAPI.enrollPath, json: String(decoding: body, as: UTF8.self))
            #expect(unsigned.errorCode == "signature_missing")
        }
        #expect(try await harness.store.enrollmentTokens().first?.uses == 0)
    }

    @Test(
        "bad enrollment bodies get 400 naming the field",
        arguments: [
            (#"{"token": 5}"#, "token: expected a string"),
            (
                #"{"token": "t", "publicKey": "AAAA", "facts": {"hostname": "h", "osRelease": "o", "kernel": "k", "machineIdHash": "m", "agentVersion": "v"}}"#,
                "publicKey: expected a 32-byte Ed25519 public key in base64"
            ),
            (
                #"{"token": "t", "publicKey": "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=", "facts": {"hostname": "", "osRelease": "o", "kernel": "k", "machineIdHash": "m", "agentVersion": "v"}}"#,
                "facts.hostname: must not be empty"
            ),
            (#"{"token": "t", "publicKey": "k", "facts": {"hostname": "h"}}"#, "facts.osRelease: required field is missing"),
        ])
    func badBodies(body: String, message: String) async throws {
        let harness = try await Harness()
        try await harness.test { client async throws in
            let response = try await client.api(.post, DeviceAPI.enrollPath, json: body)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == message)
        }
    }

    @Test("enrollment is rate limited per client address")
    func rateLimited() async throws {
        let harness = try await Harness { $0.enrollRatePerMinute = 2 }
        try await harness.test { client async throws in
            for _ in 0..<2 { #expect(try await client.api(.post, DeviceAPI.enrollPath, json: "{}").status == .badRequest) }
            let limited = try await client.api(.post, DeviceAPI.enrollPath, json: "{}")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.errorCode == "rate_limited")
            #expect(limited.headers[.retryAfter] != nil)
        }
    }

    @Test("re-enrolling the same machine gives a new ID linked to its predecessor, whose key then stops working")
    func reenroll() async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let token = try await client.enrollToken(op, json: #"{"uses": 2}"#)
            let (oldKey, first) = try await client.enroll(token: token, at: harness.clock.now)
            let (_, second) = try await client.enroll(token: token, at: harness.clock.now)
            let a = try first.decode(EnrollResponse.self)
            let b = try second.decode(EnrollResponse.self)
            #expect(a.deviceId != b.deviceId)
            #expect(b.predecessorId == a.deviceId)
            let stale = try await client.signed(DeviceAPI.checkinPath, body: Data("{}".utf8), key: oldKey, at: harness.clock.now)
            #expect(stale.status == .unauthorized)
            #expect(stale.errorCode == "key_revoked")
        }
    }
}

@Suite("Signed check-in")
struct CheckinTests {
    /// Enrolls one device and hands its key to `body`.
    func withDevice(_ body: @Sendable (Harness, any TestClientProtocol, Curve25519.Signing.PrivateKey) async throws -> Void) async throws {
        let harness = try await Harness()
        let op = try await harness.token(.operator)
        try await harness.test { client async throws in
            let (key, response) = try await client.enroll(token: try await client.enrollToken(op), at: harness.clock.now)
            #expect(response.status == .created)
            try await body(harness, client, key)
        }
    }

    @Test("a first check-in gets the policy, a matching hash gets 'unchanged', both signed by the server")
    func policyThenUnchanged() async throws {
        try await withDevice { harness, client, key async throws in
            let first = try await client.signed(
                DeviceAPI.checkinPath, body: try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil)),
                key: key, at: harness.clock.now)
            #expect(first.status == .ok)
            let reply = try first.decode(CheckinResponse.self)
            #expect(reply.result == "policy")
            #expect(reply.policy?.checkinInterval == 60)
            #expect(first.headers[HTTPField.Name("Signature")!]?.hasPrefix("kontor=:") == true)
            let second = try await client.signed(
                DeviceAPI.checkinPath, body: try KontorJSON.encode(CheckinRequest(appliedPolicyHash: reply.policyHash, status: nil, facts: nil)), key: key,
                at: harness.clock.now)
            let unchanged = try second.decode(CheckinResponse.self)
            #expect(unchanged.result == "unchanged")
            #expect(unchanged.policy == nil)
            let device = try #require(try await harness.services.directory.devices(person: nil).first)
            #expect(device.lastSeen == harness.clock.now)
            #expect(device.appliedPolicyHash == reply.policyHash)
        }
    }

    @Test("the check-in reply verifies with the pinned server key, bound to the request")
    func replyVerifies() async throws {
        try await withDevice { harness, client, key async throws in
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
            let (pairs, message) = try DeviceClient.sign(
                method: "POST", server: try ServerURL("http://localhost"), path: DeviceAPI.checkinPath, body: body, key: key, now: harness.clock.now)
            var headers = HTTPFields()
            for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
            let response = try await client.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body))
            let exchange = HTTPExchange(
                status: Int(response.status.code), headers: response.headers.map { ($0.name.canonicalName, $0.value) }, body: Data(buffer: response.body))
            try DeviceClient.verifyReply(exchange, answering: message, serverKey: harness.services.serverKey.publicKey)
            #expect(throws: ClientError.self) {
                try DeviceClient.verifyReply(exchange, answering: message, serverKey: Curve25519.Signing.PrivateKey().publicKey)
            }
        }
    }

    @Test("stale and future signatures are refused", arguments: [-301.0, 301.0])
    func stale(offset: Double) async throws {
        try await withDevice { harness, client, key async throws in
            let response = try await client.signed(DeviceAPI.checkinPath, body: Data("{}".utf8), key: key, at: harness.clock.now + offset)
            #expect(response.status == .unauthorized)
            #expect(response.errorCode == "signature_expired")
        }
    }

    @Test("a replayed request is refused")
    func replay() async throws {
        try await withDevice { harness, client, key async throws in
            let body = Data("{}".utf8)
            let (pairs, _) = try DeviceClient.sign(
                method: "POST", server: try ServerURL("http://localhost"), path: DeviceAPI.checkinPath, body: body, key: key, now: harness.clock.now)
            var headers = HTTPFields()
            for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
            #expect(try await client.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body)).status == .ok)
            harness.clock.advance(200)
            let again = try await client.execute(uri: DeviceAPI.checkinPath, method: .post, headers: headers, body: ByteBuffer(bytes: body))
            #expect(again.status == .unauthorized)
            #expect(again.errorCode == "nonce_replayed")
        }
    }

    @Test("tampering is detected", arguments: ["body", "signature", "path", "digest-header", "no-signature", "unknown-key"])
    func tampered(kind: String) async throws {
        try await withDevice { harness, client, key async throws in
            let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "ok"), facts: nil))
            let signer = kind == "unknown-key" ? Curve25519.Signing.PrivateKey() : key
            let response = try await client.signed(DeviceAPI.checkinPath, body: body, key: signer, at: harness.clock.now) { headers, payload in
                switch kind {
                case "body": payload = try! KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: AgentReport(state: "error"), facts: nil))
                case "signature":
                    let sig = headers[HTTPField.Name("Signature")!]!
                    headers[HTTPField.Name("Signature")!] = sig.replacingOccurrences(of: "kontor=:", with: "kontor=:AAAA").replacingOccurrences(
                        of: "=:", with: ":", options: .backwards
                    ).replacingOccurrences(of: "kontor:", with: "kontor=:")
                case "digest-header":
                    headers[HTTPField.Name("Content-Digest")!] = ContentDigest.header(for: Data("x".utf8))
                case "no-signature":
                    headers[HTTPField.Name("Signature")!] = nil
                    headers[HTTPField.Name("Signature-Input")!] = nil
                default: break
                }
            }
            let expected: [String: String] = [
                "body": "digest_mismatch", "signature": "signature_malformed", "digest-header": "signature_invalid", "no-signature": "signature_missing",
                "unknown-key": "unknown_key",
            ]
            if kind == "path" {
                // A request signed for /checkin, sent to /enroll, does not verify there.
                let (pairs, _) = try DeviceClient.sign(
                    method: "POST", server: try ServerURL("http://localhost"), path: DeviceAPI.checkinPath, body: body, key: key, now: harness.clock.now)
                var headers = HTTPFields()
                for (name, value) in pairs where name != "Host" { headers[HTTPField.Name(name)!] = value }
                let moved = try await client.execute(uri: "/api/v1/checkin?x=1", method: .post, headers: headers, body: ByteBuffer(bytes: body))
                #expect(moved.errorCode == "signature_invalid")
                return
            }
            #expect(response.status.code >= 400 && response.status.code < 500)
            let code = response.errorCode
            if kind == "signature" {
                #expect(code == "signature_malformed" || code == "signature_invalid")
            } else {
                #expect(code == expected[kind], "\(kind): \(code ?? "nil")")
            }
            // Nothing is recorded for a refused request.
            #expect(try await harness.services.directory.devices(person: nil).first?.lastSeen == nil)
        }
    }

    @Test("a revoked device is refused with device_revoked, shows as such, and the revocation is audited")
    func revoked() async throws {
        try await withDevice { harness, client, key async throws in
            let op = try await harness.token(.operator)
            let id = try #require(try await harness.store.devices(personId: nil).first?.id)
            #expect(try await client.api(.post, "/api/v1/devices/\(id)/revoke", token: op, json: #"{"reason": "x"}"#).status == .badRequest)
            let response = try await client.api(.post, "/api/v1/devices/\(id)/revoke", token: op, json: #"{"reason": "laptop stolen from the van"}"#)
            #expect(response.status == .ok)
            #expect(try response.decode(Device.self).status == .revoked)
            let refused = try await client.signed(DeviceAPI.checkinPath, body: Data("{}".utf8), key: key, at: harness.clock.now)
            #expect(refused.status == .unauthorized)
            #expect(refused.errorCode == "device_revoked")
            let audit = try await harness.store.auditEntries(since: nil, target: id)
            #expect(audit.last?.action == "device.revoked")
            #expect(audit.last?.detail?["reason"] == "laptop stolen from the van")
        }
    }

    @Test("bad check-in bodies get 400 after the signature checks out")
    func badBody() async throws {
        try await withDevice { harness, client, key async throws in
            let response = try await client.signed(DeviceAPI.checkinPath, body: Data(#"{"status": {"state": "sleepy"}}"#.utf8), key: key, at: harness.clock.now)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage == "status.state: expected one of ok, degraded, error")
        }
    }
}
