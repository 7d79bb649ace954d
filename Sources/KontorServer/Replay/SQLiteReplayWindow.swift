import Foundation
import KontorCore
import KontorStore
import Synchronization

/// The replay window of a server on SQLite, kept across restarts at almost no cost on the check-in path.
///
/// Nonces are held in memory (``NonceCache``); what a restart would forget is covered by a bound on
/// `created` instead (``DeviceAuthenticator``). On a clean stop the server writes the last second in
/// which it accepted a signature, and the nonces it accepted in that very second; the next process
/// refuses every signature created before that second and checks those of that second against the
/// written nonces, so nothing signed afresh is refused. After a crash nothing says when the crashed
/// process last accepted one, so the bound is this process's start. That leaves signatures created
/// *ahead* of the server's clock (a device clock that runs fast): they are not "before" anything yet,
/// so their nonces — none at all from devices whose clock is right — are written to the database
/// before the request is answered, and read back at the next start.
///
/// It needs a store that only this process writes (SQLite); several instances share ``SharedReplayWindow``.
/// Measured against writing every nonce to SQLite: docs/benchmarks.md ("Replay window across restarts").
public final class SQLiteReplayWindow: ReplayWindow {
    /// What the window reads and writes: its state (settings), whether any device enrolled, and nonces.
    public typealias Store = ReplayNonceStore & SettingsStore & DeviceStore

    let store: any Store
    let stored: StoredNonces
    let local = NonceCache()
    /// Signatures created before this second are refused.
    public let notBefore: Int?
    /// Nonce hashes written by an earlier process and still in their window at start, with their expiry.
    private let earlier: Mutex<[String: Int]>
    /// The last expiry among them (0 when there are none): after it, the check is skipped.
    private let earlierUntil: Atomic<Int>
    /// The latest `created` second of a signature accepted here without writing its nonce, and the key
    /// and nonce of each signature accepted with that second (written on a clean stop).
    private let recent: Mutex<(second: Int, nonces: [(key: String, nonce: String)])>

    /// Where the previous process left off, in the settings table: `serving` while a server runs (so a
    /// crash is told from a stop), `stopped SECOND` after a clean stop.
    static let stateKey = "replayWindow"

    /// Opens the window of a server that starts serving on `store` at `now`: reads where the previous
    /// process left off and the nonces it wrote, and records that a server is serving.
    public static func beginServing(store: any Store, now: Int) async throws -> SQLiteReplayWindow {
        let state = try await store.setting(stateKey)
        let notBefore: Int?
        if let state, state.hasPrefix("stopped "), let last = Int(state.dropFirst("stopped ".count)) {
            // Its last second's nonces were written with it: that second is checked against them.
            notBefore = last
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

    init(store: any Store, notBefore: Int?, earlier: [String: Int]) {
        self.store = store
        self.stored = StoredNonces(store: store)
        self.notBefore = notBefore
        self.earlier = Mutex(earlier)
        self.earlierUntil = Atomic(earlier.values.max() ?? 0)
        // Until this process accepts something, it leaves off where the previous one did (whose last
        // second's nonces are still in the database).
        self.recent = Mutex((notBefore ?? 0, []))
    }

    /// Records where this process leaves off: the last second in which it accepted a signature, and that
    /// second's nonces. Called once the server has answered its last request.
    public func endServing() async throws {
        let (second, nonces) = recent.withLock { ($0.second, $0.nonces) }
        try await store.recordNonces(nonces.map { StoredNonces.hash(key: $0.key, nonce: $0.nonce) }, expiresAt: Double(second + DeviceAPI.signatureWindow + 1))
        try await store.setSetting(Self.stateKey, value: "stopped \(second)")
    }

    public func firstUse(key: String, nonce: String, expiry: Int, now: Int) async throws -> Bool {
        guard local.insert(key: key, nonce: nonce, expiry: expiry, now: now) else { return false }
        let created = expiry - DeviceAPI.signatureWindow - 1
        if now <= earlierUntil.load(ordering: .relaxed) {
            // Within ten minutes of a start that found nonces from fast device clocks.
            if let until = earlier.withLock({ $0[StoredNonces.hash(key: key, nonce: nonce)] }), until >= now { return false }
        }
        guard created > now else {
            // The usual case, a device clock not ahead of the server's: memory only.
            noteAccepted(created, key: key, nonce: nonce)
            return true
        }
        // Only this process writes the store, and the nonces earlier processes wrote were checked above.
        _ = try await stored.record(key: key, nonce: nonce, expiry: expiry, now: now)
        return true
    }

    /// Notes an accepted signature: a later second starts a new list, one of the current second joins it.
    private func noteAccepted(_ created: Int, key: String, nonce: String) {
        recent.withLock { recent in
            if created > recent.second {
                recent.second = created
                recent.nonces.removeAll(keepingCapacity: true)
                recent.nonces.append((key, nonce))
            } else if created == recent.second {
                recent.nonces.append((key, nonce))
            }
        }
    }
}
