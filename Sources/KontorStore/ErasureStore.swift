import Foundation
import KontorCore

/// Erasure of a person's directory data (GDPR Art. 17, and the retention of offboarded persons), in one
/// transaction: the person's email, name and phone become the pseudonym, their devices' hostnames too
/// (their last reports and events go), their SCIM user name, and every audit value naming any of these is
/// erased (the chain stays valid). Signed records — wipe receipts, answers to the usage terms — stay as
/// signed: they are the proof the law asks to keep.
public protocol ErasureStore: Sendable {
    /// Pseudonymises person `id` as `pseudonym`; nil when there is no such person.
    func pseudonymisePerson(id: String, pseudonym: String) async throws -> PseudonymisedPerson?
}

/// The values of a person that are erased from the audit log with them.
package enum ErasureNeedles {
    /// Email, name, phone, hostnames and work account names; short or generic ones are left out, as they
    /// would erase other people's values too.
    package static func of(person: Person, devices: [Device]) -> [String] {
        var needles = [person.email, person.displayName]
        if let phone = person.phone { needles.append(phone) }
        for device in devices {
            needles.append(device.facts.hostname)
            if let account = device.compliance?.containerAccount { needles.append(account) }
        }
        return Array(Set(needles.filter { $0.count >= 4 && $0 != AuditChain.erased }))
    }

    /// The pseudonym's email: in `.invalid`, which never resolves (RFC 2606).
    package static func email(_ pseudonym: String) -> String { pseudonym + "@erased.invalid" }
}

/// Audit entries found to hold a value to erase, and how far the search read (entries after that were
/// appended since and are looked at again).
package struct AuditCandidates: Sendable, Equatable {
    package var seqs: [Int] = []
    package var scannedTo = 0

    package init(seqs: [Int] = [], scannedTo: Int = 0) {
        self.seqs = seqs
        self.scannedTo = scannedTo
    }
}
