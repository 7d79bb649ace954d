import Dispatch
import KontorCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Collects the device's posture (``DevicePosture``) from files under the agent's root, and keeps it:
/// the file readers run at most every `refresh` (a check-in a minute need not read dpkg's status each
/// time), `systemd-analyze security` at most once a day, since the unit only changes with an upgrade
/// (which restarts the agent and with it this cache). The measurement runs off the check-in (`schedule`,
/// a Dispatch queue): a systemd slow to answer never holds up a check-in or a thread of the cooperative
/// pool; until it is done the posture says so, and the next check-in after it reads the files again.
final class PostureCollector: Sendable {
    let paths: AgentPaths
    let refresh: TimeInterval
    let hardeningRefresh: TimeInterval
    /// Measures the unit's hardening; replaced in tests.
    let measureHardening: @Sendable () -> UnitHardening
    /// Runs the measurement; tests run it in place.
    let schedule: @Sendable (@escaping @Sendable () -> Void) -> Void

    private struct Cached {
        var posture: DevicePosture?
        var at: Date?
        var hardening: UnitHardening?
        var hardeningAt: Date?
        var measuring = false
    }

    private let cached = Mutex(Cached())

    init(
        paths: AgentPaths, refresh: TimeInterval = 900, hardeningRefresh: TimeInterval = 86_400,
        measureHardening: (@Sendable () -> UnitHardening)? = nil,
        schedule: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void = { DispatchQueue.global(qos: .utility).async(execute: $0) }
    ) {
        self.paths = paths
        self.refresh = refresh
        self.hardeningRefresh = hardeningRefresh
        self.measureHardening = measureHardening ?? { UnitHardeningProbe.measure(paths: paths) }
        self.schedule = schedule
    }

    /// The posture as of `now`, read again when the last reading is older than `refresh` or a hardening
    /// measurement finished since.
    func posture(now: Date) -> DevicePosture {
        let known = cached.withLock { $0 }
        if let posture = known.posture, let at = known.at, now >= at, now.timeIntervalSince(at) < refresh { return posture }
        let due = !known.measuring && (known.hardeningAt.map { now.timeIntervalSince($0) >= hardeningRefresh || now < $0 } ?? true)
        if due {
            cached.withLock { c in
                c.measuring = true
                c.hardeningAt = now
            }
            schedule { [self] in
                let measured = measureHardening()
                cached.withLock { c in
                    c.hardening = measured
                    c.measuring = false
                    c.at = nil
                }
            }
        }
        let hardening = cached.withLock { $0.hardening }
        let posture = Self.read(RootReader(paths: paths), hardening: hardening ?? UnitHardening(detail: "being measured"))
        cached.withLock { c in
            // A measurement that finished meanwhile leaves the reading stale, to be read again at once.
            guard c.hardening == hardening else { return }
            c.posture = posture
            c.at = now
        }
        return posture
    }

    /// Every reader once, against `files`, made fit to send whatever the files held.
    static func read(_ files: RootReader, hardening: UnitHardening) -> DevicePosture {
        DevicePosture(
            diskEncryption: DiskEncryptionReader.read(files), secureBoot: SecureBootReader.read(files), updates: UpdatesReader.read(files),
            unitHardening: hardening
        ).sanitized()
    }
}

/// The exposure score of the agent's own unit from `systemd-analyze security` (run as the agent, which is
/// root already: it reads the unit's settings from systemd and changes nothing).
enum UnitHardeningProbe {
    static let unit = "kontor-agent.service"

    static func measure(paths: AgentPaths) -> UnitHardening {
        guard paths.root == "/" else { return UnitHardening(detail: "not measured under a scratch root") }
        guard FileManager.default.fileExists(atPath: "/run/systemd/system") else { return UnitHardening(detail: "the system does not run systemd") }
        guard let analyze = Command.find("systemd-analyze") else { return UnitHardening(detail: "systemd-analyze is not installed") }
        do {
            // A systemd that does not answer must not hold up the check-in for long.
            let output =
                Command.find("timeout") != nil
                ? try Command.run("timeout", ["20", analyze, "security", "--no-pager", unit])
                : try Command.run("systemd-analyze", ["security", "--no-pager", unit])
            return parse(output)
        } catch {
            return UnitHardening(detail: String("systemd-analyze security failed: \(error)".prefix(256)))
        }
    }

    /// The overall score from the last line of `systemd-analyze security UNIT`:
    /// `→ Overall exposure level for kontor-agent.service: 4.9 OK 🙂`.
    static func parse(_ output: String) -> UnitHardening {
        let marker = "Overall exposure level for "
        guard let line = output.split(separator: "\n").last(where: { $0.contains(marker) }), let start = line.firstRange(of: marker),
            let colon = line[start.upperBound...].firstRange(of: ": ")
        else { return UnitHardening(detail: "systemd-analyze printed no overall exposure level") }
        let words = line[colon.upperBound...].split(separator: " ")
        guard let first = words.first, let score = Double(first), (0...10).contains(score) else {
            return UnitHardening(detail: "systemd-analyze printed an exposure level that is not a number from 0 to 10")
        }
        let rating = words.dropFirst().first.map(String.init).flatMap { ["OK", "MEDIUM", "EXPOSED", "UNSAFE"].contains($0) ? $0 : nil }
        return UnitHardening(exposure: score, rating: rating)
    }
}
