import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: ErasureStore {
    public func pseudonymisePerson(id: String, pseudonym: String) async throws -> PseudonymisedPerson? {
        // The audit log is searched before the write transaction, so that holds the lock only to change rows.
        guard let before = try await needles(of: id) else { return nil }
        let found = try await auditCandidates(matching: before)
        let result = try await writer.write { db -> PseudonymisedPerson? in
            guard let (person, devices) = try Self.personAndDevices(db, id) else { return nil }
            let needles = ErasureNeedles.of(person: person, devices: devices)
            // The person changed since the search (a new device, a new name): search again, in the transaction.
            let candidates = Set(needles) == Set(before) ? found : AuditCandidates(seqs: [], scannedTo: 0)
            let email = ErasureNeedles.email(pseudonym)
            try db.execute(
                sql: "UPDATE persons SET email = ?, email_key = ?, display_name = ?, phone = NULL WHERE id = ?",
                arguments: [email, email.lowercased(), pseudonym, id])
            var events = 0
            for (i, device) in devices.enumerated() {
                var facts = device.facts
                facts.hostname = "\(pseudonym)-\(i + 1)"
                try db.execute(
                    sql: "UPDATE devices SET facts = ?, compliance = NULL, agent_status = NULL WHERE id = ?", arguments: [try encodeJSON(facts), device.id])
                try db.execute(sql: "DELETE FROM device_events WHERE device_id = ?", arguments: [device.id])
                events += db.changesCount
            }
            try db.execute(
                sql: "UPDATE scim_users SET user_name = ?, user_name_key = ?, external_id = NULL WHERE person_id = ?",
                arguments: [email, email.lowercased(), id])
            let scim = db.changesCount > 0
            // An offboarding's approval request names the person by email.
            try db.execute(sql: "UPDATE approvals SET target = ? WHERE kind = 'offboard' AND target = ?", arguments: [email, person.email])
            let audit = try Self.eraseAudit(db, matching: needles, in: candidates)
            return PseudonymisedPerson(personId: id, pseudonym: pseudonym, devices: devices.count, events: events, auditEntries: audit, scimUser: scim)
        }
        // The old values' pages are zeroed (secure_delete); the copies in the write-ahead log go with a checkpoint.
        if result != nil { try? await writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) } }
        return result
    }

    /// The values of person `id` that are erased from the audit log with them; nil when there is no such person.
    private func needles(of id: String) async throws -> [String]? {
        try await writer.read { db in try Self.personAndDevices(db, id).map { ErasureNeedles.of(person: $0.0, devices: $0.1) } }
    }

    /// Person `id` and their devices in enrollment order; nil when there is no such person.
    private static func personAndDevices(_ db: Database, _ id: String) throws -> (Person, [Device])? {
        guard let person: Person = try Row.fetchOne(db, sql: "SELECT * FROM persons WHERE id = ?", arguments: [id]).map(Self.record) else { return nil }
        let devices: [Device] = try Row.fetchAll(db, sql: "\(Self.deviceSelect) WHERE d.person_id = ? ORDER BY d.enrolled_at, d.id", arguments: [id])
            .map(Self.record)
        return (person, devices)
    }
}
