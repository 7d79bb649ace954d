import Foundation
import KontorCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let canWipe =
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/userdel")

@Suite("End to end: offboarding a person wipes every device", .serialized, .enabled(if: canWipe, "needs root, setpriv, useradd and userdel"))
struct OffboardingEndToEndTests {
    @Test(
        "a person with two laptops is offboarded: both containers wiped (one agent killed mid-wipe), personal files kept, two receipts audited, both agents refused"
    )
    func twoLaptops() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let operatorToken = try await server.adminToken(role: .operator, name: "it-desk")
        let profile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Profiles/office-default.yaml").path
        #expect(try await server.ctl(admin, ["profiles", "apply", profile]).status == 0)
        #expect(try await server.ctl(admin, ["profiles", "assign", "office-default", "--default"]).status == 0)
        #expect(try await server.ctl(operatorToken, ["persons", "create", "--email", "ada@example.org", "--name", "Ada Lovelace"]).status == 0)

        let agent = Binaries.path("kontor-agent")
        var roots: [String] = []
        for n in 1...2 {
            let created = try await server.ctl(operatorToken, ["enroll-tokens", "create", "--person", "ada@example.org", "--json"])
            let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
            let root = server.dataDir.appendingPathComponent("laptop-\(n)").path
            try FileManager.default.createDirectory(atPath: root + "/home/ada", withIntermediateDirectories: true)
            try Data("private \(n)".utf8).write(to: URL(fileURLWithPath: root + "/home/ada/holiday-photo.txt"))
            let enrolled = try await runCommand(agent, ["enroll", "--server", server.url, "--token", token, "--root", root])
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            let once = try await runCommand(agent, ["run", "--once", "--root", root])
            #expect(once.status == 0, "\(once.stderr)")
            #expect(FileManager.default.fileExists(atPath: root + "/home/work-ada"), "no work container on laptop \(n)")
            try Data("customer notes".utf8).write(to: URL(fileURLWithPath: root + "/home/work-ada/customer-notes.txt"))
            roots.append(root)
        }

        // Something of the work account runs on laptop 1 and ignores SIGTERM.
        let passwd = try String(contentsOfFile: roots[0] + "/etc/passwd", encoding: .utf8)
        let fields = try #require(passwd.split(separator: "\n").map { $0.split(separator: ":") }.first { $0.first == "work-ada" })
        let stubborn = Process()
        stubborn.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        stubborn.arguments = [
            "--reuid=\(fields[2])", "--regid=\(fields[3])", "--clear-groups", "--", "/usr/bin/env", "--default-signal", "/usr/bin/bash", "-c",
            "trap '' TERM; while :; do sleep 0.1; done",
        ]
        try stubborn.run()
        defer { if stubborn.isRunning { kill(stubborn.processIdentifier, SIGKILL) } }

        let offboard = try await server.ctl(operatorToken, ["persons", "offboard", "ada@example.org", "--reason", "end of contract"])
        #expect(offboard.status == 0, "\(offboard.stderr)")

        // Laptop 1: the agent is killed (SIGKILL) in the middle of deleting, then starts again and finishes.
        let killed = try await runCommand(agent, ["run", "--once", "--root", roots[0]], environment: ["KONTOR_AGENT_TEST_CRASH_AFTER": "deletedFirstPath"])
        #expect(killed.status == SIGKILL, "the crash hook did not fire: \(killed.stderr)")
        #expect(FileManager.default.fileExists(atPath: roots[0] + "/var/lib/kontor/agent/wipe.json"), "no wipe journal after the crash")
        for root in roots {
            let done = try await runCommand(agent, ["run", "--once", "--root", root])
            #expect(done.status == 0, "\(done.stderr)")
            #expect(done.stdout.contains("wiped"))
        }
        #expect(!stubborn.isRunning, "the program that ignored SIGTERM survived the wipe")

        for (n, root) in roots.enumerated() {
            #expect(!FileManager.default.fileExists(atPath: root + "/home/work-ada"), "container still on laptop \(n + 1)")
            #expect(!passwdHas("work-ada", root: root))
            #expect((try? String(contentsOfFile: root + "/home/ada/holiday-photo.txt", encoding: .utf8)) == "private \(n + 1)")
            #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/kontor/agent/device.key"))
            let refused = try await runCommand(agent, ["run", "--once", "--root", root])
            #expect(refused.status != 0)
            let status = try await runCommand(agent, ["status", "--root", root])
            #expect(status.stdout.contains("was wiped"))
        }

        let audit = try await server.ctl(admin, ["audit", "list", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]])
        #expect(entries.filter { $0["action"] as? String == "device.wipe-receipt" }.count == 2)
        #expect(entries.contains { $0["action"] as? String == "person.offboarded" })
        let verify = try await server.ctl(admin, ["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        let shown = try await server.ctl(admin, ["persons", "show", "ada@example.org"])
        #expect(shown.stdout.contains("status:  offboarded"))
        #expect(shown.stdout.components(separatedBy: "revoked, wiped").count == 3, "\(shown.stdout)")
    }

    func passwdHas(_ account: String, root: String) -> Bool {
        ((try? String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)) ?? "").split(separator: "\n").contains { $0.hasPrefix(account + ":") }
    }
}
