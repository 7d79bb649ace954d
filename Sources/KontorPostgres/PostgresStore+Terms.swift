import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: TermsStore {
    public func insertTerms(_ t: UsageTerms) async throws {
        do {
            try await run(
                """
                INSERT INTO usage_terms (version, text, sha256, undertaking, undertaking_sha256, grace_seconds, published_at, published_by,
                                         allows_offline_wipe_personal)
                VALUES (\(t.version), \(t.text), \(t.sha256), \(t.undertaking), \(t.undertakingSha256), \(t.graceSeconds), \(seconds(t.publishedAt)),
                        \(t.publishedBy), \(t.allowsOfflineWipeOnPersonalDevices == true ? 1 : 0))
                """)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.termsExist(t.version)
        }
    }

    public func terms(version: String) async throws -> UsageTerms? {
        try await row("SELECT * FROM usage_terms WHERE version = \(version)", Self.record)
    }

    public func allTerms() async throws -> [UsageTerms] { try await rows("SELECT * FROM usage_terms ORDER BY published_at, version", Self.record) }

    public func recordTermsResponse(_ r: StoredTermsResponse) async throws -> Bool {
        do {
            // ON CONFLICT: a resend (same ID) changes nothing, even when two instances receive it at once.
            let inserted = try await row(
                """
                INSERT INTO terms_responses (id, version, device_id, person_id, decision, answered_at, received_at, payload, signature)
                VALUES (\(r.id), \(r.version), \(r.deviceId), \(r.personId), \(r.decision.rawValue), \(seconds(r.answeredAt)), \(seconds(r.receivedAt)),
                        \(r.signed.payload), \(r.signed.signature))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """
            ) { _ in true }
            return inserted ?? false
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownTermsOrDevice(r)
        }
    }

    public func termsResponses(version: String?) async throws -> [StoredTermsResponse] {
        if let version {
            return try await rows("SELECT * FROM terms_responses WHERE version = \(version) ORDER BY received_at, id", Self.record)
        }
        return try await rows("SELECT * FROM terms_responses ORDER BY received_at, id", Self.record)
    }
}

extension PostgresStore: ConsentRecordStore {
    public func consentRecords(personId: String) async throws -> [ConsentRecord] {
        try await rows(
            """
            SELECT * FROM consent_records
            WHERE person_id = \(personId) OR device_id IN (SELECT id FROM devices WHERE person_id = \(personId))
            ORDER BY id
            """, Self.record)
    }
}
