import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: APITokenStore {
    public func insertAPIToken(_ stored: StoredAPIToken) async throws {
        let t = stored.token
        do {
            try await run(
                """
                INSERT INTO api_tokens (id, name, role, secret_hash, created_at, revoked_at, last_used_at, purpose, owner, owner_name)
                VALUES (\(t.id), \(t.name), \(t.role.rawValue), \(stored.secretHash), \(seconds(t.createdAt)), \(seconds(t.revokedAt)), \(seconds(t.lastUsedAt)),
                        \(t.purpose.rawValue), \(t.owner), \(t.ownerName))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.apiTokenExists(t.id)
        }
    }

    public func apiToken(id: String) async throws -> StoredAPIToken? {
        try await row("SELECT * FROM api_tokens WHERE id = \(id)", Self.record)
    }

    public func apiTokens() async throws -> [APIToken] {
        try await rows("SELECT * FROM api_tokens ORDER BY created_at, id", Self.record)
    }

    public func revokeAPIToken(id: String, at: Date) async throws -> Bool {
        try await run("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, \(seconds(at))) WHERE id = \(id) RETURNING 1") > 0
    }

    public func touchAPIToken(id: String, at: Date) async throws {
        try await run("UPDATE api_tokens SET last_used_at = \(seconds(at)) WHERE id = \(id) AND (last_used_at IS NULL OR last_used_at < \(seconds(at)))")
    }
}

extension PostgresStore: PersonStore {
    public func insertPerson(_ person: Person) async throws {
        try await importPersons(inserts: [person], updates: [])
    }

    public func rehirePerson(_ person: Person) async throws {
        try await transaction { tx in try await Self.rehire(tx, person) }
    }

    public func importPersons(inserts: [Person], updates: [Person]) async throws {
        try await transaction { tx in
            for person in inserts { try await Self.insert(tx, person) }
            for person in updates { guard try await Self.update(tx, person) else { throw StoreError.unknownPerson(person.id) } }
        }
    }

    static func insert(_ tx: Transaction, _ person: Person) async throws {
        do {
            try await tx.run(
                """
                INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at, phone, participation, previous_id)
                VALUES (\(person.id), \(person.email), \(person.email.lowercased()), \(person.displayName), \(try encodeJSON(person.groups)),
                        \(person.status.rawValue), \(seconds(person.createdAt)), \(person.phone), \(person.participation.rawValue), \(person.previousId))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.emailTaken(person.email)
        }
    }

    static func rehire(_ tx: Transaction, _ person: Person) async throws {
        guard let previousId = person.previousId else { throw StoreError.unknownPerson(nil) }
        // Locks the person who left: two rehires of the same person cannot both pass the checks.
        let status = try await tx.row("SELECT status FROM persons WHERE id = \(previousId) FOR UPDATE") { try $0.get("status", as: String.self) }
        guard let status else { throw StoreError.unknownPerson(previousId) }
        let succeeded = try await tx.row("SELECT 1 FROM persons WHERE previous_id = \(previousId)") { _ in true } != nil
        try PersonRules.checkCanRehire(previousStatus: status, succeeded: succeeded)
        try await insert(tx, person)
    }

    /// False when there is no such person.
    static func update(_ tx: Transaction, _ person: Person) async throws -> Bool {
        do {
            return try await tx.row(
                """
                UPDATE persons SET email = \(person.email), email_key = \(person.email.lowercased()), display_name = \(person.displayName),
                    group_names = \(try encodeJSON(person.groups)), phone = \(person.phone)
                WHERE id = \(person.id) RETURNING 1
                """
            ) { _ in true } != nil
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.emailTaken(person.email)
        }
    }

    public func person(id: String) async throws -> Person? { try await row("SELECT * FROM persons WHERE id = \(id)", Self.record) }

    public func person(email: String) async throws -> Person? {
        try await row(
            """
            SELECT * FROM persons p WHERE email_key = \(email.lowercased())
            ORDER BY p.status = 'offboarded', EXISTS (SELECT 1 FROM persons n WHERE n.previous_id = p.id), p.created_at DESC, p.id DESC LIMIT 1
            """, Self.record)
    }

    public func persons() async throws -> [Person] { try await rows("SELECT * FROM persons ORDER BY email_key", Self.record) }

    public func updatePerson(_ person: Person) async throws -> Bool {
        try await transaction { tx in try await Self.update(tx, person) }
    }

    public func setParticipation(personId: String, _ participation: Participation, at: Date) async throws -> Bool {
        try await transaction { tx in
            guard try await tx.row("UPDATE persons SET participation = \(participation.rawValue) WHERE id = \(personId) RETURNING 1", { _ in true }) != nil
            else { return false }
            if participation == .declined {
                try await tx.run("UPDATE enrollment_tokens SET revoked_at = \(seconds(at)) WHERE person_id = \(personId) AND revoked_at IS NULL")
            }
            return true
        }
    }
}

extension PostgresStore: EnrollmentStore {
    public func insertEnrollmentToken(_ stored: StoredEnrollmentToken) async throws {
        let t = stored.token
        do {
            try await run(
                """
                INSERT INTO enrollment_tokens (id, secret_hash, person_id, group_name, max_uses, uses, expires_at, created_at, revoked_at, created_by,
                                               ownership)
                VALUES (\(t.id), \(stored.secretHash), \(t.personId), \(t.group), \(t.maxUses), \(t.uses), \(seconds(t.expiresAt)), \(seconds(t.createdAt)),
                        \(seconds(t.revokedAt)), \(t.createdBy), \(t.ownership.rawValue))
                """)
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownPerson(t.personId)
        }
    }

    public func enrollmentToken(id: String) async throws -> StoredEnrollmentToken? {
        try await row("SELECT * FROM enrollment_tokens WHERE id = \(id)", Self.record)
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await rows("SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id DESC", Self.record)
    }

    public func revokeEnrollmentToken(id: String, at: Date) async throws -> Bool {
        try await run("UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, \(seconds(at))) WHERE id = \(id) RETURNING 1") > 0
    }

    public func enroll(_ device: NewDevice, tokenId: String, now: Date) async throws -> Device {
        let id = try await transaction { tx -> String in
            // The token row is locked: two enrollments with a one-use token cannot both pass.
            let found: EnrollmentToken? = try await tx.row("SELECT * FROM enrollment_tokens WHERE id = \(tokenId) FOR UPDATE", Self.record)
            let token = try EnrollmentRules.usable(found, now: now)
            try await tx.run("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = \(tokenId)")
            var personGroups: String?
            if let personId = token.personId {
                personGroups = try await tx.row("SELECT group_names FROM persons WHERE id = \(personId)") { try $0.get("group_names", as: String.self) }
            }
            let group = try EnrollmentRules.group(of: token, personGroups: personGroups)
            // One active device per machine: the same machine enrolling again replaces its predecessor.
            try await tx.lock("kontor_machine:" + device.facts.machineIdHash)
            let active = try await tx.row(
                """
                SELECT d.id, d.person_id, d.group_name, p.status AS person_status,
                    EXISTS (SELECT 1 FROM commands c WHERE c.device_id = d.id AND c.type = 'wipe' AND c.state IN ('queued', 'delivered', 'acknowledged')) AS open_wipe
                FROM devices d LEFT JOIN persons p ON p.id = d.person_id
                WHERE d.machine_id_hash = \(device.facts.machineIdHash) AND d.status = 'active' ORDER BY d.enrolled_at DESC LIMIT 1
                """
            ) { row in
                MachineOccupant(
                    deviceId: try row.get("id"), personId: try row.get("person_id"), group: try row.get("group_name"),
                    personStatus: try row.get("person_status"),
                    hasOpenWipe: try row.get("open_wipe"))
            }
            let predecessor = active?.deviceId
            if let active {
                try EnrollmentRules.checkReplaceable(active, token: token, group: group)
                try await tx.run("UPDATE devices SET status = 'replaced', revoked_at = COALESCE(revoked_at, \(seconds(now))) WHERE id = \(active.deviceId)")
            }
            let facts = try encodeJSON(device.facts)
            let inserted = try await tx.run(
                """
                INSERT INTO devices (id, person_id, group_name, status, key_id, public_key, facts, machine_id_hash, enrolled_at,
                                     enrollment_token_id, predecessor_id, accepted_terms_version, ownership)
                VALUES (\(device.id), \(token.personId), \(group), 'active', \(device.keyId), \(device.publicKey), \(facts), \(device.facts.machineIdHash),
                        \(seconds(now)), \(tokenId), \(predecessor), \(device.acceptedTermsVersion), \(token.ownership.rawValue))
                ON CONFLICT DO NOTHING RETURNING 1
                """)
            guard inserted == 1 else { throw StoreError.deviceEnrolled }
            if let terms = device.acceptedTermsVersion {
                try await tx.run(
                    "INSERT INTO consent_records (device_id, person_id, terms_version, accepted_at) VALUES (\(device.id), \(token.personId), \(terms), \(seconds(now)))"
                )
            }
            return device.id
        }
        guard let enrolled = try await self.device(id: id) else { throw StoreError.unknownDevice(id) }
        return enrolled
    }
}
