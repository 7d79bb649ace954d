import Foundation
import Testing

@testable import KontorCore

/// A format-1 chain as versions before the upgrade wrote it: the values themselves hashed.
func legacyChain(_ people: [String]) -> [AuditEntry] {
    var out: [AuditEntry] = []
    for (i, person) in people.enumerated() {
        var e = AuditEntry(
            seq: i + 1, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60), actor: "token:admin", action: "person.created",
            target: person, detail: ["displayName": "Name of \(person)", "groups": "office"], previousHash: out.last?.hash ?? AuditChain.genesis, hash: "")
        e.hash = AuditChain.legacyHash(of: e)
        out.append(e)
    }
    return out
}

@Suite("Audit chain that survives erasure (format 2)")
struct AuditErasureTests {
    func chain() -> [AuditEntry] {
        var out: [AuditEntry] = []
        for (i, person) in ["ada@example.org", "bo@example.org", "ada@example.org"].enumerated() {
            out.append(
                AuditChain.entry(
                    after: out.last, at: Date(timeIntervalSince1970: 1_800_000_000 + Double(i) * 60), actor: "token:admin", action: "person.updated",
                    target: person, detail: ["displayName": person == "bo@example.org" ? "Bo" : "Ada Lovelace", "groups": "office"]))
        }
        return out
    }

    @Test("erasing a person's values keeps the chain verifying; the values read [erased], their salts are gone, nothing else changes")
    func eraseKeepsChain() {
        var entries = chain()
        let before = entries
        let changed = entries.indices.filter { AuditChain.erase(&entries[$0], matching: ["ADA@example.org", "ada lovelace"]) }
        #expect(changed == [0, 2])
        #expect(AuditChain.verify(entries).ok)
        #expect(entries[0].target == AuditChain.erased && entries[0].detail?["displayName"] == AuditChain.erased)
        #expect(entries[0].detail?["groups"] == "office" && entries[0].salts?["detail.groups"] != nil)
        #expect(entries[0].salts?["target"] == nil && entries[0].commitments == before[0].commitments && entries[0].hash == before[0].hash)
        #expect(entries[1] == before[1], "another person's entry is untouched")
        #expect(!entries.contains { AuditChain.fields(of: $0).values.contains { $0.contains("ada") || $0.contains("Ada") } })
    }

    @Test("after an erasure any other change is still found: an edited value, a value put back without a salt, a field added, a salt dropped")
    func tamperingStillFound() {
        var erased = chain()
        _ = AuditChain.erase(&erased[0], matching: ["ada@example.org"])
        var edited = erased
        edited[0].detail?["groups"] = "board"
        #expect(AuditChain.verify(edited).problem?.contains("detail.groups no longer matches its commitment") == true)
        var restored = erased
        restored[0].target = "eve@example.org"
        #expect(AuditChain.verify(restored).problem?.contains("target has no salt but is not erased") == true)
        var added = erased
        added[1].detail?["note"] = "inserted"
        #expect(AuditChain.verify(added).problem?.contains("a field was added or removed") == true)
        var unsalted = chain()
        unsalted[1].salts?["actor"] = nil
        #expect(AuditChain.verify(unsalted).firstBadSeq == 2)
        var forged = erased
        forged[0].commitments?["target"] = AuditChain.commitment("eve@example.org", salt: "00")
        #expect(AuditChain.verify(forged).problem?.contains("edited: its content no longer matches its hash") == true)
    }

    @Test("a format-1 chain is upgraded with the same values and its old hashes kept; the old head is still given by the entries")
    func upgrade() {
        let old = legacyChain(["ada@example.org", "bo@example.org", "cy@example.org"])
        #expect(AuditChain.verify(old).ok)
        var upgraded = AuditUpgradeSupport.upgrade(old)
        #expect(upgraded.map(\.legacyHash) == old.map(\.hash))
        #expect(upgraded.map(\.target) == old.map(\.target) && upgraded.allSatisfy { $0.commitments != nil })
        upgraded.append(
            AuditChain.entry(
                after: upgraded.last, at: Date(timeIntervalSince1970: 1_800_001_000), actor: "system", action: "audit.format-upgraded", target: nil,
                detail: ["legacyHead": old.last!.hash, "legacyEntries": "3"]))
        let result = AuditChain.verify(upgraded)
        #expect(result.ok)
        #expect(result.legacy == "the 3 entries from before the format upgrade give the old head \(old.last!.hash)", "\(result.legacy ?? "-")")

        // Erased, an old entry can no longer give its old hash, and says so; the chain still verifies.
        _ = AuditChain.erase(&upgraded[1], matching: ["bo@example.org"])
        let afterErasure = AuditChain.verify(upgraded)
        #expect(afterErasure.ok && afterErasure.legacy?.contains("(1 of them with erased values") == true, "\(afterErasure.legacy ?? "-")")

        // An old value changed (the upgrade would have laundered it) no longer gives the old head.
        var changed = AuditUpgradeSupport.upgrade(old)
        changed[0].detail?["groups"] = "board"
        let salt = String(repeating: "11", count: 16)
        changed[0].salts?["detail.groups"] = salt
        changed[0].commitments?["detail.groups"] = AuditChain.commitment("board", salt: salt)
        var previous = AuditChain.genesis
        for i in changed.indices {
            changed[i].previousHash = previous
            changed[i].hash = AuditChain.hash(of: changed[i])
            previous = changed[i].hash
        }
        #expect(AuditChain.verify(changed).legacy?.contains("entry 1, from before the format upgrade, no longer gives the hash") == true)
    }
}

/// The upgrade as the stores do it, for a whole chain in memory.
enum AuditUpgradeSupport {
    static func upgrade(_ entries: [AuditEntry]) -> [AuditEntry] {
        var previous = AuditChain.genesis
        return entries.map { e in
            let upgraded = AuditChain.upgraded(e, previousHash: previous)
            previous = upgraded.hash
            return upgraded
        }
    }
}
