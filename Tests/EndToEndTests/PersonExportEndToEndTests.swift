import Foundation
import KontorCore
import Testing

@Suite("End to end: kontorctl persons export-data against the real server")
struct PersonExportEndToEndTests {
    @Test("export-data prints the person's JSON to standard output, --html writes a private page, and only an admin may")
    func exportData() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let op = try await server.adminToken(role: .operator)
        #expect(try await server.ctl(op, ["persons", "create", "--email", "ada@example.org", "--name", "Ada <Lovelace>"]).status == 0)
        let page = FileManager.default.temporaryDirectory.appendingPathComponent("ada-\(UUID().uuidString).html")
        defer { try? FileManager.default.removeItem(at: page) }

        let exported = try await server.ctl(admin, ["persons", "export-data", "ada@example.org", "--html", page.path])
        #expect(exported.status == 0, "\(exported.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [String: Any], "\(exported.stdout)")
        #expect((json["person"] as? [String: Any])?["email"] as? String == "ada@example.org")
        #expect(json["format"] as? String == "kontor-person-export/1")
        #expect((json["tables"] as? [String: Int])?["persons"] == 1)
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.contains("What Kontor holds about Ada &lt;Lovelace&gt;"))
        let mode = try FileManager.default.attributesOfItem(atPath: page.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let refused = try await server.ctl(op, ["persons", "export-data", "ada@example.org"])
        #expect(refused.status != 0 && refused.stderr.contains("admin"), "\(refused.stderr)")
        #expect(try await server.ctl(admin, ["audit", "list"]).stdout.contains("person.exported"))
    }
}
