import Foundation
import KontorCore
import KontorStore
import PostgresNIO

extension PostgresStore: CommandStore {
    public func insertCommand(_ c: CommandRecord) async throws {
        do {
            try await run(
                """
                INSERT INTO commands (id, device_id, type, state, reason, issued_at, issued_by, expires_at, delivered_at, acknowledged_at,
                                      completed_at, error, receipt_id)
                VALUES (\(c.id), \(c.deviceId), \(c.type.rawValue), \(c.state.rawValue), \(c.reason), \(seconds(c.issuedAt)), \(c.issuedBy),
                        \(seconds(c.expiresAt)), \(seconds(c.deliveredAt)), \(seconds(c.acknowledgedAt)), \(seconds(c.completedAt)), \(c.error), \(c.receiptId))
                """)
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownDevice(c.deviceId)
        } catch let error where PostgresErrors.isUniqueViolation(error) {
            throw StoreError.commandExists(c.id)
        }
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await row("SELECT * FROM commands WHERE id = \(id)", Self.record)
    }

    public func commands(deviceId: String) async throws -> [CommandRecord] {
        try await rows("SELECT * FROM commands WHERE device_id = \(deviceId) ORDER BY issued_at DESC, id DESC", Self.record)
    }

    public func deliverCommands(deviceId: String, now: Date) async throws -> [CommandRecord] {
        try await transaction { tx in
            try await tx.run(
                """
                UPDATE commands SET state = 'expired', completed_at = \(seconds(now))
                WHERE device_id = \(deviceId) AND state IN ('queued', 'delivered') AND expires_at IS NOT NULL AND expires_at <= \(seconds(now))
                """)
            try await tx.run("UPDATE commands SET state = 'delivered', delivered_at = \(seconds(now)) WHERE device_id = \(deviceId) AND state = 'queued'")
            return try await tx.rows(
                "SELECT * FROM commands WHERE device_id = \(deviceId) AND state IN ('queued', 'delivered') ORDER BY issued_at, id", Self.record)
        }
    }

    public func transitionCommand(id: String, deviceId: String?, to state: CommandState, at: Date, error: String?) async throws -> (CommandRecord, Bool)? {
        try await transaction { tx in
            let found: CommandRecord? = try await tx.row("SELECT * FROM commands WHERE id = \(id) FOR UPDATE", Self.record)
            let transition = CommandTransition(found, deviceId: deviceId, to: state, at: at, error: error)
            if case .moved(let command) = transition {
                try await tx.run(
                    """
                    UPDATE commands SET state = \(command.state.rawValue), delivered_at = \(seconds(command.deliveredAt)),
                        acknowledged_at = \(seconds(command.acknowledgedAt)), completed_at = \(seconds(command.completedAt)), error = \(command.error)
                    WHERE id = \(id)
                    """)
            }
            return transition.result
        }
    }

    public func devicesWithOpenCommands() async throws -> Set<String> {
        Set(try await rows("SELECT DISTINCT device_id FROM commands WHERE state IN ('queued', 'delivered')") { try $0.get("device_id", as: String.self) })
    }
}

extension PostgresStore: ReceiptStore {
    public func recordReceipt(_ r: StoredReceipt, revoke: Bool) async throws -> Bool {
        do {
            return try await transaction { tx in
                let inserted = try await tx.run(
                    """
                    INSERT INTO wipe_receipts (id, device_id, command_id, trigger, payload, signature, received_at)
                    VALUES (\(r.id), \(r.deviceId), \(r.commandId), \(r.trigger), \(r.signed.payload), \(r.signed.signature), \(seconds(r.receivedAt)))
                    ON CONFLICT (id) DO NOTHING RETURNING 1
                    """)
                guard inserted == 1 else { return false }
                try await tx.run("UPDATE devices SET wipe_confirmed_at = \(seconds(r.receivedAt)), wipe_receipt_id = \(r.id) WHERE id = \(r.deviceId)")
                if revoke {
                    try await tx.run(
                        """
                        UPDATE devices SET status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END,
                            revoked_at = COALESCE(revoked_at, \(seconds(r.receivedAt)))
                        WHERE id = \(r.deviceId)
                        """)
                }
                if let commandId = r.commandId {
                    // The receipt is the truth about the wipe, whatever state the command was left in.
                    try await tx.run(
                        """
                        UPDATE commands SET state = 'succeeded', receipt_id = \(r.id), error = NULL,
                            acknowledged_at = COALESCE(acknowledged_at, \(seconds(r.receivedAt))), completed_at = COALESCE(completed_at, \(seconds(r.receivedAt)))
                        WHERE id = \(commandId) AND device_id = \(r.deviceId)
                        """)
                }
                return true
            }
        } catch let error where PostgresErrors.isForeignKeyViolation(error) {
            throw StoreError.unknownDeviceOrCommand(r)
        }
    }

    public func receipt(id: String) async throws -> StoredReceipt? {
        try await row("SELECT * FROM wipe_receipts WHERE id = \(id)", Self.record)
    }

    public func receipts(deviceId: String) async throws -> [StoredReceipt] {
        try await rows("SELECT * FROM wipe_receipts WHERE device_id = \(deviceId) ORDER BY received_at, id", Self.record)
    }
}

extension PostgresStore: OffboardingStore {
    public func startOffboarding(_ o: Offboarding, now: Date) async throws {
        try await transaction { tx in
            let status = try await tx.row("SELECT status FROM persons WHERE id = \(o.personId) FOR UPDATE") { try $0.get("status", as: String.self) }
            let issued = try await tx.row("SELECT wipes_issued_at FROM offboardings WHERE person_id = \(o.personId)") {
                try $0.get("wipes_issued_at", as: Double?.self)
            }
            try OffboardingRules.checkCanStart(personId: o.personId, personStatus: status, wipesIssuedAt: issued ?? nil)
            try await tx.run(
                """
                INSERT INTO offboardings (person_id, requested_at, requested_by, wipe_at, restricted_profile, reason, wipes_issued_at, completed_at)
                VALUES (\(o.personId), \(seconds(o.requestedAt)), \(o.requestedBy), \(seconds(o.wipeAt)), \(o.restrictedProfile), \(o.reason), NULL, NULL)
                ON CONFLICT (person_id) DO UPDATE SET requested_at = excluded.requested_at, requested_by = excluded.requested_by,
                    wipe_at = excluded.wipe_at, restricted_profile = excluded.restricted_profile, reason = excluded.reason
                """)
            try await tx.run("UPDATE persons SET status = 'offboarding' WHERE id = \(o.personId)")
            try await tx.run("UPDATE enrollment_tokens SET revoked_at = \(seconds(now)) WHERE person_id = \(o.personId) AND revoked_at IS NULL")
        }
    }

    public func offboarding(personId: String) async throws -> Offboarding? {
        try await row("SELECT * FROM offboardings WHERE person_id = \(personId)", Self.record)
    }

    public func openOffboardings() async throws -> [Offboarding] {
        try await rows("SELECT * FROM offboardings WHERE completed_at IS NULL ORDER BY wipe_at, person_id", Self.record)
    }

    public func markWipesIssued(personId: String, at: Date) async throws {
        try await run("UPDATE offboardings SET wipes_issued_at = COALESCE(wipes_issued_at, \(seconds(at))) WHERE person_id = \(personId)")
    }

    public func completeOffboarding(personId: String, at: Date) async throws {
        try await transaction { tx in
            try await tx.run("UPDATE offboardings SET completed_at = COALESCE(completed_at, \(seconds(at))) WHERE person_id = \(personId)")
            try await tx.run("UPDATE persons SET status = 'offboarded' WHERE id = \(personId)")
        }
    }

    public func cancelOffboarding(personId: String) async throws -> Offboarding {
        try await transaction { tx in
            let open: Offboarding? = try await tx.row(
                "SELECT * FROM offboardings WHERE person_id = \(personId) AND completed_at IS NULL FOR UPDATE", Self.record)
            guard let offboarding = open else { throw StoreError.notFound("open offboarding of person \(personId)") }
            try OffboardingRules.checkCanCancel(offboarding)
            try await tx.run("DELETE FROM offboardings WHERE person_id = \(personId)")
            try await tx.run("UPDATE persons SET status = 'active' WHERE id = \(personId) AND status = 'offboarding'")
            return offboarding
        }
    }
}
