import Crypto
import Foundation
import KontorCore
import Testing

@testable import KontorAgent

@Suite("Poll schedule")
struct PollScheduleTests {
    let schedule = PollSchedule()

    @Test(
        "after a success the delay stays within ±10 % of the interval, after a failure within ±20 % of the backoff",
        arguments: [0.0, 0.25, 0.5, 0.75, 0.999999])
    func jitterBounds(unit: Double) {
        let delay = schedule.delay(interval: 60, failures: 0, retryAfter: nil, unit: unit)
        #expect(delay >= 54 && delay <= 66)
        let retry = schedule.delay(interval: 60, failures: 3, retryAfter: nil, unit: unit)
        #expect(retry >= 16 && retry <= 24)
    }

    @Test("the extremes of the random number reach the edges of the jitter band")
    func jitterEdges() {
        #expect(schedule.delay(interval: 100, failures: 0, retryAfter: nil, unit: 0) == 90)
        #expect(abs(schedule.delay(interval: 100, failures: 0, retryAfter: nil, unit: 0.999999) - 110) < 0.001)
        #expect(schedule.delay(interval: 100, failures: 0, retryAfter: nil, unit: 0.5) == 100)
    }

    @Test("backoff doubles with each failure and stops at the cap")
    func backoff() {
        let delays = (1...12).map { schedule.delay(interval: 60, failures: $0, retryAfter: nil, unit: 0.5) }
        #expect(Array(delays.prefix(5)) == [5, 10, 20, 40, 80])
        #expect(delays.max() == 900)
        #expect(delays.last == 900)
        #expect(schedule.delay(interval: 60, failures: 10_000, retryAfter: nil, unit: 0.5) == 900)
    }

    @Test("the server's retry-after is honoured as the least wait")
    func retryAfter() {
        #expect(schedule.delay(interval: 60, failures: 1, retryAfter: 120, unit: 0.5) == 120)
        #expect(schedule.delay(interval: 60, failures: 0, retryAfter: 1, unit: 0.5) == 60)
    }

    @Test("a fleet's delays spread out instead of firing in lockstep")
    func spread() {
        let delays = Set((0..<100).map { i in Int(schedule.delay(interval: 60, failures: 0, retryAfter: nil, unit: Double(i) / 100)) })
        #expect(delays.count >= 12)  // every whole second from 54 to 65
    }
}

@Suite("Agent files")
struct AgentFileTests {
    func scratch() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-agent-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("paths resolve under the root")
    func paths() {
        #expect(AgentPaths(root: "/").stateFile == "/var/lib/kontor/agent/state.json")
        #expect(AgentPaths(root: "/tmp/r/").configFile == "/tmp/r/etc/kontor/agent.yaml")
    }

    @Test("atomic writes replace the whole file with mode 0600 and leave no temporary files")
    func atomicWrite() throws {
        let dir = scratch()
        let path = dir + "/a/b/state.json"
        try AtomicFile.write(Data("one".utf8), to: path)
        try AtomicFile.write(Data("two".utf8), to: path)
        #expect(String(decoding: try #require(try AtomicFile.read(path)), as: UTF8.self) == "two")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/a/b") == ["state.json"])
    }

    @Test("a crash between writing and renaming leaves the previous state readable")
    func crashLeavesOldState() throws {
        let store = AgentStore(paths: AgentPaths(root: scratch()))
        var state = AgentState()
        state.checkinInterval = 120
        try store.save(state)
        // What a kill -9 before rename leaves behind: a half-written temporary file beside the real one.
        try Data("{\"checkinInt".utf8).write(to: URL(fileURLWithPath: store.paths.stateFile + ".tmp-999-1"))
        #expect(try store.state().checkinInterval == 120)
    }

    @Test("an edited, unreadable state file is reported with its path")
    func corruptState() throws {
        let store = AgentStore(paths: AgentPaths(root: scratch()))
        try AtomicFile.write(Data("not json".utf8), to: store.paths.stateFile)
        #expect(throws: AgentFileError.self) { try store.state() }
    }

    @Test("the device key is stored with mode 0600 and reads back")
    func keyFile() throws {
        let store = AgentStore(paths: AgentPaths(root: scratch()))
        let key = Curve25519Key.make()
        try store.save(key: key)
        #expect(try store.deviceKey()?.rawRepresentation == key.rawRepresentation)
        #expect((try FileManager.default.attributesOfItem(atPath: store.paths.keyFile)[.posixPermissions] as? Int) == 0o600)
    }

    @Test("os-release values are read with and without quotes")
    func osRelease() {
        let parsed = FactsCollector.parseOSRelease("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME='Debian 12'\n# c\nID=debian\n")
        #expect(parsed["NAME"] == "Debian GNU/Linux")
        #expect(parsed["PRETTY_NAME"] == "Debian 12")
        #expect(parsed["ID"] == "debian")
    }

    @Test("the machine-id hash is stable, app-specific and never the ID itself")
    func machineIdHash() throws {
        let root = scratch()
        let paths = AgentPaths(root: root)
        try AtomicFile.write(Data("0123456789abcdef0123456789abcdef\n".utf8), to: paths.machineIdFile, mode: 0o644)
        let first = try FactsCollector.machineIdHash(paths: paths)
        #expect(first == (try FactsCollector.machineIdHash(paths: paths)))
        #expect(!first.contains("0123456789abcdef"))
        #expect(first.count == 64)
        let other = AgentPaths(root: scratch())
        let fallback = try FactsCollector.machineIdHash(paths: other)
        #expect(fallback != first)
        #expect(fallback == (try FactsCollector.machineIdHash(paths: other)))
    }

    @Test("agent.yaml errors name the file, line and setting")
    func config() throws {
        let root = scratch()
        let paths = AgentPaths(root: root)
        try AtomicFile.write(Data("logLevel: debug\nmaxBackof: 10\n".utf8), to: paths.configFile)
        #expect(throws: AgentFileError.self) { try AgentConfig.load(paths.configFile) }
        do { _ = try AgentConfig.load(paths.configFile) } catch { #expect("\(error)".contains("agent.yaml:2: unknown setting \"maxBackof\"")) }
        try AtomicFile.write(Data("requestTimeout: 5\ncaFile: /etc/kontor/ca.pem\n".utf8), to: paths.configFile)
        let loaded = try AgentConfig.load(paths.configFile)
        #expect(loaded.requestTimeout == 5)
        #expect(loaded.caFile == "/etc/kontor/ca.pem")
        #expect(try AgentConfig.load(root + "/missing.yaml") == AgentConfig())
    }

    @Test("every event the agent records gets an ID of its own, so a check-in sent again stores it once")
    func eventIDs() {
        var state = EnforcementState()
        state.add(DeviceEvent(at: Date(), kind: "quiet.begin"))
        state.add(DeviceEvent(at: Date(), kind: "quiet.end"))
        state.add(DeviceEvent(at: Date(), kind: "wipe.started", id: "given"))
        let ids = state.events.compactMap(\.id)
        #expect(ids.count == 3)
        #expect(Set(ids).count == 3)
        #expect(ids.last == "given")
        #expect(ids.allSatisfy(DeviceEvent.isValidID))
    }

    @Test("the work container's limits in agent.yaml: narrowed roots and another ID range are taken, anything unsafe is refused by name")
    func containerLimits() throws {
        let root = scratch()
        let paths = AgentPaths(root: root)
        try AtomicFile.write(Data("workRoots: [/srv/work, /data/work]\nworkAccountIDs: 80000-80099\nhashLimitMiB: 64\n".utf8), to: paths.configFile)
        let rules = try AgentConfig.load(paths.configFile).containerRules(for: paths)
        #expect(rules.workRoots == ["/srv/work", "/data/work"])
        #expect(rules.ids == 80_000...80_099)
        #expect(rules.hashLimit == 64 << 20)
        try AtomicFile.write(Data("workRoots: []\n".utf8), to: paths.configFile)
        #expect(try AgentConfig.load(paths.configFile).workRoots.isEmpty)
        #expect(AgentConfig().containerRules(for: AgentPaths()).ids == 70_000...70_999)
        for (yaml, expected) in [
            ("workRoots: [/]\n", "workRoots: /: expected an absolute path"), ("workRoots: [/home]\n", "workRoots: /home is, holds or lies in /home"),
            ("workRoots: [/var]\n", "workRoots: /var is, holds or lies in /var/lib/kontor"), ("workRoots: [/srv/../etc]\n", "has a '..' component"),
            ("workRoots: /srv/work\n", "workRoots: expected a list of folders"), ("workAccountIDs: 0-999\n", "workAccountIDs: expected LOW-HIGH"),
            ("workAccountIDs: 90000-80000\n", "workAccountIDs: expected LOW-HIGH"), ("workAccountIDs: lots\n", "workAccountIDs: expected LOW-HIGH"),
            ("hashLimitMiB: 0\n", "hashLimitMiB: expected a whole number from 1"),
        ] {
            try AtomicFile.write(Data(yaml.utf8), to: paths.configFile)
            do {
                _ = try AgentConfig.load(paths.configFile)
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect("\(error)".contains("agent.yaml:1: ") && "\(error)".contains(expected), "\(yaml): \(error)")
            }
        }
    }
}

enum Curve25519Key {
    static func make() -> Curve25519.Signing.PrivateKey { Curve25519.Signing.PrivateKey() }
}
