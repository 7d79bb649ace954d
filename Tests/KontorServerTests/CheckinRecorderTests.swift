import Crypto
import Foundation
import KontorCore
import KontorSQLite
import KontorStore
import Testing

@testable import KontorServer

@Suite("Coalesced last-seen writes and the device cache")
struct CheckinRecorderTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func enrolled() async throws -> (SQLiteStore, Device) {
        let store = try SQLiteStore.inMemory()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 1, expiresAt: t0 + 3600, createdAt: t0), secretHash: secret.secretHash
            ))
        let key = Curve25519.Signing.PrivateKey().publicKey
        let device = try await store.enroll(
            NewDevice(id: "d1", keyId: DeviceKeys.keyID(for: key), publicKey: DeviceKeys.base64(key), facts: sampleFacts, acceptedTermsVersion: nil),
            tokenId: secret.id, now: t0)
        return (store, device)
    }

    /// One check-in as the route does it: the cache says whether it changed anything, the recorder keeps it.
    func checkin(_ cache: DeviceCache, _ recorder: CheckinRecorder, _ device: Device, at: Date, hash: String?, facts: DeviceFacts? = nil) async {
        let record = CheckinRecord(deviceId: device.id, at: at, appliedPolicyHash: hash, status: nil, facts: facts)
        await recorder.record(record, changed: cache.noteCheckin(keyId: device.keyId, record))
    }

    @Test("unchanged check-ins are written at most once per interval, and reads see them at once")
    func coalesces() async throws {
        let (store, device) = try await enrolled()
        let cache = DeviceCache()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        _ = try await cache.device(keyId: device.keyId, store: store, now: Int(t0.timeIntervalSince1970))
        await checkin(cache, recorder, device, at: t0, hash: "sha256:a")
        #expect(try await recorder.flush(now: t0) == 1)

        for i in 1...10 {
            await checkin(cache, recorder, device, at: t0 + Double(i * 10), hash: "sha256:a")
            #expect(try await recorder.flush(now: t0 + Double(i * 10)) == 0)
        }
        let current = try #require(try await store.device(id: device.id))
        #expect(await recorder.overlay(current).lastSeen == t0 + 100)
        #expect(current.lastSeen == t0)

        // Due a full interval after the first check-in that was not written (t0 + 10).
        #expect(try await recorder.flush(now: t0 + 309) == 0)
        #expect(try await recorder.flush(now: t0 + 310) == 1)
        #expect(try await store.device(id: device.id)?.lastSeen == t0 + 100)
        #expect(await recorder.pendingCount == 0)
    }

    @Test("a change of applied policy or facts is written at the next flush")
    func urgentChange() async throws {
        let (store, device) = try await enrolled()
        let cache = DeviceCache()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        _ = try await cache.device(keyId: device.keyId, store: store, now: Int(t0.timeIntervalSince1970))
        await checkin(cache, recorder, device, at: t0, hash: "sha256:a")
        try await recorder.flush(now: t0)
        await checkin(cache, recorder, device, at: t0 + 5, hash: "sha256:b")
        #expect(try await recorder.flush(now: t0 + 5) == 1)
        #expect(try await store.device(id: device.id)?.appliedPolicyHash == "sha256:b")

        // The same facts as enrolled change nothing; new ones are written at once.
        await checkin(cache, recorder, device, at: t0 + 10, hash: "sha256:b", facts: sampleFacts)
        #expect(try await recorder.flush(now: t0 + 10) == 0)
        var moved = sampleFacts
        moved.kernel = "6.12.0"
        await checkin(cache, recorder, device, at: t0 + 15, hash: "sha256:b", facts: moved)
        #expect(try await recorder.flush(now: t0 + 15) == 1)
        #expect(try await store.device(id: device.id)?.facts.kernel == "6.12.0")
    }

    @Test("a device read from the store after a restart compares with what is stored, not with nothing")
    func afterRestart() async throws {
        let (store, device) = try await enrolled()
        let first = DeviceCache()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        _ = try await first.device(keyId: device.keyId, store: store, now: Int(t0.timeIntervalSince1970))
        let record = CheckinRecord(deviceId: device.id, at: t0, appliedPolicyHash: "sha256:a", status: AgentReport(state: "ok"), facts: sampleFacts)
        #expect(first.noteCheckin(keyId: device.keyId, record))  // the first check-in ever
        await recorder.record(record, changed: true)
        try await recorder.flush(now: t0)
        // A new process: a new cache over the same store. The same report changes nothing; another one does.
        let cache = DeviceCache()
        _ = try await cache.device(keyId: device.keyId, store: store, now: Int(t0.timeIntervalSince1970))
        var again = record
        again.at = t0 + 30
        #expect(!cache.noteCheckin(keyId: device.keyId, again))
        again.status = AgentReport(state: "degraded", message: "disk full")
        #expect(cache.noteCheckin(keyId: device.keyId, again))
    }

    @Test("shutdown writes everything pending")
    func flushAll() async throws {
        let (store, device) = try await enrolled()
        let cache = DeviceCache()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        _ = try await cache.device(keyId: device.keyId, store: store, now: Int(t0.timeIntervalSince1970))
        await checkin(cache, recorder, device, at: t0, hash: nil)
        try await recorder.flush(now: t0)
        await checkin(cache, recorder, device, at: t0 + 20, hash: nil)
        #expect(try await recorder.flush(now: t0 + 20) == 0)
        #expect(try await recorder.flush(now: t0 + 20, all: true) == 1)
        #expect(try await store.device(id: device.id)?.lastSeen == t0 + 20)
        #expect(await recorder.pendingCount == 0)
    }

    @Test("a dropped device is read again with its new status")
    func invalidation() async throws {
        let (store, device) = try await enrolled()
        let cache = DeviceCache()
        let now = Int(t0.timeIntervalSince1970)
        #expect(try await cache.device(keyId: device.keyId, store: store, now: now)?.0.status == .active)
        _ = try await store.revokeDevice(id: device.id, at: t0 + 20)
        #expect(try await cache.device(keyId: device.keyId, store: store, now: now + 20)?.0.status == .active)  // not told yet
        cache.invalidate(deviceId: device.id)
        #expect(try await cache.device(keyId: device.keyId, store: store, now: now + 20)?.0.status == .revoked)
        #expect(cache.count == 1)
    }

    @Test("a change another process made to the store is seen once the entry is older than its maximum age")
    func maxAge() async throws {
        let (store, device) = try await enrolled()
        let cache = DeviceCache(maxAge: 300)
        let now = Int(t0.timeIntervalSince1970)
        _ = try await cache.device(keyId: device.keyId, store: store, now: now)
        cache.rememberPolicy(keyId: device.keyId, .init(generation: 1, hash: "sha256:a", interval: 60))
        _ = try await store.revokeDevice(id: device.id, at: t0 + 10)  // not through this process's services
        #expect(try await cache.device(keyId: device.keyId, store: store, now: now + 299)?.0.status == .active)
        #expect(try await cache.device(keyId: device.keyId, store: store, now: now + 300)?.0.status == .revoked)
        // Refreshing kept what was computed.
        #expect(cache.policy(keyId: device.keyId, generation: 1)?.hash == "sha256:a")
    }

    @Test("preloading reads every active device once, page by page, and keeps what is already held")
    func preload() async throws {
        let (store, device) = try await enrolled()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(
            StoredEnrollmentToken(
                token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 5, expiresAt: t0 + 3600, createdAt: t0), secretHash: secret.secretHash
            ))
        var others: [Device] = []
        for n in 0..<4 {
            let key = Curve25519.Signing.PrivateKey().publicKey
            var facts = sampleFacts
            facts.machineIdHash = String(repeating: String(n), count: 64)
            others.append(
                try await store.enroll(
                    NewDevice(id: "e\(n)", keyId: DeviceKeys.keyID(for: key), publicKey: DeviceKeys.base64(key), facts: facts, acceptedTermsVersion: nil),
                    tokenId: secret.id, now: t0))
        }
        _ = try await store.revokeDevice(id: others[0].id, at: t0)
        let cache = DeviceCache()
        let now = Int(t0.timeIntervalSince1970)
        cache.rememberPolicy(keyId: device.keyId, .init(generation: 0, hash: "x", interval: 1))  // not held: ignored
        _ = try await cache.device(keyId: device.keyId, store: store, now: now)
        cache.rememberPolicy(keyId: device.keyId, .init(generation: 0, hash: "sha256:kept", interval: 60))
        #expect(try await cache.preload(from: store, now: now, pageSize: 2) == 3)
        #expect(cache.count == 4)
        #expect(cache.policy(keyId: device.keyId, generation: 0)?.hash == "sha256:kept")
        #expect(cache.policy(keyId: others[1].keyId, generation: 0) == nil)
    }

    @Test("the nonce cache refuses a replay until the nonce expires, and forgets expired nonces")
    func nonces() {
        let nonces = NonceCache()
        #expect(nonces.insert(key: "k1", nonce: "abcdefgh", expiry: 1_000, now: 700))
        #expect(!nonces.insert(key: "k1", nonce: "abcdefgh", expiry: 1_005, now: 705))
        #expect(nonces.insert(key: "k2", nonce: "abcdefgh", expiry: 1_005, now: 705))
        #expect(nonces.count == 2)
        #expect(nonces.insert(key: "k3", nonce: "other-nonce", expiry: 2_000, now: 1_700))
        #expect(nonces.count == 1)
    }
}

@Suite("Server configuration")
struct ServerConfigTests {
    @Test("YAML, then environment, then flags; the later wins")
    func layering() throws {
        var config = ServerConfig()
        try config.apply(yaml: "port: 9000\ndataDir: /srv/kontor\ncheckinInterval: 120\n", file: "server.yaml")
        try config.apply(environment: ["KONTOR_PORT": "9100", "KONTOR_PUBLIC_URL": "https://k.example"])
        try config.set("port", "9200", source: "--port")
        #expect(config.port == 9200)
        #expect(config.dataDir == "/srv/kontor")
        #expect(config.checkinInterval == 120)
        #expect(config.publicURL == "https://k.example")
    }

    @Test(
        "bad settings name the file, line and setting",
        arguments: [
            ("port: 99999\n", "server.yaml:1: port: expected a whole number from 0 to 65535, found \"99999\""),
            ("host: a\nprot: 1\n", "server.yaml:2: unknown setting \"prot\""),
            ("- a\n- b\n", "server.yaml: expected a mapping of settings at the top level"),
            ("port: [1, 2]\n", "server.yaml:1: port: expected a single value"),
            ("logLevel: loud\n", "server.yaml:1: logLevel: expected trace, debug, info, notice, warning, error or critical, found \"loud\""),
        ])
    func errors(yaml: String, message: String) {
        var config = ServerConfig()
        do {
            try config.apply(yaml: yaml, file: "server.yaml")
            Issue.record("accepted \(yaml)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    @Test("a TLS certificate needs its key")
    func tlsPair() throws {
        var config = ServerConfig()
        config.tlsCertificate = "/etc/kontor/cert.pem"
        #expect(throws: ConfigError.self) { try config.validate() }
    }
}
