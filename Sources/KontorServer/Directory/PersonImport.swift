import Foundation
import KontorCore
import KontorStore

/// A staff list (CSV: email, name, groups, optional phone) brought into the directory: persons added and
/// updated, never deleted; the persons of the directory missing from the file are listed for the admin to
/// decide. Every row is checked before anything is written, and the changes are written in one
/// transaction, so a failed import writes nothing; importing the same file again changes nothing.
struct PersonImport {
    struct Request: Codable, Sendable {
        var csv: String
        var dryRun: Bool?
    }

    typealias Plan = PersonImportPlan

    /// One checked row.
    struct Row {
        var line: Int
        var email: String
        var displayName: String
        var groups: [String]
        /// nil: the file has no phone column (the phone stays as it is).
        var phone: String??
    }

    static let maxRows = 10_000

    /// Reads and checks the whole file; the first problem is named by line and column.
    static func rows(_ text: String) throws -> [Row] {
        let records: [CSV.Record]
        do { records = try CSV.parse(text) } catch let error as CSV.ParseError { throw KontorError.invalid("csv: \(error)") }
        guard let header = records.first else { throw KontorError.invalid("csv: empty; expected a header line: email,name,groups,phone") }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for (i, name) in columns.enumerated() where !["email", "name", "groups", "phone"].contains(name) {
            throw KontorError.invalid("csv: line 1, column \(i + 1): unknown column \"\(VisibleText.escaped(name))\"; expected email, name, groups, phone")
        }
        guard let emailAt = columns.firstIndex(of: "email"), let nameAt = columns.firstIndex(of: "name") else {
            throw KontorError.invalid("csv: line 1: the header needs the columns email and name (groups and phone are optional)")
        }
        guard records.count - 1 <= maxRows else { throw KontorError.invalid("csv: at most \(maxRows) persons per import") }
        let groupsAt = columns.firstIndex(of: "groups")
        let phoneAt = columns.firstIndex(of: "phone")
        var seen: [String: Int] = [:]
        return try records.dropFirst().map { record in
            func cell(_ index: Int?) -> String? { index.map { $0 < record.fields.count ? record.fields[$0] : "" } }
            func problem(_ column: String, _ error: any Error) -> KontorError {
                let message = (error as? KontorError)?.message ?? "\(error)"
                return KontorError.invalid("csv: line \(record.line), column \(column): \(message)")
            }
            guard record.fields.count <= columns.count else {
                throw KontorError.invalid("csv: line \(record.line): \(record.fields.count) fields, the header has \(columns.count)")
            }
            let email = (cell(emailAt) ?? "").trimmingCharacters(in: .whitespaces)
            guard Validation.isEmail(email) else { throw problem("email", KontorError.invalid("\"\(VisibleText.escaped(email))\" is not an email address")) }
            if let first = seen[email.lowercased()] { throw problem("email", KontorError.invalid("\(email) is also on line \(first)")) }
            seen[email.lowercased()] = record.line
            let name: String
            do { name = try DirectoryService.displayName(cell(nameAt) ?? "") } catch { throw problem("name", error) }
            let groupNames = (cell(groupsAt) ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let groups: [String]
            do { groups = try DirectoryService.groups(groupNames) } catch { throw problem("groups", error) }
            var phone: String??
            if phoneAt != nil {
                do { phone = .some(try DirectoryService.phone(cell(phoneAt))) } catch { throw problem("phone", error) }
            }
            return Row(line: record.line, email: email, displayName: name, groups: groups, phone: phone)
        }
    }
}

extension Services {
    /// Checks the file, plans the changes and, unless `dryRun`, writes them in one transaction and audits
    /// each; a group change reaches the person's devices at their next check-in.
    func importPersons(_ request: PersonImport.Request, by principal: Principal) async throws -> PersonImport.Plan {
        let rows = try PersonImport.rows(request.csv)
        // An email may name several persons (left and came back): the row is about the current one.
        let existing = Dictionary(try await store.persons().map { ($0.email.lowercased(), $0) }) { a, b in a.status == .offboarded ? b : a }
        var plan = PersonImportPlan(dryRun: request.dryRun ?? false)
        var inserts: [Person] = []
        var updates: [(before: Person, after: Person, fields: [String])] = []
        let now = clock.now()
        for row in rows {
            guard let person = existing[row.email.lowercased()] else {
                inserts.append(
                    Person(
                        id: IdentifierGenerator.uuidV7(now: now), email: row.email, displayName: row.displayName, groups: row.groups, createdAt: now,
                        phone: row.phone ?? nil))
                plan.added.append(.init(email: row.email, displayName: row.displayName, groups: row.groups, phone: row.phone ?? nil))
                continue
            }
            guard person.status != .offboarded else {
                plan.offboarded.append(person.email)
                continue
            }
            var after = person
            after.displayName = row.displayName
            after.groups = row.groups
            if let phone = row.phone { after.phone = phone }
            let fields = [
                ("displayName", after.displayName != person.displayName), ("groups", after.groups != person.groups), ("phone", after.phone != person.phone),
            ]
            .filter(\.1).map(\.0)
            if fields.isEmpty { plan.unchanged += 1 } else { updates.append((person, after, fields)) }
        }
        plan.updated = updates.map { .init(email: $0.after.email, fields: $0.fields) }
        let named = Set(rows.map { $0.email.lowercased() })
        plan.missing = existing.values.filter { $0.status == .active && !named.contains($0.email.lowercased()) }.map(\.email).sorted()
        let regrouped = updates.filter { $0.fields.contains("groups") }.map(\.after.id)
        for personId in regrouped {
            plan.devicesAffected += try await store.devices(personId: personId).filter { $0.status == .active }.map(\.id)
        }
        guard !plan.dryRun, !inserts.isEmpty || !updates.isEmpty else { return plan }
        do {
            try await store.importPersons(inserts: inserts, updates: updates.map(\.after))
        } catch StoreError.conflict(let why) {
            throw KontorError.conflict("nothing was imported: \(why) (added since the file was checked)")
        }
        try await recordImport(inserts: inserts, updates: updates, devicesAffected: plan.devicesAffected, by: principal)
        return plan
    }

    /// Audits each person an import added or changed, and sends the changed policies to their devices.
    private func recordImport(
        inserts: [Person], updates: [(before: Person, after: Person, fields: [String])], devicesAffected: [String], by principal: Principal
    ) async throws {
        let actor = AuditService.actor(principal)
        for person in inserts {
            try await audit.record(
                actor, "person.created", target: person.email, detail: ["id": person.id, "groups": person.groups.joined(separator: ","), "via": "import"])
        }
        for update in updates {
            try await audit.record(
                actor, "person.updated", target: update.after.email,
                detail: [
                    "id": update.after.id, "fields": update.fields.joined(separator: ","), "groups": update.after.groups.joined(separator: ","),
                    "via": "import",
                ])
        }
        refreshPolicies(deviceIds: devicesAffected)
    }
}
