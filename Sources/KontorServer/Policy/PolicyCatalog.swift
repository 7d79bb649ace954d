import Foundation
import KontorCore
import KontorProfiles
import KontorStore
import Synchronization

/// The latest revision of every profile and every assignment, cached in memory and reloaded after any
/// change, so a check-in computes its device's policy without reading them from the store.
actor PolicyCatalog {
    struct Snapshot: Sendable {
        /// The latest revision of every profile that may be delivered.
        var latest: [String: ProfileRevision]
        /// Latest revisions stored under older rules that break today's (the work/private boundary):
        /// never delivered until a fixed revision is applied; `kontorctl profiles lint` lists them.
        var held: [String: (revision: ProfileRevision, issues: [ProfileIssue])] = [:]
        var defaultProfile: String?
        /// The profile assigned to each ownership (`company`, `personal`).
        var ownerships: [String: String] = [:]
        var groups: [String: String]
        var devices: [String: String]
        var assignments: [ProfileAssignment]
        /// The server-wide default check-in interval (a run-time setting).
        var checkinInterval: Int
        /// Counts up with every reload, so what was derived from an older snapshot is recognised as stale.
        var generation = 0
        /// The published usage terms, by version.
        var terms: [String: UsageTerms] = [:]
        /// The latest answer to each version: by person (`p:ID|version`), or by device for a device without one (`d:ID|version`).
        var termsAnswers: [String: TermsDecision] = [:]
        /// The wipe date of every person being offboarded, by person ID.
        var offboardings: [String: Date] = [:]

        /// The answer that counts for a device: its person's (on any of their devices), else its own.
        func answer(personId: String?, deviceId: String, version: String) -> TermsDecision? {
            termsAnswers[personId.map { "p:\($0)|\(version)" } ?? "d:\(deviceId)|\(version)"]
        }
    }

    private var cached: Snapshot?
    private var generation = 0
    /// The generation, readable without waiting for the actor: a check-in compares it with the one its
    /// device's cached policy hash was computed under (``DeviceCache``).
    nonisolated let currentGeneration = Generation()

    final class Generation: Sendable {
        private let value = Atomic<Int>(0)
        var current: Int { value.load(ordering: .acquiring) }
        func set(_ new: Int) { value.store(new, ordering: .releasing) }
    }

    func snapshot(_ store: any PolicyStore & SettingsStore & TermsStore & OffboardingStore, defaultInterval: Int) async throws -> Snapshot {
        if let cached { return cached }
        var latest: [String: ProfileRevision] = [:]
        var held: [String: (revision: ProfileRevision, issues: [ProfileIssue])] = [:]
        for revision in try await store.latestProfiles() {
            let issues = ProfileValidator.issues(in: revision.profile)
            if issues.isEmpty { latest[revision.name] = revision } else { held[revision.name] = (revision, issues) }
        }
        let assignments = try await store.assignments()
        let interval = try await store.setting(Settings.checkinIntervalKey).flatMap(Int.init) ?? defaultInterval
        var snapshot = Snapshot(
            latest: latest, held: held, defaultProfile: nil, groups: [:], devices: [:], assignments: assignments, checkinInterval: interval,
            generation: generation)
        for terms in try await store.allTerms() { snapshot.terms[terms.version] = terms }
        for answer in try await store.termsResponses(version: nil) {
            snapshot.termsAnswers[answer.personId.map { "p:\($0)|\(answer.version)" } ?? "d:\(answer.deviceId)|\(answer.version)"] = answer.decision
        }
        for offboarding in try await store.openOffboardings() { snapshot.offboardings[offboarding.personId] = offboarding.wipeAt }
        for a in assignments {
            switch a.scope {
            case "default": snapshot.defaultProfile = a.profile
            case "ownership": snapshot.ownerships[a.target] = a.profile
            case "group": snapshot.groups[a.target] = a.profile
            default: snapshot.devices[a.target] = a.profile
            }
        }
        cached = snapshot
        return snapshot
    }

    func invalidate() {
        cached = nil
        generation += 1
        currentGeneration.set(generation)
    }
}
