import Foundation
import GRDB

extension SQLiteStore {
    /// Append-only: never edit a migration that has shipped; add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (name, sql) in migrations {
            migrator.registerMigration(name) { db in try db.execute(sql: sql) }
        }
        return migrator
    }

    /// The schema's migrations, oldest first: a name and the SQL it runs.
    static let migrations: [(name: String, sql: String)] = [
        (
            "v1-foundation",
            """
            CREATE TABLE api_tokens (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('auditor', 'operator', 'admin')),
                secret_hash TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                revoked_at DOUBLE,
                last_used_at DOUBLE
            );
            CREATE TABLE persons (
                id TEXT PRIMARY KEY NOT NULL,
                email TEXT NOT NULL,
                email_key TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                group_names TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'offboarding', 'offboarded')),
                created_at DOUBLE NOT NULL
            );
            CREATE TABLE enrollment_tokens (
                id TEXT PRIMARY KEY NOT NULL,
                secret_hash TEXT NOT NULL,
                person_id TEXT REFERENCES persons(id),
                group_name TEXT,
                max_uses INTEGER NOT NULL CHECK (max_uses > 0),
                uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
                expires_at DOUBLE NOT NULL,
                created_at DOUBLE NOT NULL,
                revoked_at DOUBLE,
                created_by TEXT
            );
            CREATE TABLE devices (
                id TEXT PRIMARY KEY NOT NULL,
                person_id TEXT REFERENCES persons(id),
                group_name TEXT,
                status TEXT NOT NULL CHECK (status IN ('active', 'replaced', 'revoked')),
                key_id TEXT NOT NULL UNIQUE,
                public_key TEXT NOT NULL UNIQUE,
                facts TEXT NOT NULL,
                machine_id_hash TEXT NOT NULL,
                enrolled_at DOUBLE NOT NULL,
                enrollment_token_id TEXT REFERENCES enrollment_tokens(id),
                last_seen_at DOUBLE,
                applied_policy_hash TEXT,
                agent_status TEXT,
                predecessor_id TEXT UNIQUE REFERENCES devices(id),
                accepted_terms_version TEXT,
                revoked_at DOUBLE
            );
            CREATE INDEX devices_person ON devices(person_id);
            CREATE INDEX devices_active_machine ON devices(machine_id_hash) WHERE status = 'active';
            CREATE TABLE consent_records (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                device_id TEXT NOT NULL REFERENCES devices(id),
                person_id TEXT REFERENCES persons(id),
                terms_version TEXT NOT NULL,
                accepted_at DOUBLE NOT NULL
            );
            CREATE TABLE settings (
                key TEXT PRIMARY KEY NOT NULL,
                value TEXT NOT NULL
            );
            """
        ),
        (
            "v2-policies",
            """
            CREATE TABLE profile_revisions (
                name TEXT NOT NULL,
                revision INTEGER NOT NULL CHECK (revision > 0),
                source TEXT NOT NULL,
                document TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                created_by TEXT,
                PRIMARY KEY (name, revision)
            );
            CREATE TABLE profile_assignments (
                scope TEXT NOT NULL CHECK (scope IN ('default', 'group', 'device')),
                target TEXT NOT NULL,
                profile_name TEXT NOT NULL,
                assigned_at DOUBLE NOT NULL,
                assigned_by TEXT,
                PRIMARY KEY (scope, target)
            );
            ALTER TABLE devices ADD COLUMN compliance TEXT;
            CREATE TABLE device_events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                device_id TEXT NOT NULL REFERENCES devices(id),
                at DOUBLE NOT NULL,
                kind TEXT NOT NULL,
                detail TEXT
            );
            CREATE INDEX device_events_device ON device_events(device_id, id);
            """
        ),
        (
            "v3-audit",
            """
            CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY,
                at DOUBLE NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT,
                detail TEXT,
                previous_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            );
            CREATE INDEX audit_log_target ON audit_log(target);
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            """
        ),
        (
            "v4-commands",
            """
            CREATE TABLE commands (
                id TEXT PRIMARY KEY NOT NULL,
                device_id TEXT NOT NULL REFERENCES devices(id),
                type TEXT NOT NULL CHECK (type IN ('wipe', 'lock', 'unlock', 'sync')),
                state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'acknowledged', 'succeeded', 'failed', 'cancelled', 'expired')),
                reason TEXT,
                issued_at DOUBLE NOT NULL,
                issued_by TEXT,
                expires_at DOUBLE,
                delivered_at DOUBLE,
                acknowledged_at DOUBLE,
                completed_at DOUBLE,
                error TEXT,
                receipt_id TEXT
            );
            CREATE INDEX commands_device ON commands(device_id, issued_at);
            CREATE INDEX commands_open ON commands(device_id) WHERE state IN ('queued', 'delivered');
            CREATE TABLE wipe_receipts (
                id TEXT PRIMARY KEY NOT NULL,
                device_id TEXT NOT NULL REFERENCES devices(id),
                command_id TEXT REFERENCES commands(id),
                trigger TEXT NOT NULL,
                payload TEXT NOT NULL,
                signature TEXT NOT NULL,
                received_at DOUBLE NOT NULL
            );
            CREATE INDEX wipe_receipts_device ON wipe_receipts(device_id);
            CREATE TRIGGER wipe_receipts_no_update BEFORE UPDATE ON wipe_receipts BEGIN SELECT RAISE(ABORT, 'receipts are kept as received'); END;
            CREATE TRIGGER wipe_receipts_no_delete BEFORE DELETE ON wipe_receipts BEGIN SELECT RAISE(ABORT, 'receipts are kept as received'); END;
            ALTER TABLE devices ADD COLUMN wipe_confirmed_at DOUBLE;
            ALTER TABLE devices ADD COLUMN wipe_receipt_id TEXT;
            CREATE TABLE offboardings (
                person_id TEXT PRIMARY KEY NOT NULL REFERENCES persons(id),
                requested_at DOUBLE NOT NULL,
                requested_by TEXT,
                wipe_at DOUBLE NOT NULL,
                restricted_profile TEXT,
                reason TEXT,
                wipes_issued_at DOUBLE,
                completed_at DOUBLE
            );
            """
        ),
        (
            "v5-console-sessions",
            """
            CREATE TABLE console_sessions (
                id TEXT PRIMARY KEY NOT NULL,
                secret_hash TEXT NOT NULL,
                token_id TEXT NOT NULL REFERENCES api_tokens(id),
                created_at DOUBLE NOT NULL,
                last_seen_at DOUBLE NOT NULL,
                expires_at DOUBLE NOT NULL
            );
            CREATE INDEX console_sessions_token ON console_sessions(token_id);
            """
        ),
        // Nonces of accepted device signatures that a restart could not otherwise refuse (SQLiteStore+Nonces).
        (
            "v6-replay-nonces",
            """
            CREATE TABLE replay_nonces (hash TEXT PRIMARY KEY NOT NULL, expires_at DOUBLE NOT NULL);
            CREATE INDEX replay_nonces_expiry ON replay_nonces(expires_at);
            """
        ),
        // The agent's ID of each event: a check-in sent again stores its events once.
        (
            "v7-event-ids",
            """
            ALTER TABLE device_events ADD COLUMN event_id TEXT;
            CREATE UNIQUE INDEX device_events_event ON device_events(device_id, event_id) WHERE event_id IS NOT NULL;
            """
        ),
        // Who is on call: a person's work phone, and API tokens that read only the on-call feed (SQLite cannot
        // change a CHECK constraint: the table is rebuilt, keeping every row).
        (
            "v8-on-call",
            """
            ALTER TABLE persons ADD COLUMN phone TEXT;
            CREATE TABLE api_tokens_v8 (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('feed', 'auditor', 'operator', 'admin')),
                secret_hash TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                revoked_at DOUBLE,
                last_used_at DOUBLE
            );
            INSERT INTO api_tokens_v8 (id, name, role, secret_hash, created_at, revoked_at, last_used_at)
                SELECT id, name, role, secret_hash, created_at, revoked_at, last_used_at FROM api_tokens;
            DROP TABLE api_tokens;
            ALTER TABLE api_tokens_v8 RENAME TO api_tokens;
            """
        ),
        // Usage terms, published once per version and never changed, and the answers devices signed; whether
        // a person takes part at all.
        (
            "v9-terms",
            """
            ALTER TABLE persons ADD COLUMN participation TEXT NOT NULL DEFAULT 'taking-part' CHECK (participation IN ('taking-part', 'declined'));
            CREATE TABLE usage_terms (
                version TEXT PRIMARY KEY NOT NULL,
                text TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                undertaking TEXT,
                undertaking_sha256 TEXT,
                grace_seconds INTEGER NOT NULL CHECK (grace_seconds >= 0),
                published_at DOUBLE NOT NULL,
                published_by TEXT
            );
            CREATE TRIGGER usage_terms_no_update BEFORE UPDATE ON usage_terms BEGIN SELECT RAISE(ABORT, 'published terms never change'); END;
            CREATE TRIGGER usage_terms_no_delete BEFORE DELETE ON usage_terms BEGIN SELECT RAISE(ABORT, 'published terms never change'); END;
            CREATE TABLE terms_responses (
                id TEXT PRIMARY KEY NOT NULL,
                version TEXT NOT NULL REFERENCES usage_terms(version),
                device_id TEXT NOT NULL REFERENCES devices(id),
                person_id TEXT REFERENCES persons(id),
                decision TEXT NOT NULL CHECK (decision IN ('accepted', 'declined')),
                answered_at DOUBLE NOT NULL,
                received_at DOUBLE NOT NULL,
                payload TEXT NOT NULL,
                signature TEXT NOT NULL
            );
            CREATE INDEX terms_responses_version ON terms_responses(version, received_at);
            CREATE TRIGGER terms_responses_no_update BEFORE UPDATE ON terms_responses BEGIN SELECT RAISE(ABORT, 'answers are kept as received'); END;
            CREATE TRIGGER terms_responses_no_delete BEFORE DELETE ON terms_responses BEGIN SELECT RAISE(ABORT, 'answers are kept as received'); END;
            """
        ),
        // Rehire: an email is unique among the persons who are not offboarded, so someone who comes back is a new
        // person (a new ID) linked to the one who left. SQLite cannot drop a UNIQUE constraint: the table is
        // rebuilt, keeping every row (foreign keys are checked after the migration).
        (
            "v10-rehire",
            """
            CREATE TABLE persons_v10 (
                id TEXT PRIMARY KEY NOT NULL,
                email TEXT NOT NULL,
                email_key TEXT NOT NULL,
                display_name TEXT NOT NULL,
                group_names TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'offboarding', 'offboarded')),
                created_at DOUBLE NOT NULL,
                phone TEXT,
                participation TEXT NOT NULL DEFAULT 'taking-part' CHECK (participation IN ('taking-part', 'declined')),
                previous_id TEXT REFERENCES persons(id)
            );
            INSERT INTO persons_v10 (id, email, email_key, display_name, group_names, status, created_at, phone, participation)
                SELECT id, email, email_key, display_name, group_names, status, created_at, phone, participation FROM persons;
            DROP TABLE persons;
            ALTER TABLE persons_v10 RENAME TO persons;
            CREATE UNIQUE INDEX persons_email_current ON persons(email_key) WHERE status <> 'offboarded';
            CREATE INDEX persons_email ON persons(email_key, created_at);
            CREATE UNIQUE INDEX persons_previous ON persons(previous_id) WHERE previous_id IS NOT NULL;
            """
        ),
        // Directory sync (SCIM): the resource IDs a directory keeps for its users and groups, beside the persons.
        (
            "v12-scim",
            """
            CREATE TABLE scim_users (
                id TEXT PRIMARY KEY NOT NULL,
                person_id TEXT NOT NULL REFERENCES persons(id),
                user_name TEXT NOT NULL,
                user_name_key TEXT NOT NULL,
                external_id TEXT,
                created_at DOUBLE NOT NULL,
                updated_at DOUBLE NOT NULL,
                deleted_at DOUBLE
            );
            CREATE UNIQUE INDEX scim_users_user_name ON scim_users(user_name_key) WHERE deleted_at IS NULL;
            CREATE INDEX scim_users_person ON scim_users(person_id);
            CREATE TABLE scim_groups (
                id TEXT PRIMARY KEY NOT NULL,
                display_name TEXT NOT NULL,
                name TEXT NOT NULL,
                external_id TEXT,
                created_at DOUBLE NOT NULL,
                updated_at DOUBLE NOT NULL,
                deleted_at DOUBLE
            );
            CREATE UNIQUE INDEX scim_groups_name ON scim_groups(name) WHERE deleted_at IS NULL;
            CREATE TABLE api_tokens_v12 (
                id TEXT PRIMARY KEY NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('directory', 'feed', 'auditor', 'operator', 'admin')),
                secret_hash TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                revoked_at DOUBLE,
                last_used_at DOUBLE
            );
            INSERT INTO api_tokens_v12 (id, name, role, secret_hash, created_at, revoked_at, last_used_at)
                SELECT id, name, role, secret_hash, created_at, revoked_at, last_used_at FROM api_tokens;
            DROP TABLE api_tokens;
            ALTER TABLE api_tokens_v12 RENAME TO api_tokens;
            """
        ),
        // Archives of retained work data that devices upload before a wipe (the bytes are files beside the store).
        (
            "v13-archives",
            """
            CREATE TABLE archives (
                id TEXT PRIMARY KEY NOT NULL,
                device_id TEXT NOT NULL REFERENCES devices(id),
                person_id TEXT REFERENCES persons(id),
                receipt_id TEXT,
                size INTEGER NOT NULL CHECK (size >= 0),
                sha256 TEXT NOT NULL,
                files INTEGER NOT NULL CHECK (files >= 0),
                received INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
                state TEXT NOT NULL CHECK (state IN ('uploading', 'complete', 'purged')),
                created_at DOUBLE NOT NULL,
                completed_at DOUBLE,
                retain_until DOUBLE,
                legal_hold INTEGER NOT NULL DEFAULT 0,
                purged_at DOUBLE
            );
            CREATE INDEX archives_device ON archives(device_id, created_at);
            """
        ),
        // Personal and company devices. Tokens and devices from before were company machines. Whether terms allow an
        // offline wipe on personal devices is part of the (immutable) version; older versions do not.
        (
            "v14-ownership",
            """
            ALTER TABLE enrollment_tokens ADD COLUMN ownership TEXT NOT NULL DEFAULT 'company' CHECK (ownership IN ('company', 'personal'));
            ALTER TABLE devices ADD COLUMN ownership TEXT NOT NULL DEFAULT 'company' CHECK (ownership IN ('company', 'personal'));
            ALTER TABLE usage_terms ADD COLUMN allows_offline_wipe_personal INTEGER NOT NULL DEFAULT 0 CHECK (allows_offline_wipe_personal IN (0, 1));
            CREATE TABLE profile_assignments_v11 (
                scope TEXT NOT NULL CHECK (scope IN ('default', 'ownership', 'group', 'device')),
                target TEXT NOT NULL,
                profile_name TEXT NOT NULL,
                assigned_at DOUBLE NOT NULL,
                assigned_by TEXT,
                PRIMARY KEY (scope, target),
                CHECK (scope <> 'ownership' OR target IN ('company', 'personal'))
            );
            INSERT INTO profile_assignments_v11 SELECT scope, target, profile_name, assigned_at, assigned_by FROM profile_assignments;
            DROP TABLE profile_assignments;
            ALTER TABLE profile_assignments_v11 RENAME TO profile_assignments;
            """
        ),
        // An audit chain that survives erasure: entries hash a salted commitment of each field that may name a
        // person, the values and salts stay beside them and may be erased (nothing else may change). Older
        // entries are carried over to the new format on open (SQLiteStore.upgradeAuditChain), keeping their
        // old hash as legacy_hash.
        (
            "v16-audit-commitments",
            """
            ALTER TABLE audit_log ADD COLUMN commitments TEXT;
            ALTER TABLE audit_log ADD COLUMN salts TEXT;
            ALTER TABLE audit_log ADD COLUMN legacy_hash TEXT;
            DROP TRIGGER audit_log_no_update;
            CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            WHEN OLD.commitments IS NOT NULL AND (
                NEW.seq IS NOT OLD.seq OR NEW.at IS NOT OLD.at OR NEW.action IS NOT OLD.action OR NEW.previous_hash IS NOT OLD.previous_hash
                OR NEW.hash IS NOT OLD.hash OR NEW.commitments IS NOT OLD.commitments OR NEW.legacy_hash IS NOT OLD.legacy_hash)
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only personal values may be erased'); END;
            """
        ),
        // Retention: events are deleted by age, and spent enrollment tokens are deleted after their devices
        // lose the reference to them; both without scanning the tables.
        (
            "v17-retention",
            """
            CREATE INDEX device_events_at ON device_events(at);
            CREATE INDEX devices_enrollment_token ON devices(enrollment_token_id) WHERE enrollment_token_id IS NOT NULL;
            """
        ),
        // Admins are people: API tokens say why they exist and whom they belong to; people signed in through
        // OpenID Connect have sessions of their own; console sign-ins in flight wait for their callback.
        (
            "v18-people",
            """
            ALTER TABLE api_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'automation' CHECK (purpose IN ('automation', 'break-glass'));
            ALTER TABLE api_tokens ADD COLUMN owner TEXT;
            ALTER TABLE api_tokens ADD COLUMN owner_name TEXT;
            CREATE TABLE person_sessions (
                id TEXT PRIMARY KEY NOT NULL,
                secret_hash TEXT NOT NULL,
                channel TEXT NOT NULL CHECK (channel IN ('console', 'api')),
                subject TEXT NOT NULL,
                display_name TEXT NOT NULL,
                role TEXT NOT NULL,
                group_names TEXT NOT NULL,
                created_at DOUBLE NOT NULL,
                last_seen_at DOUBLE NOT NULL,
                expires_at DOUBLE NOT NULL
            );
            CREATE INDEX person_sessions_expiry ON person_sessions(expires_at);
            CREATE TABLE oidc_sign_ins (
                id TEXT PRIMARY KEY NOT NULL,
                nonce TEXT NOT NULL,
                code_verifier TEXT NOT NULL,
                next TEXT,
                created_at DOUBLE NOT NULL,
                expires_at DOUBLE NOT NULL
            );
            """
        ),
        (
            // Four-eyes approvals: a decided one names its decider, who is never the requester.
            "v19-approvals",
            """
            CREATE TABLE approvals (
                id TEXT PRIMARY KEY NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('wipe', 'offboard', 'tokenCreate')),
                target TEXT NOT NULL,
                payload TEXT NOT NULL,
                requested_by TEXT NOT NULL,
                requester TEXT,
                requester_name TEXT,
                created_at DOUBLE NOT NULL,
                expires_at DOUBLE NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
                decided_by TEXT,
                decider TEXT,
                decided_at DOUBLE,
                reason TEXT,
                result TEXT,
                CHECK (state NOT IN ('approved', 'rejected') OR (decider IS NOT NULL AND decided_at IS NOT NULL)),
                CHECK (decider IS NULL OR requester IS NULL OR decider <> requester)
            );
            CREATE INDEX approvals_open ON approvals(state, expires_at);
            """
        ),
        fleetMigration,
    ]
}
