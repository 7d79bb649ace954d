import Foundation
import KontorCore
import Yams

/// Every setting of kontor-server. Loaded from a YAML file, then KONTOR_* environment variables,
/// then command-line flags; the later source wins.
public struct ServerConfig: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Holds the SQLite database and the server's signing key.
    public var dataDir = "/var/lib/kontor"
    /// Where archives of retained work data are kept (nil: `archives` in the data directory); several
    /// instances share it.
    public var archiveDir: String?
    /// The largest archive a device may upload.
    public var archiveMaxBytes: Int64 = 20 << 30
    /// The store: nil for SQLite in `dataDir`, `sqlite:PATH`, or `postgres://user[:password]@host[:port]/database[?sslmode=...]`.
    public var database: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`.
    public var logLevel = "info"
    /// Seconds between device check-ins, unless a policy says otherwise.
    public var checkinInterval = 60
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes = 1 << 20
    /// Enrollment attempts allowed per client address per minute (0: no limit).
    public var enrollRatePerMinute = 30
    /// At most one last-seen write per device per this many seconds; the rest is held in memory.
    public var lastSeenWriteInterval = 300
    /// How long an enrollment token lives when created without --expires, in seconds.
    public var enrollTokenLifetime = 86_400
    /// The URL agents use to reach this server, printed in the ready-to-paste enroll command.
    public var publicURL: String?
    /// The longest a check-in that asks to wait is held open (long poll), in seconds; 0 turns long polls off.
    public var longPollMax = 55
    /// An admin console session ends after this many seconds without a request.
    public var consoleIdleTimeout = 1800
    /// ... and this many seconds after sign-in, however active.
    public var consoleSessionLifetime = 8 * 3600
    /// The restricted profile an operator may give an offboarding (`--restrict-now --profile`); any other
    /// profile needs an admin, as assigning profiles does. Empty: operators offboard without one.
    public var offboardingProfile = "offboarding-restricted"
    /// Seconds between signed audit checkpoints written to the sinks below (when the log grew); 0: only on demand.
    public var auditCheckpointInterval = 3600
    /// A file the checkpoints are appended to, one JSON line each.
    public var auditCheckpointFile: String?
    /// The mode a new checkpoint file gets, 0600 or 0640; an existing one may not be wider.
    public var auditCheckpointFileMode: Int = 0o600
    /// Whether checkpoints also go to syslog (facility auth, tag kontor-server).
    public var auditCheckpointSyslog = false
    /// An http(s) URL each checkpoint is POSTed to as JSON.
    public var auditCheckpointWebhook: String?
    /// A new connection must have sent its first request's head within this many seconds (slow clients,
    /// slowloris), whatever it trickles meanwhile.
    public var headerTimeout = 10
    /// Once a request's head is in, its whole body must be in within this many seconds.
    public var bodyTimeout = 60
    /// A kept-alive connection with no request in progress is closed after this many seconds. A held
    /// check-in (long poll) is a request in progress: this never cuts it.
    public var idleTimeout = 75
    /// Connections open at once; 0: the open-file limit less a reserve for the database and logs.
    /// Beyond it the connection that has waited longest for a request is closed (or the new one, when
    /// every connection has a request in progress).
    public var maxConnections = 0
    /// Connections the kernel queues for the server before it accepts them (`listen(2)`'s backlog; the
    /// kernel caps it at `net.core.somaxconn`). After a restart every online agent reconnects within
    /// seconds: a short queue makes them retry (SYN retransmits after 1, 3, 7 s).
    public var listenBacklog = 4096
    /// Proxies (CIDRs) whose `X-Forwarded-For` names the client; from anyone else the header is ignored.
    public var trustedProxies: [IPNetwork] = []
    /// An event's detail is kept up to this many bytes (the rest is cut, and the cut is said).
    public var maxEventDetailBytes = 1024
    /// Events one device may have stored per hour; the rest are counted in one audit entry.
    public var deviceEventsPerHour = 600
    /// Audit-worthy events (quiet-hours overrides) one device may put in the audit log per hour; the rest
    /// are stored as events and counted in one audit entry.
    public var deviceAuditEventsPerHour = 20
    /// Single sign-on (``OIDCSettings``): the provider's issuer; nil: API tokens only.
    public var oidcIssuer: String?
    public var oidcClientId: String?
    /// Read from `oidcClientSecretFile` (never set inline).
    public var oidcClientSecret: String?
    public var oidcCliClientId: String?
    public var oidcGroupsClaim = "groups"
    public var oidcRoles: [String: Role] = [:]
    public var oidcScopes = ["openid", "profile", "email"]
    public var oidcSessionLifetime = 3600

    public init() {}

    /// The keys a YAML file or environment may set, with their YAML names.
    static var keys: [String] { settings.keys }

    /// Settings that take a list: a YAML sequence, or a comma-separated string (environment, flags).
    static let listKeys: Set<String> = ["trustedProxies", "oidcRoles", "oidcScopes"]

    /// Applies the YAML document in `text` (from `file`, for messages).
    public mutating func apply(yaml text: String, file: String) throws {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError("\(file): not valid YAML: \(error)")
        }
        guard let node else { return }
        guard let mapping = node.mapping else { throw ConfigError("\(file): expected a mapping of settings at the top level") }
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw ConfigError("\(file):\(line(keyNode)): setting names must be strings") }
            if Self.listKeys.contains(key), let items = valueNode.sequence {
                var values: [String] = []
                for item in items {
                    guard let value = item.scalar?.string else { throw ConfigError("\(file):\(line(item)): \(key): expected a list of single values") }
                    values.append(value)
                }
                try set(key, values.joined(separator: ","), source: "\(file):\(line(keyNode))")
                continue
            }
            guard let value = valueNode.scalar?.string else {
                throw ConfigError("\(file):\(line(valueNode)): \(key): expected a single value")
            }
            try set(key, value, source: "\(file):\(line(keyNode))")
        }
    }

    /// Applies KONTOR_* variables, e.g. KONTOR_PORT=9000 or KONTOR_DATA_DIR=/srv/kontor.
    public mutating func apply(environment: [String: String]) throws {
        for key in Self.keys {
            if let value = environment[Self.environmentName(key)] { try set(key, value, source: Self.environmentName(key)) }
        }
    }

    /// KONTOR_ followed by the key in upper snake case.
    static func environmentName(_ key: String) -> String {
        var out = "KONTOR_"
        for ch in key {
            if ch.isUppercase { out += "_" }
            out += ch.uppercased()
        }
        return out.replacingOccurrences(of: "U_R_L", with: "URL")
    }

    mutating func set(_ key: String, _ value: String, source: String) throws {
        try Self.settings.apply(SettingText(key: key, text: value, source: source, makeError: { ConfigError($0) }), to: &self)
    }

    /// Checks settings that depend on each other.
    public func validate() throws {
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw ConfigError("tlsCertificate and tlsKey must be given together")
        }
        _ = try oidc()
    }

    /// The base URL agents are told to use.
    public var advertisedURL: String {
        if let publicURL { return publicURL }
        let scheme = tlsCertificate == nil ? "http" : "https"
        let shownHost = (host == "0.0.0.0" || host == "::") ? "127.0.0.1" : host
        return "\(scheme)://\(shownHost.contains(":") ? "[\(shownHost)]" : shownHost):\(port)"
    }

    /// The store as a log line may show it: the kind, and for PostgreSQL the URL without its password.
    public var databaseDescription: String {
        guard let database else { return "sqlite:" + sqlitePath }
        return Self.redacted(database)
    }

    /// The SQLite file: `sqlite:PATH`, else `kontor.sqlite` in the data directory.
    public var sqlitePath: String {
        if let database, database.hasPrefix("sqlite:") { return String(database.dropFirst("sqlite:".count)) }
        return (dataDir as NSString).appendingPathComponent("kontor.sqlite")
    }

    public var usesPostgres: Bool { database.map { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") } ?? false }

    static func isProfileName(_ text: String) -> Bool {
        (1...64).contains(text.count) && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// A URL with any password replaced by `***`.
    static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url), c.password != nil else { return url }
        c.password = "***"
        return c.string ?? "postgres://***"
    }

    /// Browsers reach the console over HTTPS: TLS here, or a public URL behind a TLS proxy. Cookies are then `Secure`.
    public var secureCookies: Bool { tlsCertificate != nil || (publicURL?.lowercased().hasPrefix("https://") ?? false) }

    private func line(_ node: Node) -> Int { (node.mark?.line ?? 0) }
}
