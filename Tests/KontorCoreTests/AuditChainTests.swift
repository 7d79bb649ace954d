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

    @Test("an edited entry whose hash was recomputed still breaks the next link")
    func editedAndRehashed() {
        var entries = chain(5)
        entries[2].target = "x@example.org"
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
        let forged = AuditChain.entry(after: entries[1], at: Date(timeIntervalSince1970: 1_800_000_100), actor: "token:x", action: "person.created", target: "ghost", detail: nil)
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
