import Crypto
import Foundation
import KontorClient
import KontorCore
import Testing

/// An archive of retained work data through the real server and kontorctl: a device uploads an age-encrypted
/// tar in chunks, an admin lists it, fetches and decrypts it with the organisation's identity, holds it and
/// purges it; the audit chain holds.
@Suite("Archives through the real server and kontorctl", .serialized)
struct ArchiveEndToEndTests {
    @Test("uploaded in chunks, fetched and decrypted to the same tar, held, released, purged (file gone, audited)")
    func archiveLifecycle() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let created = try await server.ctl(admin, ["enroll-tokens", "create", "--json"])
        let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
        let client = try DeviceClient(server: server.url)
        let key = Curve25519.Signing.PrivateKey()
        let facts = DeviceFacts(hostname: "archive-laptop", osRelease: "Debian", kernel: "6.1", machineIdHash: "m-archive-e2e", agentVersion: "0.1.0")
        let enrolled = try await client.enroll(token: token, key: key, facts: facts, acceptedTermsVersion: nil)
        let identity = DeviceIdentity(deviceId: enrolled.deviceId, privateKey: key, serverKey: DeviceKeys.publicKey(base64: enrolled.serverPublicKey)!)

        // The organisation's key pair; the device knows only the recipient.
        var random = SystemRandomNumberGenerator()
        let organisation = AgeIdentity.generate(using: &random)
        let keyFile = server.dataDir.appendingPathComponent("org.key")
        try Data("# created: 2026-12-01\n\(organisation.secretText)\n".utf8).write(to: keyFile)
        let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        var tar = try TarWriter.header(for: TarEntry(name: "Buchhaltung", kind: .directory, mode: 0o755, mtime: 1_800_000_000))
        tar += try TarWriter.header(
            for: TarEntry(name: "Buchhaltung/Rechnungen-2026.ods", kind: .file(size: UInt64(content.count)), mode: 0o644, mtime: 1_800_000_000))
        tar += content + TarWriter.padding(after: UInt64(content.count)) + TarWriter.end()
        let sealed = try AgeEncryptor.encrypt(tar, to: [organisation.recipient], using: &random)
        let id = IdentifierGenerator.uuidV7()
        let announcement = ArchiveAnnouncement(
            id: id, receiptId: nil, size: Int64(sealed.count), sha256: Bytes.sha256Hex(Data(sealed)), files: 1, retainDays: 3650)
        var state = try await client.announceArchive(announcement, identity: identity)
        while state.received < Int64(sealed.count) {
            let start = Int(state.received)
            state = try await client.sendArchiveChunk(
                id: id, offset: state.received, bytes: sealed[start..<min(start + state.chunkSize, sealed.count)], identity: identity)
        }
        #expect(try await client.completeArchive(id: id, identity: identity).state == .complete)

        let listed = try await server.ctl(admin, ["archives", "list"])
        #expect(listed.status == 0 && listed.stdout.contains(id) && listed.stdout.contains("complete"), "\(listed.stdout)\(listed.stderr)")
        let out = server.dataDir.appendingPathComponent("restored.tar").path
        let fetched = try await server.ctl(admin, ["archives", "get", id, "--out", out, "--identity", keyFile.path])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(FileManager.default.contents(atPath: out).map { [UInt8]($0) } == tar, "the decrypted archive is the tar the device made")
        var info = stat()
        #expect(stat(out, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let wrongKey = server.dataDir.appendingPathComponent("wrong.key")
        try Data(AgeIdentity.generate(using: &random).secretText.utf8).write(to: wrongKey)
        let refused = try await server.ctl(admin, ["archives", "get", id, "--out", out + ".2", "--identity", wrongKey.path])
        #expect(refused.status != 0 && refused.stderr.contains("does not open with this identity"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + ".2"))

        #expect(try await server.ctl(admin, ["archives", "hold", id, "--reason", "tax audit 2027"]).status == 0)
        let onHold = try await server.ctl(admin, ["archives", "purge", id, "--reason", "cleanup"])
        #expect(onHold.status != 0 && onHold.stderr.contains("legal hold"), "\(onHold.stderr)")
        #expect(try await server.ctl(admin, ["archives", "release", id]).status == 0)
        #expect(try await server.ctl(admin, ["archives", "purge", id, "--reason", "retention review 2037"]).status == 0)
        #expect(try await server.ctl(admin, ["archives", "show", id]).stdout.contains("purged"))
        let stored = server.dataDir.appendingPathComponent("archives/\(id).age").path
        #expect(!FileManager.default.fileExists(atPath: stored), "the purged archive's file is gone")
        let audit = try await server.ctl(admin, ["audit", "list", "--target", id])
        for action in ["archive.started", "archive.received", "archive.downloaded", "archive.held", "archive.released", "archive.purged"] {
            #expect(audit.stdout.contains(action), "\(action)")
        }
        #expect(try await server.ctl(admin, ["audit", "verify"]).status == 0)
    }
}
