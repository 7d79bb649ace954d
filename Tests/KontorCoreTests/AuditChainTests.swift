import Crypto
import Foundation
import Testing

@testable import KontorCore

@Suite("Audit chain")
struct AuditChainTests {
    func chain(_ n: Int) -> [AuditEntry] {
        var out: [AuditEntry] = []
        for i in 0..<n {
            out.append(
                AuditChain.entry(
                    after: out.last, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60.7), actor: "token:admin", action: "person.created",
                    target: "p\(i)@example.org", detail: ["groups": "office", "note": "a=b&c\nd"]))
        }
        return out
    }

    @Test("an untouched chain verifies and reports its head")
    func intact() {
        let entries = chain(5)
        let result = AuditChain.verify(entries)
        #expect(result.ok)
        #expect(result.entries == 5)
        #expect(result.head == entries.last?.hash)
        #expect(entries.first?.previousHash == AuditChain.genesis)
        #expect(AuditChain.verify([]).ok)
    }

    @Test("an edited entry is found", arguments: ["actor", "action", "target", "detail", "at"])
    func edited(field: String) {
        var entries = chain(5)
        switch field {
        case "actor": entries[2].actor = "token:someone-else"
        case "action": entries[2].action = "person.deleted"
        case "target": entries[2].target = "x@example.org"
        case "detail": entries[2].detail = ["groups": "admins"]
        default: entries[2].at = entries[2].at.addingTimeInterval(3600)
        }
        let result = AuditChain.verify(entries)
        #expect(!result.ok)
        #expect(result.firstBadSeq == 3)
        #expect(result.problem?.contains("edited") == true)
    }

    @Test("an edited value is found at its entry; committed and rehashed as well, it still breaks the next link")
    func editedAndRehashed() {
        var entries = chain(5)
        entries[2].target = "x@example.org"
        let edited = AuditChain.verify(entries)
        #expect(edited.firstBadSeq == 3 && edited.problem?.contains("target no longer matches its commitment") == true, "\(edited.problem ?? "")")
        let salt = String(repeating: "01", count: 16)
        entries[2].salts?["target"] = salt
        entries[2].commitments?["target"] = AuditChain.commitment("x@example.org", salt: salt)
        entries[2].hash = AuditChain.hash(of: entries[2])
        let result = AuditChain.verify(entries)
        #expect(result.firstBadSeq == 4)
    }

    @Test("a deleted entry is found")
    func deleted() {
        var entries = chain(5)
        entries.remove(at: 1)
        let result = AuditChain.verify(entries)
        #expect(!result.ok)
        #expect(result.firstBadSeq == 3)
        #expect(result.problem?.contains("missing") == true)
    }

    @Test("an inserted entry is found, renumbered or not")
    func inserted() {
        var entries = chain(5)
        let forged = AuditChain.entry(
            after: entries[1], at: Date(timeIntervalSince1970: 1_800_000_100), actor: "token:x", action: "person.created", target: "ghost", detail: nil)
        var renumbered = entries
        renumbered.insert(forged, at: 2)
        #expect(AuditChain.verify(renumbered).firstBadSeq == 3)
        for i in 3..<renumbered.count { renumbered[i].seq += 1 }
        let result = AuditChain.verify(renumbered)
        #expect(!result.ok)
        #expect(result.firstBadSeq == 4)
        entries.insert(forged, at: 2)
    }
}

@Suite("Audit checkpoints")
struct AuditCheckpointTests {
    let key = Curve25519.Signing.PrivateKey()
    let at = Date(timeIntervalSince1970: 1_800_000_500.7)

    func chain(_ n: Int, target: (Int) -> String = { "p\($0)@example.org" }) -> [AuditEntry] {
        var out: [AuditEntry] = []
        for i in 0..<n {
            out.append(
                AuditChain.entry(
                    after: out.last, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60), actor: "token:admin", action: "person.created",
                    target: target(i), detail: nil))
        }
        return out
    }

    @Test("a checkpoint of the head verifies against the server key and the log it was signed for, and survives a JSON round trip")
    func roundTrip() throws {
        let entries = chain(4)
        let checkpoint = try AuditCheckpoint.sign(seq: 4, head: entries[3].hash, at: at, key: key)
        #expect(checkpoint.at == Date(timeIntervalSince1970: 1_800_000_500))
        #expect(checkpoint.verifies(with: key.publicKey))
        let decoded = try KontorJSON.decode(AuditCheckpoint.self, from: Data(checkpoint.jsonLine.utf8))
        #expect(decoded == checkpoint)
        #expect(!checkpoint.jsonLine.contains("\n"))
        #expect(decoded.check(key: key.publicKey, entries: entries).ok)
        // Later entries do not matter: the checkpoint vouches for the log up to its entry.
        var longer = entries
        for i in 4..<6 {
            longer.append(
                AuditChain.entry(
                    after: longer.last, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60), actor: "token:admin", action: "person.created",
                    target: "p\(i)@example.org", detail: nil))
        }
        #expect(decoded.check(key: key.publicKey, entries: longer).ok)
    }

    @Test("a log rewritten with every hash recomputed verifies as a chain, but no longer matches the checkpoint")
    func rewritten() throws {
        let original = chain(5)
        let checkpoint = try AuditCheckpoint.sign(seq: 5, head: original[4].hash, at: at, key: key)
        let rewritten = chain(5) { $0 == 1 ? "someone-else@example.org" : "p\($0)@example.org" }
        #expect(AuditChain.verify(rewritten).ok)
        let result = checkpoint.check(key: key.publicKey, entries: rewritten)
        #expect(!result.ok)
        #expect(result.problem?.contains("entry 5 now has hash") == true)
        #expect(result.problem?.contains("rewritten") == true)
    }

    @Test("a log cut short no longer has the checkpoint's entry")
    func truncated() throws {
        let entries = chain(5)
        let checkpoint = try AuditCheckpoint.sign(seq: 5, head: entries[4].hash, at: at, key: key)
        let result = checkpoint.check(key: key.publicKey, entries: Array(entries.prefix(3)))
        #expect(result.problem?.contains("the log ends at entry 3") == true)
    }

    @Test("a forged or altered checkpoint, or one by another key, is refused", arguments: ["head", "seq", "at", "signature", "other key", "type"])
    func forged(change: String) throws {
        let entries = chain(5)
        var checkpoint = try AuditCheckpoint.sign(seq: 5, head: entries[4].hash, at: at, key: key)
        switch change {
        case "head": checkpoint.head = entries[2].hash
        case "seq":
            checkpoint.seq = 3
            checkpoint.head = entries[2].hash
        case "at": checkpoint.at += 60
        case "signature": checkpoint.signature = Data(repeating: 7, count: 64).base64EncodedString()
        case "other key": checkpoint = try AuditCheckpoint.sign(seq: 5, head: entries[4].hash, at: at, key: Curve25519.Signing.PrivateKey())
        default: checkpoint.type = "something.else"
        }
        let result = checkpoint.check(key: key.publicKey, entries: entries)
        #expect(!result.ok)
        #expect(!checkpoint.verifies(with: key.publicKey))
        if change == "other key" { #expect(result.problem?.contains("not with this server's key") == true) }
    }

    @Test("the cursor checks a log page by page from where it stopped, and refuses a page that does not continue it")
    func cursor() {
        let entries = chain(6)
        var cursor = AuditChainCursor()
        for e in entries.prefix(3) { #expect(cursor.check(e) == nil) }
        #expect(cursor.seq == 3 && cursor.head == entries[2].hash)
        let other = chain(6) { "x\($0)" }
        #expect(cursor.check(other[3])?.contains("does not follow") == true)
        #expect(cursor.seq == 3)
        #expect(cursor.check(entries[4])?.contains("missing") == true)
        for e in entries.suffix(3) { #expect(cursor.check(e) == nil) }
        #expect(cursor.head == entries[5].hash)
    }
}
