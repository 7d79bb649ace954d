import Foundation
import KontorCore
import KontorSQLite
import KontorStore
import Testing

@testable import KontorServer

@Suite("Coalesced last-seen writes")
struct CheckinRecorderTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func enrolled() async throws -> (SQLiteStore, Device) {
        let store = try SQLiteStore.inMemory()
        let secret = IssuedSecret.generate(.enrollmentToken)
        try await store.insertEnrollmentToken(StoredEnrollmentToken(token: EnrollmentToken(id: secret.id, personId: nil, group: nil, maxUses: 1, expiresAt: t0 + 3600, createdAt: t0), secretHash: secret.secretHash))
        let device = try await store.enroll(NewDevice(id: "d1", keyId: "k1", publicKey: "p1", facts: sampleFacts, acceptedTermsVersion: nil), tokenId: secret.id, now: t0)
        return (store, device)
    }

    @Test("unchanged check-ins are written at most once per interval, and reads see them at once")
    func coalesces() async throws {
        let (store, device) = try await enrolled()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        let report = CheckinRecord(deviceId: device.id, at: t0, appliedPolicyHash: "sha256:a", status: nil, facts: nil)
        await recorder.record(report, current: device)
        #expect(try await recorder.flush(now: t0) == 1)

        var current = try #require(try await store.device(id: device.id))
        for i in 1...10 {
            await recorder.record(CheckinRecord(deviceId: device.id, at: t0 + Double(i * 10), appliedPolicyHash: "sha256:a", status: nil, facts: nil), current: current)
            #expect(try await recorder.flush(now: t0 + Double(i * 10)) == 0)
        }
        #expect(await recorder.overlay(current).lastSeen == t0 + 100)
        #expect(try await store.device(id: device.id)?.lastSeen == t0)

        #expect(try await recorder.flush(now: t0 + 300) == 1)
        current = try #require(try await store.device(id: device.id))
        #expect(current.lastSeen == t0 + 100)
    }

    @Test("a change of applied policy is written at the next flush")
    func urgentChange() async throws {
        let (store, device) = try await enrolled()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        await recorder.record(CheckinRecord(deviceId: device.id, at: t0, appliedPolicyHash: "sha256:a", status: nil, facts: nil), current: device)
        try await recorder.flush(now: t0)
        let current = try #require(try await store.device(id: device.id))
        await recorder.record(CheckinRecord(deviceId: device.id, at: t0 + 5, appliedPolicyHash: "sha256:b", status: nil, facts: nil), current: current)
        #expect(try await recorder.flush(now: t0 + 5) == 1)
        #expect(try await store.device(id: device.id)?.appliedPolicyHash == "sha256:b")
    }

    @Test("shutdown writes everything pending")
    func flushAll() async throws {
        let (store, device) = try await enrolled()
        let recorder = CheckinRecorder(store: store, writeInterval: 300)
        await recorder.record(CheckinRecord(deviceId: device.id, at: t0, appliedPolicyHash: nil, status: nil, facts: nil), current: device)
        try await recorder.flush(now: t0)
        let current = try #require(try await store.device(id: device.id))
        await recorder.record(CheckinRecord(deviceId: device.id, at: t0 + 20, appliedPolicyHash: nil, status: nil, facts: nil), current: current)
        #expect(try await recorder.flush(now: t0 + 20) == 0)
        #expect(try await recorder.flush(now: t0 + 20, all: true) == 1)
        #expect(try await store.device(id: device.id)?.lastSeen == t0 + 20)
        #expect(await recorder.pendingCount == 0)
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

    @Test("bad settings name the file, line and setting", arguments: [
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
