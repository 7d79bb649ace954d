import Foundation
import KontorCore
import Testing

@testable import KontorAgent

/// A fake root: files, symlinks and modification times as sysfs, efivars, apt and dpkg would leave them.
struct FakeRoot {
    let path: String

    init(path: String = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-posture-\(UUID().uuidString)").path) {
        self.path = path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    var files: RootReader { RootReader(root: path) }

    func file(_ name: String, _ content: String, modified: Date? = nil) throws { try bytes(name, Array(content.utf8), modified: modified) }

    func bytes(_ name: String, _ content: [UInt8], modified: Date? = nil) throws {
        let full = path + name
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(content).write(to: URL(fileURLWithPath: full))
        if let modified { try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: full) }
    }

    func dir(_ name: String) throws { try FileManager.default.createDirectory(atPath: path + name, withIntermediateDirectories: true) }

    func link(_ name: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: ((path + name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path + name, withDestinationPath: target)
    }

    /// /proc/self/mountinfo with the root mounted from `device` (`MAJ:MIN`), `type` and `source`.
    func mountRoot(_ device: String, type: String = "ext4", source: String) throws {
        try file(
            "/proc/self/mountinfo",
            "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
                + "1 0 \(device) / / rw,relatime shared:1 - \(type) \(source) rw,errors=remount-ro\n"
                + "25 1 0:23 / /run rw,nosuid shared:5 - tmpfs tmpfs rw\n")
    }

    /// A block device in sysfs: /sys/dev/block/MAJ:MIN links to its folder, as the kernel makes it.
    func blockDevice(_ device: String, name: String, folder: String, dmUUID: String? = nil, dmName: String? = nil, slaves: [String] = []) throws {
        try file("\(folder)/uevent", "MAJOR=\(device.split(separator: ":")[0])\nDEVNAME=\(name)\nDEVTYPE=disk\n")
        if let dmUUID { try file("\(folder)/dm/uuid", dmUUID + "\n") }
        if let dmName { try file("\(folder)/dm/name", dmName + "\n") }
        try dir("\(folder)/slaves")
        for slave in slaves { try link("\(folder)/slaves/\(slave)", to: "../../\(slave)") }
        try link("/sys/dev/block/\(device)", to: "../.." + folder.dropFirst("/sys".count))
    }
}

@Suite("Posture: disk encryption from mountinfo and sysfs")
struct DiskEncryptionTests {
    @Test("a root directly on LUKS2 is encrypted")
    func luksDirect() throws {
        let root = FakeRoot()
        try root.mountRoot("253:0", source: "/dev/mapper/cryptroot")
        try root.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS2-4f2a9c-cryptroot", dmName: "cryptroot")
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .encrypted)
        #expect(found.detail == "LUKS2 on dm-0 (cryptroot)")
    }

    @Test("LVM on LUKS is encrypted: the logical volume's slave is dm-crypt")
    func lvmOnLuks() throws {
        let root = FakeRoot()
        try root.mountRoot("253:1", source: "/dev/mapper/vg-root")
        try root.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS1-77ab-sda3_crypt", dmName: "sda3_crypt")
        try root.blockDevice(
            "253:1", name: "dm-1", folder: "/sys/devices/virtual/block/dm-1", dmUUID: "LVM-Qx7dRqk", dmName: "vg-root", slaves: ["dm-0"])
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .encrypted)
        #expect(found.detail == "LUKS1 on dm-0 (sda3_crypt) below dm-1 (vg-root)")
    }

    @Test("LVM on a plain partition is not encrypted, and says which device is plain")
    func lvmOnPlain() throws {
        let root = FakeRoot()
        try root.mountRoot("253:1", source: "/dev/mapper/vg-root")
        try root.blockDevice("8:2", name: "sda2", folder: "/sys/devices/virtual/block/sda2")
        try root.blockDevice("253:1", name: "dm-1", folder: "/sys/devices/virtual/block/dm-1", dmUUID: "LVM-Qx7dRqk", dmName: "vg-root", slaves: ["sda2"])
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .notEncrypted)
        #expect(found.detail == "sda2 is not dm-crypt, below dm-1 (vg-root)")
    }

    @Test("a root on a plain NVMe partition is not encrypted")
    func plainPartition() throws {
        let root = FakeRoot()
        try root.mountRoot("259:2", source: "/dev/nvme0n1p2")
        try root.blockDevice("259:2", name: "nvme0n1p2", folder: "/sys/devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/nvme0n1p2")
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .notEncrypted)
        #expect(found.detail == "nvme0n1p2 is not dm-crypt")
    }

    @Test("btrfs reports an anonymous device: the mount source /dev/mapper/NAME is found by its dm name")
    func btrfsBySource() throws {
        let root = FakeRoot()
        try root.mountRoot("0:33", type: "btrfs", source: "/dev/mapper/luks-1234")
        try root.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS2-1234-luks-1234", dmName: "luks-1234")
        try root.link("/sys/block/dm-0", to: "../devices/virtual/block/dm-0")
        #expect(DiskEncryptionReader.read(root.files).state == .encrypted)
    }

    @Test("an overlay root (a container) is unknown, with the reason")
    func overlayRoot() throws {
        let root = FakeRoot()
        try root.mountRoot("0:52", type: "overlay", source: "overlay")
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .unknown)
        #expect(found.detail?.contains("overlay") == true)
        #expect(found.detail?.contains("not on a block device") == true)
    }

    @Test("no mountinfo, or no sysfs entry for the device, is unknown")
    func unreadable() throws {
        let root = FakeRoot()
        #expect(DiskEncryptionReader.read(root.files) == DiskEncryption(.unknown, "cannot read /proc/self/mountinfo"))
        try root.mountRoot("8:1", source: "/dev/sda1")
        #expect(DiskEncryptionReader.read(root.files).state == .unknown)
        #expect(DiskEncryptionReader.read(root.files).detail?.contains("/sys/dev/block/8:1") == true)
    }

    @Test("a device-mapper name with control characters is sent made visible, so the check-in is not refused")
    func hostileName() throws {
        let root = FakeRoot()
        try root.mountRoot("253:0", source: "/dev/mapper/x")
        try root.blockDevice("253:0", name: "dm-0", folder: "/sys/devices/virtual/block/dm-0", dmUUID: "CRYPT-LUKS2-1-x", dmName: "x\u{1B}[2J\u{202E}")
        let posture = PostureCollector.read(root.files, hardening: UnitHardening())
        #expect(posture.diskEncryption.detail == "LUKS2 on dm-0 (x\\x1B[2J\\u{202E})")
        var facts = DeviceFacts(hostname: "pc", osRelease: "Debian", kernel: "6.1", machineIdHash: "m", agentVersion: "0.1.0", posture: posture)
        #expect(facts.validationError() == nil)
        facts.posture?.updates.rebootPackages = (0..<80).map { "pkg\($0)" }
        #expect(facts.posture?.sanitized().updates.rebootPackages?.count == 50)
    }

    @Test("a symlink loop among the slaves ends as unknown or plain, never hangs")
    func slaveLoop() throws {
        let root = FakeRoot()
        try root.mountRoot("253:1", source: "/dev/mapper/vg-root")
        try root.blockDevice("253:1", name: "dm-1", folder: "/sys/devices/virtual/block/dm-1", dmUUID: "LVM-x", dmName: "vg-root")
        // dm-1's slave is dm-1 itself: every level finds the same device again.
        try root.link("/sys/devices/virtual/block/dm-1/slaves/dm-1", to: "../../dm-1")
        let found = DiskEncryptionReader.read(root.files)
        #expect(found.state == .unknown)
        #expect(found.detail?.contains("deeper than") == true)
    }
}

@Suite("Posture: reading files inside the root")
struct RootReaderTests {
    @Test("an absolute or upward symlink resolves inside the root, never to the file outside")
    func linksStayInside() throws {
        let outside = FakeRoot()
        try outside.file("/secret", "outside")
        let root = FakeRoot()
        try root.link("/sys/up", to: "../../../../../../../../\(outside.path)")
        try root.link("/sys/absolute", to: outside.path)
        #expect(root.files.text("/sys/up/secret") == nil)
        #expect(root.files.text("/sys/absolute/secret") == nil)
        // The same target inside the root is found.
        try root.file(outside.path + "/secret", "inside")
        #expect(root.files.text("/sys/absolute/secret") == "inside")
        #expect(root.files.text("/sys/up/secret") == "inside")
    }

    @Test("a link loop fails instead of hanging")
    func loop() throws {
        let root = FakeRoot()
        try root.link("/a", to: "b")
        try root.link("/b", to: "a")
        #expect(root.files.text("/a") == nil)
        #expect(!root.files.exists("/a"))
    }

    @Test("a file larger than the limit is not read at all; a folder is not a file")
    func limits() throws {
        let root = FakeRoot()
        try root.bytes("/big", [UInt8](repeating: 0x41, count: 70_000))
        #expect(root.files.read("/big", limit: 64 * 1024) == nil)
        #expect(root.files.read("/big", limit: 100_000)?.count == 70_000)
        try root.dir("/folder")
        #expect(root.files.read("/folder") == nil)
    }

    @Test("a FIFO where a file is expected is not read, and opening it does not block")
    func fifo() throws {
        let root = FakeRoot()
        try root.dir("/run")
        #expect(mkfifo(root.path + "/run/reboot-required", 0o644) == 0)
        #expect(root.files.read("/run/reboot-required") == nil)
        #expect(root.files.text("/run/reboot-required") == nil)
    }

    @Test("lines are delivered across read chunks, and overlong lines are skipped")
    func lines() throws {
        let root = FakeRoot()
        let long = String(repeating: "x", count: 70_000)
        try root.file("/list", "first\n\(long)\nsecond\n" + String(repeating: "y", count: 65_000) + "\nlast")
        var seen: [String] = []
        #expect(root.files.forEachLine("/list") { seen.append(String($0)) })
        #expect(seen == ["first", "second", String(repeating: "y", count: 65_000), "last"])
    }
}
