import Foundation

/// What the retention service deletes (GDPR Art. 5(1)(e), storage limitation). Every delete takes at most
/// `limit` rows in one short transaction, so a large backlog is worked off in many small writes and check-ins
/// are never held behind one long write lock; the caller repeats until fewer than `limit` come back.
public protocol RetentionStore: Sendable {
    /// Deletes at most `limit` device events that happened (by the device's clock) before `before`, oldest
    /// first; returns how many.
    func deleteEvents(before: Date, limit: Int) async throws -> Int
    /// Deletes at most `limit` enrollment tokens that nobody can use any more since before `before`: expired
    /// before it, revoked before it, or with every use taken and no device enrolled with them since. Devices
    /// enrolled with a deleted token keep no reference to it (the audit log keeps its creation). Returns how many.
    func deleteSpentEnrollmentTokens(before: Date, limit: Int) async throws -> Int
    /// The IDs of the offboarded persons whose offboarding completed before `before`, earliest completion first.
    func personsOffboarded(before: Date) async throws -> [String]
    /// How many device events the store holds.
    func eventCount() async throws -> Int
}
