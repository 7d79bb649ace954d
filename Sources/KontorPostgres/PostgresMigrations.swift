import Foundation
import PostgresNIO

/// The schema, as append-only migrations: never edit one that has shipped; add a new one. Each runs in
/// its own transaction under an advisory lock, so instances that start together migrate once.
/// `v1-schema` is SQLite's v1 to v5 in one step (PostgreSQL support started there).
enum PostgresMigrations {
    static let all: [(name: String, statements: [String])] = [
        (
            "v1-schema",
            [
                """
                CREATE TABLE api_tokens (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('auditor', 'operator', 'admin')),
                    secret_hash TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    last_used_at DOUBLE PRECISION
                )
                """,
                """
                CREATE TABLE persons (
                    id TEXT PRIMARY KEY,
                    email TEXT NOT NULL,
                    email_key TEXT NOT NULL UNIQUE,
                    display_name TEXT NOT NULL,
                    group_names TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('active', 'offboarding', 'offboarded')),
                    created_at DOUBLE PRECISION NOT NULL
                )
                """,
                """
                CREATE TABLE enrollment_tokens (
                    id TEXT PRIMARY KEY,
                    secret_hash TEXT NOT NULL,
                    person_id TEXT REFERENCES persons(id),
                    group_name TEXT,
                    max_uses INTEGER NOT NULL CHECK (max_uses > 0),
                    uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
                    expires_at DOUBLE PRECISION NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    created_by TEXT
                )
                """,
                """
                CREATE TABLE devices (
                    id TEXT PRIMARY KEY,
                    person_id TEXT REFERENCES persons(id),
                    group_name TEXT,
                    status TEXT NOT NULL CHECK (status IN ('active', 'replaced', 'revoked')),
                    key_id TEXT NOT NULL UNIQUE,
                    public_key TEXT NOT NULL UNIQUE,
                    facts TEXT NOT NULL,
                    machine_id_hash TEXT NOT NULL,
                    enrolled_at DOUBLE PRECISION NOT NULL,
                    enrollment_token_id TEXT REFERENCES enrollment_tokens(id),
                    last_seen_at DOUBLE PRECISION,
                    applied_policy_hash TEXT,
                    agent_status TEXT,
                    predecessor_id TEXT UNIQUE REFERENCES devices(id),
                    accepted_terms_version TEXT,
                    revoked_at DOUBLE PRECISION,
                    compliance TEXT,
                    wipe_confirmed_at DOUBLE PRECISION,
                    wipe_receipt_id TEXT
                )
                """,
                "CREATE INDEX devices_person ON devices(person_id)",
                "CREATE INDEX devices_active_machine ON devices(machine_id_hash) WHERE status = 'active'",
                """
                CREATE TABLE consent_records (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    person_id TEXT REFERENCES persons(id),
                    terms_version TEXT NOT NULL,
                    accepted_at DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE profile_revisions (
                    name TEXT NOT NULL,
                    revision INTEGER NOT NULL CHECK (revision > 0),
                    source TEXT NOT NULL,
                    document TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    created_by TEXT,
                    PRIMARY KEY (name, revision)
                )
                """,
                """
                CREATE TABLE profile_assignments (
                    scope TEXT NOT NULL CHECK (scope IN ('default', 'group', 'device')),
                    target TEXT NOT NULL,
                    profile_name TEXT NOT NULL,
                    assigned_at DOUBLE PRECISION NOT NULL,
                    assigned_by TEXT,
                    PRIMARY KEY (scope, target)
                )
                """,
                """
                CREATE TABLE device_events (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    at DOUBLE PRECISION NOT NULL,
                    kind TEXT NOT NULL,
                    detail TEXT
                )
                """,
                "CREATE INDEX device_events_device ON device_events(device_id, id)",
                """
                CREATE TABLE audit_log (
                    seq BIGINT PRIMARY KEY,
                    at DOUBLE PRECISION NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT,
                    detail TEXT,
                    previous_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "CREATE INDEX audit_log_target ON audit_log(target)",
                """
                CREATE FUNCTION kontor_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$
                """,
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION kontor_append_only()",
                "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION kontor_append_only()",
                """
                CREATE TABLE commands (
                    id TEXT PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    type TEXT NOT NULL CHECK (type IN ('wipe', 'lock', 'unlock', 'sync')),
                    state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'acknowledged', 'succeeded', 'failed', 'cancelled', 'expired')),
                    reason TEXT,
                    issued_at DOUBLE PRECISION NOT NULL,
                    issued_by TEXT,
                    expires_at DOUBLE PRECISION,
                    delivered_at DOUBLE PRECISION,
                    acknowledged_at DOUBLE PRECISION,
                    completed_at DOUBLE PRECISION,
                    error TEXT,
                    receipt_id TEXT
                )
                """,
                "CREATE INDEX commands_device ON commands(device_id, issued_at)",
                "CREATE INDEX commands_open ON commands(device_id) WHERE state IN ('queued', 'delivered')",
                """
                CREATE TABLE wipe_receipts (
                    id TEXT PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    command_id TEXT REFERENCES commands(id),
                    trigger TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    signature TEXT NOT NULL,
                    received_at DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE INDEX wipe_receipts_device ON wipe_receipts(device_id)",
                "CREATE TRIGGER wipe_receipts_no_update BEFORE UPDATE OR DELETE ON wipe_receipts FOR EACH ROW EXECUTE FUNCTION kontor_append_only()",
                """
                CREATE TABLE offboardings (
                    person_id TEXT PRIMARY KEY REFERENCES persons(id),
                    requested_at DOUBLE PRECISION NOT NULL,
                    requested_by TEXT,
                    wipe_at DOUBLE PRECISION NOT NULL,
                    restricted_profile TEXT,
                    reason TEXT,
                    wipes_issued_at DOUBLE PRECISION,
                    completed_at DOUBLE PRECISION
                )
                """,
                """
                CREATE TABLE console_sessions (
                    id TEXT PRIMARY KEY,
                    secret_hash TEXT NOT NULL,
                    token_id TEXT NOT NULL REFERENCES api_tokens(id),
                    created_at DOUBLE PRECISION NOT NULL,
                    last_seen_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE INDEX console_sessions_token ON console_sessions(token_id)",
            ]
        ),
        (
            "v2-replay-window",
            [
                // Nonces of accepted device signatures, shared by every instance; unlogged (a crash may empty
                // it, as a restart empties the in-memory window of a single SQLite server).
                "CREATE UNLOGGED TABLE replay_nonces (hash TEXT PRIMARY KEY, expires_at DOUBLE PRECISION NOT NULL)",
                "CREATE INDEX replay_nonces_expiry ON replay_nonces(expires_at)",
            ]
        ),
        (
            "v3-event-ids",
            [
                // The agent's ID of each event: a check-in sent again stores its events once.
                "ALTER TABLE device_events ADD COLUMN event_id TEXT",
                "CREATE UNIQUE INDEX device_events_event ON device_events(device_id, event_id) WHERE event_id IS NOT NULL",
            ]
        ),
        (
            "v4-on-call",
            [
                // Who is on call: a person's work phone, and API tokens that read only the on-call feed.
                "ALTER TABLE persons ADD COLUMN phone TEXT",
                "ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check",
                "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('feed', 'auditor', 'operator', 'admin'))",
            ]
        ),
        (
            "v5-terms",
            [
                // Usage terms, published once per version and never changed, and the answers devices signed;
                // whether a person takes part at all.
                """
                ALTER TABLE persons ADD COLUMN participation TEXT NOT NULL DEFAULT 'taking-part'
                    CHECK (participation IN ('taking-part', 'declined'))
                """,
                """
                CREATE TABLE usage_terms (
                    version TEXT PRIMARY KEY,
                    text TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    undertaking TEXT,
                    undertaking_sha256 TEXT,
                    grace_seconds INTEGER NOT NULL CHECK (grace_seconds >= 0),
                    published_at DOUBLE PRECISION NOT NULL,
                    published_by TEXT
                )
                """,
                """
                CREATE TABLE terms_responses (
                    id TEXT PRIMARY KEY,
                    version TEXT NOT NULL REFERENCES usage_terms(version),
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    person_id TEXT REFERENCES persons(id),
                    decision TEXT NOT NULL CHECK (decision IN ('accepted', 'declined')),
                    answered_at DOUBLE PRECISION NOT NULL,
                    received_at DOUBLE PRECISION NOT NULL,
                    payload TEXT NOT NULL,
                    signature TEXT NOT NULL
                )
                """,
                "CREATE INDEX terms_responses_version ON terms_responses(version, received_at)",
                "CREATE TRIGGER usage_terms_no_update BEFORE UPDATE OR DELETE ON usage_terms FOR EACH ROW EXECUTE FUNCTION kontor_append_only()",
                "CREATE TRIGGER terms_responses_no_update BEFORE UPDATE OR DELETE ON terms_responses FOR EACH ROW EXECUTE FUNCTION kontor_append_only()",
            ]
        ),
        (
            "v6-rehire",
            [
                // Rehire: an email is unique among the persons who are not offboarded; someone who comes back is a
                // new person linked to the one who left.
                "ALTER TABLE persons DROP CONSTRAINT persons_email_key_key",
                "ALTER TABLE persons ADD COLUMN previous_id TEXT REFERENCES persons(id)",
                "CREATE UNIQUE INDEX persons_email_current ON persons(email_key) WHERE status <> 'offboarded'",
                "CREATE INDEX persons_email ON persons(email_key, created_at)",
                "CREATE UNIQUE INDEX persons_previous ON persons(previous_id) WHERE previous_id IS NOT NULL",
            ]
        ),
        (
            "v8-scim",
            [
                // Directory sync (SCIM): the resource IDs a directory keeps for its users and groups, beside the persons.
                """
                CREATE TABLE scim_users (
                    id TEXT PRIMARY KEY,
                    person_id TEXT NOT NULL REFERENCES persons(id),
                    user_name TEXT NOT NULL,
                    user_name_key TEXT NOT NULL,
                    external_id TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL,
                    deleted_at DOUBLE PRECISION
                )
                """,
                "CREATE UNIQUE INDEX scim_users_user_name ON scim_users(user_name_key) WHERE deleted_at IS NULL",
                "CREATE INDEX scim_users_person ON scim_users(person_id)",
                """
                CREATE TABLE scim_groups (
                    id TEXT PRIMARY KEY,
                    display_name TEXT NOT NULL,
                    name TEXT NOT NULL,
                    external_id TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    updated_at DOUBLE PRECISION NOT NULL,
                    deleted_at DOUBLE PRECISION
                )
                """,
                "CREATE UNIQUE INDEX scim_groups_name ON scim_groups(name) WHERE deleted_at IS NULL",
                "ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check",
                "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('directory', 'feed', 'auditor', 'operator', 'admin'))",
            ]
        ),
        (
            "v9-archives",
            [
                // Archives of retained work data that devices upload before a wipe (the bytes are files beside the store).
                """
                CREATE TABLE archives (
                    id TEXT PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(id),
                    person_id TEXT REFERENCES persons(id),
                    receipt_id TEXT,
                    size BIGINT NOT NULL CHECK (size >= 0),
                    sha256 TEXT NOT NULL,
                    files BIGINT NOT NULL CHECK (files >= 0),
                    received BIGINT NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= size),
                    state TEXT NOT NULL CHECK (state IN ('uploading', 'complete', 'purged')),
                    created_at DOUBLE PRECISION NOT NULL,
                    completed_at DOUBLE PRECISION,
                    retain_until DOUBLE PRECISION,
                    legal_hold BIGINT NOT NULL DEFAULT 0,
                    purged_at DOUBLE PRECISION
                )
                """,
                "CREATE INDEX archives_device ON archives(device_id, created_at)",
            ]
        ),
        (
            "v10-ownership",
            [
                // Personal and company devices; tokens and devices from before were company machines. Whether terms
                // allow an offline wipe on personal devices is part of the (immutable) version; older ones do not.
                "ALTER TABLE enrollment_tokens ADD COLUMN ownership TEXT NOT NULL DEFAULT 'company' CHECK (ownership IN ('company', 'personal'))",
                "ALTER TABLE devices ADD COLUMN ownership TEXT NOT NULL DEFAULT 'company' CHECK (ownership IN ('company', 'personal'))",
                """
                ALTER TABLE usage_terms ADD COLUMN allows_offline_wipe_personal INTEGER NOT NULL DEFAULT 0
                    CHECK (allows_offline_wipe_personal IN (0, 1))
                """,
                "ALTER TABLE profile_assignments DROP CONSTRAINT profile_assignments_scope_check",
                """
                ALTER TABLE profile_assignments ADD CONSTRAINT profile_assignments_scope_check
                    CHECK (scope IN ('default', 'ownership', 'group', 'device') AND (scope <> 'ownership' OR target IN ('company', 'personal')))
                """,
            ]
        ),
        (
            "v12-audit-commitments",
            [
                // An audit chain that survives erasure: entries hash salted commitments of the fields that may name
                // a person; values and salts may be erased, nothing else may change. Older entries are carried over
                // on open (PostgresStore.upgradeAuditChain), keeping their old hash as legacy_hash.
                "ALTER TABLE audit_log ADD COLUMN commitments TEXT",
                "ALTER TABLE audit_log ADD COLUMN salts TEXT",
                "ALTER TABLE audit_log ADD COLUMN legacy_hash TEXT",
                "DROP TRIGGER audit_log_no_update ON audit_log",
                """
                CREATE FUNCTION kontor_audit_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'audit_log is append-only'; END IF;
                    IF OLD.commitments IS NOT NULL AND (
                        NEW.seq IS DISTINCT FROM OLD.seq OR NEW.at IS DISTINCT FROM OLD.at OR NEW.action IS DISTINCT FROM OLD.action
                        OR NEW.previous_hash IS DISTINCT FROM OLD.previous_hash OR NEW.hash IS DISTINCT FROM OLD.hash
                        OR NEW.commitments IS DISTINCT FROM OLD.commitments OR NEW.legacy_hash IS DISTINCT FROM OLD.legacy_hash) THEN
                        RAISE EXCEPTION 'audit_log is append-only: only personal values may be erased';
                    END IF;
                    RETURN NEW;
                END $$
                """,
                "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION kontor_audit_erase_only()",
            ]
        ),
        (
            "v13-retention",
            [
                // Retention: events are deleted by age, and spent enrollment tokens are deleted after their devices
                // lose the reference to them; both without scanning the tables.
                "CREATE INDEX device_events_at ON device_events(at)",
                "CREATE INDEX devices_enrollment_token ON devices(enrollment_token_id) WHERE enrollment_token_id IS NOT NULL",
            ]
        ),
        (
            "v14-people",
            [
                // Admins are people: API tokens say why they exist and whom they belong to; people signed in through
                // OpenID Connect have sessions of their own; console sign-ins in flight wait for their callback.
                "ALTER TABLE api_tokens ADD COLUMN purpose TEXT NOT NULL DEFAULT 'automation' CHECK (purpose IN ('automation', 'break-glass'))",
                "ALTER TABLE api_tokens ADD COLUMN owner TEXT",
                "ALTER TABLE api_tokens ADD COLUMN owner_name TEXT",
                """
                CREATE TABLE person_sessions (
                    id TEXT PRIMARY KEY,
                    secret_hash TEXT NOT NULL,
                    channel TEXT NOT NULL CHECK (channel IN ('console', 'api')),
                    subject TEXT NOT NULL,
                    display_name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    group_names TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    last_seen_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL
                )
                """,
                "CREATE INDEX person_sessions_expiry ON person_sessions(expires_at)",
                """
                CREATE TABLE oidc_sign_ins (
                    id TEXT PRIMARY KEY,
                    nonce TEXT NOT NULL,
                    code_verifier TEXT NOT NULL,
                    next TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL
                )
                """,
            ]
        ),
        (
            "v15-approvals",
            [
                // Four-eyes approvals: a decided one names its decider, who is never the requester.
                """
                CREATE TABLE approvals (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL CHECK (kind IN ('wipe', 'offboard', 'tokenCreate')),
                    target TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    requested_by TEXT NOT NULL,
                    requester TEXT,
                    requester_name TEXT,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired')),
                    decided_by TEXT,
                    decider TEXT,
                    decided_at DOUBLE PRECISION,
                    reason TEXT,
                    result TEXT,
                    CHECK (state NOT IN ('approved', 'rejected') OR (decider IS NOT NULL AND decided_at IS NOT NULL)),
                    CHECK (decider IS NULL OR requester IS NULL OR decider <> requester)
                )
                """,
                "CREATE INDEX approvals_open ON approvals(state, expires_at)",
            ]
        ),
        fleetMigration,
    ]

    static func migrate(_ store: PostgresStore) async throws {
        for migration in all {
            try await store.transaction { tx in
                try await tx.lock("kontor_migrations")
                try await tx.run("CREATE TABLE IF NOT EXISTS kontor_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
                guard try await tx.row("SELECT 1 FROM kontor_migrations WHERE name = \(migration.name)", { _ in true }) == nil else { return }
                for statement in migration.statements { try await tx.run(PostgresQuery(unsafeSQL: statement)) }
                try await tx.run("INSERT INTO kontor_migrations (name) VALUES (\(migration.name))")
            }
        }
    }
}
