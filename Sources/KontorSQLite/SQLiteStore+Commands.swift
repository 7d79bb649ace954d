import Foundation
import GRDB
import KontorCore
import KontorStore

extension SQLiteStore: CommandStore {
    public func insertCommand(_ c: CommandRecord) async throws {
        do {
            try await writer.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO commands (id, device_id, type, state, reason, issued_at, issued_by, expires_at, delivered_at, acknowledged_at,
                                              completed_at, error, receipt_id)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        c.id, c.deviceId, c.type.rawValue, c.state.rawValue, c.reason, seconds(c.issuedAt), c.issuedBy, seconds(c.expiresAt),
                        seconds(c.deliveredAt), seconds(c.acknowledgedAt), seconds(c.completedAt), c.error, c.receiptId,
                    ])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StoreError.unknownDevice(c.deviceId)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.commandExists(c.id)
        }
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await writer.read { db in try Self.command(db, id: id) }
    }

    public func commands(deviceId: String) async throws -> [CommandRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM commands WHERE device_id = ? ORDER BY issued_at DESC, id DESC", arguments: [deviceId])
                .map(Self.record)
        }
    }

    public func deliverCommands(deviceId: String, now: Date) async throws -> [CommandRecord] {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE commands SET state = 'expired', completed_at = ?
                    WHERE device_id = ? AND state IN ('queued', 'delivered') AND expires_at IS NOT NULL AND expires_at <= ?
                    """,
                arguments: [seconds(now), deviceId, seconds(now)])
            try db.execute(
                sql: "UPDATE commands SET state = 'delivered', delivered_at = ? WHERE device_id = ? AND state = 'queued'",
                arguments: [seconds(now), deviceId])
            return try Row.fetchAll(
                db, sql: "SELECT * FROM commands WHERE device_id = ? AND state IN ('queued', 'delivered') ORDER BY issued_at, id", arguments: [deviceId]
            ).map(Self.record)
        }
    }

    public func transitionCommand(id: String, deviceId: String?, to state: CommandState, at: Date, error: String?) async throws -> (CommandRecord, Bool)? {
        try await writer.write { db in
            let transition = CommandTransition(try Self.command(db, id: id), deviceId: deviceId, to: state, at: at, error: error)
            if case .moved(let command) = transition {
                try db.execute(
                    sql: "UPDATE commands SET state = ?, delivered_at = ?, acknowledged_at = ?, completed_at = ?, error = ? WHERE id = ?",
                    arguments: [
                        command.state.rawValue, seconds(command.deliveredAt), seconds(command.acknowledgedAt), seconds(command.completedAt), command.error, id,
                    ])
            }
            return transition.result
        }
    }

    public func devicesWithOpenCommands() async throws -> Set<String> {
        try await writer.read { db in
            Set(try String.fetchAll(db, sql: "SELECT DISTINCT device_id FROM commands WHERE state IN ('queued', 'delivered')"))
        }
    }

    private static func command(_ db: Database, id: String) throws -> CommandRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM commands WHERE id = ?", arguments: [id]).map(record)
    }
}

extension SQLiteStore: ReceiptStore {
    public func recordReceipt(_ r: StoredReceipt, revoke: Bool) async throws -> Bool {
        do {
            return try await writer.write { db in
                if try Bool.fetchOne(db, sql: "SELECT 1 FROM wipe_receipts WHERE id = ?", arguments: [r.id]) == true { return false }
                try db.execute(
                    sql: "INSERT INTO wipe_receipts (id, device_id, command_id, trigger, payload, signature, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [r.id, r.deviceId, r.commandId, r.trigger, r.signed.payload, r.signed.signature, seconds(r.receivedAt)])
                try db.execute(
                    sql: "UPDATE devices SET wipe_confirmed_at = ?, wipe_receipt_id = ? WHERE id = ?", arguments: [seconds(r.receivedAt), r.id, r.deviceId])
                if revoke {
                    try db.execute(
                        sql: """
                            UPDATE devices SET status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END, revoked_at = COALESCE(revoked_at, ?)
                            WHERE id = ?
                            """,
                        arguments: [seconds(r.receivedAt), r.deviceId])
                }
                if let commandId = r.commandId {
                    // The receipt is the truth about the wipe, whatever state the command was left in.
                    try db.execute(
                        sql: """
                            UPDATE commands SET state = 'succeeded', receipt_id = ?, error = NULL,
                                acknowledged_at = COALESCE(acknowledged_at, ?), completed_at = COALESCE(completed_at, ?)
                            WHERE id = ? AND device_id = ?
                            """,
                        arguments: [r.id, seconds(r.receivedAt), seconds(r.receivedAt), commandId, r.deviceId])
                }
                return true
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY {
            throw StoreError.unknownDeviceOrCommand(r)
        }
    }

    public func receipt(id: String) async throws -> StoredReceipt? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM wipe_receipts WHERE id = ?", arguments: [id]).map(Self.record) }
    }

    public func receipts(deviceId: String) async throws -> [StoredReceipt] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM wipe_receipts WHERE device_id = ? ORDER BY received_at, id", arguments: [deviceId]).map(Self.record)
        }
    }
}

extension SQLiteStore: OffboardingStore {
    public func startOffboarding(_ o: Offboarding, now: Date) async throws {
        try await writer.write { db in
            try OffboardingRules.checkCanStart(
                personId: o.personId, personStatus: try String.fetchOne(db, sql: "SELECT status FROM persons WHERE id = ?", arguments: [o.personId]),
                wipesIssuedAt: try Double.fetchOne(db, sql: "SELECT wipes_issued_at FROM offboardings WHERE person_id = ?", arguments: [o.personId]))
            try db.execute(
                sql: """
                    INSERT INTO offboardings (person_id, requested_at, requested_by, wipe_at, restricted_profile, reason, wipes_issued_at, completed_at)
                    VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)
                    ON CONFLICT(person_id) DO UPDATE SET requested_at = excluded.requested_at, requested_by = excluded.requested_by,
                        wipe_at = excluded.wipe_at, restricted_profile = excluded.restricted_profile, reason = excluded.reason
                    """,
                arguments: [o.personId, seconds(o.requestedAt), o.requestedBy, seconds(o.wipeAt), o.restrictedProfile, o.reason])
            try db.execute(sql: "UPDATE persons SET status = 'offboarding' WHERE id = ?", arguments: [o.personId])
            try db.execute(
                sql: "UPDATE enrollment_tokens SET revoked_at = ? WHERE person_id = ? AND revoked_at IS NULL", arguments: [seconds(now), o.personId])
        }
    }

    public func offboarding(personId: String) async throws -> Offboarding? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM offboardings WHERE person_id = ?", arguments: [personId]).map(Self.record)
        }
    }

    public func openOffboardings() async throws -> [Offboarding] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM offboardings WHERE completed_at IS NULL ORDER BY wipe_at, person_id").map(Self.record)
        }
    }

    public func markWipesIssued(personId: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE offboardings SET wipes_issued_at = COALESCE(wipes_issued_at, ?) WHERE person_id = ?", arguments: [seconds(at), personId])
        }
    }

    public func completeOffboarding(personId: String, at: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE offboardings SET completed_at = COALESCE(completed_at, ?) WHERE person_id = ?", arguments: [seconds(at), personId])
            try db.execute(sql: "UPDATE persons SET status = 'offboarded' WHERE id = ?", arguments: [personId])
        }
    }

    public func cancelOffboarding(personId: String) async throws -> Offboarding {
        try await writer.write { db in
            let open = try Row.fetchOne(db, sql: "SELECT * FROM offboardings WHERE person_id = ? AND completed_at IS NULL", arguments: [personId])
            guard let open else { throw StoreError.notFound("open offboarding of person \(personId)") }
            let offboarding: Offboarding = try Self.record(open)
            try OffboardingRules.checkCanCancel(offboarding)
            try db.execute(sql: "DELETE FROM offboardings WHERE person_id = ?", arguments: [personId])
            try db.execute(sql: "UPDATE persons SET status = 'active' WHERE id = ? AND status = 'offboarding'", arguments: [personId])
            return offboarding
        }
    }
}
