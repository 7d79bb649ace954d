#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What policy may do on a personal device: only what stays inside the work container. Device-wide posture
/// requirements (disk encryption, update age) reach the person's own machine, and so does an offline wipe
/// unless the terms the person accepted allow it. The server refuses such profiles where they are assigned
/// to personal devices only, and leaves such fields out (listing them) where a layer reaches both kinds.
public enum PersonalDevice {
    /// The fields of `profile` that reach beyond the work container, each as `field` (in profile order);
    /// `offline.wipeAfter` only when `offlineWipeAllowed` is false.
    public static func fieldsBeyondContainer(_ profile: Profile, offlineWipeAllowed: Bool) -> [String] {
        var out = postureFields(profile.posture)
        if profile.offline?.wipeAfter != nil, !offlineWipeAllowed { out.append("offline.wipeAfter") }
        return out
    }

    /// The posture fields that require something of the whole device (`false` requires nothing).
    static func postureFields(_ posture: PosturePolicy?) -> [String] {
        var out: [String] = []
        if posture?.requireDiskEncryption == true { out.append("posture.requireDiskEncryption") }
        if posture?.maxUpdateAgeDays != nil { out.append("posture.maxUpdateAgeDays") }
        return out
    }

    /// A merged policy made fit for a personal device: marked `personal`, without posture requirements, and
    /// without an offline wipe unless `offlineWipe` is nil (allowed); each field left out is listed in
    /// `notApplied` with why. `offlineWipe` says why an offline wipe is not allowed.
    public static func restrict(_ policy: EffectivePolicy, offlineWipe refusal: String?) -> EffectivePolicy {
        var out = policy
        out.ownership = .personal
        var dropped = postureFields(policy.posture).map { "\($0): personal device" }
        out.posture = nil
        if let refusal, policy.offline?.wipeAfter != nil {
            dropped.append("offline.wipeAfter: personal device, \(refusal)")
            out.offline?.wipeAfter = nil
            if out.offline?.lockAfter == nil { out.offline = nil }
        }
        for field in dropped.map({ String($0.prefix { $0 != ":" }) }) { out.origins?[field] = nil }
        if out.origins?.isEmpty == true { out.origins = nil }
        out.notApplied = dropped.isEmpty ? nil : dropped
        return out
    }

    /// Why an offline wipe is not allowed on a personal device whose policy names `terms` (nil when it is):
    /// the terms must allow it and the device's person must have accepted them.
    public static func offlineWipeRefusal(terms: UsageTerms?, decision: TermsDecision?) -> String? {
        guard let terms else { return "no usage terms allow it" }
        guard terms.allowsOfflineWipeOnPersonalDevices == true else { return "usage terms \(terms.version) do not allow it" }
        guard decision == .accepted else { return "usage terms \(terms.version) not accepted" }
        return nil
    }
}
