import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The age v1 file format (https://age-encryption.org/v1) with X25519 recipients: what retained work
/// files are encrypted with before a wipe, so that only the organisation's offline identities can read
/// them and any independent age implementation (age, rage, pyrage) can.
enum Age {
    static let versionLine = Array("age-encryption.org/v1\n".utf8)
    static let x25519Label = Array("age-encryption.org/v1/X25519".utf8)
    /// Plaintext bytes per payload chunk (STREAM, 64 KiB).
    static let chunkSize = 64 * 1024
    static let tagSize = 16
    static let fileKeySize = 16
    static let payloadNonceSize = 16

    /// The ChaCha20-Poly1305 key that wraps the file key for one X25519 recipient.
    static func wrapKey(shared: SharedSecret, share: [UInt8], recipient: [UInt8]) -> SymmetricKey {
        shared.hkdfDerivedSymmetricKey(using: SHA256.self, salt: share + recipient, sharedInfo: x25519Label, outputByteCount: 32)
    }

    static func headerMACKey(fileKey: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: fileKey), info: Array("header".utf8), outputByteCount: 32)
    }

    static func payloadKey(fileKey: [UInt8], nonce: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: fileKey), salt: nonce, info: Array("payload".utf8), outputByteCount: 32)
    }

    /// STREAM nonce: an 11-byte big-endian chunk counter, then 1 for the final chunk, else 0.
    static func chunkNonce(_ counter: UInt64, last: Bool) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[10 - index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        bytes[11] = last ? 1 : 0
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    static let zeroNonce = try! ChaChaPoly.Nonce(data: [UInt8](repeating: 0, count: 12))

    /// One stanza `-> X25519 <share>` with the file key wrapped for `recipient`.
    static func x25519Stanza(
        fileKey: [UInt8], recipient: AgeRecipient, using generator: inout some RandomNumberGenerator
    ) throws(AgeError) -> [UInt8] {
        let ephemeral = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: randomBytes(32, using: &generator))
        let share = Array(ephemeral.publicKey.rawRepresentation)
        guard let publicKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: recipient.publicKey),
            let shared = try? ephemeral.sharedSecretFromKeyAgreement(with: publicKey), !isZero(shared)
        else { throw .lowOrderPoint }
        let key = wrapKey(shared: shared, share: share, recipient: recipient.publicKey)
        let sealed = try! ChaChaPoly.seal(fileKey, using: key, nonce: zeroNonce)
        var stanza = Array("-> X25519 ".utf8) + AgeBase64.encode(share) + [0x0A]
        stanza += AgeBase64.encode(Array(sealed.ciphertext) + Array(sealed.tag)) + [0x0A]
        return stanza
    }

    static func isZero(_ shared: SharedSecret) -> Bool {
        shared.withUnsafeBytes { bytes in bytes.reduce(0) { $0 | $1 } == 0 }
    }

    /// The header's last line: `--- ` and the HMAC of everything before the space.
    static func macLine(headerUpToDashes: [UInt8], fileKey: [UInt8]) -> [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: headerUpToDashes, using: headerMACKey(fileKey: fileKey))
        return [0x20] + AgeBase64.encode(Array(mac)) + [0x0A]
    }
}

/// Encrypts a stream to age X25519 recipients without holding it in memory: write ``header``, then what
/// each ``update(_:)`` returns, then what ``finish()`` returns.
public struct AgeEncryptor: Sendable {
    /// The age header and the payload nonce: the first bytes of the file.
    public let header: [UInt8]
    private let payloadKey: SymmetricKey
    private var pending: [UInt8] = []
    private var counter: UInt64 = 0
    private var finished = false

    /// Encrypts to `recipients` with a file key and ephemeral keys from the system's secure generator.
    public init(recipients: [AgeRecipient]) throws(AgeError) {
        var generator = SystemRandomNumberGenerator()
        try self.init(recipients: recipients, using: &generator)
    }

    /// Encrypts to `recipients` with randomness from `generator` (tests pass a seeded one; anything else
    /// must pass a cryptographically secure generator).
    public init(recipients: [AgeRecipient], using generator: inout some RandomNumberGenerator) throws(AgeError) {
        guard !recipients.isEmpty else { throw .noRecipients }
        let fileKey = randomBytes(Age.fileKeySize, using: &generator)
        var header = Age.versionLine
        for recipient in recipients {
            header += try Age.x25519Stanza(fileKey: fileKey, recipient: recipient, using: &generator)
        }
        header += Array("---".utf8)
        header += Age.macLine(headerUpToDashes: header, fileKey: fileKey)
        let nonce = randomBytes(Age.payloadNonceSize, using: &generator)
        self.header = header + nonce
        payloadKey = Age.payloadKey(fileKey: fileKey, nonce: nonce)
        pending.reserveCapacity(Age.chunkSize)
    }

    /// Takes more plaintext; returns the chunks it completes. The last chunk is held back until
    /// ``finish()`` because it must be marked final.
    public mutating func update(_ bytes: some Collection<UInt8>) -> [UInt8] {
        precondition(!finished, "AgeEncryptor.update after finish")
        pending.append(contentsOf: bytes)
        var output: [UInt8] = []
        var offset = 0
        while pending.count - offset > Age.chunkSize {
            output += seal(pending[offset..<(offset + Age.chunkSize)], last: false)
            offset += Age.chunkSize
        }
        if offset > 0 { pending.removeFirst(offset) }
        return output
    }

    /// Seals what is left as the final chunk (empty when the plaintext was empty or ended at a chunk
    /// boundary with nothing pending — that can only be the empty plaintext, as a full chunk is held back).
    public mutating func finish() -> [UInt8] {
        precondition(!finished, "AgeEncryptor.finish twice")
        finished = true
        let output = seal(pending[...], last: true)
        pending = []
        return output
    }

    mutating func seal(_ chunk: ArraySlice<UInt8>, last: Bool) -> [UInt8] {
        let sealed = try! ChaChaPoly.seal(chunk, using: payloadKey, nonce: Age.chunkNonce(counter, last: last))
        counter += 1
        return Array(sealed.ciphertext) + Array(sealed.tag)
    }

    /// The whole age file for `plaintext` (for small inputs and tests).
    public static func encrypt(
        _ plaintext: some Collection<UInt8>, to recipients: [AgeRecipient], using generator: inout some RandomNumberGenerator
    ) throws(AgeError) -> [UInt8] {
        var encryptor = try AgeEncryptor(recipients: recipients, using: &generator)
        return encryptor.header + encryptor.update(plaintext) + encryptor.finish()
    }
}
