import Crypto
import Foundation
import KontorCore
import KontorSQLite
import KontorStore
import Synchronization

/// The replay window of a server on SQLite, kept across restarts at almost no cost on the check-in path.
///
/// Nonces are held in memory (``NonceCache``); what a restart would forget is covered by a bound on
/// `created` instead (``DeviceAuthenticator``): the restarted server refuses every signature created no
/// later than the last second in which the previous process accepted one (which it writes when it
/// stops), or than the start of this process after a crash, since nothing says when the crashed one
/// last accepted. That leaves signatures created *ahead* of the server's clock (a device clock that runs
/// fast): they are not "before" anything yet, so their nonces — none at all from devices whose clock is
/// right — are written to the database before the request is answered and read back at the next start.
///
/// Measured against writing every nonce to SQLite: docs/benchmarks.md ("Replay window across restarts").
public final class SQLiteReplayWindow: ReplayWindow {
    let store: SQLiteStore
    let local = NonceCache()
    /// Signatures created before this second are refused.
    public let notBefore: Int?
    /// Nonce hashes written by an earlier process and still in their window at start, with their expiry.
    private let earlier: Mutex<[String: Int]>
    /// The last expiry among them (0 when there are none): after it, the check is skipped.
    private let earlierUntil: Atomic<Int>
    /// The latest `created` second of a signature accepted here without writing its nonce.
    private let lastAccepted: Atomic<Int>
    private let lastPurge = Atomic<Int>(0)

    /// Where the previous process left off, in the settings table: `serving` while a server runs (so a
    /// crash is told from a stop), `stopped SECOND` after a clean stop.
    static let stateKey = "replayWindow"

    /// Opens the window of a server that starts serving on `store` at `now`: reads where the previous
    /// process left off and the nonces it wrote, and records that a server is serving.
    public static func beginServing(store: SQLiteStore, now: Int) async throws -> SQLiteReplayWindow {
        let state = try await store.setting(stateKey)
        let notBefore: Int?
        if let state, state.hasPrefix("stopped "), let last = Int(state.dropFirst("stopped ".count)) {
            notBefore = last + 1
        } else if state == nil, try await store.deviceCount() == 0 {
            // A new installation: no signed request was ever accepted.
            notBefore = nil
        } else {
            // A crash (or an earlier version that kept no state): everything up to now may have been used.
            notBefore = now + 1
        }
        try await store.setSetting(stateKey, value: "serving")
        let live = try await store.liveNonces(at: Double(now)).mapValues { Int($0) }
        return SQLiteReplayWindow(store: store, notBefore: notBefore, earlier: live)
    }

    init(store: SQLiteStore, notBefore: Int?, earlier: [String: Int]) {
        self.store = store
        self.notBefore = notBefore
        self.earlier = Mutex(earlier)
        self.earlierUntil = Atomic(earlier.values.max() ?? 0)
        self.lastAccepted = Atomic((notBefore ?? 1) - 1)
    }

    /// Records where this process leaves off; called once the server has answered its last request.
    public func endServing() async throws {
        try await store.setSetting(Self.stateKey, value: "stopped \(lastAccepted.load(ordering: .acquiring))")
    }

    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        guard local.insert(key: key, nonce: nonce, expiry: expiry, now: now) else { return false }
        let created = expiry - DeviceAPI.signatureWindow - 1
        if now <= earlierUntil.load(ordering: .relaxed) {
            // Within ten minutes of a start that found nonces from fast device clocks.
            if let until = earlier.withLock({ $0[Self.hash(key: key, nonce: nonce)] }), until >= now { return false }
        }
        guard created > now else {
            // The usual case, a device clock not ahead of the server's: memory only.
            noteAccepted(created)
            return true
        }
        try await store.recordNonce(Self.hash(key: key, nonce: nonce), expiresAt: Double(expiry))
        let last = lastPurge.load(ordering: .relaxed)
        if now - last >= 60, lastPurge.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged {
            try await store.purgeNonces(before: Double(now))
        }
        return true
    }

    /// Raises `lastAccepted` to `created`; it moves at most once a second, so this is one load almost always.
    private func noteAccepted(_ created: Int) {
        var last = lastAccepted.load(ordering: .relaxed)
        while created > last {
            let (exchanged, original) = lastAccepted.compareExchange(expected: last, desired: created, ordering: .relaxed)
            if exchanged { return }
            last = original
        }
    }

    static func hash(key: String, nonce: String) -> String { Bytes.sha256Hex(Data("\(key)\n\(nonce)".utf8)) }
}
