import Foundation
import KontorCore
import KontorProfiles
import KontorTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

private let canEnforce =
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")

@Suite("End to end: a profile applied with kontorctl is enforced by real agents", .serialized, .enabled(if: canEnforce, "needs root, setpriv and useradd"))
struct PolicyEndToEndTests {
    struct Endpoint {
        let root: String
        let email: String
    }

    func uid(of account: String, in root: String) throws -> (UInt32, UInt32) {
        let passwd = try String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)
        for line in passwd.split(separator: "\n") {
            let f = line.split(separator: ":")
            if f.count > 3, f[0] == account, let u = UInt32(f[2]), let g = UInt32(f[3]) { return (u, g) }
        }
        throw CommandFailure("no account \(account) in \(root)/etc/passwd")
    }

    /// Starts `command` as the account; returns the process.
    func start(_ command: [String], uid: UInt32, gid: UInt32) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--", "/usr/bin/env", "--default-signal"] + command
        try p.run()
        usleep(300_000)
        return p
    }

    /// The v1 freezer cgroup `pid` is in, if it is in one besides the root.
    func freezerGroup(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2)
            if fields.count == 3, fields[1] == "freezer", fields[2] != "/" { return "/sys/fs/cgroup/freezer" + fields[2] }
        }
        return nil
    }

    func state(_ pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(close, offsetBy: 2)]
    }

    @Test(
        "craft-business in a group: containers are created, quiet hours freeze the container except for the technician on call, the allowlist is enforced, and the server shows compliance"
    )
    func craftBusiness() async throws {
        // The shipped profile, made deterministic for the test: quiet all day every day, and today Lukas is on call.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Profiles/craft-business.yaml")
        var profile = try ProfileYAML.load(try String(contentsOf: url, encoding: .utf8), file: url.path)
        for day in QuietHoursPolicy.weekdays { profile.quietHours?.weekly?[day] = ["all"] }
        let today = WallClockResolver.localDate(of: Date(), in: ZoneInfo(identifier: "Europe/Berlin")!)
        profile.quietHours?.exemptions = [
            Exemption(persons: ["lukas@example.org"], groups: nil, from: today.adding(days: -1), until: today.adding(days: 1), reason: "Notdienst")
        ]

        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let file = server.dataDir.appendingPathComponent("craft-business.yaml")
        try KontorJSON.encode(profile, pretty: true).write(to: file)  // JSON is YAML
        let admin = try await server.adminToken(role: .admin)

        let dry = try await server.ctl(admin, ["profiles", "apply", file.path, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("dry run"))
        #expect(try await server.ctl(admin, ["profiles", "apply", file.path]).status == 0)
        #expect(try await server.ctl(admin, ["profiles", "assign", "craft-business", "--group", "techs"]).status == 0)

        var endpoints: [Endpoint] = []
        for email in ["ada@example.org", "lukas@example.org"] {
            #expect(try await server.ctl(admin, ["persons", "create", "--email", email, "--name", email, "--group", "techs"]).status == 0)
            let created = try await server.ctl(admin, ["enroll-tokens", "create", "--person", email, "--json"])
            let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
            let root = server.dataDir.appendingPathComponent("laptop-\(email.prefix(4))").path
            // The endpoint's package database, for the allowlist's package rules.
            try FileManager.default.createDirectory(atPath: root + "/var/lib", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: root + "/var/lib/dpkg", withDestinationPath: "/var/lib/dpkg")
            let enrolled = try await runCommand(
                Binaries.path("kontor-agent"), ["enroll", "--server", server.url, "--token", token, "--root", root, "--accept-terms", "2026-1"])
            #expect(enrolled.status == 0, "\(enrolled.stderr)")
            let once = try await runCommand(Binaries.path("kontor-agent"), ["run", "--once", "--root", root])
            #expect(once.status == 0, "\(once.stderr)")
            endpoints.append(Endpoint(root: root, email: email))
        }

        // Containers exist, with private homes.
        let (adaUID, adaGID) = try uid(of: "work-ada", in: endpoints[0].root)
        let (lukasUID, lukasGID) = try uid(of: "work-lukas", in: endpoints[1].root)
        #expect(FileManager.default.fileExists(atPath: endpoints[0].root + "/home/work-ada"))
        #expect(FileManager.default.fileExists(atPath: endpoints[1].root + "/srv/work/lukas"))

        // Real work processes: an allowed one in each container, and a forbidden one for Lukas.
        let adaWork = try start(["/usr/bin/sleep", "300"], uid: adaUID, gid: adaGID)
        let lukasWork = try start(["/usr/bin/sleep", "300"], uid: lukasUID, gid: lukasGID)
        let lukasGame = try start(["/usr/bin/perl", "-e", "sleep 300"], uid: lukasUID, gid: lukasGID)
        defer {
            // Thaw the freezer cgroups that still hold a process, so it can die (only this test's: others run
            // beside it), and remove them once it is gone.
            let groups = Set([adaWork, lukasWork, lukasGame].compactMap { freezerGroup(of: $0.processIdentifier) })
            for p in [adaWork, lukasWork, lukasGame] {
                kill(p.processIdentifier, SIGCONT)
                kill(p.processIdentifier, SIGKILL)
            }
            for group in groups { try? Data("THAWED".utf8).write(to: URL(fileURLWithPath: group + "/freezer.state")) }
            for p in [adaWork, lukasWork, lukasGame] { p.waitForExit() }
            for group in groups { rmdir(group) }
        }
        for endpoint in endpoints {
            let run = try await runCommand(Binaries.path("kontor-agent"), ["run", "--once", "--root", endpoint.root])
            #expect(run.status == 0, "\(run.stderr)")
        }

        // Ada's container is frozen; Lukas, on call, keeps working, minus the forbidden process.
        #expect(
            state(adaWork.processIdentifier) == "D" || state(adaWork.processIdentifier) == "T",
            "ada's process: \(String(describing: state(adaWork.processIdentifier)))")
        #expect(state(lukasWork.processIdentifier) == "S")
        #expect(try await eventually(within: 10) { !lukasGame.isRunning }, "the forbidden process still runs")
        #expect(adaUID != lukasUID)

        // The server shows each device's compliance and applied revision.
        let devices = try KontorJSON.decode([Device].self, from: Data(try await server.ctl(admin, ["devices", "list", "--json"]).stdout.utf8))
        let byAccount = Dictionary(uniqueKeysWithValues: devices.compactMap { d in d.compliance?.containerAccount.map { ($0, d) } })
        let ada = try #require(byAccount["work-ada"])
        let lukas = try #require(byAccount["work-lukas"])
        #expect(ada.compliance?.quiet == true)
        #expect(ada.compliance?.containerState == "frozen")
        #expect(lukas.compliance?.quiet == false)
        #expect(lukas.compliance?.quietReason == "on call: Notdienst")
        #expect(lukas.compliance?.violations.map(\.action) == ["terminated"])
        #expect(lukas.compliance?.violations.first?.executable.contains("perl") == true)
        for d in devices {
            #expect(d.appliedPolicyHash == d.effectivePolicyHash)
            #expect(d.policySources == ["craft-business@1 (group techs)"])
        }
        let table = try await server.ctl(admin, ["devices", "list"])
        #expect(table.stdout.contains("COMPLIANCE"))
        #expect(table.stdout.contains("violations:1"))
        let shown = try await server.ctl(admin, ["devices", "show", lukas.id])
        #expect(shown.stdout.contains("on call: Notdienst"))
        #expect(shown.stdout.contains("quiet.end") || shown.stdout.contains("app.violation"))

        // The employee sees the same on the laptop.
        let status = try await runCommand(Binaries.path("kontor-agent"), ["status", "--root", endpoints[0].root])
        #expect(status.stdout.contains("work container: the account work-ada created by this agent with UID"), "\(status.stdout)")
        #expect(status.stdout.contains("(frozen); the company manages only this account"))
        #expect(status.stdout.contains("quiet hours (Feierabend)"))
    }
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
