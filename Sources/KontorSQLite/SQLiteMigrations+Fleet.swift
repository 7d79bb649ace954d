import Foundation

/// Migration v20: the console's fleet pages counted, searched, sorted and paged in SQL (issue 22).
///
/// Derived columns are kept by triggers, which write only when a derived value changes: a check-in
/// written with nothing new but its time fires none, and only one new index (`devices_fleet_last_seen`,
/// two columns) holds a column such a write changes.
///
/// Part of a shipped migration once released: never edit this file; add a new migration instead.
extension SQLiteStore {
    static let fleetMigration = (
        name: "v20-console-fleet",
        sql: """
        -- Sort keys of the hostname and the person's email ('~' for none: after every email) and a search text.
        ALTER TABLE devices ADD COLUMN hostname_key TEXT NOT NULL DEFAULT '';
        ALTER TABLE devices ADD COLUMN person_key TEXT NOT NULL DEFAULT '~';
        ALTER TABLE devices ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
        -- The device's compliance as far as it does not depend on the time, and when its update-age requirement
        -- starts to fail (the console compares that with the time of the request).
        ALTER TABLE devices ADD COLUMN fleet_compliance TEXT NOT NULL DEFAULT 'never'
            CHECK (fleet_compliance IN ('never', 'posture', 'violations', 'outdated', 'compliant'));
        ALTER TABLE devices ADD COLUMN posture_due_at DOUBLE;
        -- The policy an active device should run, written by the server (ExpectedPolicies); NULL when it must be
        -- computed (again).
        ALTER TABLE devices ADD COLUMN expected_policy_hash TEXT;
        ALTER TABLE devices ADD COLUMN requires_disk_encryption INTEGER NOT NULL DEFAULT 0 CHECK (requires_disk_encryption IN (0, 1));
        ALTER TABLE devices ADD COLUMN max_update_age_days INTEGER;
        UPDATE devices SET (hostname_key, person_key, search_text, fleet_compliance, posture_due_at) = (
            SELECT k.hostname_key, k.person_key, k.search_text, c.fleet_compliance, c.posture_due_at
            FROM (\(keys("devices"))) k, (\(compliance("devices"))) c);
        CREATE TRIGGER devices_fleet_inserted AFTER INSERT ON devices BEGIN
            UPDATE devices SET (hostname_key, person_key, search_text, fleet_compliance, posture_due_at) = (
                SELECT k.hostname_key, k.person_key, k.search_text, c.fleet_compliance, c.posture_due_at
                FROM (\(keys("NEW"))) k, (\(compliance("NEW"))) c)
            WHERE id = NEW.id;
        END;
        CREATE TRIGGER devices_fleet_keys AFTER UPDATE OF facts, person_id, group_name ON devices
        WHEN NEW.facts IS NOT OLD.facts OR NEW.person_id IS NOT OLD.person_id OR NEW.group_name IS NOT OLD.group_name
        BEGIN
            UPDATE devices SET hostname_key = k.hostname_key, person_key = k.person_key, search_text = k.search_text
            FROM (\(keys("NEW"))) k
            WHERE devices.id = NEW.id
                AND (devices.hostname_key IS NOT k.hostname_key OR devices.person_key IS NOT k.person_key OR devices.search_text IS NOT k.search_text);
        END;
        CREATE TRIGGER devices_fleet_compliance
        AFTER UPDATE OF facts, compliance, last_seen_at, applied_policy_hash, expected_policy_hash, requires_disk_encryption, max_update_age_days
        ON devices
        WHEN NEW.facts IS NOT OLD.facts OR NEW.compliance IS NOT OLD.compliance OR (NEW.last_seen_at IS NULL) <> (OLD.last_seen_at IS NULL)
            OR NEW.applied_policy_hash IS NOT OLD.applied_policy_hash OR NEW.expected_policy_hash IS NOT OLD.expected_policy_hash
            OR NEW.requires_disk_encryption IS NOT OLD.requires_disk_encryption OR NEW.max_update_age_days IS NOT OLD.max_update_age_days
        BEGIN
            UPDATE devices SET fleet_compliance = c.fleet_compliance, posture_due_at = c.posture_due_at
            FROM (\(compliance("NEW"))) c
            WHERE devices.id = NEW.id
                AND (devices.fleet_compliance IS NOT c.fleet_compliance OR devices.posture_due_at IS NOT c.posture_due_at);
        END;
        -- A person's email and groups shape their devices' policies (the container account, exemptions).
        CREATE TRIGGER persons_fleet_updated AFTER UPDATE OF email, group_names ON persons
        WHEN NEW.email IS NOT OLD.email OR NEW.group_names IS NOT OLD.group_names
        BEGIN UPDATE devices SET person_key = lower(NEW.email), expected_policy_hash = NULL WHERE person_id = NEW.id; END;
        -- The dashboard's counts read this index alone, a filtered or searched list the next one.
        CREATE INDEX devices_fleet_counts ON devices(status, fleet_compliance, ownership, posture_due_at);
        CREATE INDEX devices_fleet_filter ON devices(
            status, fleet_compliance, ownership, posture_due_at, wipe_confirmed_at, hostname_key, person_key, enrolled_at, id, search_text, person_id);
        -- The order of the last check-in, for the offline list and the list sorted by it. Every written check-in
        -- moves its entry, so it holds no more than the offline count reads.
        CREATE INDEX devices_fleet_last_seen ON devices(last_seen_at, status);
        -- The whole fleet in each order, a page at a time.
        CREATE INDEX devices_fleet_hostname ON devices(hostname_key, enrolled_at, id);
        CREATE INDEX devices_fleet_person ON devices(person_key, enrolled_at, id);
        CREATE INDEX devices_fleet_enrolled ON devices(enrolled_at, id);
        CREATE INDEX devices_fleet_wiped ON devices(status) WHERE wipe_confirmed_at IS NOT NULL;
        CREATE INDEX devices_fleet_unknown_policy ON devices(id) WHERE status = 'active' AND expected_policy_hash IS NULL;
        """
    )

    /// The sort keys and the search text of the device `r` (`NEW` in a trigger, or the table itself).
    private static func keys(_ r: String) -> String {
        """
        SELECT lower(x.hostname) AS hostname_key, COALESCE((SELECT lower(p.email) FROM persons p WHERE p.id = \(r).person_id), '~') AS person_key,
            lower(x.hostname) || char(10) || lower(\(r).id) || char(10) || lower(COALESCE(\(r).group_name, '')) AS search_text
        FROM (SELECT COALESCE(CASE WHEN json_valid(\(r).facts) THEN json_extract(\(r).facts, '$.hostname') END, '') AS hostname) x
        """
    }

    /// The compliance of the device `r`: the same rules as `ConsoleFormat.compliance` and
    /// `PostureCompliance.failures`, less the time. Malformed JSON reads as absent, so a trigger never fails
    /// a check-in's write.
    private static func compliance(_ r: String) -> String {
        """
        SELECT
            CASE
                WHEN \(r).last_seen_at IS NULL THEN 'never'
                WHEN \(r).requires_disk_encryption = 1 AND COALESCE(x.disk, '') <> 'encrypted' THEN 'posture'
                WHEN \(r).max_update_age_days IS NOT NULL AND (x.disk IS NULL OR x.updated IS NULL) THEN 'posture'
                WHEN x.violations > 0 THEN 'violations'
                WHEN \(r).expected_policy_hash IS NOT NULL AND \(r).applied_policy_hash IS NOT \(r).expected_policy_hash THEN 'outdated'
                ELSE 'compliant'
            END AS fleet_compliance,
            x.updated + \(r).max_update_age_days * 86400 AS posture_due_at
        FROM (
            SELECT f.disk, f.violations,
                CASE WHEN f.lists IS NULL THEN f.upgrade WHEN f.upgrade IS NULL THEN f.lists ELSE MAX(f.lists, f.upgrade) END AS updated
            FROM (
                SELECT
                    CASE WHEN json_valid(\(r).facts) THEN json_extract(\(r).facts, '$.posture.diskEncryption.state') END AS disk,
                    CASE WHEN json_valid(\(r).facts) THEN
                        CAST(strftime('%s', json_extract(\(r).facts, '$.posture.updates.listsUpdatedAt')) AS REAL) END AS lists,
                    CASE WHEN json_valid(\(r).facts) THEN
                        CAST(strftime('%s', json_extract(\(r).facts, '$.posture.updates.lastUpgradeAt')) AS REAL) END AS upgrade,
                    CASE WHEN json_valid(\(r).compliance) THEN COALESCE(json_array_length(\(r).compliance, '$.violations'), 0) ELSE 0 END
                        AS violations
            ) f
        ) x
        """
    }
}
