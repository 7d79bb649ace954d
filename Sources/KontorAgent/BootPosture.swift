import KontorCore

/// Whether the root file system is on dm-crypt, from /proc/self/mountinfo and sysfs: the root's device
/// (major:minor) is looked up under /sys/dev/block, and a device-mapper device whose `dm/uuid` starts with
/// `CRYPT-` is dm-crypt (`CRYPT-LUKS2-…` for LUKS2). LVM and RAID are followed down through `slaves/`:
/// the root is encrypted when every path down reaches a dm-crypt device. Needs no privileges.
enum DiskEncryptionReader {
    static let cryptPrefix = "CRYPT-"
    static let maxDepth = 8

    static func read(_ files: RootReader) -> DiskEncryption {
        guard let mountinfo = files.text("/proc/self/mountinfo", limit: 4 * 1024 * 1024) else {
            return DiskEncryption(.unknown, "cannot read /proc/self/mountinfo")
        }
        guard let root = rootMount(mountinfo) else { return DiskEncryption(.unknown, "no root file system in /proc/self/mountinfo") }
        let base: String
        if !root.device.hasPrefix("0:") {
            base = "/sys/dev/block/" + root.device
        } else if let found = device(forSource: root.source, files) {
            // btrfs and others report an anonymous device number: the mount source names the device.
            base = found
        } else {
            return DiskEncryption(
                .unknown, "the root file system (\(root.type) from \(root.source)) is not on a block device this agent can see (a container?)")
        }
        guard files.exists(base) else { return DiskEncryption(.unknown, "no \(base) for the root file system's device (sysfs not mounted?)") }
        let found = classify(base, files, depth: 0)
        return DiskEncryption(found.state, String(found.detail.prefix(256)))
    }

    /// The root's entry in mountinfo (the last mount on `/`, which hides those below it).
    struct RootMount: Equatable {
        var device: String
        var type: String
        var source: String
    }

    static func rootMount(_ mountinfo: String) -> RootMount? {
        var found: RootMount?
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count >= 10, fields[4] == "/", let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 2 < fields.count else { continue }
            let device = fields[2]
            let parts = device.split(separator: ":")
            guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 10 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else {
                continue
            }
            found = RootMount(device: String(device), type: String(fields[dash + 1].prefix(64)), source: String(fields[dash + 2].prefix(256)))
        }
        return found
    }

    /// The sysfs folder of a mount source such as `/dev/mapper/root`, `/dev/dm-0` or `/dev/nvme0n1p2`.
    static func device(forSource source: String, _ files: RootReader) -> String? {
        guard source.hasPrefix("/dev/"), !source.contains("/../") else { return nil }
        let name = String(source.split(separator: "/").last ?? "")
        guard !name.isEmpty, name != ".." else { return nil }
        if source.hasPrefix("/dev/mapper/") {
            for entry in files.list("/sys/block", limit: 4096) ?? [] where entry.name.hasPrefix("dm-") {
                let dmName = files.text("/sys/block/\(entry.name)/dm/name", limit: 512).map(RootReader.trimmed)
                if dmName == name { return "/sys/block/\(entry.name)" }
            }
            return nil
        }
        return files.exists("/sys/class/block/\(name)") ? "/sys/class/block/\(name)" : nil
    }

    /// Encrypted when the device is dm-crypt or every device below it is; not encrypted when a path down
    /// ends at a plain device; unknown when the tree is too deep or unreadable.
    static func classify(_ base: String, _ files: RootReader, depth: Int) -> (state: DiskEncryptionState, detail: String) {
        let name = deviceName(base, files)
        if let uuid = files.text(base + "/dm/uuid", limit: 512).map(RootReader.trimmed), uuid.hasPrefix(cryptPrefix) {
            let kind = uuid.dropFirst(cryptPrefix.count).split(separator: "-").first.map(String.init) ?? "dm-crypt"
            return (.encrypted, "\(kind.isEmpty ? "dm-crypt" : String(kind.prefix(16))) on \(name)")
        }
        guard depth < maxDepth else { return (.unknown, "devices stacked deeper than \(maxDepth) below \(name)") }
        let below = (files.list(base + "/slaves", limit: 64) ?? []).map(\.name).sorted()
        guard !below.isEmpty else { return (.notEncrypted, "\(name) is not dm-crypt") }
        var results: [(state: DiskEncryptionState, detail: String)] = []
        for slave in below where !slave.contains("/") && slave != ".." { results.append(classify(base + "/slaves/" + slave, files, depth: depth + 1)) }
        if let plain = results.first(where: { $0.state == .notEncrypted }) { return (.notEncrypted, "\(plain.detail), below \(name)") }
        if let unknown = results.first(where: { $0.state == .unknown }) { return (.unknown, unknown.detail) }
        return (.encrypted, results.map(\.detail).joined(separator: ", ") + " below \(name)")
    }

    /// The kernel's name for the device (`dm-1`, `nvme0n1p2`), with its device-mapper name when it has one.
    static func deviceName(_ base: String, _ files: RootReader) -> String {
        let uevent = files.text(base + "/uevent", limit: 16 * 1024) ?? ""
        let kernel =
            uevent.split(separator: "\n").first { $0.hasPrefix("DEVNAME=") }.map { String($0.dropFirst(8).prefix(64)) }
            ?? String(base.split(separator: "/").last ?? "?")
        guard let dm = files.text(base + "/dm/name", limit: 512).map(RootReader.trimmed), !dm.isEmpty else { return kernel }
        return "\(kernel) (\(dm.prefix(64)))"
    }
}

/// The UEFI Secure Boot state from efivars: `SecureBoot-<EFI global GUID>` is 4 bytes of attributes and
/// one byte, 1 when Secure Boot is enforced; `SetupMode` 1 means no platform key is enrolled. Readable
/// by everyone; no /sys/firmware/efi means the machine booted through a legacy BIOS.
enum SecureBootReader {
    static let globalGUID = "8be4df61-93ca-11d2-aa0d-e0cbacc1c78c"
    static let efivars = "/sys/firmware/efi/efivars"

    static func read(_ files: RootReader) -> SecureBoot {
        guard files.exists("/sys/firmware/efi") else { return SecureBoot(.notUEFI, "no /sys/firmware/efi: booted by a legacy BIOS") }
        guard let entries = files.list(efivars, limit: 1), !entries.isEmpty else {
            return SecureBoot(.unknown, "efivarfs is not mounted at \(efivars)")
        }
        guard let secureBoot = variable("SecureBoot", files) else {
            return files.exists("\(efivars)/SecureBoot-\(globalGUID)")
                ? SecureBoot(.unknown, "the SecureBoot variable is not 5 bytes")
                : SecureBoot(.disabled, "the firmware has no SecureBoot variable (no Secure Boot support)")
        }
        switch secureBoot {
        case 1: return SecureBoot(.enabled)
        case 0: return variable("SetupMode", files) == 1 ? SecureBoot(.setupMode, "no platform key enrolled: nothing is enforced") : SecureBoot(.disabled)
        default: return SecureBoot(.unknown, "the SecureBoot variable holds \(secureBoot)")
        }
    }

    /// The value byte of a one-byte EFI global variable, or nil when it is missing or not 5 bytes.
    static func variable(_ name: String, _ files: RootReader) -> UInt8? {
        guard let bytes = files.read("\(efivars)/\(name)-\(globalGUID)", limit: 64), bytes.count == 5 else { return nil }
        return bytes[4]
    }
}
