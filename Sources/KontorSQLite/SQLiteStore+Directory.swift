import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: APITokenStore {
    public func insertAPIToken(_ stored: StoredAPIToken) async throws {
        let t = stored.token
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO api_tokens (id, name, role, secret_hash, created_at, revoked_at, last_used_at, purpose, owner, owner_name)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        t.id, t.name, t.role.rawValue, stored.secretHash, seconds(t.createdAt), seconds(t.revokedAt), seconds(t.lastUsedAt), t.purpose.rawValue,
                        t.owner, t.ownerName,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.apiTokenExists(t.id)
        }
    }

    public func apiToken(id: String) async throws -> StoredAPIToken? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_tokens WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    public func apiTokens() async throws -> [APIToken] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY created_at, id").map(Self.record)
        }
    }

    public func revokeAPIToken(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [seconds(at), id])
            return db.changesCount > 0
        }
    }

    public func touchAPIToken(id: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                arguments: [seconds(at), id, seconds(at)])
        }
    }
}

extension SQLiteStore: PersonStore {
    public func insertPerson(_ person: Person) async throws {
        try await importPersons(inserts: [person], updates: [])
    }

    public func rehirePerson(_ person: Person) async throws {
        try await writer.write { db in try Self.rehire(db, person) }
    }

    public func importPersons(inserts: [Person], updates: [Person]) async throws {
        try await writer.write { db in
            for person in inserts { try Self.insert(db, person) }
            for person in updates { guard try Self.update(db, person) else { throw StoreError.unknownPerson(person.id) } }
        }
    }

    static func insert(_ db: Database, _ person: Person) throws {
        do {
            try db.execute(
                sql: """
                    INSERT INTO persons (id, email, email_key, display_name, group_names, status, created_at, phone, participation, previous_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    person.id, person.email, person.email.lowercased(), person.displayName, try encodeJSON(person.groups),
                    person.status.rawValue, seconds(person.createdAt), person.phone, person.participation.rawValue, person.previousId,
                ])
        } catch let error as DatabaseError
            where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
        {
            throw StoreError.emailTaken(person.email)
        }
    }

    static func rehire(_ db: Database, _ person: Person) throws {
        guard let previousId = person.previousId else { throw StoreError.unknownPerson(nil) }
        let status = try String.fetchOne(db, sql: "SELECT status FROM persons WHERE id = ?", arguments: [previousId])
        guard let status else { throw StoreError.unknownPerson(previousId) }
        try PersonRules.checkCanRehire(
            previousStatus: status, succeeded: try Bool.fetchOne(db, sql: "SELECT 1 FROM persons WHERE previous_id = ?", arguments: [previousId]) == true)
        try insert(db, person)
    }

    /// False when there is no such person.
    static func update(_ db: Database, _ person: Person) throws -> Bool {
        do {
            try db.execute(
                sql: "UPDATE persons SET email = ?, email_key = ?, display_name = ?, group_names = ?, phone = ? WHERE id = ?",
                arguments: [person.email, person.email.lowercased(), person.displayName, try encodeJSON(person.groups), person.phone, person.id])
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StoreError.emailTaken(person.email)
        }
        return db.changesCount > 0
    }

    public func person(id: String) async throws -> Person? {
        try await writer.read { db in try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM persons WHERE id = ?"), arguments: [id]).map(Self.record) }
    }

    public func person(email: String) async throws -> Person? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM persons p WHERE email_key = ?
                    ORDER BY p.status = 'offboarded', EXISTS (SELECT 1 FROM persons n WHERE n.previous_id = p.id), p.created_at DESC, p.id DESC LIMIT 1
                    """,
                arguments: [email.lowercased()]
            ).map(Self.record)
        }
    }

    public func persons() async throws -> [Person] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM persons ORDER BY email_key").map(Self.record) }
    }

    public func updatePerson(_ person: Person) async throws -> Bool {
        try await writer.write { db in try Self.update(db, person) }
    }

    public func setParticipation(personId: String, _ participation: Participation, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE persons SET participation = ? WHERE id = ?", arguments: [participation.rawValue, personId])
            guard db.changesCount > 0 else { return false }
            if participation == .declined {
                try db.execute(
                    sql: "UPDATE enrollment_tokens SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL", arguments: [seconds(at), personId])
            }
            return true
        }
    }
}

extension SQLiteStore: EnrollmentStore {
    public func insertEnrollmentToken(_ stored: StoredEnrollmentToken) async throws {
        let t = stored.token
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO enrollment_tokens (id, secret_hash, person_id, group_name, max_uses, uses, expires_at, created_at, revoked_at, created_by,
                                                       ownership)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        t.id, stored.secretHash, t.personId, t.group, t.maxUses, t.uses, seconds(t.expiresAt), seconds(t.createdAt),
                        seconds(t.revokedAt), t.createdBy, t.ownership.rawValue,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StoreError.unknownPerson(t.personId)
        }
    }

    public func enrollmentToken(id: String) async throws -> StoredEnrollmentToken? {
        try await writer.read { db in
            try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM enrollment_tokens WHERE id = ?"), arguments: [id]).map(Self.record)
        }
    }

    public func enrollmentTokens() async throws -> [EnrollmentToken] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM enrollment_tokens ORDER BY created_at DESC, id DESC").map(Self.record)
        }
    }

    public func revokeEnrollmentToken(id: String, at: Date) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [seconds(at), id])
            return db.changesCount > 0
        }
    }

    public func enroll(_ device: NewDevice, tokenId: String, now: Date) async throws -> Device {
        let id = try await writer.write { db -> String in
            let found = try Row.fetchOne(try db.cachedStatement(sql: "SELECT * FROM enrollment_tokens WHERE id = ?"), arguments: [tokenId])
            let token = try EnrollmentRules.usable(found.map(Self.record), now: now)
            try db.cachedStatement(sql: "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?").execute(arguments: [tokenId])
            var personGroups: String?
            if let personId = token.personId {
                personGroups = try String.fetchOne(try db.cachedStatement(sql: "SELECT group_names FROM persons WHERE id = ?"), arguments: [personId])
            }
            let group = try EnrollmentRules.group(of: token, personGroups: personGroups)
            let active = try Row.fetchOne(
                try db.cachedStatement(
                    sql: """
                        SELECT d.id, d.person_id, d.group_name, p.status AS person_status,
                            EXISTS (SELECT 1 FROM commands c WHERE c.device_id = d.id AND c.type = 'wipe' AND c.state IN ('queued', 'delivered', 'acknowledged')) AS open_wipe
                        FROM devices d LEFT JOIN persons p ON p.id = d.person_id
                        WHERE d.machine_id_hash = ? AND d.status = 'active' ORDER BY d.enrolled_at DESC LIMIT 1
                        """),
                arguments: [device.facts.machineIdHash]
            ).map {
                MachineOccupant(
                    deviceId: $0["id"], personId: $0["person_id"], group: $0["group_name"], personStatus: $0["person_status"], hasOpenWipe: $0["open_wipe"])
            }
            // One active device per machine: the same machine enrolling again replaces its predecessor.
            let predecessor = active?.deviceId
            if let active {
                try EnrollmentRules.checkReplaceable(active, token: token, group: group)
                try db.execute(
                    sql: "UPDATE devices SET status = 'replaced', revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                    arguments: [seconds(now), active.deviceId])
            }
            do {
                try db.cachedStatement(
                    sql: """
                        INSERT INTO devices (id, person_id, group_name, status, key_id, public_key, facts, machine_id_hash, enrolled_at,
                                             enrollment_token_id, predecessor_id, accepted_terms_version, ownership)
                        VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        device.id, token.personId, group, device.keyId, device.publicKey, try encodeJSON(device.facts),
                        device.facts.machineIdHash, seconds(now), tokenId, predecessor, device.acceptedTermsVersion, token.ownership.rawValue,
                    ])
            } catch let error as DatabaseError
                where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY
            {
                throw StoreError.deviceEnrolled
            }
            if let terms = device.acceptedTermsVersion {
                try db.execute(
                    sql: "INSERT INTO consent_records (device_id, person_id, terms_version, accepted_at) VALUES (?, ?, ?, ?)",
                    arguments: [device.id, token.personId, terms, seconds(now)])
            }
            return device.id
        }
        guard let enrolled = try await self.device(id: id) else { throw StoreError.unknownDevice(id) }
        return enrolled
    }
}
