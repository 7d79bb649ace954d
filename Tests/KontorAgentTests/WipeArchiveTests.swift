import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import KontorAgent
@testable import KontorServer

#if canImport(Glibc)
    import Glibc
#endif

/// A transport that lets everything through but the archive upload, while `blocked` is set.
final class ArchiveBlockingTransport: HTTPTransport {
    let inner: any HTTPTransport
    let blocked = Mutex(true)

    init(inner: any HTTPTransport) { self.inner = inner }

    func send(method: HTTPMethod, url: String, headers: [(String, String)], body: Data?, limit: Int, timeout: TimeAmount) async throws -> HTTPExchange {
        if url.contains("/device/archives"), blocked.withLock({ $0 }) { throw ClientError.transport("connection reset") }
        return try await inner.send(method: method, url: url, headers: headers, body: body, limit: limit, timeout: timeout)
    }
}

extension AgentWorld {
    /// The wipe profile with another retention mode and timeout (a new revision of the same profile).
    func retention(mode: String, timeoutMinutes: Int) async throws {
        let source = wipeProfile.replacingOccurrences(of: "  mode: required", with: "  mode: \(mode)\n  timeoutMinutes: \(timeoutMinutes)")
        #expect(source != wipeProfile)
        _ = try await services.policies.apply(source: source, dryRun: false, by: "test")
    }

    /// Enrolls `agent`, fetches the policy, writes the seeded files and orders a wipe; returns the identity.
    func enrollAndOrderWipe(_ agent: Agent, url: String, token: String) async throws -> AgentIdentity {
        let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
        _ = try await agent.cycle()
        _ = try seedFiles()
        _ = try await services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
        return identity
    }

    /// The device's only receipt, verified with its key.
    func onlyReceipt(_ deviceId: String) async throws -> WipeReceipt {
        let receipts = try await services.store.receipts(deviceId: deviceId)
        #expect(receipts.count == 1)
        let device = try #require(try await services.store.device(id: deviceId))
        let key = try #require(DeviceKeys.publicKey(base64: device.publicKey))
        return try #require(receipts.first?.signed.verified(by: key))
    }
}

/// Extracts a tar file with GNU tar into `directory`.
func untar(_ file: String, into directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let tar = Process()
    tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
    tar.arguments = ["-xf", file, "-C", directory, "--no-same-owner"]
    try tar.run()
    tar.waitForExit()
    #expect(tar.terminationStatus == 0, "tar -xf failed")
}

@Suite("Archive before wipe (retention) on a real agent", .serialized, .enabled(if: isRoot, "needs root, setpriv, useradd and userdel"))
struct WipeArchiveTests {
    @Test("the archive decrypts with the organisation's identity to exactly the retained files; what is not a regular file is named as left out")
    func archiveContents() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            _ = try world.seedFiles()
            let home = world.paths.resolve("/home/work-ada")
            let expected: [String: Data] = [
                "home/work-ada/Documents/customers.csv": Data("customer list".utf8),
                "home/work-ada/Documents/deep/scan.pdf": Data(repeating: 7, count: 10_000),
                "srv/work/ada/offer.odt": Data("offer".utf8),
            ]
            // Outside the retained folders: in the wipe, not in the archive.
            try Data("not retained".utf8).write(to: URL(fileURLWithPath: home + "/notes.txt"))
            // A file of another owner inside a retained folder (as a hard link to one the work account cannot
            // read would be): not work data, never read into the archive.
            try Data("root:$6$secret".utf8).write(to: URL(fileURLWithPath: home + "/Documents/shadow-copy"))
            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("the wipe did not complete")
                return
            }
            let receipt = try await world.onlyReceipt(identity.deviceId)
            let summary = try #require(receipt.archive, "\(receipt.archiveFailed ?? "-")")
            #expect(summary.files == expected.count)
            #expect(summary.leftOut?.contains { $0.contains("Documents/photo-link") && $0.contains("symbolic link") } == true, "\(summary.leftOut ?? [])")
            #expect(summary.leftOut?.contains { $0.contains("Documents/shadow-copy") && $0.contains("owned by UID 0") } == true, "\(summary.leftOut ?? [])")

            let stored = world.services.archives.finalPath(summary.id)
            let sealed = try #require(FileManager.default.contents(atPath: stored))
            #expect(sealed.count == Int(summary.size))
            let plain = try AgeDecryptor.decrypt([UInt8](sealed), identity: organisationIdentity)
            let tarFile = world.root + "-restored.tar"
            try Data(plain).write(to: URL(fileURLWithPath: tarFile))
            let out = world.root + "-restored"
            try untar(tarFile, into: out)
            let found = try FileManager.default.subpathsOfDirectory(atPath: out).filter {
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: out + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
            #expect(Set(found) == Set(expected.keys), "\(found.sorted())")
            for (name, content) in expected { #expect(FileManager.default.contents(atPath: out + "/" + name) == content, "\(name)") }
            #expect(!FileManager.default.fileExists(atPath: Wiper.spoolFile(world.paths)), "the spool file is gone after the wipe")
        }
    }

    @Test("a required archive holds the wipe before the key while the server cannot be reached; past retention.timeoutMinutes the wipe goes ahead and says why")
    func requiredTimesOut() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.retention(mode: "required", timeoutMinutes: 1)
        let wall = SettableClock()
        try await world.live(person: "ada@example.org") { url, token in
            let transport = ArchiveBlockingTransport(inner: HTTP1Transport())
            let agent = world.agent(transport, clock: wall.wall)
            let identity = try await world.enrollAndOrderWipe(agent, url: url, token: token)
            for _ in 0..<2 {
                guard case .failure(let reason, _) = try await agent.cycle() else {
                    Issue.record("the wipe did not wait for the archive")
                    return
                }
                #expect(reason.contains("archive"), "\(reason)")
                let journal = try #require(try Wiper.readJournal(world.paths))
                #expect(journal.done(.archived) && !journal.done(.uploaded) && !journal.done(.keyDestroyed), "\(journal.steps)")
                #expect(FileManager.default.fileExists(atPath: world.paths.resolve("/home/work-ada/Documents/customers.csv")), "deleted before the archive")
                #expect(AccountManager(paths: world.paths).loginAllowed("work-ada") == false, "the container is not locked while the wipe waits")
                var info = stat()
                #expect(stat(Wiper.spoolFile(world.paths), &info) == 0 && info.st_mode & 0o777 == 0o600 && info.st_uid == 0)
                wall.advance(20)
            }
            wall.advance(30)
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("the wipe did not go ahead after the timeout")
                return
            }
            world.expectContainerGone()
            let receipt = try await world.onlyReceipt(identity.deviceId)
            #expect(receipt.archive == nil)
            #expect(receipt.archiveFailed?.contains("within 1 minutes") == true, "\(receipt.archiveFailed ?? "-")")
            #expect(try await world.services.store.archives(deviceId: identity.deviceId).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: Wiper.spoolFile(world.paths)))
        }
    }

    @Test("bestEffort tries the upload once, then wipes and names the failure")
    func bestEffortOnce() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.retention(mode: "bestEffort", timeoutMinutes: 60)
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(ArchiveBlockingTransport(inner: HTTP1Transport()))
            let identity = try await world.enrollAndOrderWipe(agent, url: url, token: token)
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("bestEffort held the wipe")
                return
            }
            let receipt = try await world.onlyReceipt(identity.deviceId)
            #expect(receipt.archive == nil && receipt.archiveFailed?.contains("bestEffort") == true, "\(receipt.archiveFailed ?? "-")")
        }
    }

    @Test("an archive the server refuses for good (larger than archiveMaxBytes) does not hold a required wipe")
    func refusedForGood() async throws {
        let world = try AgentWorld { $0.archiveMaxBytes = 1000 }
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await world.enrollAndOrderWipe(agent, url: url, token: token)
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("a refused archive held the wipe")
                return
            }
            let receipt = try await world.onlyReceipt(identity.deviceId)
            #expect(receipt.archive == nil)
            #expect(
                receipt.archiveFailed?.contains("refused") == true && receipt.archiveFailed?.contains("archiveMaxBytes") == true,
                "\(receipt.archiveFailed ?? "-")")
        }
    }

    @Test("retained paths outside the container are refused: by the server in the profile, by the device under its own rules, never read")
    func boundary() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        let personal = wipeProfile.replacingOccurrences(
            of: "\"/srv/work/{localpart}\"]\n  recipients", with: "\"/srv/work/{localpart}\", \"/home/{localpart}\"]\n  recipients")
        #expect(personal != wipeProfile)
        await #expect(throws: KontorError.self) { try await world.services.policies.apply(source: personal, dryRun: false, by: "test") }
        try await world.live(person: "ada@example.org") { url, token in
            // This device's agent.yaml allows no work roots: /srv/work/ada is not work data here.
            var config = AgentConfig()
            config.workRoots = []
            let agent = world.agent(HTTP1Transport(), config: config)
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            try FileManager.default.createDirectory(atPath: world.paths.resolve("/srv/work/ada"), withIntermediateDirectories: true)
            let personal = try world.seedFiles()
            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("the wipe did not complete")
                return
            }
            world.expectPersonalIntact(personal)
            #expect(FileManager.default.fileExists(atPath: world.paths.resolve("/srv/work/ada/offer.odt")))
            let summary = try #require(try await world.onlyReceipt(identity.deviceId).archive)
            #expect(summary.files == 2, "only the work home's files")
            #expect(summary.leftOut?.contains { $0.hasPrefix("/srv/work/ada:") && $0.contains("outside") } == true, "\(summary.leftOut ?? [])")
        }
    }
}
