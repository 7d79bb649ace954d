import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

extension AgentStatusReport {
    /// The posture in plain words for the person at the device, with what the organisation requires.
    static func postureLines(_ posture: DevicePosture, required: PosturePolicy?, failures: [String], now: Date) -> [String] {
        func because(_ detail: String?) -> String { detail.map { " (\($0))" } ?? "" }
        func day(_ date: Date?) -> String {
            guard let date else { return "unknown" }
            let days = Int(now.timeIntervalSince(date) / 86_400)
            return "\(ISO8601.string(from: date).prefix(10)) (\(days <= 0 ? "today" : days == 1 ? "1 day ago" : "\(days) days ago"))"
        }
        var lines = ["Security posture of this device (sent to your organisation):"]
        let disk = posture.diskEncryption
        switch disk.state {
        case .encrypted: lines.append("  - disk encryption: the system disk is encrypted\(because(disk.detail))")
        case .notEncrypted: lines.append("  - disk encryption: the system disk is NOT encrypted\(because(disk.detail))")
        case .unknown: lines.append("  - disk encryption: cannot be told\(because(disk.detail))")
        }
        let boot = posture.secureBoot
        switch boot.state {
        case .enabled: lines.append("  - Secure Boot: on")
        case .disabled: lines.append("  - Secure Boot: off\(because(boot.detail))")
        case .setupMode: lines.append("  - Secure Boot: off, the firmware is in setup mode\(because(boot.detail))")
        case .notUEFI: lines.append("  - Secure Boot: not available, the computer starts in legacy BIOS mode")
        case .unknown: lines.append("  - Secure Boot: cannot be told\(because(boot.detail))")
        }
        let updates = posture.updates
        lines.append("  - updates: package lists last updated \(day(updates.listsUpdatedAt)), packages last upgraded \(day(updates.lastUpgradeAt))")
        if let count = updates.securityUpdates {
            let names = (updates.securityPackages ?? []).prefix(5).joined(separator: ", ")
            lines.append(
                count == 0
                    ? "  - no security updates waiting" : "  - \(count) security update\(count == 1 ? "" : "s") waiting: \(names)\(count > 5 ? ", …" : "")")
        } else {
            lines.append("  - waiting security updates: cannot be told\(because(updates.detail))")
        }
        if updates.rebootRequired {
            let names = (updates.rebootPackages ?? []).joined(separator: ", ")
            lines.append("  - a restart is needed to finish updates\(names.isEmpty ? "" : " (\(names))")")
        }
        let unit = posture.unitHardening
        if let exposure = unit.exposure {
            lines.append("  - the Kontor agent's service: exposure \(exposure) of 10\(unit.rating.map { " (\($0))" } ?? "") — lower is better")
        } else {
            lines.append("  - the Kontor agent's service hardening: not measured\(because(unit.detail))")
        }
        var rules: [String] = []
        if required?.requireDiskEncryption == true { rules.append("an encrypted system disk") }
        if let days = required?.maxUpdateAgeDays { rules.append("updates at most \(days) days old") }
        if !rules.isEmpty {
            lines.append(
                "Your organisation requires \(rules.joined(separator: " and ")): \(failures.isEmpty ? "met" : "NOT met — \(failures.joined(separator: ", "))")."
            )
        }
        return lines
    }
}
