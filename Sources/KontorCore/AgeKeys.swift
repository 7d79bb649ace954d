import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Why an age key, header or payload was refused. Every case names what was wrong, because keys come from
/// profiles and files from disks or the network: both are hostile input.
public enum AgeError: Error, Equatable, Sendable, CustomStringConvertible {
    case badRecipient(String, Bech32.Failure)
    case badIdentity(Bech32.Failure)
    case wrongKeyLength(kind: String, bytes: Int)
    case noRecipients
    case notAgeV1
    case headerTooLarge(Int)
    case truncatedHeader
    case malformedHeader(String)
    case unsupportedStanza(String)
    case noMatchingIdentity
    case headerMACMismatch
    case lowOrderPoint
    case truncatedPayload
    case chunkFailedAuthentication(UInt64)
    case missingFinalChunk
    case dataAfterFinalChunk(UInt64)
    case emptyFinalChunk
    case finished

    public var description: String {
        switch self {
        case .badRecipient(let text, let failure):
            "the age recipient \"\(text.prefix(80))\" is not valid: \(failure)"
        case .badIdentity(let failure): "the age identity (AGE-SECRET-KEY-1…) is not valid: \(failure)"
        case .wrongKeyLength(let kind, let bytes): "the age \(kind) holds \(bytes) bytes, an X25519 key has 32"
        case .noRecipients: "an age file needs at least one recipient"
        case .notAgeV1: "this is not an age v1 file (it does not start with \"age-encryption.org/v1\")"
        case .headerTooLarge(let limit): "the age header is longer than \(limit) bytes"
        case .truncatedHeader: "the age file ends inside its header"
        case .malformedHeader(let detail): "the age header is malformed: \(detail)"
        case .unsupportedStanza(let type): "the file is encrypted with \"\(type)\", which Kontor does not decrypt"
        case .noMatchingIdentity: "the file is not encrypted to this identity"
        case .headerMACMismatch: "the age header's MAC does not match: the header was altered"
        case .lowOrderPoint: "an X25519 share in the header is a low-order point"
        case .truncatedPayload: "the age file ends before its payload is complete"
        case .chunkFailedAuthentication(let index):
            "payload chunk \(index) failed authentication: it was altered, reordered or cut"
        case .missingFinalChunk: "the age file was cut at a chunk boundary: its final chunk is missing"
        case .dataAfterFinalChunk(let index): "there is data after the final chunk (\(index)) of the age file"
        case .emptyFinalChunk: "the final chunk is empty although chunks precede it"
        case .finished: "the age stream was already finished or has failed"
        }
    }
}

/// An age X25519 recipient (`age1…`): the organisation's public key an archive is encrypted to.
public struct AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The raw X25519 public key (32 bytes).
    public let publicKey: [UInt8]

    /// Parses `age1…`, naming what is wrong when it is not one.
    public init(_ text: String) throws(AgeError) {
        let data: [UInt8]
        do { data = try Bech32.decode(text, expecting: "age") } catch { throw .badRecipient(text, error) }
        try self.init(publicKey: data)
    }

    /// A recipient from a raw 32-byte X25519 public key.
    public init(publicKey: [UInt8]) throws(AgeError) {
        guard publicKey.count == 32 else { throw .wrongKeyLength(kind: "recipient", bytes: publicKey.count) }
        self.publicKey = publicKey
    }

    /// The `age1…` text.
    public var description: String { Bech32.encode(hrp: "age", data: publicKey) }
}

/// An age X25519 identity (`AGE-SECRET-KEY-1…`): the secret that decrypts. The organisation keeps it
/// offline; Kontor only needs it in tests and when an operator fetches an archive.
public struct AgeIdentity: Sendable {
    let secretKey: Curve25519.KeyAgreement.PrivateKey

    /// Parses `AGE-SECRET-KEY-1…`, naming what is wrong (never echoing the secret) when it is not one.
    public init(_ text: String) throws(AgeError) {
        let data: [UInt8]
        do { data = try Bech32.decode(text, expecting: "AGE-SECRET-KEY-") } catch { throw .badIdentity(error) }
        try self.init(secretKey: data)
    }

    /// An identity from a raw 32-byte X25519 secret key.
    public init(secretKey: [UInt8]) throws(AgeError) {
        guard secretKey.count == 32, let key = try? Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secretKey) else {
            throw .wrongKeyLength(kind: "identity", bytes: secretKey.count)
        }
        self.secretKey = key
    }

    /// A new random identity.
    public static func generate(using generator: inout some RandomNumberGenerator) -> AgeIdentity {
        // 32 random bytes are always a valid X25519 secret (it is clamped when used).
        try! AgeIdentity(secretKey: randomBytes(32, using: &generator))
    }

    /// The recipient that encrypts to this identity.
    public var recipient: AgeRecipient {
        try! AgeRecipient(publicKey: Array(secretKey.publicKey.rawRepresentation))
    }

    /// The `AGE-SECRET-KEY-1…` text. It is a secret: never log it.
    public var secretText: String {
        Bech32.encode(hrp: "AGE-SECRET-KEY-", data: Array(secretKey.rawRepresentation), uppercase: true)
    }
}

func randomBytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count + 8)
    while bytes.count < count {
        withUnsafeBytes(of: generator.next()) { bytes.append(contentsOf: $0) }
    }
    return Array(bytes.prefix(count))
}

/// Standard base64 without padding, as age writes it; decoding refuses padding and non-canonical forms
/// (the age spec requires both, so one file has exactly one header encoding).
enum AgeBase64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = Int8(index) }
        return table
    }()

    static func encode(_ data: some Collection<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count * 4 + 2) / 3)
        var bytes = data.makeIterator()
        while let first = bytes.next() {
            let second = bytes.next()
            let third = second == nil ? nil : bytes.next()
            let group = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(group >> 18 & 63)])
            out.append(alphabet[Int(group >> 12 & 63)])
            if second != nil { out.append(alphabet[Int(group >> 6 & 63)]) }
            if third != nil { out.append(alphabet[Int(group & 63)]) }
        }
        return out
    }

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for character in text {
            let value = reverse[Int(character)]
            guard value >= 0 else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(accumulator >> UInt32(bits) & 0xFF))
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        // Left-over bits must be zero, or two texts would decode to the same bytes.
        return accumulator == 0 ? out : nil
    }
}
