#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A policy profile as written in YAML (see Profiles/profile.schema.json). Every field is optional
/// except the name: a profile sets only what it cares about, and the merge fills in the rest.
public struct Profile: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var name: String
    public var description: String?
    /// Seconds between check-ins.
    public var checkinInterval: Int?
    /// The usage-terms version people must accept.
    public var usageTermsVersion: String?
    public var quietHours: QuietHoursSpec?
    public var apps: AppPolicy?
    public var container: ContainerPolicy?
    public var offline: OfflinePolicy?
    public var posture: PosturePolicy?
    /// Work data to archive before a wipe (tax and commercial retention duties).
    public var retention: RetentionPolicy?

    public init(name: String) { self.name = name }
}

/// Quiet hours ("Feierabend") as a profile states them.
public struct QuietHoursSpec: Codable, Sendable, Equatable {
    /// IANA zone; nil means the device's own zone.
    public var timeZone: String?
    /// Quiet windows per weekday (`monday` … `sunday`): `"18:00-07:00"` (may cross midnight) or `"all"`.
    public var weekly: [String: [String]]?
    /// Public holidays of this region are quiet all day (e.g. `DE-BY`, `AT`, `CH`).
    public var holidayRegion: String?
    /// More quiet days, `YYYY-MM-DD`.
    public var extraDates: [LocalDate]?
    /// People or groups on call for a date range stay reachable.
    public var exemptions: [Exemption]?
    /// Whether the employee may end quiet hours early (logged and reported).
    public var allowUserOverride: Bool?
    /// Whether the encrypted work container's key leaves the kernel during quiet hours (default false: the
    /// container is frozen, its key stays).
    public var lockContainerKey: Bool?

    public init() {}
}

/// An on-call exemption: named persons (emails) and/or groups stay reachable from `from` to `until`
/// (both inclusive, local days).
public struct Exemption: Codable, Sendable, Equatable {
    public var persons: [String]?
    public var groups: [String]?
    public var from: LocalDate
    public var until: LocalDate
    public var reason: String?

    public init(persons: [String]?, groups: [String]?, from: LocalDate, until: LocalDate, reason: String?) {
        self.persons = persons
        self.groups = groups
        self.from = from
        self.until = until
        self.reason = reason
    }

    /// Whether this exemption names the person or one of their groups.
    public func applies(to subject: PolicySubject) -> Bool {
        let email = subject.email.lowercased()
        if persons?.contains(where: { $0.lowercased() == email }) == true { return true }
        return !(Set(groups ?? []).isDisjoint(with: subject.groups))
    }
}

/// The app allowlist of the work container.
public struct AppPolicy: Codable, Sendable, Equatable {
    /// `audit` reports violations; `enforce` also terminates the process.
    public var mode: String?
    public var allow: [AppRule]?

    public init(mode: String? = nil, allow: [AppRule]? = nil) {
        self.mode = mode
        self.allow = allow
    }
}

/// One allowlist entry: match by executable path, by SHA-256 of the executable, or by Debian package.
public struct AppRule: Codable, Sendable, Equatable, Hashable {
    public var path: String?
    public var sha256: String?
    public var package: String?
    /// A label for people.
    public var name: String?

    public init(path: String? = nil, sha256: String? = nil, package: String? = nil, name: String? = nil) {
        self.path = path
        self.sha256 = sha256
        self.package = package
        self.name = name
    }
}

/// The Linux work container: a dedicated account per person on the device.
public struct ContainerPolicy: Codable, Sendable, Equatable {
    /// The account name; `{localpart}` is the part of the person's email before the @.
    public var accountPattern: String?
    /// More directories that hold work data (wiped with the container); `{localpart}` and `{account}` expand.
    public var extraWorkPaths: [String]?

    public init(accountPattern: String? = nil, extraWorkPaths: [String]? = nil) {
        self.accountPattern = accountPattern
        self.extraWorkPaths = extraWorkPaths
    }
}

/// What the agent does on its own after a long time without a successful check-in.
public struct OfflinePolicy: Codable, Sendable, Equatable {
    /// Hours offline before the container is locked.
    public var lockAfter: Int?
    /// Days offline before the container is wiped.
    public var wipeAfter: Int?

    public init(lockAfter: Int? = nil, wipeAfter: Int? = nil) {
        self.lockAfter = lockAfter
        self.wipeAfter = wipeAfter
    }
}

/// Whom a device's policy is for: what the merge needs to resolve exemptions and the account name.
public struct PolicySubject: Codable, Sendable, Equatable {
    public var email: String
    public var groups: [String]

    public init(email: String, groups: [String]) {
        self.email = email
        self.groups = groups
    }

    /// The email's local part, lowercased and reduced to characters valid in a Unix user name.
    public var localpart: String {
        let local = email.split(separator: "@").first.map(String.init) ?? email
        let cleaned = local.lowercased().map { ch -> Character in
            (ch.isASCII && (ch.isLetter || ch.isNumber)) || ch == "-" || ch == "_" ? ch : "-"
        }
        return String(String(cleaned).prefix(20))
    }
}

/// Where a field of the effective policy came from.
public struct PolicySource: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `default`, `ownership`, `group` or `device`.
    public var scope: String
    /// `company` or `personal`, the group name or device ID; nil for the default.
    public var target: String?
    public var profile: String
    public var revision: Int

    public init(scope: String, target: String?, profile: String, revision: Int) {
        self.scope = scope
        self.target = target
        self.profile = profile
        self.revision = revision
    }

    public var description: String { "\(profile)@\(revision) (\(scope)\(target.map { " \($0)" } ?? ""))" }
}

/// A profile revision assigned at some scope, as the merge sees it.
public struct AssignedProfile: Sendable, Equatable {
    public var source: PolicySource
    public var profile: Profile

    public init(source: PolicySource, profile: Profile) {
        self.source = source
        self.profile = profile
    }
}
