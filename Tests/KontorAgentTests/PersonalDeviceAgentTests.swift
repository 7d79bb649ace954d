import Foundation
import KontorClient
import KontorCore
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import KontorAgent
@testable import KontorServer

/// Passes requests on and keeps the body of every check-in the agent sends.
final class RecordingTransport: HTTPTransport {
    let inner: any HTTPTransport
    private let checkins = Mutex<[Data]>([])

    init(inner: any HTTPTransport) { self.inner = inner }

    var checkinBodies: [Data] { checkins.withLock { $0 } }

    /// The facts of each check-in that carried facts (the agent sends them when they changed), in order.
    func sentFacts() throws -> [DeviceFacts] {
        try checkinBodies.compactMap { try KontorJSON.decode(CheckinRequest.self, from: $0).facts }
    }

    func send(method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount) async throws -> HTTPExchange {
        if url.hasSuffix(DeviceAPI.checkinPath), let body { checkins.withLock { $0.append(body) } }
        return try await inner.send(method: method, url: url, headers: headers, body: body, limit: limit, timeout: timeout)
    }
}

@Suite("The agent on a personal device", .serialized)
struct PersonalDeviceAgentTests {
    @Test("once its policy says personal, the agent sends only the base facts, and its status says so")
    func personalPolicySkipsPosture() async throws {
        let world = try AgentWorld()
        let tree = FakeRoot(path: world.root)
        try tree.mountRoot("253:0", source: "/dev/mapper/cryptroot")
        try tree.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS2-1-cryptroot", dmName: "cryptroot")
        try await world.live(ownership: "personal") { url, token in
            let transport = RecordingTransport(inner: HTTP1Transport())
            let agent = world.agent(transport)
            _ = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            // The first check-in fetches the policy (the agent does not know yet); the next ones know.
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: true))
            #expect(try agent.store.policy()?.policy.ownership == .personal)
            #expect(try await agent.cycle() == .success(interval: 60, policyChanged: false))
            // The first check-in's facts had the posture; the policy's ownership made the next ones leave it out.
            let sent = try transport.sentFacts()
            #expect(sent.count == 2)
            #expect(sent.first?.posture?.diskEncryption.state == .encrypted)
            #expect(sent.last?.posture == nil)
            #expect(sent.last?.hostname.isEmpty == false)
            let status = try AgentStatusReport.read(agent.store)
            #expect(status.ownership == .personal)
            #expect(status.posture == nil)
            #expect(status.text(now: Date()).contains("ownership:      personal device"))
            #expect(status.dataSent.last?.contains("no security posture") == true)
        }
    }

    @Test("on a company device the same agent keeps sending its posture")
    func companyPolicyKeepsPosture() async throws {
        let world = try AgentWorld()
        try await world.live { url, token in
            let transport = RecordingTransport(inner: HTTP1Transport())
            let agent = world.agent(transport)
            _ = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            _ = try await agent.cycle()
            let sent = try transport.sentFacts()
            #expect(!sent.isEmpty)
            #expect(sent.allSatisfy { $0.posture != nil })
            #expect(try AgentStatusReport.read(agent.store).ownership == nil)
        }
    }
}
