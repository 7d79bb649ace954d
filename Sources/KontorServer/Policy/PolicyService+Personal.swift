import Foundation
import KontorCore
import KontorStore

extension PolicyService {
    /// Refuses assigning `profile` where it reaches personal devices only (the ownership `personal`, or one
    /// personal device) when it holds what reaches beyond the work container (``PersonalDevice``).
    func checkPersonalBoundary(_ profile: Profile, scope: String, target: String, snapshot: PolicyCatalog.Snapshot) async throws {
        switch scope {
        case "ownership" where target == Ownership.personal.rawValue:
            try refuseBeyondContainer(profile, snapshot: snapshot, assignedTo: "personal devices")
        case "device":
            guard let device = try await store.device(id: target), device.ownership == .personal else { return }
            try refuseBeyondContainer(profile, snapshot: snapshot, assignedTo: "personal device \(device.id)")
        default:
            return
        }
    }

    /// Refuses a new revision of a profile that is assigned to personal devices only when it reaches beyond
    /// the work container.
    func checkPersonalAssignments(_ profile: Profile, snapshot: PolicyCatalog.Snapshot) async throws {
        for assignment in snapshot.assignments where assignment.profile == profile.name {
            try await checkPersonalBoundary(profile, scope: assignment.scope, target: assignment.target, snapshot: snapshot)
        }
    }

    /// An offline wipe is allowed only when the profile names published terms that allow it (the person's
    /// acceptance is checked per device, in the merge); posture requirements never are.
    private func refuseBeyondContainer(_ profile: Profile, snapshot: PolicyCatalog.Snapshot, assignedTo: String) throws {
        let terms = profile.usageTermsVersion.flatMap { snapshot.terms[$0] }
        let fields = PersonalDevice.fieldsBeyondContainer(profile, offlineWipeAllowed: terms?.allowsOfflineWipeOnPersonalDevices == true)
        guard let field = fields.first else { return }
        let why =
            field == "offline.wipeAfter"
            ? "reaches beyond the work container unless the profile's usageTermsVersion names terms published with --allows-offline-wipe-on-personal-devices"
            : "reaches beyond the work container"
        throw KontorError.unprocessable("profile \"\(profile.name)\" is assigned to \(assignedTo): \(field) \(why)")
    }
}
