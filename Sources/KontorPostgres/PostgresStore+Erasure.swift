import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: ErasureStore {
    public func pseudonymisePerson(id: String, pseudonym: String) async throws -> PseudonymisedPerson? {
        try await transaction { tx in
            guard let person: Person = try await tx.row("SELECT * FROM persons WHERE id = \(id) FOR UPDATE", Self.record) else { return nil }
            let devices: [Device] = try await tx.rows("\(unescaped: Self.deviceSelect) WHERE d.person_id = \(id) ORDER BY d.enrolled_at, d.id", Self.record)
            let needles = ErasureNeedles.of(person: person, devices: devices)
            let email = ErasureNeedles.email(pseudonym)
            try await tx.run(
                "UPDATE persons SET email = \(email), email_key = \(email.lowercased()), display_name = \(pseudonym), phone = NULL WHERE id = \(id)")
            var events = 0
            for (i, device) in devices.enumerated() {
                var facts = device.facts
                facts.hostname = "\(pseudonym)-\(i + 1)"
                try await tx.run("UPDATE devices SET facts = \(try encodeJSON(facts)), compliance = NULL, agent_status = NULL WHERE id = \(device.id)")
                events += try await tx.run("DELETE FROM device_events WHERE device_id = \(device.id) RETURNING 1")
            }
            let scim = try await tx.run(
                "UPDATE scim_users SET user_name = \(email), user_name_key = \(email.lowercased()), external_id = NULL WHERE person_id = \(id) RETURNING 1")
            // An offboarding's approval request names the person by email.
            try await tx.run("UPDATE approvals SET target = \(email) WHERE kind = 'offboard' AND target = \(person.email)")
            let audit = try await Self.eraseAudit(tx, matching: needles)
            return PseudonymisedPerson(personId: id, pseudonym: pseudonym, devices: devices.count, events: events, auditEntries: audit, scimUser: scim > 0)
        }
    }
}
