import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import NIOHTTP1
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A browser's part of the console sign-in, by hand: cookies kept per name, redirects not followed.
struct SignInBrowser {
    let server: ServerProcess
    let provider: TestProvider
    var cookies: [String: String] = [:]

    mutating func send(_ method: HTTPMethod, _ url: String, form: [String: String]? = nil) async throws -> HTTPExchange {
        var headers = cookies.isEmpty ? [] : [("Cookie", cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "))]
        var body: Data?
        if let form {
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
            headers.append(("Origin", server.url))
            body = Data(form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&").utf8)
        }
        let exchange = try await provider.transport.send(method: method, url: url, headers: headers, body: body, limit: 1 << 20, timeout: .seconds(10))
        for (name, value) in exchange.headers where name.lowercased() == "set-cookie" {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { cookies[pair[0]] = pair[1].isEmpty ? nil : pair[1] }
            if value.contains("Max-Age=0") { cookies[pair[0]] = nil }
        }
        return exchange
    }

    static func location(_ exchange: HTTPExchange) -> String? { exchange.headers.first { $0.0.lowercased() == "location" }?.1 }

    /// Starts at the console, signs in at the provider as `sub`, and returns the callback's answer (the callback
    /// URL too, for a replay).
    mutating func signIn(as sub: String) async throws -> (HTTPExchange, callback: String) {
        let start = try await send(.GET, server.url + "/console/sign-in/oidc?next=%2Fconsole%2Faudit")
        let authorize = try #require(Self.location(start), "no redirect to the provider: \(start.status)")
        #expect(authorize.hasPrefix(provider.url + "/authorize?") && authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="))
        let approved = try await send(.POST, authorize, form: ["sub": sub])
        let callback = try #require(Self.location(approved), "the provider did not send the browser back: \(String(decoding: approved.body, as: UTF8.self))")
        return (try await send(.GET, callback), callback)
    }
}

/// Console sign-in and kontorctl login through an independent OpenID provider (Authlib), with the real
/// kontor-server and kontorctl.
@Suite(
    "Single sign-on end to end (Authlib provider, real server and kontorctl)", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with authlib and flask"))
struct OIDCSignInEndToEndTests {
    /// A provider with Ada (admins), Bob (operators) and Eve (no mapped group), and a server that uses it.
    static func world() async throws -> (TestProvider, ServerProcess) {
        let provider = try await TestProvider(alg: "RS256")
        let server = try ServerProcess()
        try await provider.call(.PUT, "/test/users/bob", json: #"{"name": "Bob Builder", "groups": ["kontor-operators"]}"#)
        try await provider.call(.PUT, "/test/users/eve", json: #"{"name": "Eve", "groups": ["staff"]}"#)
        try await provider.call(
            .PUT, "/test/clients/kontor-console", json: #"{"secret": "s3cret", "redirect_uris": ["\#(server.url)/console/oidc/callback"]}"#)
        try await provider.call(.PUT, "/test/clients/kontorctl", json: #"{"secret": null, "redirect_uris": []}"#)
        let secret = server.dataDir.appendingPathComponent("oidc-secret").path
        _ = FileManager.default.createFile(atPath: secret, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o600])
        server.environment = [
            "KONTOR_OIDC_ISSUER": provider.url, "KONTOR_OIDC_CLIENT_ID": "kontor-console", "KONTOR_OIDC_CLIENT_SECRET_FILE": secret,
            "KONTOR_OIDC_CLI_CLIENT_ID": "kontorctl", "KONTOR_OIDC_ROLES": "kontor-admins=admin,kontor-operators=operator",
        ]
        try await server.start()
        return (provider, server)
    }

    @Test("a person signs in to the console through the provider, is named in the audit log, and signs out; no mapped group gets the no-role page")
    func consoleSignIn() async throws {
        let (provider, server) = try await Self.world()
        defer {
            server.stop()
            provider.stop()
        }
        var browser = SignInBrowser(server: server, provider: provider)
        let (answer, callback) = try await browser.signIn(as: "ada")
        #expect(answer.status == 200 && String(decoding: answer.body, as: UTF8.self).contains("url=/console/audit"))
        #expect(browser.cookies["kontor_session"]?.hasPrefix("kps_") == true)
        let audit = try await browser.send(.GET, server.url + "/console/audit")
        let page = String(decoding: audit.body, as: UTF8.self)
        #expect(audit.status == 200 && page.contains("person:Ada Lovelace &lt;ada&gt;") && page.contains("console.signed-in"))

        // The same callback again (a replayed code and nonce) opens nothing.
        var replay = SignInBrowser(server: server, provider: provider)
        replay.cookies = ["kontor_oidc": URLComponents(string: callback)?.queryItems?.first { $0.name == "state" }?.value ?? ""]
        let replayed = try await replay.send(.GET, callback)
        #expect(replayed.status == 403 && replay.cookies["kontor_session"] == nil)

        // Sign-out ends the session at the server.
        let csrf = try #require(page.range(of: #"name="csrf" value="([^"]+)""#, options: .regularExpression).map { String(page[$0]).split(separator: "\"")[3] })
        let signOut = try await browser.send(.POST, server.url + "/console/sign-out", form: ["csrf": String(csrf)])
        #expect(signOut.status == 303)
        var stale = SignInBrowser(server: server, provider: provider)
        stale.cookies = [
            "kontor_session": try #require(answer.headers.first { $0.1.hasPrefix("kontor_session=") }?.1.split(separator: ";")[0].dropFirst(15)).description
        ]
        #expect(try await stale.send(.GET, server.url + "/console/audit").status == 303, "the ended session opens no page")

        var eve = SignInBrowser(server: server, provider: provider)
        let refused = try await eve.signIn(as: "eve").0
        #expect(refused.status == 403 && String(decoding: refused.body, as: UTF8.self).contains("none of your groups gives a role"))
        #expect(eve.cookies["kontor_session"] == nil)
    }

    @Test(
        "the console refuses the provider's spoiled tokens and a callback that did not start in this browser",
        arguments: [#"{"aud": "someone-else"}"#, #"{"exp": -600}"#, #"{"bad_sig": true}"#, #"{"nonce": "n-replayed"}"#, #"{"iss": "http://evil.example"}"#])
    func spoiled(fault: String) async throws {
        let (provider, server) = try await Self.world()
        defer {
            server.stop()
            provider.stop()
        }
        try await provider.call(.POST, "/test/fault", json: fault)
        var browser = SignInBrowser(server: server, provider: provider)
        let (answer, _) = try await browser.signIn(as: "ada")
        #expect(answer.status == 403 && browser.cookies["kontor_session"] == nil, "\(fault): \(answer.status)")
        #expect(String(decoding: answer.body, as: UTF8.self).contains("refused"))

        // Login CSRF: a callback made in another browser (no state cookie here) signs nobody in.
        var attacker = SignInBrowser(server: server, provider: provider)
        let start = try await attacker.send(.GET, server.url + "/console/sign-in/oidc")
        let approved = try await attacker.send(.POST, try #require(SignInBrowser.location(start)), form: ["sub": "ada"])
        var victim = SignInBrowser(server: server, provider: provider)
        let planted = try await victim.send(.GET, try #require(SignInBrowser.location(approved)))
        #expect(planted.status == 403 && victim.cookies["kontor_session"] == nil)
    }
}

/// `kontorctl login` with the device grant, run as a person would: the code it prints is entered at the provider.
@Suite(
    "kontorctl login end to end (Authlib provider, real server and kontorctl)", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with authlib and flask"))
struct KontorctlLoginEndToEndTests {
    /// Runs `kontorctl login`, enters its code at the provider as `sub`, and waits for it to finish.
    static func login(_ server: ServerProcess, _ provider: TestProvider, as sub: String, config: String) async throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("kontorctl"))
        process.arguments = ["login", "--server", server.url]
        process.environment = ProcessInfo.processInfo.environment.merging(["KONTORCTL_CONFIG": config]) { $1 }.filter { !$0.key.hasPrefix("KONTOR_TOKEN") }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        var printed = ""
        let deadline = Date().addingTimeInterval(20)
        while !printed.contains("enter the code"), Date() < deadline, process.isRunning {
            printed += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        let code = try #require(printed.range(of: #"enter the code [A-Z0-9-]+"#, options: .regularExpression).map { printed[$0].split(separator: " ").last! })
        try await provider.call(.POST, "/device", form: ["user_code": String(code), "sub": sub])
        let rest = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitForExit()
        return CommandResult(
            status: process.terminationStatus, stdout: printed + String(decoding: rest, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func ctl(_ config: String, _ arguments: [String]) async throws -> CommandResult {
        try await runCommand(Binaries.path("kontorctl"), arguments, environment: ["KONTORCTL_CONFIG": config])
    }

    /// Moves the saved session's end into the past, as an hour would.
    static func expire(_ config: String) throws -> [String: Any] {
        var saved = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any])
        saved["expiresAt"] = "2020-01-01T00:00:00Z"
        try JSONSerialization.data(withJSONObject: saved).write(to: URL(fileURLWithPath: config))
        chmod(config, 0o600)
        return saved
    }

    @Test(
        "login keeps a 0600 session, kontorctl acts as the person, renews the session with the refresh token, logout ends it, and a person the provider stopped renewing must log in again"
    )
    func deviceGrant() async throws {
        let (provider, server) = try await OIDCSignInEndToEndTests.world()
        defer {
            server.stop()
            provider.stop()
        }
        let config = server.dataDir.appendingPathComponent("home/kontorctl.json").path
        let login = try await Self.login(server, provider, as: "ada", config: config)
        #expect(login.status == 0 && login.stdout.contains("Signed in as Ada Lovelace (admin)"), "\(login.stdout)\(login.stderr)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let whoami = try await Self.ctl(config, ["whoami"])
        #expect(whoami.status == 0 && whoami.stdout.contains("Ada Lovelace <ada> (admin)"), "\(whoami.stdout)\(whoami.stderr)")

        // An hour on: the next command renews the session through the provider, without asking again.
        let before = try Self.expire(config)
        #expect(try await Self.ctl(config, ["persons", "create", "--email", "ben@example.org", "--name", "Ben"]).status == 0)
        let after = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any])
        #expect(after["sessionToken"] as? String != before["sessionToken"] as? String && after["refreshToken"] as? String != before["refreshToken"] as? String)
        let audit = try await server.ctl(try await server.adminToken(role: .auditor, name: "dpo"), ["audit", "list"])
        #expect(audit.stdout.contains("person:Ada Lovelace <ada>") && audit.stdout.contains("person.created"), "\(audit.stdout)")
        #expect(audit.stdout.components(separatedBy: "api.session-opened").count - 1 == 2)

        // Logout ends the session at the server too: its token opens nothing afterwards.
        let token = try #require(after["sessionToken"] as? String)
        #expect(try await Self.ctl(config, ["logout"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: config))
        let stale = try await server.ctl(token, ["whoami"])
        #expect(stale.status != 0 && stale.stderr.contains("unauthorized"), "\(stale.stdout)\(stale.stderr)")

        // The provider stops renewing (the account was disabled there): within one session lifetime kontorctl stops working.
        #expect(try await Self.login(server, provider, as: "bob", config: config).status == 0)
        try await provider.call(.POST, "/test/revoke/bob")
        _ = try Self.expire(config)
        let refused = try await Self.ctl(config, ["whoami"])
        #expect(refused.status != 0 && refused.stderr.contains("run kontorctl login"), "\(refused.stdout)\(refused.stderr)")
    }
}
