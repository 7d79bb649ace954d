import Foundation
import KontorCore
import Synchronization
import Testing

@testable import KontorAgent

@Suite("Posture: Secure Boot from efivars")
struct SecureBootTests {
    let variable = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0cbacc1c78c"
    let setupMode = "/sys/firmware/efi/efivars/SetupMode-8be4df61-93ca-11d2-aa0d-e0cbacc1c78c"

    @Test("the value byte after the 4 attribute bytes says on or off", arguments: [(UInt8(1), SecureBootState.enabled), (0, .disabled), (7, .unknown)])
    func value(byte: UInt8, state: SecureBootState) throws {
        let root = FakeRoot()
        try root.bytes(variable, [0x06, 0, 0, 0, byte])
        #expect(SecureBootReader.read(root.files).state == state)
    }

    @Test("off with SetupMode 1 is setup mode: no platform key, nothing enforced")
    func setup() throws {
        let root = FakeRoot()
        try root.bytes(variable, [0x06, 0, 0, 0, 0])
        try root.bytes(setupMode, [0x06, 0, 0, 0, 1])
        #expect(SecureBootReader.read(root.files).state == .setupMode)
    }

    @Test("no /sys/firmware/efi is a legacy BIOS boot")
    func legacy() throws {
        let root = FakeRoot()
        try root.dir("/sys/firmware")
        #expect(SecureBootReader.read(root.files).state == .notUEFI)
    }

    @Test("UEFI without efivarfs mounted is unknown; a variable of the wrong size is unknown")
    func unreadable() throws {
        let root = FakeRoot()
        try root.dir("/sys/firmware/efi/efivars")
        #expect(SecureBootReader.read(root.files) == SecureBoot(.unknown, "efivarfs is not mounted at /sys/firmware/efi/efivars"))
        try root.bytes(variable, [0x06, 0, 0, 0, 1, 1, 1])
        #expect(SecureBootReader.read(root.files).state == .unknown)
    }

    @Test("UEFI firmware without a SecureBoot variable has no Secure Boot")
    func noVariable() throws {
        let root = FakeRoot()
        try root.bytes("/sys/firmware/efi/efivars/BootOrder-8be4df61-93ca-11d2-aa0d-e0cbacc1c78c", [0x07, 0, 0, 0, 1, 0])
        #expect(SecureBootReader.read(root.files).state == .disabled)
    }
}

@Suite("Posture: updates from apt and dpkg state")
struct UpdatesTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let securityList = "/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages"

    func installed(_ root: FakeRoot) throws {
        try root.file(
            "/var/lib/dpkg/status",
            """
            Package: openssl
            Status: install ok installed
            Architecture: amd64
            Version: 3.0.11-1~deb12u2
            Description: Secure Sockets Layer toolkit
             a continuation line: Version: 99

            Package: libc6
            Status: install ok installed
            Architecture: amd64
            Version: 2.36-9+deb12u7

            Package: zlib1g
            Status: deinstall ok config-files
            Architecture: amd64
            Version: 1:1.2.13.dfsg-1

            Package: tzdata
            Status: hold ok installed
            Architecture: all
            Version: 2024a-0+deb12u1

            """)
    }

    @Test("installed packages with a newer version in the security list are pending; older, removed or other-architecture ones are not")
    func securityCount() throws {
        let root = FakeRoot()
        try installed(root)
        try root.file(
            securityList,
            """
            Package: openssl
            Architecture: amd64
            Version: 3.0.15-1~deb12u1

            Package: libc6
            Architecture: amd64
            Version: 2.36-9+deb12u4

            Package: libc6
            Architecture: i386
            Version: 2.36-9+deb12u9

            Package: zlib1g
            Architecture: amd64
            Version: 1:1.2.13.dfsg-1+deb12u1

            Package: tzdata
            Architecture: all
            Version: 2025b-0+deb12u1
            """)
        let updates = UpdatesReader.read(root.files)
        #expect(updates.securityUpdates == 2)
        #expect(updates.securityPackages == ["openssl", "tzdata"])
    }

    @Test("without a security list, or with only compressed ones, the count is unknown and says why")
    func unknownCount() throws {
        let root = FakeRoot()
        try installed(root)
        try root.file("/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", "x")
        var updates = UpdatesReader.read(root.files)
        #expect(updates.securityUpdates == nil)
        #expect(updates.detail == "no security archive in the package lists")
        try root.file(securityList + ".gz", "compressed")
        updates = UpdatesReader.read(root.files)
        #expect(updates.securityUpdates == nil)
        #expect(updates.detail?.contains("compressed other than with lz4") == true)
    }

    /// `lz4 -B4 -BD` (64 KiB blocks, each referring back into the one before) of a security list: tzdata,
    /// 3000 filler stanzas, openssl and libc6; 12011 lines.
    static let compressedList =
        "BCJNGERAXl4BAAD1LVBhY2thZ2U6IHR6ZGF0YQpBcmNoaXRlY3R1cmU6IGFsbApWZXJzaW9uOiAyMDI1Yi0wK2RlYjEydTEKCjwAbGZpbGxlcjwARm1kNjQ+"
        + "AE8xLjAtNAD/////////////////////////////////////////////////////////////////////////////////////////////////////////////"
        + "////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////"
        + "////////////////////////////////////////////////////////////////////////////////////////////////////////////////e1BrYWdl"
        + "OgoBAAAPvP//////////////////////////////////////////////////////////////////////////////////////////////////////////////"
        + "////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////"
        + "////////////////////////////////////////////////////////////////////////////////////////////////////////////////6FBoaXRl"
        + "Y9IAAAD/JXR1cmU6IGFtZDY0ClZlcnNpb246IDEuMC0xCgpQYWNrYWdlOiBmaWxsZXIKQXJjaGl0ZWM0AP//////////////////////////////////////"
        + "//////////////////////////////////////////////////////////////////////////////////////////+/f29wZW5zc2yBYQv4ADMuMC4xNS0x"
        + "fmRlYjEydcBhX2xpYmM2PgAL8AAyLjM2LTkrZGViMTJ1NAoAAAAA0lnQAQ=="

    @Test("an lz4-compressed security list (apt's GzipIndexes) is decoded across linked blocks; a cut one is unknown")
    func lz4List() throws {
        let root = FakeRoot()
        try installed(root)
        let compressed = try #require(Data(base64Encoded: Self.compressedList))
        try root.bytes(securityList + ".lz4", Array(compressed))
        var lines = 0
        #expect(root.files.forEachLine(securityList + ".lz4") { _ in lines += 1 })
        #expect(lines == 12_011)
        #expect(UpdatesReader.read(root.files).securityPackages == ["openssl", "tzdata"])
        try root.bytes(securityList + ".lz4", Array(compressed.prefix(300)))
        #expect(UpdatesReader.read(root.files).securityUpdates == nil)
        #expect(UpdatesReader.read(root.files).detail?.hasSuffix("cannot read \(securityList).lz4") == true)
    }

    @Test("an LZ4 match reaching before the start of the output is refused, not read out of bounds")
    func lz4Malformed() {
        var out: [UInt8] = []
        #expect(throws: LZ4Frame.Malformed.self) { try LZ4Frame.decodeBlock([0x14, 0x41, 0x10, 0x00], into: &out, limit: 1024) }
        #expect(throws: LZ4Frame.Malformed.self) { try LZ4Frame.decodeBlock([0xF0, 0xFF], into: &out, limit: 1024) }
        out = []
        #expect(throws: Never.self) { try LZ4Frame.decodeBlock([0x14, 0x41, 0x01, 0x00, 0x00], into: &out, limit: 1024) }
        #expect(out == Array("AAAAAAAAA".utf8))
    }

    @Test("the list update is the newest Release file or success stamp; the last upgrade the newest dpkg file list")
    func ages() throws {
        let root = FakeRoot()
        let day: TimeInterval = 86_400
        try root.file("/var/lib/apt/lists/a_dists_bookworm_InRelease", "x", modified: now - 40 * day)
        try root.file("/var/lib/apt/lists/b_dists_bookworm-security_InRelease", "x", modified: now - 30 * day)
        try root.file("/var/lib/apt/lists/b_dists_bookworm-security_main_binary-amd64_Packages", "", modified: now - 1 * day)
        try root.file("/var/lib/dpkg/info/libc6:amd64.list", "/.", modified: now - 20 * day)
        try root.file("/var/lib/dpkg/info/openssl.list", "/.", modified: now - 12 * day)
        try root.file("/var/lib/dpkg/info/openssl.md5sums", "x", modified: now - 2 * day)
        var updates = UpdatesReader.read(root.files)
        #expect(updates.listsUpdatedAt == now - 30 * day)
        #expect(updates.lastUpgradeAt == now - 12 * day)
        #expect(
            PostureCompliance.failures(PosturePolicy(maxUpdateAgeDays: 7), DevicePosture.fake(updates: updates).summary, now: now) == [
                "updates 12 days old (at most 7)"
            ])
        // A fresh `apt update` (stamp) makes the state fresh again.
        try root.file("/var/lib/apt/periodic/update-success-stamp", "", modified: now - 3600)
        updates = UpdatesReader.read(root.files)
        #expect(updates.listsUpdatedAt == now - 3600)
        #expect(PostureCompliance.failures(PosturePolicy(maxUpdateAgeDays: 7), DevicePosture.fake(updates: updates).summary, now: now).isEmpty)
    }

    @Test("a pending reboot lists its packages once each, through the /var/run link, dropping names that are not package names")
    func reboot() throws {
        let root = FakeRoot()
        try root.file("/run/reboot-required", "*** System restart required ***\n")
        try root.file("/run/reboot-required.pkgs", "linux-image-6.1.0-28-amd64\nlibc6\nlibc6\n\u{1B}[31mred\n../../etc\n")
        try root.link("/var/run", to: "/run")
        let updates = UpdatesReader.read(root.files)
        #expect(updates.rebootRequired)
        #expect(updates.rebootPackages == ["linux-image-6.1.0-28-amd64", "libc6"])
        #expect(!UpdatesReader.read(FakeRoot().files).rebootRequired)
    }
}

@Suite("Debian version order")
struct DebianVersionTests {
    /// Each pair as `dpkg --compare-versions` orders it (checked against dpkg 1.21).
    @Test(
        "versions compare as dpkg compares them",
        arguments: [
            ("1.0~rc1", "1.0", -1), ("1.0", "1.0~rc1", 1), ("1:0.9", "2.0", 1), ("1.2.3-1", "1.2.3-1+deb12u1", -1), ("1.2.3-1+deb12u1", "1.2.3-2", -1),
            ("2.36-9+deb12u4", "2.36-9+deb12u7", -1), ("1.0a", "1.0+", -1), ("1.0", "1.0a", -1), ("1.0-1", "1.0.1-1", -1), ("1.001", "1.1", 0),
            ("0:1.0", "1.0", 0), ("1.0~~", "1.0~", -1), ("1.0~", "1.0", -1), ("3.0.11-1~deb12u2", "3.0.11-1", -1),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u8", -1), ("1:2.38.1-5+deb12u1", "2.39", 1), ("1.2-3", "1.2-3.1", -1), ("10", "9", 1),
            ("1.0-rc1", "1.0.1", -1), ("252.30-1~deb12u2", "252.31-1~deb12u1", -1), ("5.10", "5.9", 1), ("1.0+b1", "1.0", 1),
        ])
    func order(a: String, b: String, expected: Int) throws {
        let x = try #require(DebianVersion(a))
        let y = try #require(DebianVersion(b))
        #expect(DebianVersion.compare(x, y).signum() == expected)
        #expect(DebianVersion.compare(y, x).signum() == -expected)
    }

    @Test("what dpkg would refuse is no version", arguments: ["", "a:1.0", "1.0 beta", "-1", "1:", "\u{1B}1.0"])
    func refused(text: String) {
        #expect(DebianVersion(text) == nil)
    }
}

@Suite("Posture: unit hardening and the collector")
struct PostureCollectorTests {
    @Test("the overall exposure level is read from systemd-analyze's last line")
    func parse() {
        let output = """
              NAME                        DESCRIPTION                                  EXPOSURE
            ✓ PrivateNetwork=             Service has no access to the host's network
            ✗ User=/DynamicUser=          Service runs as root user                         0.4

            → Overall exposure level for kontor-agent.service: 4.9 OK 🙂
            """
        #expect(UnitHardeningProbe.parse(output) == UnitHardening(exposure: 4.9, rating: "OK"))
        #expect(UnitHardeningProbe.parse("→ Overall exposure level for kontor-agent.service: 11.5 UNSAFE").exposure == nil)
        #expect(UnitHardeningProbe.parse("Unit kontor-agent.service not found.").detail == "systemd-analyze printed no overall exposure level")
    }

    @Test("under a scratch root the hardening is not measured, and says so")
    func scratch() {
        #expect(UnitHardeningProbe.measure(paths: AgentPaths(root: FakeRoot().path)).detail == "not measured under a scratch root")
    }

    @Test("files are read again after the refresh interval, the hardening at most once a day")
    func caching() throws {
        let root = FakeRoot()
        let measured = Mutex(0)
        let collector = PostureCollector(
            paths: AgentPaths(root: root.path), refresh: 900,
            measureHardening: {
                measured.withLock { $0 += 1 }
                return UnitHardening(exposure: 2.1, rating: "OK")
            }, schedule: { $0() })
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        #expect(!collector.posture(now: start).updates.rebootRequired)
        try root.file("/run/reboot-required", "")
        #expect(!collector.posture(now: start + 600).updates.rebootRequired)
        let later = collector.posture(now: start + 1_000)
        #expect(later.updates.rebootRequired)
        #expect(later.unitHardening.exposure == 2.1)
        #expect(measured.withLock { $0 } == 1)
        _ = collector.posture(now: start + 86_400 + 1)
        #expect(measured.withLock { $0 } == 2)
    }

    @Test("the measurement runs off the check-in: until it is done the posture says so, and the next reading has it")
    func measuredInBackground() {
        let pending = Mutex<[@Sendable () -> Void]>([])
        let collector = PostureCollector(
            paths: AgentPaths(root: FakeRoot().path), measureHardening: { UnitHardening(exposure: 3.3, rating: "OK") },
            schedule: { job in pending.withLock { $0.append(job) } })
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        #expect(collector.posture(now: start).unitHardening.detail == "being measured")
        #expect(collector.posture(now: start + 60).unitHardening.detail == "being measured")
        #expect(pending.withLock { $0.count } == 1, "one measurement at a time")
        for job in pending.withLock({ $0 }) { job() }
        #expect(collector.posture(now: start + 120).unitHardening.exposure == 3.3)
    }

    @Test("status shows the posture in plain words and which requirement is not met")
    func statusText() {
        var posture = DevicePosture.fake()
        posture.diskEncryption = DiskEncryption(.notEncrypted, "nvme0n1p2 is not dm-crypt")
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let policy = PosturePolicy(requireDiskEncryption: true)
        let lines = AgentStatusReport.postureLines(
            posture, required: policy, failures: PostureCompliance.failures(policy, posture.summary, now: now), now: now)
        #expect(lines.contains("  - disk encryption: the system disk is NOT encrypted (nvme0n1p2 is not dm-crypt)"))
        #expect(lines.contains("Your organisation requires an encrypted system disk: NOT met — disk not encrypted."))
    }
}

extension DevicePosture {
    /// A posture with everything unknown but what a test sets.
    static func fake(updates: UpdatePosture = UpdatePosture()) -> DevicePosture {
        DevicePosture(diskEncryption: DiskEncryption(.unknown), secureBoot: SecureBoot(.unknown), updates: updates, unitHardening: UnitHardening())
    }
}
