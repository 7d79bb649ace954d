#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Computes a device's effective policy from the profiles assigned to it. One pure function, used by
/// the server for check-ins and by `kontorctl profiles` for previews.
///
/// The rules (docs/policies.md): layers are applied general to specific — the default profile, then the
/// profile for the device's ownership (company or personal), then the device's group's profile, then the
/// device's own profile. Each field is taken from the most specific
/// layer that sets it; lists replace, they are not concatenated. A section (quiet hours, apps, container,
/// offline, posture) exists when any layer has it. Exemptions are narrowed to the device's person.
public enum PolicyMerge {
    public static func effectivePolicy(
        layers: [AssignedProfile], subject: PolicySubject?, fallbackAccountSuffix: String, defaultCheckinInterval: Int
    ) -> EffectivePolicy {
        let layered = Layers(layers)
        var policy = EffectivePolicy(sources: layers.map(\.source.description), checkinInterval: defaultCheckinInterval)
        policy.checkinInterval = layered.pick("checkinInterval") { $0.checkinInterval } ?? defaultCheckinInterval
        policy.usageTermsVersion = layered.pick("usageTermsVersion") { $0.usageTermsVersion }
        if layered.any({ $0.quietHours != nil }) { policy.quietHours = quietHours(layered, subject: subject) }
        if layered.any({ $0.apps != nil }) {
            policy.apps = AppPolicy(
                mode: layered.pick("apps.mode") { $0.apps?.mode } ?? "audit",
                allow: layered.pick("apps.allow") { $0.apps?.allow } ?? [])
        }
        if layered.any({ $0.container != nil }) {
            policy.container = container(layered, localpart: subject?.localpart ?? fallbackAccountSuffix)
        }
        if layered.any({ $0.offline != nil }) {
            policy.offline = OfflinePolicy(
                lockAfter: layered.pick("offline.lockAfter") { $0.offline?.lockAfter },
                wipeAfter: layered.pick("offline.wipeAfter") { $0.offline?.wipeAfter })
        }
        if layered.any({ $0.posture != nil }) {
            policy.posture = PosturePolicy(
                requireDiskEncryption: layered.pick("posture.requireDiskEncryption") { $0.posture?.requireDiskEncryption },
                maxUpdateAgeDays: layered.pick("posture.maxUpdateAgeDays") { $0.posture?.maxUpdateAgeDays })
        }
        // Retention is one promise (what is kept, for whom, how long): the most specific layer's whole section.
        if let retention = layered.pick("retention", { $0.retention }) {
            let localpart = subject?.localpart ?? fallbackAccountSuffix
            policy.retention = RetentionPolicy(
                paths: retention.paths.map { expand($0, localpart: localpart, account: policy.container?.account ?? "work-" + localpart) },
                recipients: retention.recipients, retainDays: retention.retainDays, mode: retention.mode ?? "required",
                timeoutMinutes: retention.timeoutMinutes ?? RetentionPolicy.defaultTimeoutMinutes)
        }
        policy.origins = layered.origins.isEmpty ? nil : layered.origins
        return policy
    }

    private static func quietHours(_ layered: Layers, subject: PolicySubject?) -> QuietHoursPolicy {
        var quiet = QuietHoursPolicy()
        quiet.timeZone = layered.pick("quietHours.timeZone") { $0.quietHours?.timeZone }
        quiet.weekly = layered.pick("quietHours.weekly") { $0.quietHours?.weekly } ?? [:]
        quiet.holidayRegion = layered.pick("quietHours.holidayRegion") { $0.quietHours?.holidayRegion }
        quiet.extraDates = layered.pick("quietHours.extraDates") { $0.quietHours?.extraDates } ?? []
        let exemptions = layered.pick("quietHours.exemptions") { $0.quietHours?.exemptions } ?? []
        quiet.onCall =
            subject.map { s in
                exemptions.filter { $0.applies(to: s) }.map { QuietHoursPolicy.OnCall(from: $0.from, until: $0.until, reason: $0.reason) }
            } ?? []
        quiet.allowUserOverride = layered.pick("quietHours.allowUserOverride") { $0.quietHours?.allowUserOverride } ?? false
        // Only when asked for: the policy (and its hash) stays as before for every profile that does not.
        quiet.lockContainerKey = layered.pick("quietHours.lockContainerKey") { $0.quietHours?.lockContainerKey } == true ? true : nil
        return quiet
    }

    private static func container(_ layered: Layers, localpart: String) -> ResolvedContainer {
        let pattern = layered.pick("container.accountPattern") { $0.container?.accountPattern } ?? "work-{localpart}"
        let account = ContainerNames.account(pattern: pattern, localpart: localpart)
        let paths = (layered.pick("container.extraWorkPaths") { $0.container?.extraWorkPaths } ?? []).map {
            expand($0, localpart: localpart, account: account)
        }
        return ResolvedContainer(account: account, extraWorkPaths: paths)
    }

    /// A work path template with `{localpart}` and `{account}` filled in.
    private static func expand(_ template: String, localpart: String, account: String) -> String {
        template.replacing("{localpart}", with: localpart).replacing("{account}", with: account)
    }

    /// The assigned profiles, general to specific, and where each picked field came from.
    private final class Layers {
        let layers: [AssignedProfile]
        private(set) var origins: [String: String] = [:]

        init(_ layers: [AssignedProfile]) { self.layers = layers }

        func any(_ has: (Profile) -> Bool) -> Bool { layers.contains { has($0.profile) } }

        /// The value of `field` from the most specific layer that sets it, noting where it came from.
        func pick<T>(_ name: String, _ field: (Profile) -> T?) -> T? {
            for layer in layers.reversed() {
                if let value = field(layer.profile) {
                    origins[name] = layer.source.description
                    return value
                }
            }
            return nil
        }
    }
}

/// Names of work-container accounts.
public enum ContainerNames {
    /// Expands `{localpart}` and trims to a valid Linux user name (at most 32 characters).
    public static func account(pattern: String, localpart: String) -> String {
        let expanded = pattern.replacing("{localpart}", with: localpart).lowercased()
        return String(expanded.prefix(32))
    }

    /// Whether `name` is a safe Linux user name: starts with a letter, then letters, digits, `-` or `_`.
    public static func isValidAccount(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLowercase, (1...32).contains(name.count) else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}
