import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Decrypts an age v1 file with an X25519 identity, streaming: feed the file to ``update(_:)`` in pieces
/// of any size, then call ``finish()``. Plaintext is returned only after its chunk authenticated; a
/// caller must still discard everything it got if a later call throws (the file was cut or altered).
public struct AgeDecryptor: Sendable {
    /// Headers longer than this are refused rather than buffered (real ones are a few hundred bytes per recipient).
    public static let maxHeaderSize = 64 * 1024

    private enum State {
        case header
        case payload(SymmetricKey)
        case done
    }

    private let identity: AgeIdentity
    private var state = State.header
    private var pending: [UInt8] = []
    private var counter: UInt64 = 0
    /// How far the header has been searched for its end, so feeding it byte by byte stays linear.
    private var headerScanned = Age.versionLine.count - 1

    /// A decryptor for files encrypted to `identity`.
    public init(identity: AgeIdentity) {
        self.identity = identity
    }

    /// Takes more of the file; returns the plaintext of the chunks that are now complete and authentic.
    public mutating func update(_ bytes: some Collection<UInt8>) throws(AgeError) -> [UInt8] {
        pending.append(contentsOf: bytes)
        do {
            return try advance()
        } catch {
            state = .done
            throw error
        }
    }

    /// Ends the file: checks the final chunk and returns its plaintext.
    public mutating func finish() throws(AgeError) -> [UInt8] {
        defer { state = .done }
        guard case .payload(let key) = state else {
            if case .done = state { throw .finished }
            throw (try? Self.headerEnd(pending, scanned: &headerScanned)) != nil ? .truncatedPayload : .truncatedHeader
        }
        guard pending.count >= Age.tagSize else {
            throw pending.isEmpty && counter > 0 ? .missingFinalChunk : .truncatedPayload
        }
        if let plaintext = open(pending[...], key: key, last: true) {
            if plaintext.isEmpty && counter > 0 { throw .emptyFinalChunk }
            return plaintext
        }
        throw open(pending[...], key: key, last: false) != nil ? .missingFinalChunk : .chunkFailedAuthentication(counter)
    }

    /// The plaintext of a whole age file.
    public static func decrypt(_ file: some Collection<UInt8>, identity: AgeIdentity) throws(AgeError) -> [UInt8] {
        var decryptor = AgeDecryptor(identity: identity)
        return try decryptor.update(file) + decryptor.finish()
    }

    private mutating func advance() throws(AgeError) -> [UInt8] {
        switch state {
        case .done:
            throw .finished
        case .header:
            guard let end = try Self.headerEnd(pending, scanned: &headerScanned) else { return [] }
            guard pending.count >= end + Age.payloadNonceSize else { return [] }
            let fileKey = try AgeHeader.parse(pending[..<end]).fileKey(for: identity)
            let key = Age.payloadKey(fileKey: fileKey, nonce: Array(pending[end..<(end + Age.payloadNonceSize)]))
            pending.removeFirst(end + Age.payloadNonceSize)
            state = .payload(key)
            return try advance()
        case .payload(let key):
            // A chunk is known not to be the last only when more bytes follow it.
            let sealedSize = Age.chunkSize + Age.tagSize
            var output: [UInt8] = []
            var offset = 0
            while pending.count - offset > sealedSize {
                let chunk = pending[offset..<(offset + sealedSize)]
                guard let plaintext = open(chunk, key: key, last: false) else {
                    throw open(chunk, key: key, last: true) != nil ? .dataAfterFinalChunk(counter) : .chunkFailedAuthentication(counter)
                }
                output += plaintext
                counter += 1
                offset += sealedSize
            }
            if offset > 0 { pending.removeFirst(offset) }
            return output
        }
    }

    private func open(_ sealed: ArraySlice<UInt8>, key: SymmetricKey, last: Bool) -> [UInt8]? {
        let tagStart = sealed.endIndex - Age.tagSize
        guard
            let box = try? ChaChaPoly.SealedBox(
                nonce: Age.chunkNonce(counter, last: last), ciphertext: sealed[..<tagStart], tag: sealed[tagStart...]),
            let plaintext = try? ChaChaPoly.open(box, using: key)
        else { return nil }
        return Array(plaintext)
    }

    /// Where the header ends (after the MAC line's newline), or nil while it is incomplete.
    static func headerEnd(_ bytes: [UInt8], scanned index: inout Int) throws(AgeError) -> Int? {
        let prefix = min(bytes.count, Age.versionLine.count)
        guard bytes[..<prefix].elementsEqual(Age.versionLine[..<prefix]) else { throw .notAgeV1 }
        // Base64 and stanza lines never start with "---", so the first "\n---" begins the MAC line.
        while index + 3 < bytes.count {
            if bytes[index] == 0x0A && bytes[index + 1] == 0x2D && bytes[index + 2] == 0x2D && bytes[index + 3] == 0x2D {
                if let newline = bytes[(index + 1)...].firstIndex(of: 0x0A) { return newline + 1 }
                break
            }
            index += 1
        }
        guard bytes.count <= maxHeaderSize else { throw .headerTooLarge(maxHeaderSize) }
        return nil
    }
}

/// A parsed age header: its stanzas and MAC, checked against the grammar of the spec.
struct AgeHeader {
    struct Stanza {
        var type: String
        var arguments: [[UInt8]]
        var body: [UInt8]
    }

    var stanzas: [Stanza] = []
    var mac: [UInt8] = []
    /// The header bytes the MAC covers: up to and including `---`.
    var macInput: [UInt8] = []

    /// Parses the header bytes up to and including the MAC line's newline.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(AgeError) -> AgeHeader {
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        lines.removeLast()  // after the final newline
        var header = AgeHeader()
        var index = 1  // line 0 is the version line, checked by headerEnd
        while index < lines.count - 1 {
            let line = lines[index]
            guard line.starts(with: Array("-> ".utf8)) else { throw .malformedHeader("line \(index + 1) is neither a stanza nor the MAC") }
            let arguments = line.dropFirst(3).split(separator: 0x20, omittingEmptySubsequences: false).map(Array.init)
            guard arguments.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= 0x21 && $0 <= 0x7E } }) else {
                throw .malformedHeader("line \(index + 1) has an empty or non-printable stanza argument")
            }
            var body: [UInt8] = []
            while true {
                index += 1
                guard index < lines.count - 1, lines[index].count <= 64, let decoded = AgeBase64.decode(lines[index]) else {
                    throw .malformedHeader("the body of the stanza ending at line \(index + 1) is not base64 lines of 64 columns")
                }
                body += decoded
                if lines[index].count < 64 { break }
            }
            header.stanzas.append(Stanza(type: String(decoding: arguments[0], as: UTF8.self), arguments: Array(arguments.dropFirst()), body: body))
            index += 1
        }
        let macLine = lines[lines.count - 1]
        guard macLine.starts(with: Array("--- ".utf8)), macLine.count == 4 + 43, let mac = AgeBase64.decode(macLine.dropFirst(4)) else {
            throw .malformedHeader("the MAC line is not \"--- \" and 43 base64 characters")
        }
        guard !header.stanzas.isEmpty else { throw .malformedHeader("it has no recipient stanza") }
        header.mac = mac
        header.macInput = Array(bytes[..<(macLine.startIndex + 3)])
        return header
    }

    /// Unwraps the file key with `identity` and checks the header MAC with it.
    func fileKey(for identity: AgeIdentity) throws(AgeError) -> [UInt8] {
        var found: [UInt8]?
        for stanza in stanzas {
            if stanza.type == "scrypt" { throw .unsupportedStanza("scrypt (a passphrase)") }
            guard stanza.type == "X25519" else { continue }  // other recipient types and grease are skipped
            guard stanza.arguments.count == 1, let share = AgeBase64.decode(stanza.arguments[0]), share.count == 32,
                stanza.body.count == Age.fileKeySize + Age.tagSize
            else { throw .malformedHeader("an X25519 stanza does not have one 32-byte share and a 32-byte body") }
            if found == nil { found = try Self.unwrap(body: stanza.body, share: share, identity: identity) }
        }
        guard let fileKey = found else { throw .noMatchingIdentity }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: macInput, using: Age.headerMACKey(fileKey: fileKey)) else {
            throw .headerMACMismatch
        }
        return fileKey
    }

    static func unwrap(body: [UInt8], share: [UInt8], identity: AgeIdentity) throws(AgeError) -> [UInt8]? {
        guard let publicShare = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: share),
            let shared = try? identity.secretKey.sharedSecretFromKeyAgreement(with: publicShare), !Age.isZero(shared)
        else { throw .lowOrderPoint }
        let recipient = Array(identity.secretKey.publicKey.rawRepresentation)
        let key = Age.wrapKey(shared: shared, share: share, recipient: recipient)
        guard let box = try? ChaChaPoly.SealedBox(nonce: Age.zeroNonce, ciphertext: body.prefix(Age.fileKeySize), tag: body.suffix(Age.tagSize)),
            let fileKey = try? ChaChaPoly.open(box, using: key)
        else { return nil }
        return Array(fileKey)
    }
}
