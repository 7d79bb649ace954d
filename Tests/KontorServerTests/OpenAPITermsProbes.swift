import Crypto
import Foundation
import KontorCore

@testable import KontorServer

/// Probes of `POST /api/v1/device/terms/responses`: a signed answer of the active device for its person,
/// then the ways an answer can be wrong, each signed properly as a request.
extension ProbePlan {
    func termsStatement(deviceId: String? = nil, personId: String? = nil, version: String = FuzzWorld.termsVersion, text: String = FuzzWorld.termsText)
        -> TermsStatement
    {
        TermsStatement(
            id: IdentifierGenerator.uuidV7(now: now), version: version, textSha256: Bytes.sha256Hex(Data(text.utf8)), undertakingSha256: nil,
            deviceId: deviceId ?? world.active.id, personId: personId ?? world.personId, login: "ada", decision: .accepted, at: now)
    }

    func signedAnswer(_ statement: TermsStatement, key: Curve25519.Signing.PrivateKey) throws -> JSONValue {
        let signed = try SignedTermsResponse.sign(statement, key: key)
        return .object(["payload": .string(signed.payload), "signature": .string(signed.signature)])
    }

    func termsResponseProbes() throws -> [Probe] {
        let key = world.active.key
        let good = try signedAnswer(termsStatement(), key: key)
        var probes = try signatureProbes(body: good, key: key) + signedBodies(good, key: key) { ($0, key) }
        let others: [(String, JSONValue)] = [
            ("an answer signed by another key", try signedAnswer(termsStatement(), key: .init())),
            ("another device's answer", try signedAnswer(termsStatement(deviceId: world.revoked.id), key: key)),
            ("another person's answer", try signedAnswer(termsStatement(personId: world.leaverId), key: key)),
            ("an unpublished version", try signedAnswer(termsStatement(version: "1999-01"), key: key)),
            ("another text", try signedAnswer(termsStatement(text: "something else"), key: key)),
            ("a payload that is not JSON", .object(["payload": .string("not json"), "signature": .string("")])),
        ]
        for (label, body) in others { probes.append(try signed("signed, with \(label)", body: Data(body.text.utf8), key: key)) }
        return probes
    }
}
