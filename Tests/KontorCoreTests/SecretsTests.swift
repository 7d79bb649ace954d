import Foundation
import Testing

@testable import KontorCore

@Suite("Bearer secrets")
struct SecretsTests {
    @Test("a minted token parses back and matches only its own hash")
    func roundTrip() throws {
        let issued = IssuedSecret.generate(.apiToken)
        let presented = try #require(PresentedSecret(issued.token, kind: .apiToken))
        #expect(presented.id == issued.id)
        #expect(presented.matches(storedHash: issued.secretHash))
        #expect(!presented.matches(storedHash: IssuedSecret.generate(.apiToken).secretHash))
    }

    @Test("tokens carry at least 128 random bits and never repeat")
    func entropy() {
        let tokens = Set((0..<1000).map { _ in IssuedSecret.generate(.enrollmentToken).token })
        #expect(tokens.count == 1000)
        #expect(IssuedSecret.generate(.enrollmentToken).token.hasPrefix("ket_"))
    }

    @Test(
        "a token of another kind or shape is not accepted",
        arguments: [
            "", "kat_", "ket_0123456789ab_" + String(repeating: "a", count: 43), "kat_0123456789ab_short",
            "kat_0123456789AB_" + String(repeating: "a", count: 43), "Bearer kat_x",
        ])
    func rejectsOtherShapes(token: String) {
        #expect(PresentedSecret(token, kind: .apiToken) == nil)
    }

    @Test("constant-time comparison agrees with equality")
    func constantTime() {
        #expect(Bytes.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Bytes.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Bytes.constantTimeEqual([1, 2, 3], [1, 2]))
    }
}

@Suite("Identifiers and JSON")
struct IdentifierTests {
    @Test("device IDs are well-formed UUIDv7 and time-ordered")
    func uuidV7() {
        let early = IdentifierGenerator.uuidV7(now: Date(timeIntervalSince1970: 1_700_000_000))
        let late = IdentifierGenerator.uuidV7(now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(IdentifierGenerator.isWellFormed(early))
        #expect(early < late)
        #expect(Array(early)[14] == "7")
        #expect(!IdentifierGenerator.isWellFormed("../../etc/passwd"))
    }

    @Test("timestamps encode as ISO 8601 UTC and decode with or without fractions")
    func dates() throws {
        let token = EnrollmentToken(
            id: "x", personId: nil, group: nil, maxUses: 1, expiresAt: Date(timeIntervalSince1970: 0), createdAt: Date(timeIntervalSince1970: 1))
        let json = String(decoding: try KontorJSON.encode(token), as: UTF8.self)
        #expect(json.contains(#""expiresAt":"1970-01-01T00:00:00Z""#))
        #expect(ISO8601.date(from: "2027-03-28T01:30:00.250Z") != nil)
        #expect(ISO8601.date(from: "2027-03-28T03:30:00+02:00") == ISO8601.date(from: "2027-03-28T01:30:00Z"))
    }

    @Test("decoding errors name the offending field")
    func decodingErrorsNameTheField() throws {
        do {
            _ = try KontorJSON.decode(EnrollRequest.self, from: Data(#"{"token": 5}"#.utf8))
            Issue.record("decoded a number as a token")
        } catch let error as DecodingError {
            #expect(error.fieldDescription == "token: expected a string")
        }
        do {
            _ = try KontorJSON.decode(EnrollRequest.self, from: Data(#"{"token": "t", "publicKey": "k"}"#.utf8))
        } catch let error as DecodingError {
            #expect(error.fieldDescription == "facts: required field is missing")
        }
    }

    @Test("equal policies hash equally, different ones differently")
    func policyHash() {
        #expect(EffectivePolicy(checkinInterval: 60).canonicalHash == EffectivePolicy(checkinInterval: 60).canonicalHash)
        #expect(EffectivePolicy(checkinInterval: 60).canonicalHash != EffectivePolicy(checkinInterval: 61).canonicalHash)
        #expect(EffectivePolicy(checkinInterval: 60).canonicalHash.hasPrefix("sha256:"))
    }
}
