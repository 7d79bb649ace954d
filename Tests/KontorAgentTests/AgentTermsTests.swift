import Foundation
import KontorClient
import KontorCore
import Testing

@testable import KontorAgent
@testable import KontorServer

@Suite("Usage terms on the agent", .serialized)
struct AgentTermsTests {
    static let admin = Principal.token(APIToken(id: "t", name: "test", role: .admin, createdAt: Date(timeIntervalSince1970: 0)))

    @Test("after the grace period the agent locks the container until the person's signed acceptance reaches the server; the text is fetched and checked")
    func lockUntilAccepted() async throws {
        let world = try AgentWorld()
        let ada = try await world.services.createPerson(.init(email: "ada@example.org", displayName: "Ada"), by: Self.admin)
        _ = try await world.services.policies.apply(source: "name: office\nusageTermsVersion: \"2026-12\"\n", dryRun: false, by: "test")
        _ = try await world.services.policies.assign(profile: "office", scope: "default", target: nil, by: "test")
        try await world.live(person: ada.id) { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            // Named but not published: nothing to read, nothing enforced.
            #expect(try agent.pendingTerms() == nil)
            #expect(try agent.store.state().enforcement.termsLocked == false)

            let text = "Work stays on the work account.\n"
            _ = try await world.services.terms.publish(.init(version: "2026-12", text: text, undertaking: "I keep secrets.", graceSeconds: 0), by: Self.admin)
            _ = try await agent.cycle()
            let pending = try #require(try agent.pendingTerms())
            #expect(pending.text == text)
            #expect(pending.undertaking == "I keep secrets.")
            #expect(!pending.accepted)
            #expect(try agent.store.state().enforcement.termsLocked)
            #expect(try AgentStatusReport.read(agent.store).text(now: Date()).contains("LOCKED until you accept the usage terms"))

            // A version the policy does not name is refused; the right one is signed and queued.
            #expect(throws: AgentError.self) { try agent.respondToTerms(version: "2025-01", accept: true, by: "ada") }
            _ = try agent.respondToTerms(version: "2026-12", accept: true, by: "ada")
            #expect(try agent.store.state().pendingTermsResponses.count == 1)
            #expect(try agent.store.state().enforcement.termsLocked, "locked until the server has the acceptance")
            _ = try await agent.cycle()
            let state = try agent.store.state()
            #expect(state.pendingTermsResponses.isEmpty)
            #expect(!state.enforcement.termsLocked)
            #expect(try agent.pendingTerms()?.accepted == true)
            let report = try await world.services.terms.report(version: "2026-12")
            #expect(report.answers.map(\.deviceId) == [identity.deviceId])
            #expect(report.answers.first?.login == "ada")
            #expect(report.answers.first?.verifies() == true)
            _ = try await agent.cycle()  // reports what the last enforcement did
            let events = try await world.services.store.events(deviceId: identity.deviceId, limit: 20).map(\.kind)
            #expect(events.contains("container.locked"))
            #expect(events.contains("container.unlocked"))
            #expect(events.contains("terms.accepted"))
        }
    }

    @Test("a text whose hash is not the one the policy names is refused and the container stays locked")
    func tamperedText() async throws {
        let requirement = TermsRequirement(
            version: "v1", sha256: Bytes.sha256Hex(Data("real".utf8)), undertakingSha256: nil, deadline: Date(timeIntervalSince1970: 0), personId: nil,
            decision: nil)
        #expect(requirement.locks(at: Date()))
        #expect(!requirement.locks(at: Date(timeIntervalSince1970: -1)))
        var accepted = requirement
        accepted.decision = .accepted
        #expect(!accepted.locks(at: Date()))
        var declined = requirement
        declined.decision = .declined
        #expect(declined.locks(at: Date()))
        let world = try AgentWorld()
        try FileManager.default.createDirectory(atPath: world.paths.stateDir, withIntermediateDirectories: true)
        let forged = UsageTerms(version: "v1", text: "forged", undertaking: nil, graceSeconds: 0, publishedAt: Date(), publishedBy: nil)
        try AtomicFile.write(try KontorJSON.encode(forged), to: world.paths.termsFile, mode: 0o644)
        #expect(throws: AgentError.self) { try world.agent(HTTP1Transport()).fetchedTerms(requirement) }
    }
}
