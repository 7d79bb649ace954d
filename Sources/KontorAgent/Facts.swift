import Crypto
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The version of this agent, reported to the server.
public let agentVersion = "0.1.0"

/// Collects the facts the agent reports. This is the complete list of what leaves the device.
public enum FactsCollector {
    /// The GDPR transparency list shown by `kontor-agent status`: every item the agent sends.
    public static let transparency: [String] = [
        "at enrollment: the device's public key, the enrollment token, and the usage-terms version you accepted",
        "hostname",
        "operating system name and version (from /etc/os-release)",
        "kernel version",
        "a one-way, Kontor-specific hash of /etc/machine-id (not the ID itself)",
        "the Kontor agent version",
        "the hash of the policy the agent enforces, and whether the agent is healthy (with its last error)",
        "security posture: whether the root file system is encrypted (dm-crypt/LUKS), the Secure Boot state, when the package lists were last updated and packages last upgraded, the names of pending security updates and of packages waiting for a reboot, and the hardening score of the Kontor agent's own service",
    ]

    /// What the agent sends from a personal device: the base facts, never the posture.
    public static var transparencyPersonal: [String] {
        transparency.dropLast() + ["no security posture: this is a personal device, only its work container is managed"]
    }

    /// The facts for a check-in under `policy`: the base facts, and the posture (read only then) unless the
    /// policy marks the device personal.
    public static func collect(paths: AgentPaths, policy: EffectivePolicy?, posture: () -> DevicePosture) throws -> DeviceFacts {
        try collect(paths: paths, posture: policy?.ownership == .personal ? nil : posture())
    }

    public static func collect(paths: AgentPaths, posture: DevicePosture? = nil) throws -> DeviceFacts {
        DeviceFacts(
            hostname: hostname(paths: paths), osRelease: osRelease(paths: paths), kernel: kernel(),
            machineIdHash: try machineIdHash(paths: paths), agentVersion: agentVersion, posture: posture)
    }

    static func hostname(paths: AgentPaths) -> String {
        if paths.root != "/", let text = try? String(contentsOfFile: paths.resolve("/etc/hostname"), encoding: .utf8) {
            let name = text.trimmingWhitespace()
            if !name.isEmpty { return String(name.prefix(253)) }
        }
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "unknown" : name
    }

    static func osRelease(paths: AgentPaths) -> String {
        for file in ["/etc/os-release", "/usr/lib/os-release"] {
            let candidates = paths.root == "/" ? [file] : [paths.resolve(file), file]
            for path in candidates {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                if let value = parseOSRelease(text)["PRETTY_NAME"] ?? parseOSRelease(text)["NAME"], !value.isEmpty {
                    return String(value.prefix(256))
                }
            }
        }
        return "Linux"
    }

    /// Parses os-release(5): KEY=value lines, values optionally quoted.
    static func parseOSRelease(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !line.hasPrefix("#") else { continue }
            var value = String(parts[1]).trimmingSpaces()
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            out[String(parts[0])] = value.replacing("\\\"", with: "\"")
        }
        return out
    }

    static func kernel() -> String {
        var info = utsname()
        guard uname(&info) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &info.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    /// HMAC-SHA256 of the machine ID keyed for Kontor, like sd_id128_get_machine_app_specific: stable
    /// for this machine, useless for correlating it with anything else. A root without /etc/machine-id
    /// gets a random ID kept in the state directory.
    static func machineIdHash(paths: AgentPaths) throws -> String {
        var machineId = (try? String(contentsOfFile: paths.machineIdFile, encoding: .utf8))?.trimmingWhitespace() ?? ""
        if machineId.isEmpty {
            if let data = try AtomicFile.read(paths.fallbackMachineIdFile) {
                machineId = String(decoding: data, as: UTF8.self).trimmingWhitespace()
            }
            if machineId.isEmpty {
                machineId = UUID().uuidString.replacing("-", with: "").lowercased()
                try AtomicFile.write(Data((machineId + "\n").utf8), to: paths.fallbackMachineIdFile, mode: 0o600)
            }
        }
        let mac = HMAC<SHA256>.authenticationCode(for: Data("kontor-device-v1".utf8), using: SymmetricKey(data: Data(machineId.utf8)))
        return Bytes.hex(mac)
    }
}
