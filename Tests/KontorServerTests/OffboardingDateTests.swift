import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("A planned offboarding reaches the person's devices ahead of the wipe")
struct OffboardingDateTests {
    @Test("the effective policy of the person's device names the wipe date from the moment the offboarding starts; another person's does not")
    func wipeDateInPolicy() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            var keys: [Curve25519.Signing.PrivateKey] = []
            for (email, machine) in [("ada@example.org", "m-ada"), ("bo@example.org", "m-bo")] {
                #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "\#(email)", "displayName": "X"}"#).status == .created)
                let token = try await client.enrollToken(admin, json: #"{"person": "\#(email)"}"#)
                var facts = sampleFacts
                facts.machineIdHash = machine
                keys.append(try await client.enroll(token: token, facts: facts, at: harness.clock.now).0)
            }
            func wipeAt(_ key: Curve25519.Signing.PrivateKey) async throws -> Date? {
                let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil))
                return try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: harness.clock.now).decode(CheckinResponse.self).policy?
                    .offboardingWipeAt
            }
            #expect(try await wipeAt(keys[0]) == nil)
            let at = ISO8601.string(from: harness.clock.now + 7 * 86_400)
            let started = try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: #"{"at": "\#(at)"}"#)
            #expect(started.status == .accepted)
            #expect(try await wipeAt(keys[0]) == ISO8601.date(from: at))
            #expect(try await wipeAt(keys[1]) == nil)
        }
    }
}
