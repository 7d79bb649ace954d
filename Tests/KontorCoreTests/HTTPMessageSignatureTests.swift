import Crypto
import Foundation
import RawStructuredFieldValues
import Testing

@testable import KontorCore

/// RFC 9421 Appendix B.1.4 test key and the B.2 test request.
enum RFC9421Fixture {
    static let privateKey = try! Curve25519.Signing.PrivateKey(
        rawRepresentation: Data(base64Encoded: "n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU=")!)
    static let publicKeyBase64 = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="

    static var request: SignatureMessage {
        SignatureMessage(
            method: "POST", authority: "example.com", path: "/foo", query: "param=Value&Pet=dog",
            headers: [
                ("Host", "example.com"), ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"), ("Content-Type", "application/json"),
                ("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"),
                ("Content-Length", "18"),
            ])
    }

    static let b26Parameters = SignatureParameters(
        components: ["date", "@method", "@path", "@authority", "content-type", "content-length"].map { SignatureComponent($0) },
        created: 1_618_884_473, keyID: "test-key-ed25519", algorithm: nil)
}

@Suite("RFC 9421 message signatures")
struct HTTPMessageSignatureTests {
    @Test("B.2.6: the signature base matches the RFC byte for byte")
    func b26SignatureBase() throws {
        let base = try HTTPMessageSignatures.signatureBase(for: RFC9421Fixture.request, parameters: RFC9421Fixture.b26Parameters)
        #expect(
            base == """
                "date": Tue, 20 Apr 2021 02:07:55 GMT
                "@method": POST
                "@path": /foo
                "@authority": example.com
                "content-type": application/json
                "content-length": 18
                "@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"
                """)
    }

    @Test("B.2.6: signing with the test key gives the RFC's signature")
    func b26Signature() throws {
        let (input, signature) = try HTTPMessageSignatures.sign(
            RFC9421Fixture.request, parameters: RFC9421Fixture.b26Parameters, label: "sig-b26", key: RFC9421Fixture.privateKey)
        #expect(input == #"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#)
        #expect(signature == "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:")
    }

    @Test("B.2.6: the RFC's signature verifies with the test public key")
    func b26Verifies() throws {
        var message = RFC9421Fixture.request
        message.setField(
            "Signature-Input", #"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#)
        message.setField("Signature", "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:")
        let verified = try HTTPMessageSignatures.verify(message) { keyID in
            #expect(keyID == "test-key-ed25519")
            return DeviceKeys.publicKey(base64: RFC9421Fixture.publicKeyBase64)!
        }
        #expect(verified.label == "sig-b26")
        #expect(verified.parameters.created == 1_618_884_473)
    }

    @Test(
        "a signed request verifies, and each tampered component breaks it",
        arguments: [
            "method", "authority", "path", "query", "digest", "params",
        ])
    func tamperingIsDetected(part: String) throws {
        let key = Curve25519.Signing.PrivateKey()
        var message = SignatureMessage(
            method: "POST", authority: "kontor.example:8443", path: "/api/v1/checkin", query: "a=1",
            headers: [("Content-Digest", ContentDigest.header(for: Data("{}".utf8)))])
        let parameters = SignatureParameters(
            components: DeviceAPI.requiredRequestComponents.map { SignatureComponent($0) }, created: 1_700_000_000,
            keyID: DeviceKeys.keyID(for: key.publicKey), nonce: "n1")
        let (input, signature) = try HTTPMessageSignatures.sign(message, parameters: parameters, key: key)
        message.setField("Signature-Input", input)
        message.setField("Signature", signature)
        _ = try HTTPMessageSignatures.verify(message, required: DeviceAPI.requiredRequestComponents) { _ in key.publicKey }

        var tampered = message
        switch part {
        case "method": tampered.start = .request(method: "PUT", authority: "kontor.example:8443", path: "/api/v1/checkin", query: "a=1")
        case "authority": tampered.start = .request(method: "POST", authority: "evil.example", path: "/api/v1/checkin", query: "a=1")
        case "path": tampered.start = .request(method: "POST", authority: "kontor.example:8443", path: "/api/v1/enroll", query: "a=1")
        case "query": tampered.start = .request(method: "POST", authority: "kontor.example:8443", path: "/api/v1/checkin", query: "a=2")
        case "digest": tampered.setField("Content-Digest", ContentDigest.header(for: Data("{\"x\":1}".utf8)))
        default: tampered.setField("Signature-Input", input.replacingOccurrences(of: "nonce=\"n1\"", with: "nonce=\"n2\""))
        }
        #expect(throws: HTTPSignatureError.invalidSignature) {
            try HTTPMessageSignatures.verify(tampered, required: DeviceAPI.requiredRequestComponents) { _ in key.publicKey }
        }
    }

    @Test("a signature that leaves out a required component is refused")
    func requiredComponents() throws {
        let key = Curve25519.Signing.PrivateKey()
        var message = SignatureMessage(method: "POST", authority: "a", path: "/", query: nil, headers: [])
        let parameters = SignatureParameters(components: [SignatureComponent("@method")], created: 1, keyID: "k")
        let (input, signature) = try HTTPMessageSignatures.sign(message, parameters: parameters, key: key)
        message.setField("Signature-Input", input)
        message.setField("Signature", signature)
        #expect(throws: HTTPSignatureError.requiredComponentNotCovered("@authority")) {
            try HTTPMessageSignatures.verify(message, required: DeviceAPI.requiredRequestComponents) { _ in key.publicKey }
        }
    }

    @Test("a missing query is covered as a lone question mark")
    func emptyQuery() throws {
        let message = SignatureMessage(method: "GET", authority: "a", path: "/x", query: nil, headers: [])
        let base = try HTTPMessageSignatures.signatureBase(
            for: message, parameters: SignatureParameters(components: [SignatureComponent("@query")], created: nil, keyID: nil, algorithm: nil))
        #expect(base.hasPrefix("\"@query\": ?\n"))
    }

    @Test(
        "malformed signature fields are refused with a reason",
        arguments: [
            ("kontor=(\"@method\";created=1", "kontor=:AAAA:"),
            ("kontor=(\"@method\");created=1", "kontor=\"not bytes\""),
            ("kontor=(@method);created=1", "kontor=:AAAA:"),
            ("kontor=(\"@method\");created=\"yesterday\"", "kontor=:AAAA:"),
            ("kontor=(\"@method\";sf);created=1", "kontor=:AAAA:"),
        ])
    func malformed(input: String, signature: String) {
        var message = SignatureMessage(method: "GET", authority: "a", path: "/", query: nil, headers: [])
        message.setField("Signature-Input", input)
        message.setField("Signature", signature)
        #expect(throws: HTTPSignatureError.self) {
            try HTTPMessageSignatures.verify(message) { _ in Curve25519.Signing.PrivateKey().publicKey }
        }
    }

    @Test("a response signature covering signature;req is bound to the request it answers")
    func responseBinding() throws {
        let deviceKey = Curve25519.Signing.PrivateKey()
        let serverKey = Curve25519.Signing.PrivateKey()
        func signedRequest(nonce: String) throws -> SignatureMessage {
            var request = SignatureMessage(
                method: "POST", authority: "a", path: "/api/v1/checkin", query: nil,
                headers: [
                    ("Content-Digest", ContentDigest.header(for: Data()))
                ])
            let (i, s) = try HTTPMessageSignatures.sign(
                request,
                parameters: SignatureParameters(
                    components: DeviceAPI.requiredRequestComponents.map { SignatureComponent($0) }, created: 5, keyID: "d", nonce: nonce),
                key: deviceKey)
            request.setField("Signature-Input", i)
            request.setField("Signature", s)
            return request
        }
        let first = try signedRequest(nonce: "one")
        var response = SignatureMessage(status: 200, headers: [("Content-Digest", ContentDigest.header(for: Data("{}".utf8)))], request: first)
        let (i, s) = try HTTPMessageSignatures.sign(
            response, parameters: SignatureParameters(components: DeviceAPI.responseComponents, created: 5, keyID: "server"), key: serverKey)
        response.setField("Signature-Input", i)
        response.setField("Signature", s)
        #expect(i.contains(#""signature";key="kontor";req"#))
        _ = try HTTPMessageSignatures.verify(response) { _ in serverKey.publicKey }

        // The same reply replayed as the answer to another request no longer verifies.
        response.relatedRequest = try signedRequest(nonce: "two")
        #expect(throws: HTTPSignatureError.invalidSignature) { try HTTPMessageSignatures.verify(response) { _ in serverKey.publicKey } }
    }
}

@Suite("RFC 8941 serialisation of signature parameters")
struct SignatureParameterSerializationTests {
    static let cases: [SignatureParameters] = {
        var withEscapes = SignatureParameters(
            components: [
                SignatureComponent("@method"), SignatureComponent("signature", key: #"k"e\y"#, fromRequest: true), SignatureComponent("content-digest"),
            ],
            created: 1_700_000_000, keyID: #"key "quoted" \ back"#, nonce: "n-o_n.c~e", algorithm: "ed25519", expires: -5, tag: "")
        withEscapes.order = ["tag", "nonce", "expires", "created", "alg", "keyid"]
        var bare = SignatureParameters(components: [], created: nil, keyID: nil, algorithm: nil)
        bare.order = []
        return [
            RFC9421Fixture.b26Parameters, withEscapes, bare,
            SignatureParameters(components: DeviceAPI.responseComponents, created: 999_999_999_999_999, keyID: "server"),
        ]
    }()

    @Test("the hand-written serialisation matches swift-http-structured-headers", arguments: cases)
    func matchesLibrary(parameters: SignatureParameters) throws {
        #expect(try HTTPMessageSignatures.serializeParameters(parameters) == HTTPMessageSignatures.serializeParametersWithLibrary(parameters))
        for component in parameters.components {
            var serializer = StructuredFieldValueSerializer()
            #expect(try component.serialized() == String(decoding: try serializer.writeItemFieldValue(component.item), as: UTF8.self))
        }
    }

    @Test(
        "what the library refuses to serialise is refused here too",
        arguments: [
            SignatureParameters(components: [SignatureComponent("caf\u{e9}")], created: 1, keyID: "k"),
            SignatureParameters(components: [SignatureComponent("@method")], created: 1, keyID: "tab\there"),
            SignatureParameters(components: [SignatureComponent("@method")], created: 1_000_000_000_000_000, keyID: "k"),
        ])
    func refusesLikeLibrary(parameters: SignatureParameters) {
        #expect(throws: (any Error).self) { try HTTPMessageSignatures.serializeParametersWithLibrary(parameters) }
        #expect(throws: HTTPSignatureError.self) { try HTTPMessageSignatures.serializeParameters(parameters) }
    }

    @Test("a reply bound to a request verifies the same whether the request's signature member was remembered or parsed again")
    func rememberedMember() throws {
        let deviceKey = Curve25519.Signing.PrivateKey()
        let serverKey = Curve25519.Signing.PrivateKey()
        var request = SignatureMessage(
            method: "POST", authority: "k.example", path: "/api/v1/checkin", query: nil, headers: [("Content-Digest", "sha-256=:AAAA:")])
        let (input, signature) = try HTTPMessageSignatures.sign(
            request, parameters: SignatureParameters(components: [SignatureComponent("@method")], created: 1, keyID: "d", nonce: "abcdefgh"), key: deviceKey)
        request.setField("Signature-Input", input)
        request.setField("Signature", signature)
        var remembered = request
        let parsed = try HTTPMessageSignatures.parse(remembered, label: "kontor")
        remembered.rememberMember(field: "signature", key: parsed.label, serialized: parsed.serializedMember)

        var reply = SignatureMessage(status: 200, headers: [("Content-Digest", "sha-256=:BBBB:")], request: remembered)
        let (i, s) = try HTTPMessageSignatures.sign(
            reply, parameters: SignatureParameters(components: DeviceAPI.responseComponents, created: 2, keyID: "s"), key: serverKey)
        // The device checks the reply against its own request, which it never parsed.
        reply = SignatureMessage(status: 200, headers: [("Content-Digest", "sha-256=:BBBB:"), ("Signature-Input", i), ("Signature", s)], request: request)
        _ = try HTTPMessageSignatures.verify(reply) { _ in serverKey.publicKey }
    }
}

@Suite("RFC 9530 content digest")
struct ContentDigestTests {
    @Test("the B.2 request's sha-512 digest matches its body")
    func rfcDigest() throws {
        try ContentDigest.verify(
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
            body: Data(#"{"hello": "world"}"#.utf8))
    }

    @Test(
        "a digest of another body, an unknown algorithm alone, garbage and absence are refused",
        arguments: [
            Optional(ContentDigest.header(for: Data("other".utf8))), "md5=:AAAA:", "sha-256=nonsense", nil,
        ])
    func refused(field: String?) {
        #expect(throws: HTTPSignatureError.self) { try ContentDigest.verify(field, body: Data("body".utf8)) }
    }
}
