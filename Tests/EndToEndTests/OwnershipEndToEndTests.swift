import Foundation
import KontorCore
import Testing

@Suite("End to end: a personal device with the real binaries", .serialized)
struct OwnershipEndToEndTests {
    func agent(_ arguments: [String]) async throws -> CommandResult { try await runCommand(Binaries.path("kontor-agent"), arguments) }

    func devices(_ server: ServerProcess, _ token: String, _ ownership: String) async throws -> [Device] {
        let listed = try await server.ctl(token, ["devices", "list", "--ownership", ownership, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        return try KontorJSON.decode([Device].self, from: Data(listed.stdout.utf8))
    }

    @Test(
        "enrolled with a personal token, the device is listed as personal, gets the profile assigned by ownership, sends no posture, and a posture profile is refused for personal devices"
    )
    func personalDevice() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let bad = try await server.ctl(admin, ["enroll-tokens", "create", "--ownership", "private"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--ownership"))
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--ownership", "personal", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)

        let root = server.dataDir.appendingPathComponent("own-laptop").path
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try "own-laptop\n".write(toFile: root + "/etc/hostname", atomically: true, encoding: .utf8)
        let enrolled = try await agent(["enroll", "--server", server.url, "--token", token, "--root", root])
        #expect(enrolled.status == 0, "\(enrolled.stderr)")

        let byod = server.dataDir.appendingPathComponent("byod.yaml")
        try "name: byod\ncheckinInterval: 120\n".write(to: byod, atomically: true, encoding: .utf8)
        #expect(try await server.ctl(admin, ["profiles", "apply", byod.path]).status == 0)
        let assigned = try await server.ctl(admin, ["profiles", "assign", "byod", "--ownership", "personal"])
        #expect(assigned.status == 0, "\(assigned.stderr)")
        // The first run fetches the policy; the second reports it applied.
        #expect(try await agent(["run", "--once", "--root", root]).status == 0)
        #expect(try await agent(["run", "--once", "--root", root]).status == 0)

        let personal = try await devices(server, admin, "personal")
        let device = try #require(personal.first)
        #expect(personal.count == 1)
        #expect(device.facts.hostname == "own-laptop")
        #expect(device.ownership == .personal)
        #expect(device.facts.posture == nil)
        #expect(device.policySources == ["byod@1 (ownership personal)"])
        #expect(device.appliedPolicyHash != nil && device.appliedPolicyHash == device.effectivePolicyHash)
        await #expect(try devices(server, admin, "company").isEmpty)
        let listed = try await server.ctl(admin, ["devices", "list", "--ownership", "personal"])
        #expect(listed.stdout.contains("own-laptop") && listed.stdout.contains("personal"))

        let secure = server.dataDir.appendingPathComponent("secure.yaml")
        try "name: secure\nposture:\n  requireDiskEncryption: true\n".write(to: secure, atomically: true, encoding: .utf8)
        #expect(try await server.ctl(admin, ["profiles", "apply", secure.path]).status == 0)
        let refused = try await server.ctl(admin, ["profiles", "assign", "secure", "--ownership", "personal"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("posture.requireDiskEncryption reaches beyond the work container"), "\(refused.stderr)")
        #expect(try await server.ctl(admin, ["profiles", "assign", "secure", "--ownership", "company"]).status == 0)

        let status = try await agent(["status", "--root", root])
        #expect(status.stdout.contains("ownership:      personal device"), "\(status.stdout)")
        #expect(status.stdout.contains("no security posture"))
    }
}
