import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One entry of the append-only audit log. Each entry carries the hash of the one before, so an
/// edited, inserted or deleted entry breaks the chain from that point on.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var seq: Int
    /// Whole seconds: the hash covers the same text whatever the storage's precision.
    public var at: Date
    /// Who: `token:<name>`, `device:<id>`, `system`.
    public var actor: String
    /// What: `person.created`, `enroll-token.created`, `profile.applied`, …
    public var action: String
    /// On what: an ID, email or name.
    public var target: String?
    /// Details, as sorted key/value pairs.
    public var detail: [String: String]?
    public var previousHash: String
    public var hash: String
    /// Format 2 (erasable): a salted SHA-256 commitment of each field that may name a person (`actor`,
    /// `target`, `detail.<key>`); the chain hashes these, not the values. Nil for a format-1 entry (the
    /// values themselves hashed), which only an installation that has not started since the upgrade has.
    public var commitments: [String: String]?
    /// The salt (hex) of each committed field; a field without one was erased (its value is
    /// ``AuditChain/erased``), and its commitment still holds the chain together.
    public var salts: [String: String]?
    /// The format-1 hash an entry had before the upgrade to format 2 (kept so checkpoints signed then, and
    /// the old head, stay checkable).
    public var legacyHash: String?

    public init(
        seq: Int, at: Date, actor: String, action: String, target: String?, detail: [String: String]?, previousHash: String, hash: String,
        commitments: [String: String]? = nil, salts: [String: String]? = nil, legacyHash: String? = nil
    ) {
        self.commitments = commitments
        self.salts = salts
        self.legacyHash = legacyHash
        self.seq = seq
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The result of checking the chain.
public struct AuditVerification: Codable, Sendable, Equatable {
    public var ok: Bool
    /// Entries checked.
    public var entries: Int
    /// The first entry that does not fit, by sequence number.
    public var firstBadSeq: Int?
    public var problem: String?
    /// The hash of the last entry: keep a copy outside the server to detect truncation later.
    public var head: String
    /// When signed checkpoints were given to check: each one's result. `ok` above is the chain's alone.
    public var checkpoints: [AuditCheckpointCheck]?
    /// For a log upgraded to format 2: whether the entries from before still give the old chain's head.
    public var legacy: String?

    public init(ok: Bool, entries: Int, firstBadSeq: Int?, problem: String?, head: String, checkpoints: [AuditCheckpointCheck]? = nil) {
        self.ok = ok
        self.entries = entries
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.head = head
        self.checkpoints = checkpoints
    }
}

/// Checks a chain entry by entry from a known point, so a long log can be read page by page and a
/// checkpointer can go on from where it last checked.
public struct AuditChainCursor: Sendable, Equatable {
    /// The last entry checked (0: none yet) and its hash.
    public private(set) var seq: Int
    public private(set) var head: String

    public init(seq: Int = 0, head: String = AuditChain.genesis) {
        self.seq = seq
        self.head = head
    }

    /// Moves past `e` when it follows; else returns what is wrong and stays.
    public mutating func check(_ e: AuditEntry) -> String? {
        let expected = seq + 1
        if e.seq != expected {
            return e.seq > expected ? "entries \(expected)…\(e.seq - 1) are missing (deleted)" : "entry \(e.seq) appears out of order (inserted)"
        }
        if e.previousHash != head { return "entry \(e.seq) does not follow entry \(e.seq - 1) (an entry was inserted or replaced)" }
        if AuditChain.hash(of: e) != e.hash { return "entry \(e.seq) was edited: its content no longer matches its hash" }
        if let problem = AuditChain.fieldProblem(e) { return problem }
        seq = e.seq
        head = e.hash
        return nil
    }
}

/// The hash chain of the audit log.
public enum AuditChain {
    /// The `previousHash` of the first entry.
    public static let genesis = "sha256:" + String(repeating: "0", count: 64)

    /// What an erased field reads.
    public static let erased = "[erased]"

    /// A new entry after `previous` (nil for the first), in format 2 with fresh random salts.
    public static func entry(after previous: AuditEntry?, at: Date, actor: String, action: String, target: String?, detail: [String: String]?) -> AuditEntry {
        let seq = (previous?.seq ?? 0) + 1
        let whole = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
        let prev = previous?.hash ?? genesis
        var entry = AuditEntry(seq: seq, at: whole, actor: actor, action: action, target: target, detail: detail, previousHash: prev, hash: "")
        commit(&entry)
        entry.hash = hash(of: entry)
        return entry
    }

    /// The format-2 form of a format-1 entry, chained after `previousHash`: the same values, committed with
    /// fresh salts; its old hash kept as `legacyHash`.
    public static func upgraded(_ e: AuditEntry, previousHash: String) -> AuditEntry {
        var entry = e
        entry.legacyHash = e.hash
        entry.previousHash = previousHash
        commit(&entry)
        entry.hash = hash(of: entry)
        return entry
    }

    /// The fields of an entry that are committed, by name, with their values.
    public static func fields(of e: AuditEntry) -> [String: String] {
        var fields = ["actor": e.actor]
        if let target = e.target { fields["target"] = target }
        for (key, value) in e.detail ?? [:] { fields["detail." + key] = value }
        return fields
    }

    private static func commit(_ e: inout AuditEntry) {
        var commitments: [String: String] = [:]
        var salts: [String: String] = [:]
        var random = SystemRandomNumberGenerator()
        for (field, value) in fields(of: e) {
            let salt = Bytes.hex((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &random) })
            salts[field] = salt
            commitments[field] = commitment(value, salt: salt)
        }
        e.commitments = commitments
        e.salts = salts
    }

    /// `sha256:` and the hex SHA-256 of the salt's bytes followed by the value's UTF-8.
    public static func commitment(_ value: String, salt: String) -> String {
        "sha256:" + Bytes.sha256Hex(Data((Bytes.fromHex(salt) ?? []) + Array(value.utf8)))
    }

    /// Erases every committed field whose value contains one of `needles` (any case): the value becomes
    /// ``erased`` and its salt goes; the commitment, and so the chain, stays. True when something changed.
    public static func erase(_ e: inout AuditEntry, matching needles: [String]) -> Bool {
        guard e.commitments != nil, var salts = e.salts else { return false }
        let wanted = needles.filter { !$0.isEmpty }.map { $0.lowercased() }
        var changed = false
        func hit(_ value: String) -> Bool {
            let lower = value.lowercased()
            return wanted.contains { lower.contains($0) }
        }
        if hit(e.actor), salts.removeValue(forKey: "actor") != nil {
            e.actor = erased
            changed = true
        }
        if let target = e.target, hit(target), salts.removeValue(forKey: "target") != nil {
            e.target = erased
            changed = true
        }
        for (key, value) in e.detail ?? [:] where hit(value) {
            if salts.removeValue(forKey: "detail." + key) != nil {
                e.detail?[key] = erased
                changed = true
            }
        }
        e.salts = salts
        return changed
    }

    /// What is wrong with a format-2 entry's fields: each value must match its commitment (or be erased,
    /// without a salt), and no field may be there without one.
    static func fieldProblem(_ e: AuditEntry) -> String? {
        guard let commitments = e.commitments else { return nil }
        let fields = fields(of: e)
        guard Set(fields.keys) == Set(commitments.keys) else { return "entry \(e.seq) was edited: a field was added or removed" }
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let salt = e.salts?[field] else {
                if value == erased { continue }
                return "entry \(e.seq) was edited: \(field) has no salt but is not erased"
            }
            if commitment(value, salt: salt) != commitments[field] { return "entry \(e.seq) was edited: \(field) no longer matches its commitment" }
        }
        return nil
    }

    /// SHA-256 over the entry's fields (all but `hash`), one per line in a fixed order. Format 2 hashes the
    /// commitments in place of actor, target and detail.
    public static func hash(of e: AuditEntry) -> String {
        if let commitments = e.commitments {
            let committed = commitments.sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: "&")
            let text = ["v2", String(e.seq), ISO8601.string(from: e.at), escape(e.action), committed, e.previousHash].joined(separator: "\n")
            return "sha256:" + Bytes.sha256Hex(Data(text.utf8))
        }
        return legacyHash(of: e)
    }

    /// The format-1 hash: SHA-256 over the values themselves.
    public static func legacyHash(of e: AuditEntry) -> String {
        let detail = (e.detail ?? [:]).sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: "&")
        let text = [String(e.seq), ISO8601.string(from: e.at), escape(e.actor), escape(e.action), escape(e.target ?? ""), detail, e.previousHash]
            .joined(separator: "\n")
        return "sha256:" + Bytes.sha256Hex(Data(text.utf8))
    }

    private static func escape(_ s: String) -> String {
        s.replacing("%", with: "%25").replacing("\n", with: "%0A").replacing("&", with: "%26")
            .replacing("=", with: "%3D")
    }

    /// Checks `entries` (in sequence order) from the genesis: sequence numbers without gaps, each
    /// `previousHash` equal to the hash before, each `hash` equal to the entry's content.
    public static func verify(_ entries: [AuditEntry]) -> AuditVerification {
        var cursor = AuditChainCursor()
        for e in entries {
            if let problem = cursor.check(e) {
                return AuditVerification(ok: false, entries: entries.count, firstBadSeq: e.seq, problem: problem, head: entries.last?.hash ?? genesis)
            }
        }
        var verification = AuditVerification(ok: true, entries: entries.count, firstBadSeq: nil, problem: nil, head: cursor.head)
        verification.legacy = legacyReport(entries)
        return verification
    }

    /// For the entries upgraded from format 1: recomputes their old chain from the values (where none was
    /// erased) and says whether it still ends at the old head; nil for a log without such entries.
    public static func legacyReport(_ entries: [AuditEntry]) -> String? {
        var previous = genesis
        var count = 0
        var erasedEntries = 0
        for e in entries {
            guard let legacy = e.legacyHash else { break }
            let old = AuditEntry(
                seq: e.seq, at: e.at, actor: e.actor, action: e.action, target: e.target, detail: e.detail, previousHash: previous, hash: legacy)
            if (e.salts?.count ?? 0) < (e.commitments?.count ?? 0) {
                erasedEntries += 1
            } else if legacyHash(of: old) != legacy {
                return "entry \(e.seq), from before the format upgrade, no longer gives the hash it had then"
            }
            previous = legacy
            count += 1
        }
        guard count > 0 else { return nil }
        if let marker = entries.first(where: { $0.action == "audit.format-upgraded" }), marker.detail?["legacyHead"] != previous {
            return "the old head recorded at the format upgrade (entry \(marker.seq)) is not the one the entries from before give"
        }
        let erased = erasedEntries > 0 ? " (\(erasedEntries) of them with erased values, taken on their recorded old hash)" : ""
        return "the \(count) entries from before the format upgrade give the old head \(previous)\(erased)"
    }
}
