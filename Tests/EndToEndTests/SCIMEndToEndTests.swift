import Foundation
import KontorCore
import Testing

/// The real server provisioned by independent SCIM software from PyPI: the `scim2-tester` compliance
/// checker, and `scim2-client` playing a directory (create, PATCH, group, deactivate, reactivate, delete),
/// with what Kontor made of it read back through `kontorctl`.
@Suite(
    "SCIM against scim2-tester and scim2-client (PyPI)", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with scim2-tester"))
struct SCIMEndToEndTests {
    static let interop = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop")
    static var python: String { ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"]! }

    struct Row: Decodable {
        var status: String
        var title: String
        var resource: String
        var reason: String
    }

    @Test("scim2-tester's checks of everything Kontor implements pass (discovery, CRUD of users and groups, PATCH add/replace/remove, attributes)")
    func compliance() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let directory = try await server.adminToken(role: .directory, name: "checker")
        let run = try await runCommand(
            Self.python, [Self.interop.appendingPathComponent("scim_check.py").path, "--url", server.url + "/scim/v2", "--token", directory])
        #expect(run.status == 0, "\(run.stderr)")
        let rows = try run.stdout.split(separator: "\n").map { try JSONDecoder().decode(Row.self, from: Data($0.utf8)) }
        #expect(rows.count >= 60, "the checker ran \(rows.count) checks")
        let failed = rows.filter { !["SUCCESS", "COMPLIANT", "ACCEPTABLE", "SKIPPED"].contains($0.status) }
        #expect(failed.isEmpty, "\(failed.map { "\($0.status) \($0.title) \($0.resource): \($0.reason)" }.joined(separator: "\n"))")
        for topic in ["object_creation", "object_query", "object_replacement", "object_deletion", "check_add_attribute", "check_remove_attribute"] {
            #expect(rows.contains { $0.title == topic && $0.resource == "User" && $0.status == "SUCCESS" }, "\(topic) for User")
        }
        #expect(!server.log().contains(directory), "the directory token was logged")
    }

    @Test(
        "a directory provisions Ada: created, renamed, in a group; deactivated → offboarding with the notice period; reactivated → active again; deleted → offboarding"
    )
    func provisioning() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let directory = try await server.adminToken(role: .directory, name: "entra")
        let admin = try await server.adminToken(role: .admin)
        #expect(try await server.ctl(admin, ["settings", "set", "--offboarding-notice-days", "21"]).status == 0)
        func step(_ name: String) async throws -> [String: JSONValueLite] {
            let run = try await runCommand(
                Self.python,
                [Self.interop.appendingPathComponent("scim_provision.py").path, "--url", server.url + "/scim/v2", "--token", directory, "--step", name])
            #expect(run.status == 0, "\(name): \(run.stderr)")
            return try JSONDecoder().decode([String: JSONValueLite].self, from: Data(run.stdout.utf8))
        }
        func show() async throws -> PersonDetail {
            let shown = try await server.ctl(admin, ["persons", "show", "ada@example.org", "--json"])
            #expect(shown.status == 0, "\(shown.stderr)")
            return try KontorJSON.decode(PersonDetail.self, from: Data(shown.stdout.utf8))
        }
        let created = try await step("create")
        #expect(created["displayName"] == .string("Ada King") && created["phone"] == .string("+49 30 1234-567"))
        #expect(created["groups"] == .list(["Lehrkräfte Grundschule"]))
        let ada = try await show()
        #expect(ada.person.displayName == "Ada King" && ada.person.groups == ["Lehrkraefte-Grundschule"] && ada.person.status == .active)

        await #expect(try step("deactivate")["active"] == .bool(false))
        let leaving = try await show()
        #expect(leaving.person.status == .offboarding)
        let wipeAt = try #require(leaving.offboarding?.wipeAt)
        #expect(abs(wipeAt.timeIntervalSince(leaving.offboarding!.requestedAt) - 21 * 86_400) < 5, "the notice period from the settings")
        #expect(leaving.offboarding?.wipesIssuedAt == nil)

        await #expect(try step("reactivate")["active"] == .bool(true))
        let back = try await show()
        #expect(back.person.status == .active && back.offboarding == nil && back.person.id == ada.person.id)

        _ = try await step("delete")
        await #expect(try show().person.status == .offboarding)
        await #expect(try step("deactivate")["id"] == .null, "a deleted user is gone for SCIM")
        let audit = try await server.ctl(admin, ["audit", "list", "--target", "ada@example.org"])
        for action in ["person.created", "person.updated", "person.offboarding", "person.offboarding-cancelled", "person.directory-deleted"] {
            #expect(audit.stdout.contains(action), "\(action) in the audit log")
        }
        #expect(audit.stdout.contains("token:entra"))
        #expect(try await server.ctl(admin, ["audit", "verify"]).status == 0)
    }
}

/// Just enough JSON to read the provisioning script's answers.
enum JSONValueLite: Decodable, Equatable {
    case null
    case bool(Bool)
    case string(String)
    case list([String])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            self = .list(try c.decode([String].self))
        }
    }
}
