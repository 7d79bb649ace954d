import Crypto
import CryptoExtras
import Foundation
import KontorOIDC
import Testing

/// A provider's signing key, in-process: signs ID tokens and publishes its JWK.
enum TestSigner {
    case rsa(_RSA.Signing.PrivateKey, kid: String)
    case p256(P256.Signing.PrivateKey, kid: String)
    case ed25519(Curve25519.Signing.PrivateKey, kid: String, alg: String)

    var alg: String {
        switch self {
        case .rsa: "RS256"
        case .p256: "ES256"
        case .ed25519(_, _, let alg): alg
        }
    }

    var jwk: JWK {
        switch self {
        case .rsa(let key, let kid):
            let p = try! key.publicKey.getKeyPrimitives()
            return JWK(kty: "RSA", kid: kid, use: "sig", n: Base64URL.encode(p.modulus), e: Base64URL.encode(p.publicExponent))
        case .p256(let key, let kid):
            let raw = Array(key.publicKey.rawRepresentation)
            return JWK(kty: "EC", kid: kid, crv: "P-256", x: Base64URL.encode(raw[0..<32]), y: Base64URL.encode(raw[32..<64]))
        case .ed25519(let key, let kid, _):
            return JWK(kty: "OKP", kid: kid, crv: "Ed25519", x: Base64URL.encode(key.publicKey.rawRepresentation))
        }
    }

    var kid: String? { jwk.kid }

    /// A compact JWS over `claims`, with `header` overrides.
    func sign(_ claims: [String: Any], header: [String: Any] = [:]) -> String {
        var h: [String: Any] = ["alg": alg, "typ": "JWT"]
        if let kid { h["kid"] = kid }
        h.merge(header) { $1 }
        let input =
            Base64URL.encode(try! JSONSerialization.data(withJSONObject: h)) + "." + Base64URL.encode(try! JSONSerialization.data(withJSONObject: claims))
        let signature: [UInt8]
        switch self {
        case .rsa(let key, _): signature = Array(try! key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5).rawRepresentation)
        case .p256(let key, _): signature = Array(try! key.signature(for: Array(input.utf8)).rawRepresentation)
        case .ed25519(let key, _, _): signature = Array(try! key.signature(for: Array(input.utf8)))
        }
        return input + "." + Base64URL.encode(signature)
    }
}

@Suite("OpenID Connect: ID tokens (JWS with RS256, ES256, EdDSA; claims)")
struct IDTokenTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let issuer = "https://login.example.org/realms/school"
    let validator = IDTokenValidator(issuer: issuer, clientId: "kontor-console")
    static let signers: [TestSigner] = [
        .rsa(try! _RSA.Signing.PrivateKey(keySize: .bits2048), kid: "rsa-1"), .p256(P256.Signing.PrivateKey(), kid: "ec-1"),
        .ed25519(Curve25519.Signing.PrivateKey(), kid: "ed-1", alg: "EdDSA"), .ed25519(Curve25519.Signing.PrivateKey(), kid: "ed-2", alg: "Ed25519"),
    ]

    func claims(_ changes: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = [
            "iss": Self.issuer, "sub": "ada-7f3", "aud": "kontor-console", "exp": Self.now.timeIntervalSince1970 + 300,
            "iat": Self.now.timeIntervalSince1970 - 5, "nonce": "n-123", "name": "Ada Lovelace", "email": "ada@example.org",
            "groups": ["kontor-admins", "staff"],
        ]
        c.merge(changes) { $1 }
        return c
    }

    @Test("a token of each algorithm verifies with its key among several and gives the person's claims", arguments: 0..<4)
    func valid(index: Int) throws {
        let signer = Self.signers[index]
        let keys = JWKSet(keys: Self.signers.map(\.jwk))
        let got = try validator.validate(signer.sign(claims()), keys: keys, nonce: "n-123", now: Self.now)
        #expect(got.subject == "ada-7f3" && got.displayName == "Ada Lovelace" && got.groups == ["kontor-admins", "staff"] && got.email == "ada@example.org")
    }

    @Test(
        "refused, each naming why: another audience, expired, from the future, another issuer, another nonce, several audiences without azp",
        arguments: [
            (["aud": "someone-else"], "aud"), (["exp": 1_800_000_000 - 61], "exp"), (["iat": 1_800_000_000 + 120], "iat"),
            (["iss": "https://evil.example"], "iss"), (["nonce": "n-replayed"], "nonce"), (["aud": ["kontor-console", "other"]], "azp"),
            (["sub": ""], "sub"),
        ] as [([String: any Sendable], String)])
    func refusedClaims(change: [String: any Sendable], field: String) {
        let signer = Self.signers[1]
        #expect {
            try validator.validate(signer.sign(claims(change)), keys: JWKSet(keys: [signer.jwk]), nonce: "n-123", now: Self.now)
        } throws: { error in
            (error as? JOSEError).map { "\($0)".hasPrefix(field + ":") } ?? false
        }
    }

    @Test("a token for several audiences that names this client as azp is taken; the leeway allows a minute of clock difference")
    func azpAndLeeway() throws {
        let signer = Self.signers[2]
        let token = signer.sign(claims(["aud": ["kontor-console", "other"], "azp": "kontor-console", "exp": Self.now.timeIntervalSince1970 - 30]))
        #expect(try validator.validate(token, keys: JWKSet(keys: [signer.jwk]), nonce: "n-123", now: Self.now).audience.count == 2)
    }

    @Test("alg none, HMAC, a key of another type, an unknown kid, a flipped signature byte and a critical header are refused")
    func refusedSignatures() throws {
        let rsa = Self.signers[0]
        let keys = JWKSet(keys: Self.signers.map(\.jwk))
        let good = rsa.sign(claims())
        let parts = good.split(separator: ".").map(String.init)
        let noneToken = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + parts[1] + "."
        #expect(throws: JOSEError.unsupportedAlgorithm("none")) { try validator.validate(noneToken, keys: keys, nonce: nil, now: Self.now) }
        // The RSA public key's bytes as an HMAC secret: the classic confusion attack.
        let hs = rsa.sign(claims(), header: ["alg": "HS256"])
        #expect(throws: JOSEError.unsupportedAlgorithm("HS256")) { try validator.validate(hs, keys: keys, nonce: nil, now: Self.now) }
        let wrongType = Self.signers[1].sign(claims(), header: ["kid": "rsa-1"])
        #expect(throws: JOSEError.unknownKey("rsa-1")) { try validator.validate(wrongType, keys: keys, nonce: nil, now: Self.now) }
        #expect(throws: JOSEError.unknownKey("rotated-away")) {
            try validator.validate(rsa.sign(claims(), header: ["kid": "rotated-away"]), keys: keys, nonce: nil, now: Self.now)
        }
        var signature = Base64URL.decode(parts[2])!
        signature[10] ^= 0x01
        let flipped = parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
        #expect(throws: JOSEError.badSignature) { try validator.validate(flipped, keys: keys, nonce: nil, now: Self.now) }
        let critical = rsa.sign(claims(), header: ["crit": ["exp"]])
        #expect(throws: JOSEError.self) { try validator.validate(critical, keys: keys, nonce: nil, now: Self.now) }
        #expect(throws: JOSEError.self) { try validator.validate(parts[0] + "." + parts[1], keys: keys, nonce: nil, now: Self.now) }
    }

    @Test("after a rotation the new key verifies; once the old key is gone from the set, a token signed with it is refused")
    func rotation() throws {
        let old = Self.signers[0]
        let new = Self.signers[1]
        let both = JWKSet(keys: [new.jwk, old.jwk])
        #expect(try validator.validate(old.sign(claims()), keys: both, nonce: nil, now: Self.now).subject == "ada-7f3")
        #expect(try validator.validate(new.sign(claims()), keys: both, nonce: nil, now: Self.now).subject == "ada-7f3")
        #expect(throws: JOSEError.unknownKey("rsa-1")) { try validator.validate(old.sign(claims()), keys: JWKSet(keys: [new.jwk]), nonce: nil, now: Self.now) }
    }

    @Test("base64url: no padding, the URL alphabet, and a length no encoding has is refused")
    func base64url() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("-_8=") == nil && Base64URL.decode("abcde") == nil)
    }
}
