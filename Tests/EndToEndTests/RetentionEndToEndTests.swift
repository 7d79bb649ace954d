import Foundation
import KontorCore
import KontorTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// libfaketime, which moves a process's clock (Debian's libfaketime; `scripts/test` installs it).
private let fakeTime = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"].first {
    FileManager.default.fileExists(atPath: $0)
}

private let usable =
    getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/userdel") && LoopExt4.usable && fakeTime != nil
    && ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil

/// The whole retention story with the real binaries: a work container on an ext4 with the encrypt feature,
/// an offboarding with `retention.mode: required`, the agent killed right after each new step of the wipe
/// journal; the archive reaches the server once, pyrage (the organisation's side, an independent age
/// implementation whose key the profile names) decrypts it to the very files, the container key is gone and
/// the raw disk image holds none of the work data's markers; the retention ends (the server's clock moved
/// with libfaketime) and the archive is purged and audited.
@Suite(
    "End to end: archive before crypto-erase, on a real encrypting ext4", .serialized,
    .enabled(if: usable, "needs root, useradd, loop mounts, libfaketime and KONTOR_INTEROP_PYTHON with pyrage"))
struct RetentionEndToEndTests {
    static let markers = ["KONTOR-RETAINED-INVOICE-4c1d", "KONTOR-RETAINED-CONTRACT-91be", "KONTOR-NOT-RETAINED-NOTES-77aa"]
    static let personalMarker = "KONTOR-PERSONAL-HOLIDAY-2f60"
    let python = ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] ?? "python3"
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Interop/age_interop.py").path

    /// The retained files, by their name in the archive, and their contents: one spans several upload chunks.
    static func retainedFiles() -> [String: Data] {
        var big = Data()
        var random = SystemRandomNumberGenerator()
        for i in 0..<12_000 { big += Data("\(markers[1]) line \(i) \(random.next() % 1_000_000)\n".utf8) }
        return [
            "home/work-ada/Documents/Rechnung-2026-0042.txt": Data(String(repeating: markers[0] + "\n", count: 50).utf8),
            "home/work-ada/Documents/Verträge/Rahmenvertrag Müller GmbH.txt": big,
        ]
    }

    @Test(
        "offboarding with retention required: one archive that pyrage decrypts to the same files, key gone, no marker in the image, purged after the retention; the agent killed after each new step",
        arguments: ["archived", "uploadStarted", "uploaded", "keyDestroyed"])
    func archiveThenCryptoErase(crashAfter: String) async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let keys = server.dataDir.appendingPathComponent("org")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        let keygen = try await runCommand(python, [script, "keygen", keys.path])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let recipient = try String(contentsOf: keys.appendingPathComponent("org.recipient"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let profile = server.dataDir.appendingPathComponent("retention.yaml")
        try Data(
            """
            apiVersion: kontor/v1
            kind: Profile
            name: retention
            container:
              accountPattern: work-{localpart}
            retention:
              paths: ["/home/{account}/Documents"]
              recipients: ["\(recipient)"]
              retainDays: 1
              mode: required
            """.utf8
        ).write(to: profile)
        #expect(try await server.ctl(admin, ["profiles", "apply", profile.path]).status == 0)
        #expect(try await server.ctl(admin, ["profiles", "assign", "retention", "--default"]).status == 0)
        #expect(try await server.ctl(admin, ["persons", "create", "--email", "ada@example.org", "--name", "Ada Lovelace"]).status == 0)

        // The laptop: its /home is an ext4 with the encrypt feature; Ada's own files sit beside the container.
        let root = server.dataDir.appendingPathComponent("laptop").path
        try FileManager.default.createDirectory(atPath: root + "/home", withIntermediateDirectories: true)
        let fs = try LoopExt4(encrypt: true, megabytes: 48, at: root + "/home")
        defer { fs.unmount() }
        try FileManager.default.createDirectory(atPath: root + "/home/ada", withIntermediateDirectories: true)
        try Data(Self.personalMarker.utf8).write(to: URL(fileURLWithPath: root + "/home/ada/holiday.txt"))

        let agent = Binaries.path("kontor-agent")
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--person", "ada@example.org", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
        #expect(try await runCommand(agent, ["enroll", "--server", server.url, "--token", token, "--root", root]).status == 0)
        let first = try await runCommand(agent, ["run", "--once", "--root", root])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(FileManager.default.fileExists(atPath: root + "/var/lib/kontor/agent/container-key.json"), "the work home was not made encrypted")
        let files = Self.retainedFiles()
        try writeWorkFiles(files, root: root)
        #expect(try await runCommand(agent, ["run", "--once", "--root", root]).status == 0)
        let deviceId = try #require(try await onlyDevice(server, admin))
        let before = try await server.ctl(admin, ["devices", "show", deviceId]).stdout
        #expect(Self.field(before, "crypto-erase")?.hasPrefix("available") == true, "\(before)")

        let offboard = try await server.ctl(admin, ["persons", "offboard", "ada@example.org", "--reason", "end of contract"])
        #expect(offboard.status == 0, "\(offboard.stderr)")
        let killed = try await runCommand(agent, ["run", "--once", "--root", root], environment: ["KONTOR_AGENT_TEST_CRASH_AFTER": crashAfter])
        #expect(killed.status == SIGKILL, "the crash hook did not fire after \(crashAfter): \(killed.stderr)")
        let done = try await runCommand(agent, ["run", "--once", "--root", root])
        #expect(done.status == 0 && done.stdout.contains("wiped"), "\(done.stdout)\(done.stderr)")

        // One archive, the one the receipt names; the receipt also names the crypto-erase.
        let listed = try await server.ctl(admin, ["archives", "list", "--json"])
        let archives = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        #expect(archives.count == 1, "\(listed.stdout)")
        let archiveId = try #require(archives.first?["id"] as? String)
        #expect(archives.first?["state"] as? String == "complete")
        let shown = try await server.ctl(admin, ["devices", "show", deviceId]).stdout
        #expect(Self.field(shown, "erased by") == "cryptographic erase, then deletion", "\(shown)")
        #expect(Self.field(shown, "archive")?.hasPrefix("\(archiveId): 2 files") == true, "\(shown)")
        #expect(Self.field(shown, "wipe receipt")?.hasSuffix("signature verified") == true, "\(shown)")

        let audit = try await server.ctl(admin, ["audit", "list", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]])
        let receipts = entries.filter { $0["action"] as? String == "device.wipe-receipt" }
        #expect(receipts.count == 1, "one receipt, whatever step the agent was killed at")
        let detail = receipts.first?["detail"] as? [String: String]
        #expect(detail?["archive"]?.hasPrefix(archiveId) == true && detail?["archive"]?.contains("(held by the server)") == true, "\(detail ?? [:])")
        #expect(detail?["method"] == "cryptoErase+delete")

        // The organisation decrypts it with pyrage, to exactly the files that were there.
        let fetched = server.dataDir.appendingPathComponent("fetched.age").path
        #expect(try await server.ctl(admin, ["archives", "get", archiveId, "--out", fetched]).status == 0)
        let out = server.dataDir.appendingPathComponent("restored").path
        let extracted = try await runCommand(python, [script, "extract", fetched, keys.appendingPathComponent("org.identity").path, out])
        #expect(extracted.status == 0, "\(extracted.stderr)")
        let names = try #require((try JSONSerialization.jsonObject(with: Data(extracted.stdout.utf8)) as? [String: Any])?["files"] as? [String: String])
        #expect(Set(names.keys) == Set(files.keys), "\(names.keys.sorted())")
        for (name, content) in files { #expect(FileManager.default.contents(atPath: out + "/" + name) == content, "\(name) differs") }

        // The key is gone and the disk holds no work data in the clear; Ada's own file is still there (and the
        // image search finds it: the check can see plaintext where there is some).
        #expect(!FileManager.default.fileExists(atPath: root + "/var/lib/kontor/agent/container-key.json"))
        #expect(!FileManager.default.fileExists(atPath: root + "/home/work-ada"))
        let raw = try fs.rawImage()
        for marker in Self.markers { #expect(raw.range(of: Data(marker.utf8)) == nil, "\(marker) is in the disk image in the clear") }
        #expect(raw.range(of: Data(Self.personalMarker.utf8)) != nil, "the image search does not see plaintext")
        #expect((try? String(contentsOfFile: root + "/home/ada/holiday.txt", encoding: .utf8)) == Self.personalMarker)

        try await endOfRetention(server, admin, archiveId: archiveId)
    }

    /// Kept while the retention runs; once it is over (the server restarted two days later), purged and audited.
    func endOfRetention(_ server: ServerProcess, _ admin: String, archiveId: String) async throws {
        #expect(try await server.ctl(admin, ["archives", "purge", "--due"]).stdout.contains("0 archives purged"))
        server.stop()
        // Under libfaketime a Swift program's CommandLine.arguments comes out empty (seen with Swift 6.3 and
        // libfaketime 0.9.10), so the restarted server takes its settings from the environment instead.
        server.environment = [
            "LD_PRELOAD": fakeTime ?? "", "FAKETIME": "+2d", "KONTOR_HOST": "127.0.0.1", "KONTOR_PORT": String(server.port),
            "KONTOR_DATA_DIR": server.dataDir.path,
        ]
        try await server.start()
        var state = ""
        for _ in 0..<100 {
            state = try await server.ctl(admin, ["archives", "show", archiveId]).stdout
            if state.contains("purged") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(state.contains("purged"), "\(state)")
        #expect(!FileManager.default.fileExists(atPath: server.dataDir.appendingPathComponent("archives/\(archiveId).age").path))
        let audit = try await server.ctl(admin, ["audit", "list", "--target", archiveId])
        for action in ["archive.started", "archive.received", "archive.downloaded", "archive.purged"] {
            #expect(audit.stdout.contains(action), "\(action): \(audit.stdout)")
        }
        let verify = try await server.ctl(admin, ["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// Work files in the container, owned by the work account (as it would write them), and one outside the
    /// retained folder.
    func writeWorkFiles(_ files: [String: Data], root: String) throws {
        let passwd = try String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)
        let fields = try #require(passwd.split(separator: "\n").map { $0.split(separator: ":") }.first { $0.first == "work-ada" })
        let (uid, gid) = (try #require(UInt32(fields[2])), try #require(UInt32(fields[3])))
        var written = Set<String>()
        for (name, content) in files.merging(["home/work-ada/notes.txt": Data(Self.markers[2].utf8)], uniquingKeysWith: { $1 }) {
            var folder = root
            for part in name.split(separator: "/").dropLast() {
                folder += "/" + part
                if !written.contains(folder) && folder.hasPrefix(root + "/home/work-ada/") {
                    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
                    chown(folder, uid, gid)
                    written.insert(folder)
                }
            }
            try content.write(to: URL(fileURLWithPath: root + "/" + name))
            chown(root + "/" + name, uid, gid)
        }
    }

    /// The value of `label` in kontorctl's field listing.
    static func field(_ output: String, _ label: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix(label + " ") }.map { $0.dropFirst(label.count).trimmingCharacters(in: .whitespaces) }
    }

    func onlyDevice(_ server: ServerProcess, _ admin: String) async throws -> String? {
        let listed = try await server.ctl(admin, ["devices", "list", "--json"])
        return (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])?.first?["id"] as? String
    }
}
