import Foundation
import KontorClient
import KontorCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// libfaketime, which moves the server's clock past a request's expiry (Debian's libfaketime).
private let fakeTime = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"].first {
    FileManager.default.fileExists(atPath: $0)
}

private let usable =
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/userdel")
    && fakeTime != nil

/// Four-eyes approval with the real binaries: Ada (a token she owns) asks for a wipe; neither kontorctl nor the
/// console lets her approve it; Bob (a token he owns) approves; the real agent wipes and its receipt arrives; the
/// audit log names both. A second request, left past its expiry (the server's clock moved with libfaketime), never
/// reaches its device.
@Suite("End to end: four-eyes approval of a wipe", .serialized, .enabled(if: usable, "needs root, setpriv, userdel and libfaketime"))
struct ApprovalEndToEndTests {
    func ownedToken(_ server: ServerProcess, name: String, owner: String) async throws -> String {
        let result = try await runCommand(
            Binaries.path("kontor-server"),
            ["admin-token", "create", "--name", name, "--role", "operator", "--purpose", "automation", "--owner", owner, "--data-dir", server.dataDir.path])
        guard result.status == 0 else { throw ClientError.usage("admin-token create failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Enrolls a laptop for Ada under `root` and runs the agent once: the work container exists.
    func laptop(_ server: ServerProcess, _ token: String, _ n: Int) async throws -> (root: String, device: String) {
        let created = try await server.ctl(token, ["enroll-tokens", "create", "--person", "ada@example.org", "--json"])
        let enrollToken = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
        let known = try await deviceIds(server, token)
        let root = server.dataDir.appendingPathComponent("laptop-\(n)").path
        try FileManager.default.createDirectory(atPath: root + "/home/ada", withIntermediateDirectories: true)
        let agent = Binaries.path("kontor-agent")
        let enrolled = try await runCommand(agent, ["enroll", "--server", server.url, "--token", enrollToken, "--root", root])
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        #expect(try await runCommand(agent, ["run", "--once", "--root", root]).status == 0)
        #expect(FileManager.default.fileExists(atPath: root + "/home/work-ada"))
        let device = try #require(try await deviceIds(server, token).subtracting(known).first)
        return (root, device)
    }

    func deviceIds(_ server: ServerProcess, _ token: String) async throws -> Set<String> {
        let listed = try await server.ctl(token, ["devices", "list", "--json"])
        let devices = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        return Set(devices.compactMap { $0["id"] as? String })
    }

    /// Asks for a wipe as `token`; returns the approval ID kontorctl printed.
    func requestWipe(_ server: ServerProcess, _ token: String, device: String) async throws -> String {
        let asked = try await server.ctl(token, ["wipe", device, "--reason", "laptop stolen from the car"])
        #expect(asked.status == 0, "\(asked.stderr)")
        #expect(asked.stdout.contains("waiting for approval"), "\(asked.stdout)")
        let id = try #require(asked.stdout.split(separator: " ").drop { $0 != "request" }.dropFirst().first)
        #expect(asked.stdout.contains("kontorctl approvals approve \(id)"))
        return String(id)
    }

    @Test("Ada asks for a wipe, cannot approve it herself, Bob approves, the agent wipes; a request left to expire never reaches its device")
    func wipeWithApproval() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let ada = try await ownedToken(server, name: "ada-desk", owner: "ada")
        let bob = try await ownedToken(server, name: "bob-desk", owner: "bob")
        #expect(try await server.ctl(admin, ["settings", "approvals", "--wipe", "2"]).stdout.contains("approvals.wipe         2"))
        let profile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Profiles/office-default.yaml").path
        #expect(try await server.ctl(admin, ["profiles", "apply", profile]).status == 0)
        #expect(try await server.ctl(admin, ["profiles", "assign", "office-default", "--default"]).status == 0)
        #expect(try await server.ctl(ada, ["persons", "create", "--email", "ada@example.org", "--name", "Ada Lovelace"]).status == 0)
        let first = try await laptop(server, ada, 1)
        let second = try await laptop(server, ada, 2)

        let id = try await requestWipe(server, ada, device: first.device)
        let own = try await server.ctl(ada, ["approvals", "approve", id])
        #expect(own.status == 1)
        #expect(own.stderr.contains("you asked for this yourself"), "\(own.stderr)")
        let console = ConsoleClient(server: server.url)
        try await console.signIn(ada)
        #expect(try await console.get("/console/approvals").contains("Waiting for a second person"))
        try await console.post("/console/approvals/\(id)/approve")
        #expect(try await console.get("/console/approvals").contains("you asked for this yourself"))
        let agent = Binaries.path("kontor-agent")
        #expect(try await runCommand(agent, ["run", "--once", "--root", first.root]).status == 0)
        #expect(FileManager.default.fileExists(atPath: first.root + "/home/work-ada"), "wiped before anyone approved")

        let approved = try await server.ctl(bob, ["approvals", "approve", id])
        #expect(approved.status == 0, "\(approved.stderr)")
        let wiped = try await runCommand(agent, ["run", "--once", "--root", first.root])
        #expect(wiped.stdout.contains("wiped"), "\(wiped.stdout)\(wiped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: first.root + "/home/work-ada"))
        let entries = try await auditEntries(server, admin)
        #expect(entries.contains { $0["action"] as? String == "device.wipe-receipt" && $0["target"] as? String == first.device })
        let wipe = try #require(entries.first { $0["action"] as? String == "command.wipe" })
        #expect((wipe["actor"] as? String)?.contains("ada-desk") == true)
        #expect(((wipe["detail"] as? [String: Any])?["approvedBy"] as? String)?.contains("bob-desk") == true)
        let listed = try await server.ctl(admin, ["audit", "list"]).stdout
        #expect(listed.contains("approval.approved") && listed.contains("owner bob") && listed.contains("owner ada"))

        try await expiredRequestNeverArrives(server, ada: ada, bob: bob, admin: admin, device: second.device, root: second.root)
    }

    /// Ada's request for the second laptop is left: the server's clock moves past its expiry; Bob's approval is
    /// refused, the request is expired (audited once), and the agent, at its next check-in, is not wiped.
    func expiredRequestNeverArrives(_ server: ServerProcess, ada: String, bob: String, admin: String, device: String, root: String) async throws {
        let agent = Binaries.path("kontor-agent")
        let late = try await requestWipe(server, ada, device: device)
        server.stop()
        // Under libfaketime a Swift program's arguments come out empty: the server reads its settings from the environment.
        server.environment = [
            "LD_PRELOAD": fakeTime ?? "", "FAKETIME": "+25h", "KONTOR_HOST": "127.0.0.1", "KONTOR_PORT": String(server.port),
            "KONTOR_DATA_DIR": server.dataDir.path,
        ]
        try await server.start()
        let refused = try await server.ctl(bob, ["approvals", "approve", late])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("expired"), "\(refused.stderr)")
        #expect(try await server.ctl(admin, ["approvals", "list", "--all"]).stdout.contains("expired"))
        server.stop()
        server.environment = [:]
        try await server.start()
        #expect(try await runCommand(agent, ["run", "--once", "--root", root]).status == 0)
        #expect(FileManager.default.fileExists(atPath: root + "/home/work-ada"), "an expired request reached the device")
        let after = try await auditEntries(server, admin)
        #expect(after.filter { $0["action"] as? String == "approval.expired" }.count == 1)
        #expect(!after.contains { $0["action"] as? String == "command.wipe" && $0["target"] as? String == device })
    }

    func auditEntries(_ server: ServerProcess, _ admin: String) async throws -> [[String: Any]] {
        let audit = try await server.ctl(admin, ["audit", "list", "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]])
    }
}

/// The console as a browser uses it, over real HTTP: cookies kept, the form token read from the last page.
final class ConsoleClient: @unchecked Sendable {
    let server: String
    let transport = HTTP1Transport()
    var cookies: [String: String] = [:]
    var csrf = ""

    init(server: String) { self.server = server }

    @discardableResult
    func get(_ path: String) async throws -> String {
        let exchange = try await transport.send(method: .GET, url: server + path, headers: headers(), body: nil, limit: 1 << 20, timeout: .seconds(10))
        return keep(exchange)
    }

    @discardableResult
    func post(_ path: String, _ fields: [(String, String)] = []) async throws -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = (fields + [("csrf", csrf)]).map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&")
        let exchange = try await transport.send(
            method: .POST, url: server + path, headers: headers() + [("Content-Type", "application/x-www-form-urlencoded")], body: Data(body.utf8),
            limit: 1 << 20, timeout: .seconds(10))
        return keep(exchange)
    }

    func signIn(_ token: String) async throws {
        try await get("/console/sign-in")
        try await post("/console/sign-in", [("token", token)])
        #expect(cookies["kontor_session"] != nil, "console sign-in failed")
    }

    private func headers() -> [(String, String)] {
        cookies.isEmpty ? [] : [("Cookie", cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))]
    }

    private func keep(_ exchange: HTTPExchange) -> String {
        for (name, value) in exchange.headers where name.lowercased() == "set-cookie" {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let cookie = pair.count > 1 ? String(pair[1]) : ""
            if value.contains("Max-Age=0") || cookie.isEmpty { cookies[String(pair[0])] = nil } else { cookies[String(pair[0])] = cookie }
        }
        let page = String(decoding: exchange.body, as: UTF8.self)
        if let range = page.range(of: #"name="csrf" value="[^"]+""#, options: .regularExpression) {
            csrf = String(page[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
        }
        return page
    }
}
