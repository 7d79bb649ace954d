import Foundation

/// The nonces (by hash) of accepted device signatures, kept where more than this process's memory must see
/// them: every instance on PostgreSQL, the next process on SQLite. Times are seconds since 1970.
public protocol ReplayNonceStore: Sendable {
    /// Records a nonce hash until `expiresAt`; false, changing nothing, when it is recorded already and has not
    /// expired at `now` (a replay, whichever instance or process saw it first).
    func recordNonce(_ hash: String, expiresAt: Double, now: Double) async throws -> Bool
    /// Records several nonce hashes until `expiresAt`, in one transaction, replacing their expiry.
    func recordNonces(_ hashes: [String], expiresAt: Double) async throws
    /// The nonce hashes still in their window at `now` (expiring at or after it), with their expiry.
    func liveNonces(at now: Double) async throws -> [String: Double]
    /// Deletes the nonces that expired before `before`; returns how many.
    @discardableResult
    func purgeNonces(before: Double) async throws -> Int
}
