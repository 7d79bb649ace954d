import Foundation
import Testing

/// `kontorctl profiles eval` says what docs/policies.md says it does.
@Suite("kontorctl profiles eval, as documented")
struct ProfileEvalTests {
    var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    @Test("a profile without a time zone is read in UTC and says UTC, not Foundation's GMT", arguments: [[], ["--tz", "UTC"]])
    func utc(extra: [String]) async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-eval-\(UUID().uuidString).yaml")
        try "name: sundays\nquietHours:\n  weekly: {sunday: [all]}\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let text = try await runCommand(Binaries.path("kontorctl"), ["profiles", "eval", file.path, "--at", "2027-03-07T12:00:00Z"] + extra)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("2027-03-07T12:00:00Z (2027-03-07T12:00:00Z UTC) is QUIET: quiet window sunday all"), "\(text.stdout)")
        let json = try await runCommand(Binaries.path("kontorctl"), ["profiles", "eval", file.path, "--at", "2027-03-07T12:00:00Z", "--json"] + extra)
        #expect(json.stdout.contains(#""timeZone" : "UTC""#), "\(json.stdout)")
        #expect(!text.stdout.contains("GMT") && !json.stdout.contains("GMT"))
    }

    @Test("the example of docs/policies.md prints what the docs show")
    func documentedExample() async throws {
        let docs = try String(contentsOf: root.appendingPathComponent("docs/policies.md"), encoding: .utf8)
        let command = "kontorctl profiles eval Profiles/craft-business.yaml --at 2027-03-28T01:30:00Z --json"
        let after = try #require(docs.range(of: command + "\n```\n\n```json\n"), "docs/policies.md no longer shows \(command)")
        let shown = try #require(docs[after.upperBound...].range(of: "```")).lowerBound
        let result = try await runCommand(
            Binaries.path("kontorctl"),
            ["profiles", "eval", root.appendingPathComponent("Profiles/craft-business.yaml").path, "--at", "2027-03-28T01:30:00Z", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(docs[after.upperBound..<shown]))
    }
}
