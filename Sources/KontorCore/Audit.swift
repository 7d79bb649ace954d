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

    public init(seq: Int, at: Date, actor: String, action: String, target: String?, detail: [String: String]?, previousHash: String, hash: String) {
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
        seq = e.seq
        head = e.hash
        return nil
    }
}

/// The hash chain of the audit log.
public enum AuditChain {
    /// The `previousHash` of the first entry.
    public static let genesis = "sha256:" + String(repeating: "0", count: 64)

    /// A new entry after `previous` (nil for the first).
    public static func entry(after previous: AuditEntry?, at: Date, actor: String, action: String, target: String?, detail: [String: String]?) -> AuditEntry {
        let seq = (previous?.seq ?? 0) + 1
        let whole = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
        let prev = previous?.hash ?? genesis
        var entry = AuditEntry(seq: seq, at: whole, actor: actor, action: action, target: target, detail: detail, previousHash: prev, hash: "")
        entry.hash = hash(of: entry)
        return entry
    }

    /// SHA-256 over the entry's fields (all but `hash`), one per line in a fixed order.
    public static func hash(of e: AuditEntry) -> String {
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
        return AuditVerification(ok: true, entries: entries.count, firstBadSeq: nil, problem: nil, head: cursor.head)
    }
}
