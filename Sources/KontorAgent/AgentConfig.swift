import Foundation
import Yams

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

    public init() {}

    static let keys = ["server", "caFile", "logLevel", "maxBackoff", "requestTimeout", "longPoll"]

    /// Loads `path`; a missing file means all defaults.
    public static func load(_ path: String) throws -> AgentConfig {
        var config = AgentConfig()
        guard let data = FileManager.default.contents(atPath: path) else { return config }
        let node: Node?
        do {
            node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw AgentFileError(path, "not valid YAML: \(error)")
        }
        guard let node else { return config }
        guard let mapping = node.mapping else { throw AgentFileError(path, "expected a mapping of settings") }
        for (k, v) in mapping {
            let line = (k.mark?.line).map { ":\($0)" } ?? ""
            guard let key = k.string, let value = v.scalar?.string else { throw AgentFileError(path + line, "expected `name: value` lines") }
            func int(_ range: ClosedRange<Int>) throws -> Int {
                guard let n = Int(value), range.contains(n) else {
                    throw AgentFileError(path + line, "\(key): expected a whole number from \(range.lowerBound) to \(range.upperBound), found \"\(value)\"")
                }
                return n
            }
            switch key {
            case "server": config.server = value
            case "caFile": config.caFile = value
            case "logLevel":
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                    throw AgentFileError(path + line, "logLevel: expected trace, debug, info, notice, warning, error or critical, found \"\(value)\"")
                }
                config.logLevel = value
            case "maxBackoff": config.maxBackoff = try int(10...86_400)
            case "requestTimeout": config.requestTimeout = try int(1...600)
            case "longPoll": config.longPoll = try int(0...120)
            default: throw AgentFileError(path + line, "unknown setting \"\(key)\"; known settings: \(keys.joined(separator: ", "))")
            }
        }
        return config
    }
}
