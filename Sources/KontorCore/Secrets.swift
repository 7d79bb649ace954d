import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The kinds of bearer secret Kontor issues. The prefix lets secret scanners and people tell them apart.
public enum SecretKind: String, Sendable, CaseIterable {
    /// An admin API token (`kat_`).
    case apiToken = "kat"
    /// A device enrollment token (`ket_`).
    case enrollmentToken = "ket"
    /// An admin console session, held in an HttpOnly cookie (`kcs_`).
    case consoleSession = "kcs"
    /// A session of a person signed in through OpenID Connect: a console cookie or kontorctl's bearer (`kps_`).
    case personSession = "kps"
}

/// A bearer secret in the form `<prefix>_<id>_<secret>`: the id (public, 12 hex characters) finds the
/// stored record, the secret (256 random bits) is checked against the stored SHA-256 in constant time.
public struct IssuedSecret: Sendable, Equatable {
    /// The lookup half, stored in clear.
    public let id: String
    /// The whole token as handed to the user, shown once and never stored.
    public let token: String
    /// SHA-256 of the secret half, lowercase hex: the only thing stored.
    public let secretHash: String

    /// Mints a new random secret of the given kind.
    public static func generate(_ kind: SecretKind) -> IssuedSecret {
        var rng = SystemRandomNumberGenerator()
        let idBytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let secretBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let id = Bytes.hex(idBytes)
        let secret = Bytes.base64URL(secretBytes)
        return IssuedSecret(id: id, token: "\(kind.rawValue)_\(id)_\(secret)", secretHash: Self.hash(secret: secret))
    }

    /// SHA-256 of a secret half, lowercase hex.
    public static func hash(secret: String) -> String { Bytes.sha256Hex(Data(secret.utf8)) }
}

/// A presented bearer secret, split into its parts. Parsing never reveals why a token is malformed.
public struct PresentedSecret: Sendable {
    /// The lookup id.
    public let id: String
    private let secret: String

    /// Splits `token`; nil when it is not a token of `kind`.
    public init?(_ token: String, kind: SecretKind) {
        let parts = token.split(separator: "_", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == kind.rawValue, parts[1].utf8.count == 12, parts[2].utf8.count == 43,
            parts[1].utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) })
        else { return nil }
        self.id = String(parts[1])
        self.secret = String(parts[2])
    }

    /// True when the secret half hashes to `storedHash`; compared in constant time.
    public func matches(storedHash: String) -> Bool {
        Bytes.constantTimeEqual(Array(IssuedSecret.hash(secret: secret).utf8), Array(storedHash.utf8))
    }
}
