import Foundation
import KontorCore
import Testing

@Suite("End to end: kontorctl persons update and import against the real server")
struct PersonImportEndToEndTests {
    @Test("a staff list: the dry run writes nothing, the import adds and updates, a second run changes nothing; an edit by hand is kept in the audit log")
    func importAndEdit() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let op = try await server.adminToken(role: .operator)
        #expect(try await server.ctl(op, ["persons", "create", "--email", "ada@example.org", "--name", "Ada"]).status == 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("staff-\(UUID().uuidString).csv")
        try "email,name,groups\nada@example.org,Ada Lovelace,techs\nbo@example.org,Bo,office\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let dry = try await server.ctl(op, ["persons", "import", file.path, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would add: bo@example.org (Bo) groups office"))
        #expect(dry.stdout.contains("would change: ada@example.org: displayName, groups"))
        #expect(dry.stdout.contains("dry run: nothing was written"))
        #expect(!(try await server.ctl(op, ["persons", "list"]).stdout.contains("bo@example.org")))

        let done = try await server.ctl(op, ["persons", "import", file.path])
        #expect(done.stdout.contains("1 added, 1 changed, 0 unchanged"), "\(done.stdout)\(done.stderr)")
        let again = try await server.ctl(op, ["persons", "import", file.path])
        #expect(again.stdout.contains("0 added, 0 changed, 2 unchanged"), "\(again.stdout)")

        let edited = try await server.ctl(op, ["persons", "update", "bo@example.org", "--add-group", "techs", "--phone", "+49 30 2"])
        #expect(edited.status == 0 && edited.stdout.contains("groups office,techs; phone +49 30 2"), "\(edited.stdout)\(edited.stderr)")
        let bad = try await server.ctl(op, ["persons", "update", "bo@example.org", "--add-group", "a b"])
        #expect(bad.status != 0 && bad.stderr.contains("addGroups[0]"), "\(bad.stderr)")
        // Bo leaves and comes back: a new ID, linked to the old one.
        #expect(try await server.ctl(op, ["persons", "offboard", "bo@example.org"]).status == 0)
        let back = try await server.ctl(op, ["persons", "rehire", "bo@example.org"])
        #expect(back.status == 0 && back.stdout.contains("bo@example.org is back as"), "\(back.stdout)\(back.stderr)")
        let shown = try await server.ctl(op, ["persons", "show", "bo@example.org"])
        #expect(shown.stdout.contains("status:  active") && shown.stdout.contains("(left and came back)"), "\(shown.stdout)")
        #expect(try await server.ctl(op, ["audit", "verify"]).status == 0)
        #expect(try await server.ctl(op, ["audit", "list"]).stdout.contains("person.updated"))
    }
}
