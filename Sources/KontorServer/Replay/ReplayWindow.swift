import Foundation
import KontorCore

/// Where a signature's nonce is remembered for its window, so a captured request is accepted once.
public protocol ReplayWindow: Sendable {
    /// Records the nonce of `key` until `expiry` (seconds since 1970); false when it is a replay.
    func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool
    /// Signatures created before this second (since 1970) are refused: the window cannot tell whether
    /// they were used before this process started (``SQLiteReplayWindow``). Nil: it can tell for any.
    var notBefore: Int? { get }
}

extension NonceCache: ReplayWindow {
    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        insert(key: key, nonce: nonce, expiry: expiry, now: now)
    }

    /// Memory only; used where nothing outlives the process (tests), or wrapped by a window that knows more.
    public var notBefore: Int? { nil }
}
