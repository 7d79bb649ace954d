import Foundation
import Synchronization
import Testing

@testable import KontorAgent

/// A cgroup v2 tree and a /proc of made-up processes, for `UnitFreezer`.
struct FakeCgroups {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-cgroups-\(UUID().uuidString)").path
    var hierarchy: String { base + "/cgroup" }
    var proc: String { base + "/proc" }
    let account = WorkAccount(name: "work-ada", uid: 70_000, gid: 70_000, home: "/home/work-ada", createdAt: Date())
    var slice: String { hierarchy + "/user.slice/user-70000.slice" }

    /// A unit's cgroup holding these processes (pid, uid).
    func unit(_ path: String, _ processes: [(Int32, UInt32)]) throws {
        let dir = slice + "/" + path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Every cgroup has its cgroup.procs, the ones in between too.
        var parent = (dir as NSString).deletingLastPathComponent
        while parent.count > slice.count {
            if !FileManager.default.fileExists(atPath: parent + "/cgroup.procs") {
                _ = FileManager.default.createFile(atPath: parent + "/cgroup.procs", contents: Data())
            }
            parent = (parent as NSString).deletingLastPathComponent
        }
        try processes.map { "\($0.0)\n" }.joined().write(toFile: dir + "/cgroup.procs", atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: dir + "/cgroup.freeze") {
            try "0\n".write(toFile: dir + "/cgroup.freeze", atomically: true, encoding: .utf8)
        }
        for (pid, uid) in processes {
            try FileManager.default.createDirectory(atPath: "\(proc)/\(pid)", withIntermediateDirectories: true)
            try "Name:\tx\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\n".write(toFile: "\(proc)/\(pid)/status", atomically: true, encoding: .utf8)
            let fields = (["S"] + Array(repeating: "0", count: 18) + ["\(pid)00", "0"]).joined(separator: " ")
            try "\(pid) (x) \(fields)\n".write(toFile: "\(proc)/\(pid)/stat", atomically: true, encoding: .utf8)
        }
    }

    func requested(_ path: String) -> String? {
        (try? String(contentsOfFile: slice + "/" + path + "/cgroup.freeze", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func process(_ pid: Int32) -> SystemProcess {
        SystemProcess(pid: pid, uid: 70_000, uids: [70_000, 70_000, 70_000, 70_000], executable: nil, startTime: 0, state: "S")
    }

    func remove() { try? FileManager.default.removeItem(atPath: base) }
}

@Suite struct UnitFreezerTests {
    @Test("the work account's own units are frozen in place; a session with a root process is left to the per-process freezer")
    func freezesOwnUnitsOnly() throws {
        let fake = FakeCgroups()
        defer { fake.remove() }
        try fake.unit("user@70000.service", [(101, 70_000)])
        try fake.unit("user@70000.service/app.slice/editor.service", [(102, 70_000)])
        try fake.unit("session-3.scope", [(201, 0), (202, 70_000)])
        try fake.unit("user-runtime-dir@70000.service", [])
        let fallback = RecordingFreezer()
        let freezer = UnitFreezer(hierarchy: fake.hierarchy, control: .cgroupFile, fallback: fallback, proc: fake.proc)
        #expect(freezer.mechanism == "cgroup-v2-units+recording")

        try freezer.freeze(fake.account, processes: [101, 102, 202, 300].map(fake.process))
        #expect(fake.requested("user@70000.service") == "1")
        #expect(fake.requested("session-3.scope") == "0", "a unit with a root process is never frozen whole")
        #expect(fake.requested("user-runtime-dir@70000.service") == "0")
        #expect(fallback.frozen.withLock { $0.map(\.pid) } == [202, 300], "the work processes outside its own units go one by one")

        try freezer.thaw(fake.account, processes: [])
        #expect(fake.requested("user@70000.service") == "0")
    }

    @Test("under systemd the units are frozen with systemctl, once, and thawed")
    func freezesThroughSystemd() throws {
        let fake = FakeCgroups()
        defer { fake.remove() }
        try fake.unit("user@70000.service", [(101, 70_000)])
        let calls = Mutex<[String]>([])
        let slice = fake.slice
        let freezer = UnitFreezer(
            hierarchy: fake.hierarchy,
            control: .systemd({ verb, unit in
                calls.withLock { $0.append("\(verb) \(unit)") }
                try (verb == "freeze" ? "1\n" : "0\n").write(toFile: "\(slice)/\(unit)/cgroup.freeze", atomically: true, encoding: .utf8)
            }), fallback: RecordingFreezer(), proc: fake.proc)
        try freezer.freeze(fake.account, processes: [fake.process(101)])
        try freezer.freeze(fake.account, processes: [fake.process(101)])
        try freezer.thaw(fake.account, processes: [fake.process(101)])
        try freezer.thaw(fake.account, processes: [fake.process(101)])
        #expect(calls.withLock { $0 } == ["freeze user@70000.service", "thaw user@70000.service"])
    }

    @Test("only systemd unit names are acted on")
    func unitNames() {
        #expect(UnitFreezer.isUnitName("user@70000.service"))
        #expect(UnitFreezer.isUnitName("session-3.scope"))
        #expect(!UnitFreezer.isUnitName("cgroup.procs"))
        #expect(!UnitFreezer.isUnitName("../../init.scope"))
        #expect(!UnitFreezer.isUnitName("app.slice"))
        #expect(!UnitFreezer.isUnitName(".hidden.service"))
    }

    @Test("without systemd the per-process freezer is used; under systemd on a hybrid hierarchy the units' cgroup v2 files")
    func detection() throws {
        let fake = FakeCgroups()
        defer { fake.remove() }
        try FileManager.default.createDirectory(atPath: fake.hierarchy + "/unified", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: fake.hierarchy + "/unified/cgroup.controllers", contents: Data())
        #expect(Freezers.detect(cgroupRoot: fake.hierarchy, systemd: fake.base + "/no-systemd").mechanism == "signals")
        #expect(Freezers.detect(cgroupRoot: fake.hierarchy, systemd: fake.base).mechanism == "cgroup-v2-units+signals")
    }

    @Test(
        "a freezer cgroup is kontor-<account> on a real system and of its own under each scratch root, so test endpoints whose accounts share a name never thaw each other"
    )
    func groupNames() {
        let account = FakeCgroups().account
        #expect(CgroupFreezer.v1(base: "/sys/fs/cgroup/freezer").group(account) == "/sys/fs/cgroup/freezer/kontor-work-ada")
        #expect(CgroupFreezer.prefix(for: AgentPaths(root: "/")) == "kontor-")
        let first = CgroupFreezer.v2(base: "/sys/fs/cgroup", prefix: CgroupFreezer.prefix(for: AgentPaths(root: "/tmp/endpoint-1")))
        let second = CgroupFreezer.v2(base: "/sys/fs/cgroup", prefix: CgroupFreezer.prefix(for: AgentPaths(root: "/tmp/endpoint-2")))
        #expect(first.group(account) != second.group(account))
        #expect(first.group(account).hasPrefix("/sys/fs/cgroup/kontor-") && first.group(account).hasSuffix("-work-ada"))
        // The agent's own enforcer names its groups for its root.
        let enforcer = Enforcer(paths: AgentPaths(root: "/tmp/endpoint-1"), deviceZone: .gmt)
        if let freezer = enforcer.freezer as? CgroupFreezer {
            #expect(freezer.group(account) == first.group(account).replacingOccurrences(of: "/sys/fs/cgroup", with: freezer.base))
        }
    }
}
