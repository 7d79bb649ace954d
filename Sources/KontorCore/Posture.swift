#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What the agent can tell about the device's security posture without privileges beyond reading files:
/// disk encryption of the root file system, Secure Boot, the package updates, and how hardened the agent's
/// own service unit is. Sent inside ``DeviceFacts``; older agents send none.
public struct DevicePosture: Codable, Sendable, Hashable {
    public var diskEncryption: DiskEncryption
    public var secureBoot: SecureBoot
    public var updates: UpdatePosture
    public var unitHardening: UnitHardening

    public init(diskEncryption: DiskEncryption, secureBoot: SecureBoot, updates: UpdatePosture, unitHardening: UnitHardening) {
        self.diskEncryption = diskEncryption
        self.secureBoot = secureBoot
        self.updates = updates
        self.unitHardening = unitHardening
    }

    /// What compliance needs of it.
    public var summary: PostureSummary { PostureSummary(diskEncryption: diskEncryption.state, updatedAt: updates.updatedAt) }

    /// The posture made to pass ``validationError()`` whatever the files held: hidden characters written out
    /// visibly, texts cut to their limits, lists to ``UpdatePosture/maxListed``, numbers out of range dropped.
    /// The agent sends only this: a refused posture would refuse the whole check-in, and with it a wipe.
    public func sanitized() -> DevicePosture {
        func clean(_ text: String?, _ limit: Int) -> String? {
            guard let text else { return nil }
            var out = VisibleText.escaped(text)
            while out.utf8.count > limit { out.removeLast() }
            return out
        }
        func clean(_ list: [String]?) -> [String]? { list.map { $0.prefix(UpdatePosture.maxListed).compactMap { clean($0, 128) } } }
        var out = self
        out.diskEncryption.detail = clean(diskEncryption.detail, 256)
        out.secureBoot.detail = clean(secureBoot.detail, 256)
        out.updates.detail = clean(updates.detail, 256)
        out.updates.securityPackages = clean(updates.securityPackages)
        out.updates.rebootPackages = clean(updates.rebootPackages)
        out.updates.securityUpdates = updates.securityUpdates.flatMap { (0...1_000_000).contains($0) ? $0 : nil }
        out.unitHardening.detail = clean(unitHardening.detail, 256)
        out.unitHardening.rating = clean(unitHardening.rating, 32)
        out.unitHardening.exposure = unitHardening.exposure.flatMap { (0...10).contains($0) ? $0 : nil }
        return out
    }

    /// The first field that is too long, out of range or holds a control character; nil when fine.
    public func validationError() -> String? {
        var texts: [(String, String?, Int)] = [
            ("facts.posture.diskEncryption.detail", diskEncryption.detail, 256), ("facts.posture.secureBoot.detail", secureBoot.detail, 256),
            ("facts.posture.updates.detail", updates.detail, 256), ("facts.posture.unitHardening.detail", unitHardening.detail, 256),
            ("facts.posture.unitHardening.rating", unitHardening.rating, 32),
        ]
        for (name, list) in [("securityPackages", updates.securityPackages), ("rebootPackages", updates.rebootPackages)] {
            guard let list else { continue }
            if list.count > UpdatePosture.maxListed { return "facts.posture.updates.\(name): at most \(UpdatePosture.maxListed) entries" }
            texts += list.enumerated().map { ("facts.posture.updates.\(name)[\($0.offset)]", $0.element, 128) }
        }
        for (name, value, limit) in texts {
            guard let value else { continue }
            if value.utf8.count > limit { return "\(name): longer than \(limit) bytes" }
            if let hidden = VisibleText.firstHidden(in: value) {
                return "\(name): contains the control or invisible character \(VisibleText.codePoint(hidden))"
            }
        }
        if let n = updates.securityUpdates, !(0...1_000_000).contains(n) { return "facts.posture.updates.securityUpdates: expected 0 to 1000000" }
        if let e = unitHardening.exposure, !(0...10).contains(e) { return "facts.posture.unitHardening.exposure: expected 0.0 to 10.0" }
        return nil
    }
}

/// The states of a posture finding; each has `unknown`, which a state this version does not know
/// decodes as, so a newer agent never breaks an older server.
public protocol PostureState: RawRepresentable, Codable, Sendable, Hashable where RawValue == String {
    static var unknown: Self { get }
}

/// One posture finding: its state, and how it was found (`LUKS2 on dm-1 below dm-2`) or why it cannot be
/// told (`overlay root file system`).
public struct PostureFinding<State: PostureState>: Codable, Sendable, Hashable {
    public var state: State
    public var detail: String?

    public init(_ state: State, _ detail: String? = nil) {
        self.state = state
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case state, detail }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        state = State(rawValue: try c.decode(String.self, forKey: .state)) ?? .unknown
        detail = try c.decodeIfPresent(String.self, forKey: .detail)
    }
}

/// Whether the root file system sits on dm-crypt.
public typealias DiskEncryption = PostureFinding<DiskEncryptionState>

public enum DiskEncryptionState: String, PostureState {
    case encrypted, notEncrypted, unknown
}

/// The UEFI Secure Boot state, from efivars.
public typealias SecureBoot = PostureFinding<SecureBootState>

public enum SecureBootState: String, PostureState {
    /// Enforced by the firmware.
    case enabled
    case disabled
    /// The firmware is in setup mode (no platform key): nothing is enforced.
    case setupMode
    /// Legacy BIOS boot: there is no Secure Boot.
    case notUEFI
    case unknown
}

/// Package updates as apt and dpkg left them on disk (nothing is downloaded or run).
public struct UpdatePosture: Codable, Sendable, Hashable {
    /// The most packages listed by name in either list.
    public static let maxListed = 50

    /// The last successful update of the package lists (`apt update`).
    public var listsUpdatedAt: Date?
    /// The last time a package was installed or upgraded.
    public var lastUpgradeAt: Date?
    /// Installed packages with a newer version in a security archive's list; nil when that cannot be told
    /// offline (no security archive configured, compressed lists).
    public var securityUpdates: Int?
    /// Their names (at most ``maxListed``).
    public var securityPackages: [String]?
    /// `/run/reboot-required` exists.
    public var rebootRequired: Bool
    /// The packages that asked for the reboot (at most ``maxListed``).
    public var rebootPackages: [String]?
    /// Why something above is unknown.
    public var detail: String?

    public init(
        listsUpdatedAt: Date? = nil, lastUpgradeAt: Date? = nil, securityUpdates: Int? = nil, securityPackages: [String]? = nil, rebootRequired: Bool = false,
        rebootPackages: [String]? = nil, detail: String? = nil
    ) {
        self.listsUpdatedAt = listsUpdatedAt
        self.lastUpgradeAt = lastUpgradeAt
        self.securityUpdates = securityUpdates
        self.securityPackages = securityPackages
        self.rebootRequired = rebootRequired
        self.rebootPackages = rebootPackages
        self.detail = detail
    }

    /// What `posture.maxUpdateAgeDays` measures: the later of the last list update and the last upgrade.
    public var updatedAt: Date? {
        switch (listsUpdatedAt, lastUpgradeAt) {
        case (let a?, let b?): max(a, b)
        case (let a, let b): a ?? b
        }
    }
}

/// `systemd-analyze security` for the agent's own unit: 0.0 (hardened) to 10.0 (fully exposed).
public struct UnitHardening: Codable, Sendable, Hashable {
    public var exposure: Double?
    /// systemd's word for it: `OK`, `MEDIUM`, `EXPOSED` or `UNSAFE`.
    public var rating: String?
    /// Why it is unknown (not running under systemd, systemd-analyze missing).
    public var detail: String?

    public init(exposure: Double? = nil, rating: String? = nil, detail: String? = nil) {
        self.exposure = exposure
        self.rating = rating
        self.detail = detail
    }
}

/// The part of a device's posture that compliance looks at; listings read only this from the store.
public struct PostureSummary: Sendable, Hashable {
    public var diskEncryption: DiskEncryptionState
    public var updatedAt: Date?

    public init(diskEncryption: DiskEncryptionState, updatedAt: Date?) {
        self.diskEncryption = diskEncryption
        self.updatedAt = updatedAt
    }

    /// From the three stored values a listing extracts from the facts' JSON; nil when no posture was reported.
    public init?(storedState: String?, listsUpdatedAt: String?, lastUpgradeAt: String?) {
        guard let storedState else { return nil }
        let updates = UpdatePosture(
            listsUpdatedAt: listsUpdatedAt.flatMap { ISO8601.date(from: $0) }, lastUpgradeAt: lastUpgradeAt.flatMap { ISO8601.date(from: $0) })
        self.init(diskEncryption: DiskEncryptionState(rawValue: storedState) ?? .unknown, updatedAt: updates.updatedAt)
    }
}

/// What a profile requires of a device's posture (`posture:` in a profile).
public struct PosturePolicy: Codable, Sendable, Equatable {
    /// The root file system must be on dm-crypt; a device whose state cannot be read does not pass.
    public var requireDiskEncryption: Bool?
    /// The later of the last package-list update and the last package upgrade is at most this many days old.
    public var maxUpdateAgeDays: Int?

    public init(requireDiskEncryption: Bool? = nil, maxUpdateAgeDays: Int? = nil) {
        self.requireDiskEncryption = requireDiskEncryption
        self.maxUpdateAgeDays = maxUpdateAgeDays
    }
}

/// Which posture requirements a device fails: computed by the server, at its own clock, wherever it
/// shows compliance. Unknown never passes: a device that cannot show it is encrypted is not.
public enum PostureCompliance {
    /// The failed requirements in words (`disk not encrypted`), in the order of the policy's fields; empty
    /// when every requirement holds. `posture` nil: the agent reported none (too old).
    public static func failures(_ policy: PosturePolicy?, _ posture: PostureSummary?, now: Date) -> [String] {
        guard let policy else { return [] }
        var out: [String] = []
        if policy.requireDiskEncryption == true {
            switch posture?.diskEncryption {
            case nil: out.append("disk encryption not reported")
            case .notEncrypted: out.append("disk not encrypted")
            case .unknown: out.append("disk encryption unknown")
            case .encrypted: break
            }
        }
        if let days = policy.maxUpdateAgeDays {
            if posture == nil {
                out.append("updates not reported")
            } else if let updated = posture?.updatedAt {
                let age = Int(now.timeIntervalSince(updated) / 86_400)
                if now.timeIntervalSince(updated) > Double(days) * 86_400 { out.append("updates \(age) days old (at most \(days))") }
            } else {
                out.append("update age unknown")
            }
        }
        return out
    }
}

extension DevicePosture {
    /// The posture as label and value pairs for an admin (`kontorctl devices show`, the console).
    public var described: [(label: String, value: String)] {
        func with(_ word: String, _ detail: String?) -> String { detail.map { "\(word) (\($0))" } ?? word }
        func day(_ date: Date?) -> String { date.map { String(ISO8601.string(from: $0).prefix(10)) } ?? "unknown" }
        let disk: String
        switch diskEncryption.state {
        case .encrypted: disk = with("encrypted", diskEncryption.detail)
        case .notEncrypted: disk = with("not encrypted", diskEncryption.detail)
        case .unknown: disk = with("unknown", diskEncryption.detail)
        }
        let boot: String
        switch secureBoot.state {
        case .enabled: boot = with("on", secureBoot.detail)
        case .disabled: boot = with("off", secureBoot.detail)
        case .setupMode: boot = with("off, setup mode", secureBoot.detail)
        case .notUEFI: boot = "not UEFI (legacy BIOS)"
        case .unknown: boot = with("unknown", secureBoot.detail)
        }
        let security =
            updates.securityUpdates.map { n in n == 0 ? "none" : "\(n): " + (updates.securityPackages ?? []).joined(separator: ", ") }
            ?? with("unknown", updates.detail)
        let reboot =
            updates.rebootRequired
            ? "yes" + ((updates.rebootPackages ?? []).isEmpty ? "" : " (\((updates.rebootPackages ?? []).joined(separator: ", ")))") : "no"
        let hardening =
            unitHardening.exposure.map { "exposure \($0) of 10" + (unitHardening.rating.map { " \($0)" } ?? "") } ?? with("unknown", unitHardening.detail)
        return [
            ("disk encryption", disk), ("secure boot", boot),
            ("updates", "lists updated \(day(updates.listsUpdatedAt)), last upgrade \(day(updates.lastUpgradeAt))"),
            ("security updates", security), ("reboot needed", reboot), ("agent hardening", hardening),
        ]
    }
}
