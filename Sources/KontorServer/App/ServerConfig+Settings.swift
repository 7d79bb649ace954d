import Foundation
import KontorCore

extension ServerConfig {
    /// Every setting, in the order `--help`, the docs and error messages list them, with how it is read.
    static let settings = SettingsTable<ServerConfig>(coreSettings + oidcSettings)

    private static let coreSettings: [(key: String, apply: SettingsTable<ServerConfig>.Apply)] = [
        ("host", { $0.host = $1.text }),
        ("port", { $0.port = try $1.int(0...65535) }),
        ("dataDir", { $0.dataDir = $1.text }),
        ("archiveDir", { $0.archiveDir = $1.optional }),
        ("archiveMaxBytes", { $0.archiveMaxBytes = Int64(try $1.int(0...(1 << 40))) }),
        (
            "database",
            { config, value in
                let text = value.text
                guard text.isEmpty || text.hasPrefix("sqlite:") || text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
                    throw value.error("expected sqlite:PATH or postgres://user@host:port/database, found \"\(ServerConfig.redacted(text))\"")
                }
                config.database = value.optional
            }
        ),
        ("tlsCertificate", { $0.tlsCertificate = $1.optional }),
        ("tlsKey", { $0.tlsKey = $1.optional }),
        ("logLevel", { $0.logLevel = try $1.oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"]) }),
        ("checkinInterval", { $0.checkinInterval = try $1.int(10...86_400) }),
        ("maxBodyBytes", { $0.maxBodyBytes = try $1.int(1024...(64 << 20)) }),
        ("enrollRatePerMinute", { $0.enrollRatePerMinute = try $1.int(0...1_000_000) }),
        ("lastSeenWriteInterval", { $0.lastSeenWriteInterval = try $1.int(0...86_400) }),
        ("enrollTokenLifetime", { $0.enrollTokenLifetime = try $1.int(60...(366 * 86_400)) }),
        ("publicURL", { $0.publicURL = $1.optional }),
        ("longPollMax", { $0.longPollMax = try $1.int(0...120) }),
        ("consoleIdleTimeout", { $0.consoleIdleTimeout = try $1.int(60...86_400) }),
        ("consoleSessionLifetime", { $0.consoleSessionLifetime = try $1.int(300...(30 * 86_400)) }),
        (
            "offboardingProfile",
            { config, value in
                guard value.text.isEmpty || ServerConfig.isProfileName(value.text) else {
                    throw value.error("expected a profile name (letters, digits, '.', '_', '-') or nothing, found \"\(value.text)\"")
                }
                config.offboardingProfile = value.text
            }
        ),
        (
            "auditCheckpointInterval",
            { config, value in
                let seconds = try value.int(0...(7 * 86_400))
                guard seconds == 0 || seconds >= 60 else { throw value.error("expected 0 (on demand only) or 60 to 604800 seconds, found \(seconds)") }
                config.auditCheckpointInterval = seconds
            }
        ),
        (
            "auditCheckpointFile",
            { config, value in
                guard value.text.isEmpty || value.text.hasPrefix("/") else { throw value.error("expected an absolute path, found \"\(value.text)\"") }
                config.auditCheckpointFile = value.optional
            }
        ),
        (
            "auditCheckpointFileMode",
            { config, value in
                switch value.text {
                case "0600", "600": config.auditCheckpointFileMode = 0o600
                case "0640", "640": config.auditCheckpointFileMode = 0o640
                default: throw value.error("expected 0600 or 0640, found \"\(value.text)\"")
                }
            }
        ),
        ("auditCheckpointSyslog", { $0.auditCheckpointSyslog = try $1.flag() }),
        (
            "auditCheckpointWebhook",
            { config, value in
                guard let text = value.optional else {
                    config.auditCheckpointWebhook = nil
                    return
                }
                guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), !(url.host ?? "").isEmpty else {
                    throw value.error("expected an http:// or https:// URL with a host")
                }
                config.auditCheckpointWebhook = text
            }
        ),
        ("headerTimeout", { $0.headerTimeout = try $1.int(1...3_600) }),
        ("bodyTimeout", { $0.bodyTimeout = try $1.int(1...3_600) }),
        ("idleTimeout", { $0.idleTimeout = try $1.int(1...86_400) }),
        ("maxConnections", { $0.maxConnections = try $1.int(0...10_000_000) }),
        ("listenBacklog", { $0.listenBacklog = try $1.int(1...65_535) }),
        (
            "trustedProxies",
            { config, value in
                config.trustedProxies = try value.text.split(separator: ",").map { item in
                    do {
                        return try IPNetwork(parsing: item.trimmingCharacters(in: .whitespaces))
                    } catch let error as IPNetwork.ParseError {
                        throw value.error(error.description)
                    }
                }
            }
        ),
        ("maxEventDetailBytes", { $0.maxEventDetailBytes = try $1.int(64...65_536) }),
        ("deviceEventsPerHour", { $0.deviceEventsPerHour = try $1.int(10...1_000_000) }),
        ("deviceAuditEventsPerHour", { $0.deviceAuditEventsPerHour = try $1.int(0...100_000) }),
    ]
}
