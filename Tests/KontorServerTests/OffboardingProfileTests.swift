import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import KontorStore
import Testing

@testable import KontorServer

/// Assigning profiles is an admin's power; offboarding with a restricted phase assigns one.
@Suite("Offboarding: who may pick the restricted profile")
struct OffboardingProfileTests {
    /// Persons ada, bo and cy with one device each; the profiles offboarding-restricted and wide-open applied.
    func withFleet(
        configure: (inout ServerConfig) -> Void = { _ in },
        _ body: @Sendable (Harness, any TestClientProtocol, String, String, [String: String]) async throws -> Void
    ) async throws {
        let harness = try await Harness(configure: configure)
        let op = try await harness.token(.operator)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            var devices: [String: String] = [:]
            for (n, name) in ["ada", "bo", "cy"].enumerated() {
                _ = try await client.api(.post, "/api/v1/persons", token: op, json: #"{"email": "\#(name)@example.org", "displayName": "\#(name)"}"#)
                let facts = DeviceFacts(hostname: "pc-\(name)", osRelease: "Debian", kernel: "6.1", machineIdHash: "m\(n)", agentVersion: "0.1.0")
                let (_, enrolled) = try await client.enroll(
                    token: try await client.enrollToken(op, json: #"{"person": "\#(name)@example.org"}"#), facts: facts, at: harness.clock.now)
                devices[name] = try enrolled.decode(EnrollResponse.self).deviceId
            }
            for (name, interval) in [("offboarding-restricted", 30), ("wide-open", 3600)] {
                let applied = try await client.api(
                    .post, "/api/v1/profiles", token: admin, json: #"{"source": "name: \#(name)\ncheckinInterval: \#(interval)\n"}"#)
                #expect(applied.status == .created)
            }
            try await body(harness, client, op, admin, devices)
        }
    }

    func later(_ harness: Harness) -> String { ISO8601.string(from: harness.clock.now + 14 * 86_400) }

    @Test("an operator cannot assign any stored profile through an offboarding: refused, nothing started, nothing assigned")
    func operatorRefused() async throws {
        try await withFleet { harness, client, op, _, devices async throws in
            let refused = try await client.api(
                .post, "/api/v1/persons/ada@example.org/offboard", token: op,
                json: #"{"at": "\#(later(harness))", "restrictNow": true, "profile": "wide-open"}"#)
            #expect(refused.status == .forbidden)
            #expect(refused.errorCode == "forbidden")
            #expect(refused.errorMessage?.contains("needs an admin") == true)
            #expect(refused.errorMessage?.contains("offboarding-restricted") == true)
            #expect(try await harness.store.person(email: "ada@example.org")?.status == .active)
            #expect(try await harness.store.offboarding(personId: try #require(try await harness.store.person(email: "ada@example.org")).id) == nil)
            #expect(try await harness.store.assignments().isEmpty)
            #expect(
                try await harness.services.policies.effectivePolicy(for: try await harness.services.directory.device(devices["ada"]!)).checkinInterval != 3600)
        }
    }

    @Test("an operator may use the configured restricted profile; an admin any stored profile")
    func allowedUses() async throws {
        try await withFleet { harness, client, op, admin, devices async throws in
            let byOperator = try await client.api(
                .post, "/api/v1/persons/bo@example.org/offboard", token: op,
                json: #"{"at": "\#(later(harness))", "restrictNow": true, "profile": "offboarding-restricted"}"#)
            #expect(byOperator.status == .accepted)
            #expect(try await harness.services.policies.effectivePolicy(for: try await harness.services.directory.device(devices["bo"]!)).checkinInterval == 30)
            let byAdmin = try await client.api(
                .post, "/api/v1/persons/cy@example.org/offboard", token: admin,
                json: #"{"at": "\#(later(harness))", "restrictNow": true, "profile": "wide-open"}"#)
            #expect(byAdmin.status == .accepted)
            #expect(
                try await harness.services.policies.effectivePolicy(for: try await harness.services.directory.device(devices["cy"]!)).checkinInterval == 3600)
            // Without a profile an operator offboards as before.
            #expect(
                try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: op, json: #"{"at": "\#(later(harness))"}"#).status == .accepted)
        }
    }

    @Test("with no offboardingProfile configured, operators offboard without a restricted phase only")
    func noneConfigured() async throws {
        try await withFleet(configure: { $0.offboardingProfile = "" }) { harness, client, op, _, _ async throws in
            let refused = try await client.api(
                .post, "/api/v1/persons/bo@example.org/offboard", token: op,
                json: #"{"at": "\#(later(harness))", "restrictNow": true, "profile": "offboarding-restricted"}"#)
            #expect(refused.status == .forbidden)
            #expect(refused.errorMessage?.contains("no profile is configured for operators") == true)
        }
    }

    @Test("the console offers an operator only the configured profile and refuses another one sent anyway")
    func console() async throws {
        try await withFleet { harness, client, op, admin, _ async throws in
            let person = try #require(try await harness.store.person(email: "ada@example.org"))
            let browser = ConsoleBrowser(client)
            try await browser.signIn(op)
            let page = try await browser.get("/console/persons/\(person.id)")
            #expect(page.text.contains("<option>offboarding-restricted</option>"))
            #expect(!page.text.contains("<option>wide-open</option>"))
            let forged = try await browser.post(
                "/console/persons/\(person.id)/offboard", [("date", ""), ("restrictNow", "on"), ("profile", "wide-open"), ("reason", "contract ends")])
            // The form answers with the person's page again, saying why.
            let back = try await browser.get(try #require(forged.location))
            #expect(back.text.contains("needs an admin"))
            #expect(try await harness.store.person(id: person.id)?.status == .active)
            #expect(try await harness.store.assignments().isEmpty)

            let adminBrowser = ConsoleBrowser(client)
            try await adminBrowser.signIn(admin)
            #expect(try await adminBrowser.get("/console/persons/\(person.id)").text.contains("<option>wide-open</option>"))
        }
    }
}
