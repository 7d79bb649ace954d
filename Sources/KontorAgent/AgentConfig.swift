import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// /etc/kontor/agent.yaml. Every key is optional: enrollment records the server, and the defaults suit
/// most endpoints.
public struct AgentConfig: Sendable, Equatable {
    /// Overrides the server URL recorded at enrollment (e.g. after the server moved).
    public var server: String?
    /// A PEM file of extra CA certificates to trust for the server's TLS certificate.
    public var caFile: String?
    /// `trace` … `critical`.
    public var logLevel = "info"
    /// The longest wait after failed check-ins, in seconds.
    public var maxBackoff = 900
    /// How long one request may take, in seconds.
    public var requestTimeout = 30
    /// Long poll: the running agent asks the server to hold each check-in up to this many seconds, so a
    /// wipe or lock arrives within a second while the device is online; it then checks in again at once.
    /// 0 checks in at the policy's interval instead.
    public var longPoll = 55
    /// Where extra work paths may lie besides the work home. The server's profiles can use less, never
    /// more: a path outside these is refused on the device. `[]` allows only the work home.
    public var workRoots = WorkBoundary.defaultWorkRoots
    /// The UIDs and GIDs the work account is created with. Nothing outside the range is ever signalled,
    /// frozen, locked or deleted. nil: 70000-70999 (scratch roots: a block of their own).
    public var workAccountIDs: ClosedRange<UInt32>?
    /// Executables larger than this many MiB are not hashed for `sha256` allowlist rules (they match no such rule).
    public var hashLimitMiB = 256

    public init() {}

    /// Every setting, with how it is read (`workRoots` is a YAML list, read by ``workRoots(_:at:)``).
    static let settings = SettingsTable<AgentConfig>(
        [
            ("server", { $0.server = $1.text }),
            ("caFile", { $0.caFile = $1.text }),
            ("logLevel", { $0.logLevel = try $1.oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"]) }),
            ("maxBackoff", { $0.maxBackoff = try $1.int(10...86_400) }),
            ("requestTimeout", { $0.requestTimeout = try $1.int(1...600) }),
            ("longPoll", { $0.longPoll = try $1.int(0...120) }),
            ("workRoots", { _, value in throw value.error("expected a list of folders, e.g. [/srv/work]") }),
            (
                "workAccountIDs",
                { config, value in
                    let bounds = value.text.split(separator: "-", omittingEmptySubsequences: false).map { UInt32($0.trimmingSpaces()) }
                    guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high, low >= ContainerRules.lowestWorkID,
                        high <= ContainerRules.highestWorkID
                    else {
                        throw value.error(
                            "expected LOW-HIGH with \(ContainerRules.lowestWorkID) <= LOW <= HIGH <= \(ContainerRules.highestWorkID) (above the IDs people's accounts get), found \"\(value.text)\""
                        )
                    }
                    config.workAccountIDs = low...high
                }
            ),
            ("hashLimitMiB", { $0.hashLimitMiB = try $1.int(1...16_384) }),
        ])

    /// What this device allows the work container, whatever the server sends.
    public func containerRules(for paths: AgentPaths) -> ContainerRules {
        var rules = ContainerRules.defaults(for: paths)
        rules.workRoots = workRoots
        if let workAccountIDs { rules.ids = workAccountIDs }
        rules.hashLimit = Int64(hashLimitMiB) << 20
        return rules
    }

    /// Loads `path`; a missing file means all defaults.
    public static func load(_ path: String) throws -> AgentConfig {
        var config = AgentConfig()
        guard let data = FileManager.default.contents(atPath: path) else { return config }
        let entries: [AgentYAML.Entry]
        do {
            entries = try AgentYAML.parse(String(decoding: data, as: UTF8.self))
        } catch let error as AgentYAML.SyntaxError {
            throw AgentFileError("\(path):\(error.line)", "not valid YAML: \(error.reason)")
        }
        for entry in entries {
            let location = path + ":\(entry.line)"
            switch entry.value {
            case .list(let items) where entry.key == "workRoots":
                config.workRoots = try workRoots(items, at: location)
            case .list:
                throw AgentFileError(location, "expected `name: value` lines")
            case .scalar(let value):
                try settings.apply(SettingText(key: entry.key, text: value, source: location, makeError: { AgentFileError(description: $0) }), to: &config)
            }
        }
        return config
    }

    /// `workRoots`: a list of plain absolute paths, none of them a system folder, a home or the agent's own state.
    static func workRoots(_ items: [String], at location: String) throws -> [String] {
        try items.map { root in
            if let problem = WorkBoundary.plainPathProblem(root) { throw AgentFileError(location, "workRoots: \(root): \(problem)") }
            if let reserved = ContainerRules.reservedFolders.first(where: { WorkBoundary.isAtOrBelow(root, $0) || WorkBoundary.isBelow($0, root) }) {
                throw AgentFileError(location, "workRoots: \(root) is, holds or lies in \(reserved), which is never work data")
            }
            return root
        }
    }
}

/// What the device itself allows the work container (agent.yaml), whatever the server sends.
public struct ContainerRules: Sendable, Equatable {
    /// The UIDs (and GIDs) the work account may have.
    public var ids: ClosedRange<UInt32>
    /// Roots extra work paths may lie under, besides the work home.
    public var workRoots: [String]
    /// Executables larger than this are not hashed for `sha256` rules.
    public var hashLimit: Int64

    /// Work account IDs are never below this (people's accounts start at 1000; system accounts below).
    static let lowestWorkID: UInt32 = 1000
    static let highestWorkID: UInt32 = 2_147_483_646
    /// Above useradd's range for people (UID_MAX 60000), below subordinate IDs (100000) and SSSD's ID
    /// mapping (200000), outside systemd's reserved ranges (60001-60513, 61184-65519, 524288+).
    static let defaultIDs: ClosedRange<UInt32> = 70_000...70_999
    /// Folders a work root may never be, hold or lie in.
    static let reservedFolders = [
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr",
        "/var/lib/kontor", "/var/tmp", "/var/log",
    ]

    public init(ids: ClosedRange<UInt32>, workRoots: [String] = WorkBoundary.defaultWorkRoots, hashLimit: Int64 = 256 << 20) {
        self.ids = ids
        self.workRoots = workRoots
        self.hashLimit = hashLimit
    }

    /// The defaults: IDs 70000-70999 on a real system; under a scratch root a block of 20 IDs of its own
    /// far above real users, so test endpoints on one machine never share a UID (processes are found by UID).
    public static func defaults(for paths: AgentPaths) -> ContainerRules {
        guard let hash = paths.scratchTag else { return ContainerRules(ids: defaultIDs) }
        let low = UInt32(200_000 + Int(hash % 40_000) * 20)
        return ContainerRules(ids: low...(low + 19))
    }
}
