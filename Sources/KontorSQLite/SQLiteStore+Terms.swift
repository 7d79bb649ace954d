import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: TermsStore {
    public func insertTerms(_ t: UsageTerms) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO usage_terms (version, text, sha256, undertaking, undertaking_sha256, grace_seconds, published_at, published_by,
                                                 allows_offline_wipe_personal)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        t.version, t.text, t.sha256, t.undertaking, t.undertakingSha256, t.graceSeconds, seconds(t.publishedAt), t.publishedBy,
                        t.allowsOfflineWipeOnPersonalDevices == true ? 1 : 0,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.termsExist(t.version)
        }
    }

    public func terms(version: String) async throws -> UsageTerms? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM usage_terms WHERE version = ?", arguments: [version]).map(Self.record) }
    }

    public func allTerms() async throws -> [UsageTerms] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM usage_terms ORDER BY published_at, version").map(Self.record) }
    }

    public func recordTermsResponse(_ r: StoredTermsResponse) async throws -> Bool {
        do {
            return try await writer.write { db in
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM terms_responses WHERE id = ?", arguments: [r.id]) == true { return false }
                try db.execute(
                    sql: """
                        INSERT INTO terms_responses (id, version, device_id, person_id, decision, answered_at, received_at, payload, signature)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        r.id, r.version, r.deviceId, r.personId, r.decision.rawValue, seconds(r.answeredAt), seconds(r.receivedAt), r.signed.payload,
                        r.signed.signature,
                    ])
                return true
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StoreError.unknownTermsOrDevice(r)
        }
    }

    public func termsResponses(version: String?) async throws -> [StoredTermsResponse] {
        try await writer.read { db in
            if let version {
                return try Row.fetchAll(db, sql: "SELECT * FROM terms_responses WHERE version = ? ORDER BY received_at, id", arguments: [version])
                    .map(Self.record)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM terms_responses ORDER BY received_at, id").map(Self.record)
        }
    }
}

extension SQLiteStore: ConsentRecordStore {
    public func consentRecords(personId: String) async throws -> [ConsentRecord] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM consent_records
                    WHERE person_id = ? OR device_id IN (SELECT id FROM devices WHERE person_id = ?)
                    ORDER BY id
                    """, arguments: [personId, personId]
            ).map(Self.record)
        }
    }
}
