import Foundation
import KontorCore
import KontorStore

/// Keeps the policy each active device should run stored beside the device (``FleetStore``), so the
/// console counts, filters and pages compliance in SQL.
///
/// Stored rather than compared per request: an expected policy is the same for devices of one person,
/// group, ownership and device assignment, but it depends on the person (the container account is named
/// after their email, exemptions name persons, terms are answered and offboardings run per person), so a
/// real fleet has about as many expected policies as people — too many to hand to a query each time.
/// What is stored is made current before every read of the fleet (``ensureCurrent()``), so a change shows
/// on the next page, as it did when every page computed every device:
/// - after the policy catalog changed (profiles, assignments, the interval, terms and their answers,
///   offboardings; this process sees its own changes and, announced, the other instances'), and once after
///   a start, every active device is computed again and the rows that differ are written;
/// - otherwise only the devices the store cleared: new devices, and those whose person's email or groups
///   changed (the store's triggers clear them).
actor ExpectedPolicies {
    let store: any FleetStore & PersonStore
    let policies: PolicyService
    /// The catalog generation every active device was last computed under; nil before the first pass.
    private var computedUnder: Int?
    /// The latest pass; each runs after the one before it.
    private var latest: Task<Void, any Error>?
    /// Rows written per transaction, so check-ins are written between them.
    static let batch = 2_000

    init(store: any FleetStore & PersonStore, policies: PolicyService) {
        self.store = store
        self.policies = policies
    }

    /// Returns when what is stored is current for the catalog as this process knows it. Passes run one at
    /// a time: a request that comes while one runs has its own after it (usually one query that finds
    /// nothing to do).
    func ensureCurrent() async throws {
        let before = latest
        let task = Task {
            _ = try? await before?.value
            try await self.pass()
        }
        latest = task
        try await task.value
    }

    private func pass() async throws {
        let snapshot = try await policies.snapshot()
        let all = computedUnder != snapshot.generation
        let inputs = try await store.expectedPolicyInputs(all: all)
        if !inputs.isEmpty {
            var persons: [String: Person] = [:]
            if all {
                for person in try await store.persons() { persons[person.id] = person }
            } else {
                for id in Set(inputs.compactMap(\.personId)) { persons[id] = try await store.person(id: id) }
            }
            let computed = policies.expectedPolicies(for: inputs, persons: persons, snapshot: snapshot)
            let updates = inputs.compactMap { i -> ExpectedPolicyUpdate? in
                guard let expected = computed[i.deviceId], expected != i.expected else { return nil }
                return ExpectedPolicyUpdate(deviceId: i.deviceId, expected: expected, previousHash: i.expected?.hash)
            }
            for start in stride(from: 0, to: updates.count, by: Self.batch) {
                try await store.setExpectedPolicies(Array(updates[start..<min(updates.count, start + Self.batch)]))
            }
        }
        if all { computedUnder = snapshot.generation }
    }
}

extension PolicyService {
    /// The policy each device should run, as compliance needs it, by device ID: from the device cache where
    /// a check-in computed it under `snapshot`, else merged once per group of devices that get the same
    /// policy — the same person (or, without one, the same account name and the same answers to terms),
    /// group, ownership and device assignment — and kept in the device cache for the devices' next check-ins.
    func expectedPolicies(for inputs: [ExpectedPolicyInputs], persons: [String: Person], snapshot: PolicyCatalog.Snapshot) -> [String: ExpectedPolicy] {
        var answeredByDevice = Set<Substring>()
        for key in snapshot.termsAnswers.keys where key.hasPrefix("d:") { answeredByDevice.insert(key.dropFirst(2).prefix { $0 != "|" }) }
        var merged: [String: DeviceCache.CachedPolicy] = [:]
        var out: [String: ExpectedPolicy] = [:]
        out.reserveCapacity(inputs.count)
        for i in inputs {
            if let cached = devices.policy(keyId: i.keyId, generation: snapshot.generation) {
                out[i.deviceId] = ExpectedPolicy(hash: cached.hash, posture: cached.posture)
                continue
            }
            let person = i.personId.flatMap { persons[$0] }
            // Without a person, the account is named after the ID's first 8 characters (PolicyMerge's fallback).
            let who =
                person.map { "p:" + $0.id }
                ?? "d:" + i.deviceId.prefix(8) + (answeredByDevice.contains(Substring(i.deviceId)) ? "|" + i.deviceId : "")
            let key = [who, i.group ?? "\u{0}", i.ownership.rawValue, snapshot.devices[i.deviceId] ?? "\u{0}"].joined(separator: "\u{1}")
            let policy =
                merged[key]
                ?? {
                    let policy = Self.effectivePolicy(
                        deviceId: i.deviceId, person: person, group: i.group, ownership: i.ownership, snapshot: snapshot,
                        defaultInterval: snapshot.checkinInterval)
                    return DeviceCache.CachedPolicy(
                        generation: snapshot.generation, hash: policy.canonicalHash, interval: policy.checkinInterval, posture: policy.posture)
                }()
            merged[key] = policy
            devices.rememberPolicy(keyId: i.keyId, policy)
            out[i.deviceId] = ExpectedPolicy(hash: policy.hash, posture: policy.posture)
        }
        return out
    }
}

extension ExpectedPolicy {
    /// A policy's hash and posture requirements.
    init(hash: String, posture: PosturePolicy?) {
        self.init(hash: hash, requiresDiskEncryption: posture?.requireDiskEncryption == true, maxUpdateAgeDays: posture?.maxUpdateAgeDays)
    }
}
