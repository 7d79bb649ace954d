import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Package updates from what apt and dpkg left on disk, without running apt and without network:
///
/// - the last list update: the newer of `/var/lib/apt/periodic/update-success-stamp` (written after a
///   successful `apt update` where update-notifier-common or unattended-upgrades is installed) and the
///   newest `*Release` file in `/var/lib/apt/lists` (apt gives it the archive's publication time, so this
///   never claims a later update than happened);
/// - the last upgrade: the newest `/var/lib/dpkg/info/*.list` (dpkg rewrites a package's file list when it
///   installs or upgrades it);
/// - pending security updates: installed packages (`/var/lib/dpkg/status`) with a newer version, in dpkg's
///   order, in a security archive's list (`/var/lib/apt/lists/*security*_Packages`, or `.lz4`);
/// - a pending reboot: `/var/run/reboot-required` and the packages in `reboot-required.pkgs`.
enum UpdatesReader {
    static let lists = "/var/lib/apt/lists"

    static func read(_ files: RootReader) -> UpdatePosture {
        var out = UpdatePosture()
        let listEntries = files.list(lists) ?? []
        let stamps =
            [files.modified("/var/lib/apt/periodic/update-success-stamp")]
            + listEntries.filter { $0.isFile && ($0.name.hasSuffix("_InRelease") || $0.name.hasSuffix("_Release")) }.map(\.modified)
        out.listsUpdatedAt = stamps.compactMap { $0 }.max()
        out.lastUpgradeAt = (files.list("/var/lib/dpkg/info", limit: 100_000) ?? []).filter { $0.isFile && $0.name.hasSuffix(".list") }.map(\.modified).max()
        let reboot = ["/var/run/reboot-required", "/run/reboot-required"].first { files.exists($0) }
        if let reboot {
            out.rebootRequired = true
            let names = (files.text(reboot + ".pkgs", limit: 64 * 1024) ?? "").split(whereSeparator: \.isNewline).map(RootReader.trimmed)
            out.rebootPackages = unique(names.filter(isPackageName))
        }
        var notes: [String] = []
        if out.listsUpdatedAt == nil { notes.append("no package lists in \(lists)") }
        switch pendingSecurityUpdates(files, listEntries) {
        case .success(let names):
            out.securityUpdates = names.count
            out.securityPackages = Array(names.prefix(UpdatePosture.maxListed))
        case .failure(let reason):
            notes.append(reason.description)
        }
        out.detail = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return out
    }

    /// The names of installed packages with a newer version in a security archive, sorted; or why that
    /// cannot be told offline.
    static func pendingSecurityUpdates(_ files: RootReader, _ listEntries: [RootReader.Entry]) -> Result<[String], AgentError> {
        let security = listEntries.filter { $0.isFile && $0.name.contains("security") && $0.name.contains("_Packages") }
        let plain = security.filter { $0.name.hasSuffix("_Packages") || $0.name.hasSuffix("_Packages.lz4") }
        guard !plain.isEmpty else {
            return .failure(
                AgentError(
                    security.isEmpty
                        ? "no security archive in the package lists" : "the security package lists are compressed other than with lz4 (Acquire::GzipIndexes)"))
        }
        var installed: [String: DebianVersion] = [:]
        let readable = forEachStanza("/var/lib/dpkg/status", files) { fields in
            guard let name = fields["Package"], let status = fields["Status"], status.hasSuffix(" installed"),
                let version = fields["Version"].flatMap({ DebianVersion($0) })
            else { return }
            installed[name + ":" + (fields["Architecture"] ?? "all")] = version
        }
        guard readable else { return .failure(AgentError("cannot read /var/lib/dpkg/status")) }
        var pending: Set<String> = []
        for list in plain {
            let readable = forEachStanza("\(lists)/\(list.name)", files) { fields in
                guard let name = fields["Package"], let have = installed[name + ":" + (fields["Architecture"] ?? "all")],
                    let offered = fields["Version"].flatMap({ DebianVersion($0) }), offered > have, isPackageName(name)
                else { return }
                pending.insert(name)
            }
            guard readable else { return .failure(AgentError("cannot read \(lists)/\(list.name)")) }
        }
        return .success(pending.sorted())
    }

    /// Calls `body` with the fields of each deb822 stanza (`Key: value`, continuation lines ignored) of the
    /// file; only the fields this reader uses are kept. False when the file cannot be read.
    static func forEachStanza(_ path: String, _ files: RootReader, _ body: ([String: String]) -> Void) -> Bool {
        let wanted: Set<Substring> = ["Package", "Status", "Version", "Architecture"]
        var fields: [String: String] = [:]
        let readable = files.forEachLine(path) { line in
            if line.isEmpty {
                if !fields.isEmpty { body(fields) }
                fields.removeAll(keepingCapacity: true)
                return
            }
            guard let first = line.first, first != " ", first != "\t", let colon = line.firstIndex(of: ":") else { return }
            let key = line[..<colon]
            guard wanted.contains(key) else { return }
            fields[String(key)] = RootReader.trimmed(line[line.index(after: colon)...])
        }
        if !fields.isEmpty { body(fields) }
        return readable
    }

    /// A Debian package name (policy 5.6.1), as reboot-required.pkgs and the lists should hold.
    static func isPackageName(_ name: String) -> Bool {
        guard (2...128).contains(name.utf8.count), let first = name.utf8.first, isLowerOrDigit(first) else { return false }
        return name.utf8.allSatisfy { isLowerOrDigit($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }

    private static func isLowerOrDigit(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    /// The names in their first order, each once, at most ``UpdatePosture/maxListed``.
    static func unique(_ names: [String]) -> [String] {
        var seen: Set<String> = []
        return Array(names.filter { seen.insert($0).inserted }.prefix(UpdatePosture.maxListed))
    }
}
