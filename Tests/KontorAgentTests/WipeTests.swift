import Crypto
import Foundation
import KontorClient
import KontorCore
import Synchronization
import Testing

@testable import KontorAgent
@testable import KontorServer

#if canImport(Glibc)
    import Glibc
#endif

/// A boot clock the test moves by hand, reboots included.
final class TestBootClock: Sendable {
    private let current = Mutex<(String, Double)>(("boot-1", 1_000))
    func advance(_ seconds: Double) { current.withLock { $0.1 += seconds } }
    func reboot() { current.withLock { $0 = ("boot-\(UUID().uuidString)", 5) } }
    var clock: BootClock { BootClock { self.current.withLock { (boot: $0.0, seconds: $0.1) } } }
}

/// A wall clock the test sets, also backwards.
final class SettableClock: Sendable {
    private let current = Mutex(Date())
    func set(_ date: Date) { current.withLock { $0 = date } }
    func advance(_ seconds: Double) { current.withLock { $0 += seconds } }
    var wall: WallClock { WallClock { self.current.withLock { $0 } } }
}

/// The organisation's age identity the wipe tests' archives are encrypted to.
let organisationIdentity: AgeIdentity = {
    var random = SystemRandomNumberGenerator()
    return AgeIdentity.generate(using: &random)
}()

let wipeProfile = """
    apiVersion: kontor/v1
    kind: Profile
    name: wipe-test
    checkinInterval: 60
    container:
      accountPattern: work-{localpart}
      extraWorkPaths: ["/srv/work/{localpart}"]
    offline:
      lockAfter: 1
      wipeAfter: 2
    retention:
      paths: ["/home/{account}/Documents", "/srv/work/{localpart}"]
      recipients: ["\(organisationIdentity.recipient)"]
      retainDays: 3650
      mode: required
    """

extension AgentWorld {
    /// Ada, with a default profile that gives her a work container, a work path and a dead-man switch.
    func prepareAda() async throws {
        _ = try await services.directory.createPerson(.init(email: "ada@example.org", displayName: "Ada", groups: []))
        _ = try await services.policies.apply(source: wipeProfile, dryRun: false, by: "test")
        _ = try await services.policies.assign(profile: "wipe-test", scope: "default", target: nil, by: "test")
    }

    /// Work data in the container and personal data beside it; returns the personal files and their content.
    func seedFiles() throws -> [String: String] {
        let account = try #require(AccountManager(paths: paths).lookup("work-ada"))
        let home = paths.resolve("/home/work-ada")
        try FileManager.default.createDirectory(atPath: home + "/Documents/deep", withIntermediateDirectories: true)
        try Data("customer list".utf8).write(to: URL(fileURLWithPath: home + "/Documents/customers.csv"))
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: home + "/Documents/deep/scan.pdf"))
        try Data("offer".utf8).write(to: URL(fileURLWithPath: paths.resolve("/srv/work/ada/offer.odt")))
        for path in [
            home + "/Documents", home + "/Documents/deep", home + "/Documents/customers.csv", home + "/Documents/deep/scan.pdf",
            paths.resolve("/srv/work/ada/offer.odt"),
        ] {
            chown(path, account.uid, account.gid)
        }
        var personal: [String: String] = [:]
        for (path, text) in [("/home/ada/holiday-photo.txt", "private"), ("/srv/personal.txt", "mine"), ("/home/ada/.bashrc", "alias ll='ls -l'")] {
            try FileManager.default.createDirectory(atPath: (paths.resolve(path) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: URL(fileURLWithPath: paths.resolve(path)))
            personal[path] = text
        }
        // A link from the work home to a personal file: the wipe removes the link, never the file.
        try FileManager.default.createSymbolicLink(atPath: home + "/Documents/photo-link", withDestinationPath: paths.resolve("/home/ada/holiday-photo.txt"))
        try FileManager.default.createSymbolicLink(atPath: home + "/personal-dir-link", withDestinationPath: paths.resolve("/home/ada"))
        return personal
    }

    func expectPersonalIntact(_ personal: [String: String]) {
        for (path, text) in personal {
            #expect((try? String(contentsOfFile: paths.resolve(path), encoding: .utf8)) == text, "personal file \(path) was touched")
        }
    }

    func expectContainerGone() {
        #expect(!FileManager.default.fileExists(atPath: paths.resolve("/home/work-ada")), "work home still there")
        #expect(!FileManager.default.fileExists(atPath: paths.resolve("/srv/work/ada")), "work path still there")
        #expect(AccountManager(paths: paths).lookup("work-ada") == nil, "work account still there")
        #expect(AccountManager(paths: paths).groupID("work-ada") == nil, "work group still there")
    }
}

@Suite("Wipe on a real agent", .serialized, .enabled(if: isRoot, "needs root, setpriv, useradd and userdel"))
struct WipeTests {
    @Test("a wipe crashed after any step resumes at the next start and ends with exactly one receipt", arguments: WipeStep.allCases)
    func crashAfterEveryStep(step: WipeStep) async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let crashing = world.agent(HTTP1Transport(), hook: WipeHook { if $0 == step { throw SimulatedCrash($0) } })
            let identity = try await crashing.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await crashing.cycle()
            let personal = try world.seedFiles()
            let account = try #require(AccountManager(paths: world.paths).lookup("work-ada"))
            // A program of the work account that ignores SIGTERM and keeps writing into the container.
            let log = world.paths.resolve("/home/work-ada/live.log")
            let stubborn = try TestProcess(
                uid: account.uid, gid: account.gid, command: ["/usr/bin/bash", "-c", "trap '' TERM; while :; do echo x >> \(log); sleep 0.02; done"])
            defer { stubborn.stop() }
            let wipe = try await world.services.commands.issue(deviceId: identity.deviceId, type: .wipe, reason: "left the company", expiresIn: nil, by: "test")

            await #expect(throws: SimulatedCrash.self) { try await crashing.cycle() }

            // The agent starts again (the service restarts after the crash).
            let restarted = world.agent(HTTP1Transport())
            let outcome = try await restarted.cycle()
            guard case .unenrolled(let receiptId) = outcome else {
                Issue.record("after a crash at \(step): \(outcome)")
                return
            }
            let store = world.services.store
            let receipts = try await store.receipts(deviceId: identity.deviceId)
            #expect(receipts.count == 1)
            #expect(receipts.first?.id == receiptId)
            #expect(try await store.auditEntries(since: nil, target: identity.deviceId).filter { $0.action == "device.wipe-receipt" }.count == 1)
            #expect(try await store.command(id: wipe.id)?.state == .succeeded)
            let device = try #require(try await store.device(id: identity.deviceId))
            #expect(device.status == .revoked)
            #expect(device.wipeConfirmedAt != nil)

            world.expectContainerGone()
            world.expectPersonalIntact(personal)
            #expect(!stubborn.alive, "the program that ignored SIGTERM still runs")
            #expect(!FileManager.default.fileExists(atPath: world.paths.keyFile))
            #expect(!FileManager.default.fileExists(atPath: world.paths.identityFile))
            #expect(FileManager.default.fileExists(atPath: world.paths.tombstoneFile))

            // The receipt is the device's, signed, and says what went.
            let publicKey = try #require(DeviceKeys.publicKey(base64: device.publicKey))
            let receipt = try #require(receipts.first?.signed.verified(by: publicKey))
            #expect(receipt.commandId == wipe.id)
            #expect(receipt.accountRemoved)
            // This scratch root's file system cannot encrypt: the wipe deletes, and the receipt says why.
            #expect(receipt.method == "delete" && receipt.methodNote?.isEmpty == false, "\(receipt.method ?? "-"): \(receipt.methodNote ?? "-")")
            let home = try #require(receipt.removed.first { $0.path == "/home/work-ada" })
            #expect(home.existed && home.files >= 3 && home.bytes >= 10_000)
            #expect(receipt.removed.first { $0.path == "/srv/work/ada" }?.files == 1)
            if step == .journaled { #expect(receipt.processesKilled >= 1) }
            // Before the key went, the retained folders went to the server: one archive, the one the receipt names.
            let archives = try await store.archives(deviceId: identity.deviceId)
            #expect(archives.count == 1 && archives.first?.state == .complete, "\(archives)")
            let archive = try #require(receipt.archive, "no archive in the receipt: \(receipt.archiveFailed ?? "-")")
            #expect(archives.first?.id == archive.id && archives.first?.sha256 == archive.sha256 && archives.first?.receiptId == receipt.id)
            #expect(archive.files == 3, "customers.csv, scan.pdf, offer.odt (the symlink is left out): \(archive.files)")

            // Nothing more happens: the agent is unenrolled and the server refuses the old key.
            await #expect(throws: AgentError.self) { try await restarted.cycle() }
        }
    }

    @Test("a revoked device wipes itself when the server says so in a signed reply, and its receipt is accepted")
    func revokedDeviceWipes() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            let personal = try world.seedFiles()
            #expect(try await world.services.revokeDevice(id: identity.deviceId))
            guard case .unenrolled = try await agent.cycle() else {
                Issue.record("a revoked device did not wipe")
                return
            }
            world.expectContainerGone()
            world.expectPersonalIntact(personal)
            let receipts = try await world.services.store.receipts(deviceId: identity.deviceId)
            #expect(receipts.map(\.trigger) == ["revoked"])
            #expect(try await world.services.store.device(id: identity.deviceId)?.wipeConfirmedAt != nil)
        }
    }

    @Test("an unsigned device_revoked (a proxy, an attacker) wipes nothing")
    func unsignedRevocationIgnored() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let transport = FaultyTransport(inner: HTTP1Transport())
            let agent = world.agent(transport)
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            #expect(try await world.services.revokeDevice(id: identity.deviceId))
            transport.fault = .unsigned
            guard case .failure = try await agent.cycle() else {
                Issue.record("accepted an unsigned revocation")
                return
            }
            #expect(AccountManager(paths: world.paths).lookup("work-ada") != nil)
            #expect(FileManager.default.fileExists(atPath: world.paths.keyFile))
        }
    }

    @Test("lock, unlock and sync take effect once however often they are delivered, and are acknowledged")
    func commandsOnce() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport())
            let identity = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false)
            _ = try await agent.cycle()
            let lock = try await world.services.commands.issue(deviceId: identity.deviceId, type: .lock, reason: nil, expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect(try agent.store.state().enforcement.adminLocked)
            #expect(AccountManager(paths: world.paths).loginAllowed("work-ada") == false)
            #expect(try await world.services.store.command(id: lock.id)?.state == .succeeded)
            let device = try await world.services.directory.device(identity.deviceId)
            #expect(device.compliance?.containerState == "locked")

            // The same command again (a lost acknowledgement): the same answer, no second effect.
            var state = try agent.store.state()
            let events = state.enforcement.events.count
            let (_, again) = agent.handle([lock.wire], state: &state, now: Date())
            #expect(again)
            #expect(state.enforcement.events.count == events)
            #expect(state.pendingAcks.map(\.id) == [lock.id])
            #expect(state.pendingAcks.first?.state == .succeeded)

            let unlock = try await world.services.commands.issue(deviceId: identity.deviceId, type: .unlock, reason: nil, expiresIn: nil, by: "test")
            let sync = try await world.services.commands.issue(deviceId: identity.deviceId, type: .sync, reason: nil, expiresIn: nil, by: "test")
            _ = try await agent.cycle()
            #expect(try agent.store.state().enforcement.adminLocked == false)
            #expect(AccountManager(paths: world.paths).loginAllowed("work-ada"))
            #expect(try await world.services.store.command(id: unlock.id)?.state == .succeeded)
            #expect(try await world.services.store.command(id: sync.id)?.state == .succeeded)
            #expect(try agent.store.state().pendingAcks.isEmpty)
        }
    }

    @Test("offline too long: locked, then wiped by the agent itself; setting the clock back postpones nothing; the receipt goes out once online")
    func deadManSwitch() async throws {
        let world = try AgentWorld()
        try await world.prepareAda()
        let boot = TestBootClock()
        let wall = SettableClock()
        let seeded = Mutex<(String, [String: String])>(("", [:]))
        try await world.live(person: "ada@example.org") { url, token in
            let agent = world.agent(HTTP1Transport(), clock: wall.wall, boot: boot.clock)
            let id = try await agent.enroll(server: url, token: token, acceptTerms: nil, force: false).deviceId
            _ = try await agent.cycle()
            let files = try world.seedFiles()
            seeded.withLock { $0 = (id, files) }
        }
        let (deviceId, personal) = seeded.withLock { $0 }
        // The server is out of reach from here on.
        let agent = world.agent(HTTP1Transport(), clock: wall.wall, boot: boot.clock)
        boot.advance(50 * 60)
        wall.advance(-10 * 86_400)  // someone sets the clock back ten days
        #expect(try agent.enforce().containerState == "active")
        boot.advance(11 * 60)
        #expect(try agent.enforce().containerState == "locked")
        #expect(try agent.store.state().enforcement.offlineLocked)
        #expect(AccountManager(paths: world.paths).loginAllowed("work-ada") == false)

        // A reboot, with the clock set back again: the time offline so far still counts.
        boot.reboot()
        wall.advance(-86_400)
        #expect(try agent.enforce().containerState == "locked")
        boot.advance(47 * 3600)
        #expect(try agent.enforce().containerState == "wiped")
        world.expectContainerGone()
        world.expectPersonalIntact(personal)
        #expect(FileManager.default.fileExists(atPath: world.paths.keyFile), "an offline wipe keeps the identity until the server has the receipt")

        // Online again (and the clock right again, or the server refuses the signature's time): the receipt
        // goes out; the device stays enrolled and gets its container back.
        wall.set(Date())
        try await world.live(person: "ada@example.org") { url, _ in
            var config = AgentConfig()
            config.server = url
            let online = world.agent(HTTP1Transport(), config: config, clock: wall.wall, boot: boot.clock)
            guard case .success = try await online.cycle() else {
                Issue.record("the receipt was not confirmed")
                return
            }
            let receipts = try await world.services.store.receipts(deviceId: deviceId)
            #expect(receipts.map(\.trigger) == ["offline"])
            let device = try #require(try await world.services.store.device(id: deviceId))
            // The profile asked for an archive, but a wipe that cannot reach the server makes none, and says so.
            let key = try #require(DeviceKeys.publicKey(base64: device.publicKey))
            let receipt = try #require(receipts.first?.signed.verified(by: key))
            #expect(receipt.archive == nil && receipt.archiveFailed?.contains("offline") == true, "\(receipt.archiveFailed ?? "-")")
            #expect(try await world.services.store.archives(deviceId: deviceId).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: Wiper.spoolFile(world.paths)))
            #expect(device.status == .active)
            #expect(device.wipeConfirmedAt != nil)
            guard case .success(_, let changed, _) = try await online.cycle() else {
                Issue.record("no check-in after the offline wipe")
                return
            }
            #expect(changed)
            #expect(AccountManager(paths: world.paths).lookup("work-ada") != nil)
            #expect(try online.store.state().enforcement.offlineLocked == false)
        }
    }
}

@Suite("What a wipe may touch")
struct WipePlannerTests {
    let paths = scratchRoot()
    let account = WorkAccount(name: "work-ada", uid: 200_001, gid: 200_001, home: "/home/work-ada", createdAt: Date())

    func plan(_ workPaths: [String], otherHomes: [String] = ["/home/ada", "/root", "/"], roots: [String] = ["/srv/work"]) -> (
        targets: [String], refused: [String]
    ) {
        var rules = ContainerRules.defaults(for: paths)
        rules.workRoots = roots
        return WipePlanner.plan(account: account, workPaths: workPaths, rules: rules, otherHomes: otherHomes)
    }

    @Test("the work home and work paths below the device's work roots are wiped; anything else is refused with the reason")
    func roots() {
        let (targets, refused) = plan([
            "/srv/work/ada", "/home/work-ada/Projects", "/var/lib/kontor/work/ada", "/srv/work/ada/", "/etc", "/home/", "/srv", "/srv/work", "/srv/../etc",
            "relative/path", "/srv/work/ada", "/srv/workshop/ada",
        ])
        #expect(targets == ["/home/work-ada", "/srv/work/ada", "/home/work-ada/Projects"])
        #expect(refused.count == 9)
        #expect(refused.contains { $0.hasPrefix("/etc: outside the work home and the work roots") })
        #expect(refused.contains { $0.hasPrefix("/srv/../etc: not a plain absolute path") })
        #expect(refused.contains { $0.hasPrefix("/srv/work: outside") })
    }

    @Test("a device whose agent.yaml allows no work roots wipes only the work home")
    func narrowed() {
        let (targets, refused) = plan(["/srv/work/ada"], roots: [])
        #expect(targets == ["/home/work-ada"])
        #expect(refused.count == 1)
    }

    @Test("another account's home, a folder in one, or a folder holding one is never a work path")
    func otherHomes() {
        let (targets, refused) = plan(
            ["/home/ada", "/home/ada/Documents", "/home/ada/.ssh", "/home/shared", "/srv/www", "/srv/work/ada", "/srv/work/team"],
            otherHomes: ["/home/ada", "/home/shared/bob", "/srv/work/team/svc", "/"])
        #expect(targets == ["/home/work-ada", "/srv/work/ada"])
        #expect(refused.count == 6)
        #expect(refused.contains { $0.hasPrefix("/home/ada/Documents: ") })
        #expect(refused.contains { $0.hasPrefix("/srv/work/team: it holds the home of another account") })
    }

    @Test("without a work account the agent created, nothing is work data")
    func noAccount() {
        let (targets, refused) = WipePlanner.plan(account: nil, workPaths: ["/srv/work/ada"], rules: .defaults(for: paths), otherHomes: [])
        #expect(targets.isEmpty)
        #expect(refused.first?.contains("no work account was created") == true)
    }

    @Test("the offline clock counts boot time within a boot and never goes backwards across one")
    func offlineTimer() {
        var timer = OfflineTimer()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        timer.reset((boot: "a", seconds: 100), wall: start)
        timer.advance((boot: "a", seconds: 400), wall: start - 86_400)
        #expect(timer.elapsed == 300)
        timer.advance((boot: "b", seconds: 3), wall: start - 90_000)
        #expect(timer.elapsed == 300)
        timer.advance((boot: "b", seconds: 103), wall: start)
        #expect(timer.elapsed == 400)
        timer.advance((boot: "c", seconds: 1), wall: start + 1_000)
        #expect(timer.elapsed == 1_400)
    }
}
