import Foundation

/// Migration v16: the console's fleet pages counted, searched, sorted and paged in SQL (issue 22); the same
/// columns as SQLite's v20, kept by a trigger before each write instead of one after it.
///
/// Part of a shipped migration once released: never edit this file; add a new migration instead.
extension PostgresMigrations {
    static let fleetMigration = (
        name: "v16-console-fleet",
        statements: [
            """
            ALTER TABLE devices
                ADD COLUMN hostname_key TEXT NOT NULL DEFAULT '',
                ADD COLUMN person_key TEXT NOT NULL DEFAULT '~',
                ADD COLUMN search_text TEXT NOT NULL DEFAULT '',
                ADD COLUMN fleet_compliance TEXT NOT NULL DEFAULT 'never'
                    CHECK (fleet_compliance IN ('never', 'posture', 'violations', 'outdated', 'compliant')),
                ADD COLUMN posture_due_at DOUBLE PRECISION,
                ADD COLUMN expected_policy_hash TEXT,
                ADD COLUMN requires_disk_encryption INTEGER NOT NULL DEFAULT 0 CHECK (requires_disk_encryption IN (0, 1)),
                ADD COLUMN max_update_age_days INTEGER
            """,
            // Seconds since 1970 of an ISO 8601 time as the server writes them; NULL for anything else, so a
            // trigger never fails a check-in's write.
            """
            CREATE FUNCTION kontor_epoch(value TEXT) RETURNS DOUBLE PRECISION LANGUAGE sql STABLE AS $$
                SELECT CASE WHEN value ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$'
                    THEN extract(epoch FROM value::timestamptz)::DOUBLE PRECISION END
            $$
            """,
            // The same rules as ConsoleFormat.compliance and PostureCompliance.failures, less the time (posture_due_at).
            """
            CREATE FUNCTION devices_fleet_derive() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                facts JSONB := NEW.facts::jsonb;
                report JSONB := NEW.compliance::jsonb;
                host TEXT := COALESCE(facts ->> 'hostname', '');
                disk TEXT := facts #>> '{posture,diskEncryption,state}';
                lists DOUBLE PRECISION := kontor_epoch(facts #>> '{posture,updates,listsUpdatedAt}');
                upgrade DOUBLE PRECISION := kontor_epoch(facts #>> '{posture,updates,lastUpgradeAt}');
                updated DOUBLE PRECISION := CASE WHEN lists IS NULL THEN upgrade WHEN upgrade IS NULL THEN lists ELSE GREATEST(lists, upgrade) END;
                violations INTEGER := CASE WHEN jsonb_typeof(report -> 'violations') = 'array' THEN jsonb_array_length(report -> 'violations') ELSE 0 END;
            BEGIN
                NEW.hostname_key := lower(host);
                NEW.person_key := COALESCE((SELECT lower(p.email) FROM persons p WHERE p.id = NEW.person_id), '~');
                NEW.search_text := lower(host) || chr(10) || lower(NEW.id) || chr(10) || lower(COALESCE(NEW.group_name, ''));
                NEW.fleet_compliance := CASE
                    WHEN NEW.last_seen_at IS NULL THEN 'never'
                    WHEN NEW.requires_disk_encryption = 1 AND COALESCE(disk, '') <> 'encrypted' THEN 'posture'
                    WHEN NEW.max_update_age_days IS NOT NULL AND (disk IS NULL OR updated IS NULL) THEN 'posture'
                    WHEN violations > 0 THEN 'violations'
                    WHEN NEW.expected_policy_hash IS NOT NULL AND NEW.applied_policy_hash IS DISTINCT FROM NEW.expected_policy_hash THEN 'outdated'
                    ELSE 'compliant'
                END;
                NEW.posture_due_at := updated + NEW.max_update_age_days * 86400;
                RETURN NEW;
            END
            $$
            """,
            "CREATE TRIGGER devices_fleet_inserted BEFORE INSERT ON devices FOR EACH ROW EXECUTE FUNCTION devices_fleet_derive()",
            """
            CREATE TRIGGER devices_fleet_updated
            BEFORE UPDATE OF facts, compliance, last_seen_at, applied_policy_hash, expected_policy_hash, requires_disk_encryption, max_update_age_days,
                person_id, group_name ON devices
            FOR EACH ROW WHEN (NEW.facts IS DISTINCT FROM OLD.facts OR NEW.compliance IS DISTINCT FROM OLD.compliance
                OR (NEW.last_seen_at IS NULL) <> (OLD.last_seen_at IS NULL) OR NEW.applied_policy_hash IS DISTINCT FROM OLD.applied_policy_hash
                OR NEW.expected_policy_hash IS DISTINCT FROM OLD.expected_policy_hash OR NEW.requires_disk_encryption IS DISTINCT FROM OLD.requires_disk_encryption
                OR NEW.max_update_age_days IS DISTINCT FROM OLD.max_update_age_days OR NEW.person_id IS DISTINCT FROM OLD.person_id
                OR NEW.group_name IS DISTINCT FROM OLD.group_name)
            EXECUTE FUNCTION devices_fleet_derive()
            """,
            // A person's email and groups shape their devices' policies (the container account, exemptions).
            """
            CREATE FUNCTION persons_fleet_updated() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE devices SET person_key = lower(NEW.email), expected_policy_hash = NULL WHERE person_id = NEW.id;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER persons_fleet_updated AFTER UPDATE OF email, group_names ON persons
            FOR EACH ROW WHEN (NEW.email IS DISTINCT FROM OLD.email OR NEW.group_names IS DISTINCT FROM OLD.group_names)
            EXECUTE FUNCTION persons_fleet_updated()
            """,
        ] + fleetFill + [
            // No index holds a column a check-in's write changes (last_seen_at): those writes stay heap-only (HOT)
            // updates. The offline list and the order of the last check-in read the table.
            "CREATE INDEX devices_fleet_counts ON devices(status, fleet_compliance, ownership, posture_due_at)",
            "CREATE INDEX devices_fleet_wiped ON devices(status) WHERE wipe_confirmed_at IS NOT NULL",
            "CREATE INDEX devices_fleet_unknown_policy ON devices(id) WHERE status = 'active' AND expected_policy_hash IS NULL",
            "CREATE INDEX devices_fleet_hostname ON devices(hostname_key COLLATE \"C\", enrolled_at, id)",
            "CREATE INDEX devices_fleet_person ON devices(person_key COLLATE \"C\", enrolled_at, id)",
            "CREATE INDEX devices_fleet_enrolled ON devices(enrolled_at, id)",
        ]
    )

    /// Derives the columns of the rows already there, through the trigger's own function.
    static let fleetFill = [
        "CREATE TRIGGER devices_fleet_fill BEFORE UPDATE ON devices FOR EACH ROW EXECUTE FUNCTION devices_fleet_derive()",
        "UPDATE devices SET facts = facts",
        "DROP TRIGGER devices_fleet_fill ON devices",
    ]
}
