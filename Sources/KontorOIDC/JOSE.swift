import Crypto
import CryptoExtras
import Foundation

/// Why a token or a key was refused; each names what was wrong.
public enum JOSEError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unsupportedAlgorithm(String)
    case unknownKey(String?)
    case badSignature
    case claim(String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed token: \(why)"
        case .unsupportedAlgorithm(let alg): "the signing algorithm \"\(alg)\" is not accepted (RS256, ES256 and EdDSA/Ed25519 are)"
        case .unknownKey(let kid): "no key \(kid.map { "\"\($0)\"" } ?? "without a kid") in the provider's key set"
        case .badSignature: "the signature does not verify with the provider's key"
        case .claim(let why): why
        }
    }
}

/// Base64url without padding (RFC 7515 §2), as JOSE writes it.
public enum Base64URL {
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        switch standard.count % 4 {
        case 2: standard += "=="
        case 3: standard += "="
        case 1: return nil
        default: break
        }
        return Data(base64Encoded: standard).map(Array.init)
    }

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// A public key as a provider publishes it (RFC 7517): RSA (`n`, `e`), EC P-256 (`x`, `y`) or OKP Ed25519 (`x`).
public struct JWK: Codable, Sendable, Equatable {
    public var kty: String
    public var kid: String?
    public var use: String?
    public var alg: String?
    public var crv: String?
    public var n: String?
    public var e: String?
    public var x: String?
    public var y: String?

    public init(
        kty: String, kid: String?, use: String? = nil, alg: String? = nil, crv: String? = nil, n: String? = nil, e: String? = nil, x: String? = nil,
        y: String? = nil
    ) {
        self.kty = kty
        self.kid = kid
        self.use = use
        self.alg = alg
        self.crv = crv
        self.n = n
        self.e = e
        self.x = x
        self.y = y
    }

    /// Whether this key verifies signatures of `alg`: the algorithm must fit the key's type and curve, and a
    /// key the provider marked for encryption or for another algorithm never verifies.
    func verifies(_ alg: String) -> Bool {
        guard use == nil || use == "sig" else { return false }
        if let own = self.alg, own != alg, !(Self.edAlgorithms.contains(own) && Self.edAlgorithms.contains(alg)) { return false }
        switch (kty, alg) {
        case ("RSA", "RS256"): return true
        case ("EC", "ES256"): return crv == "P-256"
        case ("OKP", let a) where Self.edAlgorithms.contains(a): return crv == "Ed25519"
        default: return false
        }
    }

    static let edAlgorithms: Set<String> = ["EdDSA", "Ed25519"]

    /// Checks `signature` over `input` with this key under `alg`.
    func check(_ signature: [UInt8], over input: [UInt8], alg: String) throws -> Bool {
        switch kty {
        case "RSA":
            guard let n = n.flatMap(Base64URL.decode), let e = e.flatMap(Base64URL.decode) else { throw JOSEError.malformed("an RSA key without n or e") }
            let key: _RSA.Signing.PublicKey
            do { key = try _RSA.Signing.PublicKey(n: n, e: e) } catch { throw JOSEError.malformed("an RSA key under 2048 bits or unusable") }
            // RS256 is PKCS #1 v1.5; swift-crypto's default padding is PSS, which would refuse every token.
            return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: .insecurePKCS1v1_5)
        case "EC":
            guard let x = x.flatMap(Base64URL.decode), let y = y.flatMap(Base64URL.decode), x.count == 32, y.count == 32,
                let key = try? P256.Signing.PublicKey(rawRepresentation: x + y)
            else { throw JOSEError.malformed("a P-256 key without 32-byte x and y on the curve") }
            guard signature.count == 64, let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
            return key.isValidSignature(ecdsa, for: input)
        case "OKP":
            guard let x = x.flatMap(Base64URL.decode), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: x) else {
                throw JOSEError.malformed("an Ed25519 key without a 32-byte x")
            }
            return key.isValidSignature(signature, for: input)
        default:
            throw JOSEError.unsupportedAlgorithm(alg)
        }
    }
}

/// A provider's key set (`jwks_uri`).
public struct JWKSet: Codable, Sendable, Equatable {
    public var keys: [JWK]
    public init(keys: [JWK]) { self.keys = keys }
}

/// A compact JWS (`header.payload.signature`), parsed but not yet trusted.
public struct JWS: Sendable {
    public struct Header: Decodable, Sendable {
        public var alg: String
        public var kid: String?
        public var typ: String?
        public var crit: [String]?
    }

    public var header: Header
    public var payload: [UInt8]
    var signingInput: [UInt8]
    var signature: [UInt8]

    /// At most 16 KiB: ID tokens are small, and nothing larger is decoded.
    public static let maxSize = 16 * 1024

    public init(compact token: String) throws {
        guard token.utf8.count <= Self.maxSize else { throw JOSEError.malformed("longer than \(Self.maxSize) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JOSEError.malformed("expected three parts separated by dots, found \(parts.count)") }
        guard let headerBytes = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]), let signature = Base64URL.decode(parts[2]) else {
            throw JOSEError.malformed("a part is not base64url")
        }
        do { header = try JSONDecoder().decode(Header.self, from: Data(headerBytes)) } catch { throw JOSEError.malformed("the header is not a JOSE header") }
        // A critical extension this code does not understand must not be ignored (RFC 7515 §4.1.11).
        if let crit = header.crit, !crit.isEmpty { throw JOSEError.malformed("critical header parameters \(crit) are not supported") }
        self.payload = payload
        self.signature = signature
        signingInput = Array(parts[0].utf8) + [UInt8(ascii: ".")] + Array(parts[1].utf8)
    }

    /// The accepted algorithms; `none`, the HMAC ones and everything else are refused before any key is looked at.
    public static let algorithms: Set<String> = ["RS256", "ES256", "EdDSA", "Ed25519"]

    /// Verifies the signature with the key of `keys` the header names (or the only one that fits).
    public func verify(with keys: JWKSet) throws {
        guard Self.algorithms.contains(header.alg) else { throw JOSEError.unsupportedAlgorithm(header.alg) }
        let fitting = keys.keys.filter { $0.verifies(header.alg) && (header.kid == nil || $0.kid == header.kid) }
        guard let key = fitting.first, header.kid != nil || fitting.count == 1 else { throw JOSEError.unknownKey(header.kid) }
        guard try key.check(signature, over: signingInput, alg: header.alg) else { throw JOSEError.badSignature }
    }
}
