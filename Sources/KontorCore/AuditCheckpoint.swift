import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The server's signed statement that entry `seq` of the audit log had hash `head` at `at`.
///
/// The hash chain shows that no entry was changed after the next one was written, but whoever can
/// write the database can rewrite history and recompute every hash. A checkpoint is signed with the
/// server's Ed25519 key (kept in its data directory, never in the database) and kept outside the
/// database; since each hash covers all entries before it, a checkpoint vouches for the whole log up to
/// `seq`. A rewritten log no longer has `head` at `seq`, a truncated one has no entry `seq`, and a
/// checkpoint made up by someone without the key does not verify.
public struct AuditCheckpoint: Codable, Sendable, Equatable {
    /// Names the document in a file of JSON lines or a log: always ``kind``.
    public var type: String
    /// The sequence number of the entry signed for (also the number of entries up to it).
    public var seq: Int
    /// That entry's hash.
    public var head: String
    /// When the server signed it (whole seconds).
    public var at: Date
    /// The server key's ID (base64url SHA-256 of the public key) and the public key itself (raw, base64),
    /// so the checkpoint can also be checked without the server.
    public var keyId: String
    public var publicKey: String
    /// Ed25519 over ``signedText``, base64.
    public var signature: String

    public static let kind = "kontor.audit-checkpoint.v1"

    /// Signs entry `seq` with hash `head` at `at` with `key`.
    public static func sign(seq: Int, head: String, at: Date, key: Curve25519.Signing.PrivateKey) throws -> AuditCheckpoint {
        let whole = Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down))
        var checkpoint = AuditCheckpoint(
            type: kind, seq: seq, head: head, at: whole, keyId: DeviceKeys.keyID(for: key.publicKey), publicKey: DeviceKeys.base64(key.publicKey),
            signature: "")
        checkpoint.signature = try key.signature(for: Data(checkpoint.signedText.utf8)).base64EncodedString()
        return checkpoint
    }

    /// What the signature covers: the kind, the entry, its hash, the time and the key ID, one per line.
    public var signedText: String {
        [Self.kind, "seq=\(seq)", "head=\(head)", "at=\(ISO8601.string(from: at))", "keyid=\(keyId)"].joined(separator: "\n")
    }

    /// Whether the signature verifies with `key` (and the checkpoint names that key).
    public func verifies(with key: Curve25519.Signing.PublicKey) -> Bool {
        guard type == Self.kind, keyId == DeviceKeys.keyID(for: key), let raw = Data(base64Encoded: signature) else { return false }
        return key.isValidSignature(raw, for: Data(signedText.utf8))
    }

    /// The checkpoint as one line of JSON (sorted keys), as the sinks write it.
    public var jsonLine: String {
        (try? String(decoding: KontorJSON.encode(self), as: UTF8.self)) ?? ""
    }
}

/// What checking one checkpoint against the log found.
public struct AuditCheckpointCheck: Codable, Sendable, Equatable {
    public var seq: Int
    public var head: String
    public var at: Date
    public var ok: Bool
    /// Why it fails: a signature that does not verify (forged or altered), another server's key, an entry
    /// that no longer has the signed hash (history rewritten), or no such entry (the log was cut).
    public var problem: String?

    public init(seq: Int, head: String, at: Date, ok: Bool, problem: String?) {
        self.seq = seq
        self.head = head
        self.at = at
        self.ok = ok
        self.problem = problem
    }
}

extension AuditCheckpoint {
    /// Checks this checkpoint against the server key `key` and `entries`, the whole log in sequence order.
    public func check(key: Curve25519.Signing.PublicKey, entries: [AuditEntry]) -> AuditCheckpointCheck {
        func result(_ problem: String?) -> AuditCheckpointCheck {
            AuditCheckpointCheck(seq: seq, head: head, at: at, ok: problem == nil, problem: problem)
        }
        let serverKeyId = DeviceKeys.keyID(for: key)
        guard type == Self.kind else { return result("not a Kontor audit checkpoint (type \"\(type)\")") }
        guard keyId == serverKeyId else { return result("signed with key \(keyId), not with this server's key \(serverKeyId)") }
        guard verifies(with: key) else { return result("the signature does not verify with this server's key: the checkpoint was forged or altered") }
        // Sequence numbers count from 1 without gaps in an intact log; look further only when they do not.
        let entry = (seq >= 1 && seq <= entries.count && entries[seq - 1].seq == seq) ? entries[seq - 1] : entries.first { $0.seq == seq }
        guard let entry else {
            return result("the log ends at entry \(entries.last?.seq ?? 0), but this checkpoint signed entry \(seq): entries were removed from the log")
        }
        // A checkpoint signed before the upgrade to format 2 names the entry's old (legacy) hash.
        guard entry.hash == head || entry.legacyHash == head else {
            return result("entry \(seq) now has hash \(entry.hash), but the server signed \(head): the log up to entry \(seq) was rewritten")
        }
        return result(nil)
    }
}
