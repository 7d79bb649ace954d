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

/// Who this device is, written once at enrollment.
public struct AgentIdentity: Codable, Sendable, Equatable {
    public var server: String
    public var deviceId: String
    public var keyId: String
    /// The server's response-signing key (raw, base64), pinned at enrollment.
    public var serverPublicKey: String
    public var serverKeyId: String
    public var enrolledAt: Date
    public var acceptedTermsVersion: String?
    public var predecessorId: String?
    /// The local login of the person who uses this device (`kontor-agent enroll --user LOGIN`): with root
    /// and the work account, the only one who may ask the agent through its local socket. Resolved to a
    /// UID in the account database at every request.
    public var personLogin: String?
}

/// What the agent remembers between cycles. Written atomically after every cycle.
public struct AgentState: Codable, Sendable, Equatable {
    /// The last check-in whose reply verified.
    public var lastCheckin: Date?
    /// The last attempt, successful or not.
    public var lastAttempt: Date?
    /// Why the last attempt failed; nil after a success.
    public var lastError: String?
    /// Seconds between check-ins the server last asked for.
    public var checkinInterval: Int = 60
    /// Problems to report at the next check-in (rejected replies and the like), oldest first, bounded.
    public var pendingReports: [String] = []
    /// The facts last sent, so unchanged facts are not sent again.
    public var lastFacts: DeviceFacts?
    /// Consecutive failed cycles, for backoff across restarts.
    public var failures: Int = 0
    /// What enforcing the policy left to remember and to report.
    public var enforcement = EnforcementState()
    /// The compliance report of the last enforcement, sent at the next check-in.
    public var compliance: ComplianceReport?
    /// What became of the commands carried out lately (bounded), so a repeated delivery is answered the same.
    public var commandResults: [CommandAck] = []
    /// Acknowledgements not yet sent in a successful check-in.
    public var pendingAcks: [CommandAck] = []
    /// Time without a successful check-in, for the offline dead-man switch.
    public var offline = OfflineTimer()
    /// Answers to the usage terms, signed, not yet confirmed by the server.
    public var pendingTermsResponses: [SignedTermsResponse] = []

    public init() {}

    // Every field may be missing: a state file written by an older agent still loads.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lastCheckin = try c.decodeIfPresent(Date.self, forKey: .lastCheckin)
        lastAttempt = try c.decodeIfPresent(Date.self, forKey: .lastAttempt)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        checkinInterval = try c.decodeIfPresent(Int.self, forKey: .checkinInterval) ?? 60
        pendingReports = try c.decodeIfPresent([String].self, forKey: .pendingReports) ?? []
        lastFacts = try c.decodeIfPresent(DeviceFacts.self, forKey: .lastFacts)
        failures = try c.decodeIfPresent(Int.self, forKey: .failures) ?? 0
        enforcement = try c.decodeIfPresent(EnforcementState.self, forKey: .enforcement) ?? EnforcementState()
        compliance = try c.decodeIfPresent(ComplianceReport.self, forKey: .compliance)
        commandResults = try c.decodeIfPresent([CommandAck].self, forKey: .commandResults) ?? []
        pendingAcks = try c.decodeIfPresent([CommandAck].self, forKey: .pendingAcks) ?? []
        offline = try c.decodeIfPresent(OfflineTimer.self, forKey: .offline) ?? OfflineTimer()
        pendingTermsResponses = try c.decodeIfPresent([SignedTermsResponse].self, forKey: .pendingTermsResponses) ?? []
    }

    mutating func report(_ problem: String) {
        pendingReports.append(problem)
        if pendingReports.count > 20 { pendingReports.removeFirst(pendingReports.count - 20) }
    }

    mutating func remember(_ ack: CommandAck) {
        commandResults.append(ack)
        if commandResults.count > 200 { commandResults.removeFirst(commandResults.count - 200) }
    }
}

/// Seconds since boot on a clock that keeps counting in suspend (CLOCK_BOOTTIME) and the boot it belongs
/// to. Setting the wall clock does not move it.
public struct BootClock: Sendable {
    let read: @Sendable () -> (boot: String, seconds: Double)

    public init(_ read: @escaping @Sendable () -> (boot: String, seconds: Double)) { self.read = read }

    public static let system = BootClock {
        let id = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?.trimmingWhitespace() ?? "unknown"
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        return (id, Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
    }
}

/// How long the device has gone without a successful check-in. Within one boot it counts on the boot
/// clock, so setting the wall clock back does not postpone the dead-man switch; across a reboot it adds
/// the wall-clock gap since the last mark, never less than nothing.
public struct OfflineTimer: Codable, Sendable, Equatable {
    public var elapsed: Double = 0
    public var bootId: String?
    public var bootSeconds: Double?
    public var wall: Date?

    public init() {}

    public mutating func advance(_ now: (boot: String, seconds: Double), wall: Date) {
        if let bootId, let bootSeconds, bootId == now.boot {
            elapsed += max(0, now.seconds - bootSeconds)
        } else if let last = self.wall {
            elapsed += max(0, wall.timeIntervalSince(last))
        }
        bootId = now.boot
        bootSeconds = now.seconds
        self.wall = wall
    }

    public mutating func reset(_ now: (boot: String, seconds: Double), wall: Date) {
        elapsed = 0
        bootId = now.boot
        bootSeconds = now.seconds
        self.wall = wall
    }
}

/// Left behind after a confirmed wipe, for `kontor-agent status` and the operator.
public struct WipedDevice: Codable, Sendable, Equatable {
    public var deviceId: String
    public var receiptId: String
    public var trigger: String
    public var wipedAt: Date
    public var receipt: SignedReceipt?
}

/// The last policy whose signed reply verified: it stays in force offline and when later replies fail.
public struct StoredPolicy: Codable, Sendable, Equatable {
    public var hash: String
    public var policy: EffectivePolicy
    public var receivedAt: Date
}

/// Reads and writes the agent's files under its root.
public struct AgentStore: Sendable {
    public let paths: AgentPaths

    public init(paths: AgentPaths) { self.paths = paths }

    public func identity() throws -> AgentIdentity? { try load(AgentIdentity.self, paths.identityFile) }
    public func state() throws -> AgentState { try load(AgentState.self, paths.stateFile) ?? AgentState() }
    public func policy() throws -> StoredPolicy? { try load(StoredPolicy.self, paths.policyFile) }

    public func save(_ identity: AgentIdentity) throws { try save(identity, paths.identityFile) }
    public func save(_ state: AgentState) throws { try save(state, paths.stateFile) }
    public func save(_ policy: StoredPolicy) throws { try save(policy, paths.policyFile) }

    /// The device key, or nil before enrollment.
    public func deviceKey() throws -> Curve25519.Signing.PrivateKey? {
        guard let data = try AtomicFile.read(paths.keyFile) else { return nil }
        guard let raw = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingWhitespace()),
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw AgentFileError(paths.keyFile, "not a device key; re-enroll with --force") }
        return key
    }

    /// Writes the device key with mode 0600.
    public func save(key: Curve25519.Signing.PrivateKey) throws {
        try AtomicFile.write(Data((key.rawRepresentation.base64EncodedString() + "\n").utf8), to: paths.keyFile, mode: 0o600)
    }

    private func load<T: Decodable>(_ type: T.Type, _ path: String) throws -> T? {
        guard let data = try AtomicFile.read(path) else { return nil }
        do {
            return try KontorJSON.decode(type, from: data)
        } catch {
            throw AgentFileError(path, "unreadable (\(error)); it was written atomically, so this file was edited or the disk is failing")
        }
    }

    private func save<T: Encodable>(_ value: T, _ path: String) throws {
        try AtomicFile.write(try KontorJSON.encode(value, pretty: true), to: path, mode: 0o600)
    }
}
