import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import KontorCore
import KontorSQLite
import KontorStore
import NIOCore
import Testing

@testable import KontorServer

/// A browser as far as the console cares: it keeps cookies, follows nothing by itself, and reads the
/// CSRF token out of the last page.
final class ConsoleBrowser: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var lastPage = ""

    init(_ client: any TestClientProtocol) { self.client = client }

    @discardableResult
    func get(_ path: String) async throws -> TestResponse {
        let response = try await client.execute(uri: path, method: .get, headers: cookieHeader(), body: nil)
        keep(response)
        return response
    }

    /// Posts a form; `csrf: nil` sends the token from the last page, `csrf: ""` sends none.
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)], csrf: String? = nil, origin: String? = nil) async throws -> TestResponse {
        var all = fields
        let token = csrf ?? Self.csrf(in: lastPage)
        if let token, !token.isEmpty { all.append(("csrf", token)) }
        var headers = cookieHeader()
        headers[.contentType] = "application/x-www-form-urlencoded"
        if let origin { headers[.origin] = origin }
        let body = all.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let response = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
        keep(response)
        return response
    }

    /// Signs in with an API token through the sign-in form.
    func signIn(_ token: String) async throws {
        try await get("/console/sign-in")
        let response = try await post("/console/sign-in", [("token", token)])
        #expect(response.status == .seeOther, "sign-in answered \(response.status)")
        #expect(cookies[ConsoleController.sessionCookie] != nil)
    }

    private func cookieHeader() -> HTTPFields {
        var headers = HTTPFields()
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        return headers
    }

    private func keep(_ response: TestResponse) {
        for header in response.headers[values: .setCookie] {
            let pair = header.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            let value = pair.count > 1 ? String(pair[1]) : ""
            if header.contains("Max-Age=0") || value.isEmpty { cookies.removeValue(forKey: name) } else { cookies[name] = value }
        }
        if response.headers[.contentType]?.hasPrefix("text/html") == true { lastPage = String(buffer: response.body) }
    }

    static func csrf(in page: String) -> String? {
        guard let range = page.range(of: #"name="csrf" value="([^"]+)""#, options: .regularExpression) else { return nil }
        return String(page[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var location: String? { headers[.location] }
}

/// A harness with one enrolled, checked-in device for `ada@example.org`.
private func fleet(_ harness: Harness, client: any TestClientProtocol, admin: String, hostname: String = "laptop-7") async throws -> String {
    _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email":"ada@example.org","displayName":"Ada Lovelace","groups":["staff"]}"#)
    let token = try await client.enrollToken(admin, json: #"{"person":"ada@example.org"}"#)
    var facts = sampleFacts
    facts.hostname = hostname
    let (_, response) = try await client.enroll(token: token, facts: facts, at: harness.clock.now)
    #expect(response.status == .created)
    return try #require(try await harness.store.devices(personId: nil).first { $0.facts.hostname == hostname }).id
}

@Suite("Admin console")
struct ConsoleTests {
    @Test("sign-in: the form, a refused token, a missing form token, and a session cookie that is HttpOnly and SameSite=Strict")
    func signIn() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            #expect(try await browser.get("/").location == "/console/sign-in")
            let redirected = try await browser.get("/console/devices?q=x")
            #expect(redirected.status == .seeOther)
            #expect(redirected.location == "/console/sign-in?next=%2Fconsole%2Fdevices%3Fq%3Dx")

            let form = try await browser.get("/console/sign-in")
            #expect(form.status == .ok)
            #expect(form.text.contains(#"<form id="sign-in""#))
            #expect(browser.cookies[ConsoleController.signInCookie] != nil)

            let wrong = try await browser.post("/console/sign-in", [("token", "kat_000000000000_" + String(repeating: "a", count: 43))])
            #expect(wrong.status == .unauthorized)
            #expect(wrong.text.contains("not valid or has been revoked"))
            #expect(browser.cookies[ConsoleController.sessionCookie] == nil)

            let forged = try await browser.post("/console/sign-in", [("token", admin)], csrf: "made-up")
            #expect(forged.status == .forbidden)
            #expect(browser.cookies[ConsoleController.sessionCookie] == nil)

            let ok = try await browser.post("/console/sign-in", [("token", admin), ("next", "/console/devices?q=x")])
            #expect(ok.status == .seeOther)
            #expect(ok.location == "/console/devices?q=x")
            let setCookie = try #require(ok.headers[values: .setCookie].first { $0.hasPrefix(ConsoleController.sessionCookie + "=") })
            #expect(setCookie.contains("HttpOnly"))
            #expect(setCookie.contains("SameSite=Strict"))
            #expect(setCookie.contains("Path=/console"))
            #expect(!setCookie.contains("Secure"))
            // The store keeps only a hash of the session secret.
            let cookie = try #require(browser.cookies[ConsoleController.sessionCookie])
            let presented = try #require(PresentedSecret(cookie, kind: .consoleSession))
            let stored = try #require(try await harness.store.consoleSession(id: presented.id))
            #expect(!cookie.contains(stored.secretHash))
            #expect(presented.matches(storedHash: stored.secretHash))

            let dashboard = try await browser.get("/console")
            #expect(dashboard.status == .ok)
            #expect(dashboard.text.contains("<h1>Dashboard</h1>"))
            #expect(try await browser.get("/").location == "/console")
            // No open redirect after sign-in.
            try await browser.post("/console/sign-out", [])
            try await browser.get("/console/sign-in")
            #expect(try await browser.post("/console/sign-in", [("token", admin), ("next", "//evil.example/")]).location == "/console")
            #expect(try await harness.store.auditEntries(since: nil, target: nil).contains { $0.action == "console.signed-in" })
        }
    }

    @Test("under TLS or behind an https public URL the session cookie is Secure")
    func secureCookie() async throws {
        let harness = try await Harness { $0.publicURL = "https://kontor.example.org" }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            try await browser.get("/console/sign-in")
            let ok = try await browser.post("/console/sign-in", [("token", admin)])
            #expect(ok.headers[values: .setCookie].contains { $0.hasPrefix(ConsoleController.sessionCookie + "=") && $0.contains("Secure") })
        }
    }

    @Test("every page needs a session; every form needs a session, the CSRF token and a same-origin request")
    func everyRouteIsGuarded() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let deviceId = try await fleet(harness, client: client, admin: admin)
            let person = try #require(try await harness.store.person(email: "ada@example.org"))
            func concrete(_ route: String) -> String {
                route.replacingOccurrences(of: "{id}", with: route.contains("persons") ? person.id : deviceId).replacingOccurrences(of: "{name}", with: "x")
                    .replacingOccurrences(of: "{command}", with: "x")
            }
            let routes = harness.consoleRoutes.all
            #expect(routes.count >= 18, "\(routes)")
            let anonymous = ConsoleBrowser(client)
            for route in routes where !route.contains("sign-in") {
                let parts = route.split(separator: " ")
                let path = concrete(String(parts[1]))
                let response = parts[0] == "GET" ? try await anonymous.get(path) : try await anonymous.post(path, [], csrf: "")
                #expect(response.status == .seeOther, "\(route) without a session answered \(response.status)")
                #expect(response.location?.hasPrefix("/console/sign-in") == true, "\(route)")
            }

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let auditBefore = try await harness.store.auditEntries(since: nil, target: nil).count
            for route in routes where route.hasPrefix("POST") && !route.contains("sign-in") {
                let path = concrete(String(route.split(separator: " ")[1]))
                let missing = try await browser.post(
                    path, [("confirm", "laptop-7"), ("reason", "stolen"), ("email", "x@example.org"), ("displayName", "X")], csrf: "")
                #expect(missing.status == .forbidden, "\(route) without a CSRF token answered \(missing.status)")
                #expect(missing.text.contains("expired or was sent from another page"))
                try await browser.get("/console")
                let foreign = try await browser.post(path, [("confirm", "laptop-7"), ("reason", "stolen")], origin: "https://evil.example")
                #expect(foreign.status == .forbidden, "\(route) from another origin answered \(foreign.status)")
            }
            // Nothing was done.
            #expect(try await harness.store.commands(deviceId: deviceId).isEmpty)
            #expect(try await harness.store.auditEntries(since: nil, target: nil).count == auditBefore)
            #expect(try await browser.get("/console").status == .ok, "the session survived the refusals")
        }
    }

    @Test("sessions end after idle time, at their lifetime, on sign-out and when the token is revoked; forged cookies open nothing")
    func sessionLifecycle() async throws {
        let harness = try await Harness {
            $0.consoleIdleTimeout = 600
            $0.consoleSessionLifetime = 3600
        }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            harness.clock.advance(590)
            #expect(try await browser.get("/console").status == .ok)
            harness.clock.advance(601)
            #expect(try await browser.get("/console").status == .seeOther, "idle for longer than the timeout")

            try await browser.signIn(admin)
            for _ in 0..<7 {
                harness.clock.advance(500)
                #expect(try await browser.get("/console").status == .ok)
            }
            harness.clock.advance(200)
            #expect(try await browser.get("/console").status == .seeOther, "past the absolute lifetime")

            try await browser.signIn(admin)
            let cookie = try #require(browser.cookies[ConsoleController.sessionCookie])
            try await browser.get("/console")
            let out = try await browser.post("/console/sign-out", [])
            #expect(out.location == "/console/sign-in")
            #expect(browser.cookies[ConsoleController.sessionCookie] == nil)
            browser.cookies[ConsoleController.sessionCookie] = cookie
            #expect(try await browser.get("/console").status == .seeOther, "a signed-out cookie is dead on the server too")

            browser.cookies[ConsoleController.sessionCookie] = String(cookie.dropLast(4)) + "AAAA"
            #expect(try await browser.get("/console").status == .seeOther, "a forged secret")

            let operatorToken = try await harness.services.tokens.create(name: "olga", role: .operator)
            try await browser.signIn(operatorToken.1)
            _ = try await client.api(.delete, "/api/v1/api-tokens/\(operatorToken.0.id)", token: admin)
            #expect(try await browser.get("/console").status == .seeOther, "the token was revoked")
        }
    }

    @Test("an auditor reads every page but sees no control that writes, and a write is refused with 403")
    func auditorIsReadOnly() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client in
            let deviceId = try await fleet(harness, client: client, admin: admin)
            let person = try #require(try await harness.store.person(email: "ada@example.org"))
            let browser = ConsoleBrowser(client)
            try await browser.signIn(auditor)
            let pages = [
                "/console", "/console/devices", "/console/devices/\(deviceId)", "/console/persons", "/console/persons/\(person.id)",
                "/console/enroll-tokens", "/console/profiles", "/console/quiet-hours", "/console/audit",
            ]
            for page in pages {
                let response = try await browser.get(page)
                #expect(response.status == .ok, "\(page) answered \(response.status)")
                for control in ["wipe-form", "create-enroll-token", "create-person", "offboard-form", "edit-person", "/revoke\""] {
                    #expect(!response.text.contains(control), "\(page) shows \(control) to an auditor")
                }
            }
            try await browser.get("/console/devices/\(deviceId)")
            let wipe = try await browser.post("/console/devices/\(deviceId)/wipe", [("confirm", "laptop-7"), ("reason", "lost on the train")])
            #expect(wipe.status == .forbidden)
            #expect(wipe.text.contains("needs the operator role"))
            #expect(try await harness.store.commands(deviceId: deviceId).isEmpty)
            let token = try await browser.post("/console/enroll-tokens", [("uses", "1")])
            #expect(token.status == .forbidden)
            #expect(try await harness.store.enrollmentTokens().count == 1)
        }
    }

    @Test("the wipe form: the typed name must match, a reason is needed, then the command is queued and audited")
    func wipe() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let operatorToken = try await harness.token(.operator)
        try await harness.test { client in
            let deviceId = try await fleet(harness, client: client, admin: admin)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(operatorToken)
            let page = try await browser.get("/console/devices/\(deviceId)")
            #expect(page.text.contains(#"id="wipe-form""#))
            #expect(page.text.contains("laptop-7"))

            let wrongName = try await browser.post("/console/devices/\(deviceId)/wipe", [("confirm", "laptop-8"), ("reason", "stolen from the van")])
            #expect(wrongName.status == .seeOther)
            #expect(wrongName.location == "/console/devices/\(deviceId)")
            let shown = try await browser.get("/console/devices/\(deviceId)")
            #expect(shown.text.contains("flash-error"))
            #expect(shown.text.contains("type the device name laptop-7 exactly"))
            #expect(try await browser.get("/console/devices/\(deviceId)").text.contains("flash-error") == false, "a message is shown once")

            try await browser.post("/console/devices/\(deviceId)/wipe", [("confirm", "laptop-7"), ("reason", " ")])
            #expect(try await browser.get("/console/devices/\(deviceId)").text.contains("3 to 500 characters"))
            #expect(try await harness.store.commands(deviceId: deviceId).isEmpty)

            try await browser.post("/console/devices/\(deviceId)/wipe", [("confirm", " laptop-7 "), ("reason", "stolen from the van")])
            let commands = try await harness.store.commands(deviceId: deviceId)
            #expect(commands.map(\.type) == [.wipe])
            #expect(commands.first?.reason == "stolen from the van")
            #expect(commands.first?.issuedBy == "test-operator")
            let after = try await browser.get("/console/devices/\(deviceId)")
            #expect(after.text.contains("Wipe queued for laptop-7"))
            #expect(after.text.contains(#"data-command-type="wipe""#))
            #expect(after.text.contains(#"<td class="command-state">queued</td>"#))
            #expect(after.text.contains(#"http-equiv="refresh""#), "the page follows a pending wipe")
            #expect(!after.text.contains(#"id="wipe-form""#), "no second wipe while one is pending")
            let audit = try await harness.store.auditEntries(since: nil, target: deviceId)
            #expect(
                audit.contains {
                    $0.action == "command.wipe" && $0.actor == "token:test-operator (automation)" && $0.detail?["reason"] == "stolen from the van"
                })

            let dashboard = try await browser.get("/console")
            #expect(dashboard.text.contains(#"id="pending-wipes""#))

            // A wipe sent by mistake can be cancelled while it is still queued.
            let wipeId = try #require(commands.first?.id)
            try await browser.get("/console/devices/\(deviceId)")
            try await browser.post("/console/devices/\(deviceId)/commands/\(wipeId)/cancel", [])
            #expect(try await harness.store.command(id: wipeId)?.state == .cancelled)
            let cancelled = try await browser.get("/console/devices/\(deviceId)")
            #expect(cancelled.text.contains("The wipe command is cancelled"))
            #expect(cancelled.text.contains(#"id="wipe-form""#), "a new wipe can be sent")
            #expect(try await harness.store.auditEntries(since: nil, target: deviceId).contains { $0.action == "command.cancelled" })
        }
    }

    @Test("enrollment tokens: created and shown once with the agent command, usable, then revoked")
    func enrollmentTokens() async throws {
        let harness = try await Harness { $0.publicURL = "https://mdm.example.org" }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let empty = try await browser.get("/console/enroll-tokens")
            #expect(empty.text.contains("No enrollment token yet"))
            let created = try await browser.post("/console/enroll-tokens", [("uses", "2"), ("expiresIn", "3600"), ("group", "workshop"), ("person", "")])
            #expect(created.status == .created)
            #expect(created.headers[.cacheControl] == "no-store")
            let secret = try #require(
                created.text.range(of: #"ket_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"#, options: .regularExpression).map { String(created.text[$0]) })
            #expect(created.text.contains("kontor-agent enroll --server https://mdm.example.org --token \(secret)"))
            let stored = try #require(try await harness.store.enrollmentTokens().first)
            #expect(stored.maxUses == 2)
            #expect(stored.group == "workshop")
            #expect(stored.expiresAt == harness.clock.now + 3600)
            let (_, enrolled) = try await client.enroll(token: secret, at: harness.clock.now)
            #expect(enrolled.status == .created, "the shown token enrolls a device")

            let list = try await browser.get("/console/enroll-tokens")
            #expect(!list.text.contains(secret), "the secret is never shown again")
            #expect(list.text.contains("1 of 2"))
            let bad = try await browser.post("/console/enroll-tokens", [("uses", "many")])
            #expect(bad.status == .seeOther)
            #expect(try await browser.get("/console/enroll-tokens").text.contains("uses must be a whole number"))

            try await browser.post("/console/enroll-tokens/\(stored.id)/revoke", [])
            #expect(try await harness.store.enrollmentToken(id: stored.id)?.token.revokedAt != nil)
            #expect(try await browser.get("/console/enroll-tokens").text.contains(#"token-revoked"#))
        }
    }

    @Test("devices: search, filter by state and compliance, sort, paginate; the device page shows facts, policy origins and commands")
    func devices() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            _ = try await fleet(harness, client: client, admin: admin)
            let token = try await client.enrollToken(admin, json: #"{"uses":60}"#)
            for i in 0..<55 {
                var facts = sampleFacts
                facts.hostname = String(format: "pc-%02d", i)
                facts.machineIdHash = "m\(i)"
                _ = try await client.enroll(token: token, facts: facts, at: harness.clock.now)
            }
            let source = """
                name: office
                checkinInterval: 120
                quietHours:
                  timeZone: Europe/Berlin
                  weekly:
                    monday: ["18:00-24:00"]
                """
            #expect(
                try await client.api(.post, "/api/v1/profiles", token: admin, json: try String(decoding: KontorJSON.encode(["source": source]), as: UTF8.self))
                    .status == .created)
            #expect(try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile":"office","scope":"default"}"#).status == .ok)

            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let first = try await browser.get("/console/devices")
            #expect(first.text.contains("Page 1 of 2"))
            #expect(first.text.components(separatedBy: "data-device-id=").count - 1 == 50)
            #expect(first.text.contains(">laptop-7</a>"))
            let second = try await browser.get("/console/devices?page=2")
            #expect(second.text.components(separatedBy: "data-device-id=").count - 1 == 6)
            let search = try await browser.get("/console/devices?q=ada%40example")
            #expect(search.text.components(separatedBy: "data-device-id=").count - 1 == 1)
            let sorted = try await browser.get("/console/devices?q=pc-&sort=hostname&dir=desc")
            let firstRow = try #require(sorted.text.range(of: #"class="device-link"[^>]*>[^<]+"#, options: .regularExpression))
            #expect(sorted.text[firstRow].hasSuffix("pc-54"))
            let never = try await browser.get("/console/devices?compliance=never")
            #expect(never.text.contains(#"Devices <span class="muted">(56)</span>"#))
            let none = try await browser.get("/console/devices?state=wiped")
            #expect(none.text.contains("No device matches these filters"))

            let device = try #require(try await harness.store.devices(personId: nil).first { $0.facts.hostname == "laptop-7" })
            let page = try await browser.get("/console/devices/\(device.id)")
            #expect(page.status == .ok)
            #expect(page.text.contains("office@1 (default)"))
            #expect(page.text.contains("<code>quietHours.weekly</code></td><td>office@1 (default)"))
            #expect(page.text.contains("Debian GNU/Linux 12 (bookworm)"))
            #expect(page.text.contains("Ada Lovelace"))
            #expect(page.text.contains("No command was ever sent"))
            let missing = try await browser.get("/console/devices/nope")
            #expect(missing.status == .notFound)
            #expect(missing.text.contains("no device nope"))
        }
    }

    @Test("persons: add (with a named error for a bad email), escape what people type, export CSV, offboard on a date")
    func persons() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            _ = try await fleet(harness, client: client, admin: admin)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            try await browser.get("/console/persons")
            let bad = try await browser.post("/console/persons", [("email", "not-an-email"), ("displayName", "X")])
            #expect(bad.location == "/console/persons")
            #expect(try await browser.get("/console/persons").text.contains("is not an email address"))

            let added = try await browser.post(
                "/console/persons", [("email", "bob@example.org"), ("displayName", "<script>alert(1)</script> Bob"), ("groups", "office, it")])
            let bob = try #require(try await harness.store.person(email: "bob@example.org"))
            #expect(bob.groups == ["office", "it"])
            #expect(added.location == "/console/persons/\(bob.id)")
            let page = try await browser.get("/console/persons/\(bob.id)")
            #expect(!page.text.contains("<script>alert"))
            #expect(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt; Bob"))

            let csv = try await browser.get("/console/persons/export.csv")
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.text.hasPrefix("id,email,displayName,groups,status,createdAt,activeDevices"))
            #expect(csv.text.contains("ada@example.org"))

            let ada = try #require(try await harness.store.person(email: "ada@example.org"))
            try await browser.get("/console/persons/\(ada.id)")
            let badDate = try await browser.post("/console/persons/\(ada.id)/offboard", [("date", "31.12.2027"), ("time", "17:00"), ("zone", "Europe/Berlin")])
            #expect(badDate.location == "/console/persons/\(ada.id)")
            #expect(try await browser.get("/console/persons/\(ada.id)").text.contains("is not a date"))
            #expect(try await harness.store.offboarding(personId: ada.id) == nil)

            try await browser.post(
                "/console/persons/\(ada.id)/offboard", [("date", "2027-01-29"), ("time", "17:30"), ("zone", "Europe/Berlin"), ("reason", "contract ends")])
            let offboarding = try #require(try await harness.store.offboarding(personId: ada.id))
            #expect(offboarding.wipeAt == ISO8601.date(from: "2027-01-29T16:30:00Z"))
            #expect(offboarding.reason == "contract ends")
            let after = try await browser.get("/console/persons/\(ada.id)")
            #expect(after.text.contains("Offboarding of Ada Lovelace started"))
            #expect(after.text.contains("2027-01-29"))
            #expect(try await browser.get("/console").text.contains("Offboardings in progress"))
            #expect(after.text.contains("cancel-offboarding-form"), "in the notice period the offboarding can be cancelled")
            let cancelled = try await browser.post("/console/persons/\(ada.id)/offboarding/cancel", [])
            #expect(cancelled.location == "/console/persons/\(ada.id)")
            #expect(try await harness.store.offboarding(personId: ada.id) == nil)
            let active = try await browser.get("/console/persons/\(ada.id)")
            #expect(active.text.contains("is cancelled: they are active again") && !active.text.contains("cancel-offboarding-form"))
        }
    }

    @Test("profiles, a revision's source, the quiet-hours week of a person, and the audit log with its chain check")
    func profilesQuietHoursAudit() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            _ = try await fleet(harness, client: client, admin: admin)
            let source = """
                name: office
                description: Feierabend at six
                quietHours:
                  timeZone: UTC
                  weekly:
                    monday: ["18:00-24:00"]
                    saturday: ["00:00-24:00"]
                """
            _ = try await client.api(.post, "/api/v1/profiles", token: admin, json: try String(decoding: KontorJSON.encode(["source": source]), as: UTF8.self))
            _ = try await client.api(.put, "/api/v1/assignments", token: admin, json: #"{"profile":"office","scope":"default"}"#)
            let browser = ConsoleBrowser(client)
            try await browser.signIn(admin)
            let profiles = try await browser.get("/console/profiles")
            #expect(profiles.text.contains("Feierabend at six"))
            #expect(profiles.text.contains("everyone (default)"))
            let profile = try await browser.get("/console/profiles/office")
            #expect(profile.text.contains("monday: [&quot;18:00-24:00&quot;]"))
            #expect(try await browser.get("/console/profiles/office?revision=9").status == .notFound)

            let week = try await browser.get("/console/quiet-hours?person=ada%40example.org&week=2027-01-13")
            #expect(week.status == .ok)
            #expect(week.text.contains("Monday <span class=\"muted\">2027-01-11</span>"))
            #expect(week.text.contains("18:00–24:00"))
            #expect(week.text.contains("00:00–24:00"))
            #expect(week.text.components(separatedBy: #"class="cell quiet""#).count - 1 == 6 + 24)
            #expect(try await browser.get("/console/quiet-hours?week=13.01.2027").status == .badRequest)

            let audit = try await browser.get("/console/audit?action=profile.")
            #expect(audit.text.contains("profile.applied"))
            #expect(!audit.text.contains("person.created"))
            let verified = try await browser.get("/console/audit?verify=1")
            #expect(verified.text.contains(#"id="verify-result""#))
            #expect(verified.text.contains("The chain is intact"))
        }
    }

    @Test("console answers carry a strict Content-Security-Policy, nosniff, no framing and no caching; assets are served")
    func securityHeaders() async throws {
        let harness = try await Harness()
        try await harness.test { client in
            let browser = ConsoleBrowser(client)
            let page = try await browser.get("/console/sign-in")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(page.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.headers[.cacheControl] == "no-store")
            #expect(!page.text.contains("<script>"), "no inline script")
            let css = try await browser.get("/console/static/console.css")
            #expect(css.status == .ok)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            #expect(try await browser.get("/console/static/console.js").status == .ok)
            #expect(try await browser.get("/console/static/nope.js").status == .notFound)
            let missing = try await browser.get("/console/nowhere")
            #expect(missing.status == .notFound)
            #expect(missing.headers[.contentType]?.hasPrefix("text/html") == true)
            // A form that is not a form is refused by name, not with a 500.
            let json = try await client.execute(
                uri: "/console/sign-in", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
            #expect(json.status == .unsupportedMediaType)
        }
    }
}

@Suite("Console formatting")
struct ConsoleFormatTests {
    @Test("relative times, pagination and query strings")
    func format() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let f = ConsoleFormat(now: now, zone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(f.ago(now - 30) == "just now")
        #expect(f.ago(now - 300) == "5 min ago")
        #expect(f.ago(now - 7200) == "2 h ago")
        #expect(f.ago(now - 86_400) == "1 day ago")
        #expect(f.ago(now + 3 * 86_400) == "in 3 days")
        #expect(f.text(now) == "2027-01-15 09:00")
        #expect(f.time(nil) as? Bool == false)
        let pages = ConsoleFormat.paginate(Array(1...120), page: 9, size: 50)
        #expect(pages.page == 3)
        #expect(pages.pages == 3)
        #expect(Array(pages.items) == Array(101...120))
        #expect(ConsoleFormat.paginate([Int](), page: 1, size: 50).pages == 1)
        #expect(ConsoleFormat.query([("q", "a&b=c d"), ("state", ""), ("page", nil), ("sort", "hostname")]) == "?q=a%26b%3Dc%20d&sort=hostname")
        #expect(ConsoleFormat.query([("q", nil)]) == "")
    }

    @Test("a quiet week walks every transition, across midnight and a DST change")
    func quietWeek() throws {
        let policy = QuietHoursPolicy(timeZone: "Europe/Berlin", weekly: ["sunday": ["22:00-06:00"], "wednesday": ["12:30-13:00"]])
        // The week of Sunday 2027-03-28, when Berlin moves to summer time at 02:00.
        let week = QuietWeek(policy: policy, weekOf: ISO8601.date(from: "2027-03-24T12:00:00Z")!)
        #expect(week.days.map(\.date.description) == ["2027-03-22", "2027-03-23", "2027-03-24", "2027-03-25", "2027-03-26", "2027-03-27", "2027-03-28"])
        let wednesday = week.days[2]
        #expect(wednesday.spans.map { week.clock($0.start, dayEnd: wednesday.end) + "-" + week.clock($0.end, dayEnd: wednesday.end) } == ["12:30-13:00"])
        #expect(wednesday.hours[12] == .part)
        #expect(wednesday.hours[11] == .work)
        let sunday = week.days[6]
        #expect(sunday.end.timeIntervalSince(sunday.start) == 23 * 3600, "the DST day is 23 hours long")
        #expect(sunday.spans.map { week.clock($0.start, dayEnd: sunday.end) + "-" + week.clock($0.end, dayEnd: sunday.end) } == ["22:00-24:00"])
        let monday = week.days[0]
        #expect(monday.spans.map { week.clock($0.start, dayEnd: monday.end) + "-" + week.clock($0.end, dayEnd: monday.end) } == ["00:00-06:00"])
        #expect(monday.hours.prefix(6).allSatisfy { $0 == .quiet })
        #expect(monday.hours[6] == .work)
    }

    @Test("same origin: the Host the browser used, or the public URL behind a proxy; anything else is another site")
    func sameOrigin() {
        #expect(ConsoleController.isSameOrigin("http://127.0.0.1:8080", authority: "127.0.0.1:8080", publicURL: nil))
        #expect(ConsoleController.isSameOrigin("https://Kontor.Example.org", authority: "kontor.example.org", publicURL: nil))
        #expect(ConsoleController.isSameOrigin("https://kontor.example.org", authority: "127.0.0.1:8080", publicURL: "https://kontor.example.org/"))
        #expect(ConsoleController.isSameOrigin("https://kontor.example.org:8443", authority: "127.0.0.1:8080", publicURL: "https://kontor.example.org:8443"))
        #expect(
            !ConsoleController.isSameOrigin("https://kontor.example.org.evil.example", authority: "127.0.0.1:8080", publicURL: "https://kontor.example.org"))
        #expect(!ConsoleController.isSameOrigin("http://kontor.example.org", authority: "127.0.0.1:8080", publicURL: "https://kontor.example.org"))
        #expect(!ConsoleController.isSameOrigin("https://evil.example", authority: "kontor.example.org", publicURL: nil))
        #expect(!ConsoleController.isSameOrigin("null", authority: "kontor.example.org", publicURL: nil))
        #expect(!ConsoleController.isSameOrigin("kontor.example.org", authority: "kontor.example.org", publicURL: nil))
    }

    @Test("flash messages survive the cookie round trip; forms decode percent- and plus-encoding")
    func flashAndForms() throws {
        let flash = Flash(kind: .error, text: "Wipe for \"laptop-7\" <refused>; ü")
        #expect(Flash(encoded: flash.encoded) == flash)
        #expect(flash.encoded.allSatisfy { $0.isLetter || $0.isNumber || "+/=".contains($0) })
        #expect(Flash(encoded: "%%%") == nil)
        let fields = try ConsoleForm.parse("confirm=laptop+7&reason=stolen%20%26%20gone&empty=")
        #expect(fields == ["confirm": "laptop 7", "reason": "stolen & gone", "empty": ""])
    }
}
