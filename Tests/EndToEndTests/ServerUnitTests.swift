import Foundation
import Testing

/// The repository's root, from this file's place in it.
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private let systemdAnalyze = "/usr/bin/systemd-analyze"

@Suite("The server's systemd units")
struct ServerUnitTests {
    /// The single-instance unit, and an instance of the scaled template.
    static let units = [("Server/kontor-server.service", "kontor-server.service"), ("Server/scaled/kontor-server@.service", "kontor-server@1.service")]

    @Test("each unit raises the open-file limit, so the connection limit keeps a reserve below it", arguments: units.map(\.0))
    func openFileLimit(path: String) throws {
        let text = try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("LimitNOFILE=") }, "\(path) sets no LimitNOFILE")
        let value = try #require(Int(line.dropFirst("LimitNOFILE=".count)))
        #expect(value >= 65_536)
    }

    @Test(
        "systemd-analyze verify accepts each unit, with ExecStart pointing at the built server",
        .enabled(if: FileManager.default.isExecutableFile(atPath: systemdAnalyze)), arguments: units)
    func verifies(path: String, name: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-units-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = try String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/kontor-server", with: Binaries.path("kontor-server"))
        let unit = folder.appendingPathComponent(name)
        try text.write(to: unit, atomically: true, encoding: .utf8)
        let result = try await runCommand(systemdAnalyze, ["verify", unit.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "\(result.stdout)\(result.stderr)")
    }
}
