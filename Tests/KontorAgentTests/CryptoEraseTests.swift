import Crypto
import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import Testing

@testable import KontorAgent
@testable import KontorServer

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's work container on a real encrypting file system: the scratch root's /home is a loop-mounted
/// ext4 with the encrypt feature, so the agent makes an encrypted work home and a wipe destroys its key.
@Suite(
    "Crypto-erase of the work container on a real ext4 with the encrypt feature", .serialized,
    .enabled(if: isRoot && LoopExt4.usable, "needs root, useradd and loop mounts"))
struct CryptoEraseTests {
    static let marker = "KONTOR-CRYPTO-ERASE-MARKER-7f3a9c"
    static let markerName = "salary-review-2027-confidential.txt"

    /// A world whose /home is an encrypting ext4.
    static func world() throws -> (AgentWorld, LoopExt4) {
        let world = try AgentWorld()
        let home = world.paths.resolve("/home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        return (world, try LoopExt4(encrypt: true, megabytes: 48, at: home))
    }

    /// `body` with the folder `path` open.
    static func withHome<T>(_ world: AgentWorld, _ path: String = "/home/work-ada", _ body: (Int32) throws -> T) throws -> T {
        let fd = open(world.paths.resolve(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try body(fd)
    }

    static func removeKey(_ world: AgentWorld, _ identifier: FSCrypt.KeyIdentifier) throws -> FSCrypt.Removal {
        // Through /home: a descriptor of the encrypted folder itself would keep it busy.
        try withHome(world, "/home") { try FSCrypt.removeKey(identifier, on: $0) }
    }

    static func keyPresent(_ world: AgentWorld, _ identifier: FSCrypt.KeyIdentifier, in path: String = "/home/work-ada") throws -> Bool? {
        try withHome(world, path) { FSCrypt.keyPresent(identifier, on: $0) }
    }

    /// The work home is encrypted with the stored key (0600), owned by the work account, filled from /etc/skel.
    static func checkEncryptedHome(_ world: AgentWorld) throws -> (raw: [UInt8], identifier: FSCrypt.KeyIdentifier) {
        let stored = try #require(try ContainerCrypto.load(world.paths))
        let uid = AccountManager(paths: world.paths).lookup("work-ada")?.uid
        let policy = try withHome(world) { try FSCrypt.policy(of: $0) }
        #expect(policy == stored.identifier, "the work home is encrypted with the stored key")
        let owner = try withHome(world) { fd -> (UInt32, UInt32) in
            var info = stat()
            return fstat(fd, &info) == 0 ? (info.st_uid, info.st_mode & 0o777) : (0, 0)
        }
        #expect(owner.0 == uid && owner.1 == 0o700)
        var info = stat()
        #expect(stat(ContainerCrypto.keyFile(world.paths), &info) == 0 && info.st_mode & 0o777 == 0o600)
        let skel = (try? FileManager.default.contentsOfDirectory(atPath: world.paths.resolve("/etc/skel"))) ?? []
        for name in skel { #expect(FileManager.default.fileExists(atPath: world.paths.resolve("/home/work-ada/\(name)")), "\(name) from /etc/skel") }
        return stored
    }

    static func writeMarker(_ world: AgentWorld) throws {
        let account = try #require(AccountManager(paths: world.paths).lookup("work-ada"))
        let file = world.paths.resolve("/home/work-ada/\(markerName)")
        try Data(String(repeating: marker + "\n", count: 300).utf8).write(to: URL(fileURLWithPath: file))
        chown(file, account.uid, account.gid)
    }

    @Test(
        "the work home is made encrypted, reported as crypto-erasable, opened again after the key left the kernel; the wipe destroys the key and the image holds no marker"
    )
    func encryptedContainerWipe() async throws {
        let (world, fs) = try Self.world()
        defer { fs.unmount() }
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            let stored = try Self.checkEncryptedHome(world)
            try Self.writeMarker(world)
            _ = try await agent.cycle()
            let device = try #require(try await world.services.directory.device(identity.deviceId))
            #expect(device.compliance?.cryptoErase == "available", "\(String(describing: device.compliance))")

            // A reboot empties the kernel's keys: the next cycle opens the container again with the stored key.
            let removal = try Self.removeKey(world, stored.identifier)
            #expect(removal == .removed)
            let absent = try Self.keyPresent(world, stored.identifier)
            #expect(absent == false)
            _ = try await agent.cycle()
            let present = try Self.keyPresent(world, stored.identifier)
            #expect(present == true)
            #expect(FileManager.default.fileExists(atPath: world.paths.resolve("/home/work-ada/\(Self.markerName)")))

            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("no wipe")
                return
            }
            let receipt = try #require(try await world.services.store.receipts(deviceId: identity.deviceId).first)
            let publicKey = try #require(DeviceKeys.publicKey(base64: device.publicKey))
            let signed = try #require(receipt.signed.verified(by: publicKey))
            // The work folder in /srv/work is on the scratch root's file system, which cannot encrypt: the receipt says
            // it was deleted only (the home was crypto-erased), and the device reported it when it made the folder.
            #expect(
                signed.method == "cryptoErase+delete" && signed.methodNote == "not encrypted, so deleted only: /srv/work/ada",
                "\(signed.method ?? "-") \(signed.methodNote ?? "")")
            let events = try await world.services.store.events(deviceId: identity.deviceId, limit: 200)
            #expect(events.contains { $0.kind == "container.path-unencrypted" && $0.detail?.hasPrefix("/srv/work/ada:") == true })
            #expect(!FileManager.default.fileExists(atPath: ContainerCrypto.keyFile(world.paths)), "the key file is gone")
            let gone = try Self.keyPresent(world, stored.identifier, in: "/home")
            #expect(gone == false)
            world.expectContainerGone()
        }
        let raw = try fs.rawImage()
        #expect(raw.range(of: Data(Self.marker.utf8)) == nil, "the marker is in the disk image in the clear")
        #expect(raw.range(of: Data(Self.markerName.utf8)) == nil, "the file name is in the disk image in the clear")
    }

    @Test(
        "a wipe crashed right after the key was destroyed, or before, ends with one receipt that names the crypto-erase",
        arguments: [WipeStep.measured, .keyDestroyed])
    func crashAroundKeyDestruction(step: WipeStep) async throws {
        let (world, fs) = try Self.world()
        defer { fs.unmount() }
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let crashing = world.agent(HTTP1Transport(), hook: WipeHook { if $0 == step { throw SimulatedCrash($0) } })
            let identity = try await crashing.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await crashing.cycle()
            try Self.writeMarker(world)
            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
            await #expect(throws: SimulatedCrash.self) { try await crashing.cycle() }
            guard case .unenrolled = try await world.agent(HTTP1Transport()).cycle() else {
                Issue.record("the wipe did not finish after a crash at \(step)")
                return
            }
            let receipts = try await world.services.store.receipts(deviceId: identity.deviceId)
            #expect(receipts.count == 1)
            let device = try #require(try await world.services.store.device(id: identity.deviceId))
            let publicKey = try #require(DeviceKeys.publicKey(base64: device.publicKey))
            let signed = try #require(receipts.first?.signed.verified(by: publicKey))
            #expect(signed.method == "cryptoErase+delete")
            world.expectContainerGone()
        }
        let raw = try fs.rawImage()
        #expect(raw.range(of: Data(Self.marker.utf8)) == nil)
    }

    @Test("a locked container's key is out of the kernel (its files unreadable) and back after the unlock; quiet hours take it out when the profile says so")
    func keyFollowsTheLock() async throws {
        let (world, fs) = try Self.world()
        defer { fs.unmount() }
        try await world.prepareAda()
        let marker = world.paths.resolve("/home/work-ada/\(Self.markerName)")
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            let stored = try Self.checkEncryptedHome(world)
            try Self.writeMarker(world)
            func device() async throws -> Device { try #require(try await world.services.directory.device(identity.deviceId)) }

            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .lock, reason: "laptop reported stolen", expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect(try Self.keyPresent(world, stored.identifier, in: "/home") == false, "the key is still in the kernel while locked")
            #expect(!FileManager.default.fileExists(atPath: marker), "a work file name is readable while locked")
            #expect(try await device().compliance?.containerKey == "locked")
            #expect(FileManager.default.fileExists(atPath: ContainerCrypto.keyFile(world.paths)), "the lock destroyed the stored key")

            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .unlock, reason: "found", expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect(try Self.keyPresent(world, stored.identifier) == true)
            #expect((try? String(contentsOfFile: marker, encoding: .utf8))?.hasPrefix(Self.marker) == true)
            _ = try await agent.cycle()
            #expect(try await device().compliance?.containerKey == "loaded")

            // Quiet hours all day, with the key out of the kernel.
            let quiet = wipeProfile.replacingOccurrences(
                of: "offline:",
                with:
                    "quietHours:\n  weekly: {monday: [all], tuesday: [all], wednesday: [all], thursday: [all], friday: [all], saturday: [all], sunday: [all]}\n  lockContainerKey: true\noffline:"
            )
            #expect(quiet != wipeProfile)
            _ = try await world.services.policies.apply(source: quiet, dryRun: false, by: "test")
            _ = try await agent.cycle()
            _ = try await agent.cycle()
            #expect(try Self.keyPresent(world, stored.identifier, in: "/home") == false, "quiet hours with lockContainerKey left the key in")
            _ = try await agent.cycle()
            let events = try await world.services.store.events(deviceId: identity.deviceId, limit: 200).map(\.kind)
            #expect(events.filter { $0 == "container.key-locked" }.count == 2 && events.contains("container.key-loaded"), "\(events)")
        }
    }

    @Test("a work folder outside the home, on another encrypting file system, is encrypted with the container key: locked with it, erased with it")
    func workFolderOnAnotherFileSystem() async throws {
        let (world, fs) = try Self.world()
        defer { fs.unmount() }
        let srv = world.paths.resolve("/srv/work")
        try FileManager.default.createDirectory(atPath: srv, withIntermediateDirectories: true)
        let work = try LoopExt4(encrypt: true, megabytes: 16, at: srv)
        defer { work.unmount() }
        try await world.prepareAda()
        let marker = "KONTOR-WORK-FOLDER-MARKER-52e1"
        let file = world.paths.resolve("/srv/work/ada/angebot.txt")
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            let stored = try Self.checkEncryptedHome(world)
            #expect(try Self.withHome(world, "/srv/work/ada") { try FSCrypt.policy(of: $0) } == stored.identifier, "the work folder is not encrypted")
            #expect((try AccountManager(paths: world.paths).record()?.encryption?.folders) == ["/srv/work/ada"])
            try Data(String(repeating: marker + "\n", count: 200).utf8).write(to: URL(fileURLWithPath: file))

            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .lock, reason: "stolen", expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect(try Self.keyPresent(world, stored.identifier, in: "/srv/work") == false, "the key is still in the work folder's file system")
            #expect(!FileManager.default.fileExists(atPath: file))
            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .unlock, reason: "found", expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect((try? String(contentsOfFile: file, encoding: .utf8))?.hasPrefix(marker) == true)

            _ = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left", expiresIn: nil, by: "test")
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("no wipe")
                return
            }
            let device = try #require(try await world.services.store.device(id: identity.deviceId))
            let publicKey = try #require(DeviceKeys.publicKey(base64: device.publicKey))
            let receipt = try #require(try await world.services.store.receipts(deviceId: identity.deviceId).first?.signed.verified(by: publicKey))
            #expect(receipt.method == "cryptoErase+delete" && receipt.methodNote == nil, "\(receipt.methodNote ?? "")")
            #expect(try Self.keyPresent(world, stored.identifier, in: "/srv/work") == false)
        }
        let raw = try work.rawImage()
        #expect(raw.range(of: Data(marker.utf8)) == nil, "the work folder's marker is in its disk image in the clear")
    }
}
