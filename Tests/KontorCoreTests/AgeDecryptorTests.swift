import Foundation
import Testing

@testable import KontorCore

@Suite("age v1 decryption refuses altered files")
struct AgeDecryptorTests {
    static let chunk = 65536 + 16

    /// A 200 KiB file (chunks of 64 KiB, 64 KiB, 64 KiB, 8 KiB) and the identity it is for.
    static func sample(size: Int = 200 * 1024, seed: UInt64 = 9) throws -> (file: [UInt8], identity: AgeIdentity, payloadStart: Int) {
        var generator = SeededGenerator(state: seed)
        let identity = AgeIdentity.generate(using: &generator)
        let file = try AgeEncryptor.encrypt(pattern(size), to: [identity.recipient], using: &generator)
        return (file, identity, try headerLength(file) + 16)
    }

    static func headerLength(_ file: [UInt8]) throws -> Int {
        var scanned = Age.versionLine.count - 1
        return try #require(try AgeDecryptor.headerEnd(file, scanned: &scanned))
    }

    static func replacing(_ file: [UInt8], _ old: String, with new: String) throws -> [UInt8] {
        let text = String(decoding: file.prefix(try headerLength(file)), as: UTF8.self)
        let header = Array(text.replacingFirst(old, with: new).utf8)
        return header + file.dropFirst(try headerLength(file))
    }

    @Test("a changed byte in the header is caught by the MAC")
    func tamperedHeader() throws {
        let (file, identity, _) = try Self.sample()
        // A second, made-up stanza type is ignored by the parser, so only the MAC can notice it.
        let forged = try Self.replacing(file, "\n---", with: "\n-> forged\n\n---")
        #expect(throws: AgeError.headerMACMismatch) { try AgeDecryptor.decrypt(forged, identity: identity) }
    }

    @Test("a replaced MAC is refused")
    func tamperedMAC() throws {
        let (file, identity, _) = try Self.sample()
        let text = String(decoding: file.prefix(try Self.headerLength(file)), as: UTF8.self)
        let mac = String(try #require(text.split(separator: "\n").last).dropFirst(4))
        let altered = try Self.replacing(file, mac, with: String(repeating: "A", count: 43))
        #expect(throws: AgeError.headerMACMismatch) { try AgeDecryptor.decrypt(altered, identity: identity) }
    }

    @Test("a flipped bit in any chunk is refused, naming the chunk", arguments: [0, 1, 3])
    func tamperedChunk(index: Int) throws {
        let (file, identity, start) = try Self.sample()
        var altered = file
        altered[start + index * Self.chunk + 100] ^= 0x40
        #expect(throws: AgeError.chunkFailedAuthentication(UInt64(index))) { try AgeDecryptor.decrypt(altered, identity: identity) }
    }

    @Test("swapped chunks are refused")
    func reorderedChunks() throws {
        let (file, identity, start) = try Self.sample()
        let first = file[start..<(start + Self.chunk)]
        let second = file[(start + Self.chunk)..<(start + 2 * Self.chunk)]
        let swapped = Array(file[..<start]) + second + first + file[(start + 2 * Self.chunk)...]
        #expect(throws: AgeError.chunkFailedAuthentication(0)) { try AgeDecryptor.decrypt(swapped, identity: identity) }
    }

    @Test("a file cut at a chunk boundary is missing its final chunk")
    func cutAtBoundary() throws {
        let (file, identity, start) = try Self.sample()
        let cut = Array(file[..<(start + 2 * Self.chunk)])
        #expect(throws: AgeError.missingFinalChunk) { try AgeDecryptor.decrypt(cut, identity: identity) }
        let cutAfterThree = Array(file[..<(start + 3 * Self.chunk)])
        #expect(throws: AgeError.missingFinalChunk) { try AgeDecryptor.decrypt(cutAfterThree, identity: identity) }
    }

    @Test("a file cut inside a chunk, the nonce or the header is refused", arguments: [1, 17, 5000])
    func cutInside(dropped: Int) throws {
        let (file, identity, start) = try Self.sample()
        #expect(throws: AgeError.chunkFailedAuthentication(3)) {
            try AgeDecryptor.decrypt(file.dropLast(dropped), identity: identity)
        }
        #expect(throws: AgeError.truncatedPayload) { try AgeDecryptor.decrypt(file[..<(start - 3)], identity: identity) }
        #expect(throws: AgeError.truncatedHeader) { try AgeDecryptor.decrypt(file[..<(start - 40)], identity: identity) }
    }

    @Test("a chunk appended after the final chunk is refused")
    func trailingChunk() throws {
        // 128 KiB: two full chunks, the second one final. Appending a copy of it makes it non-final.
        let (file, identity, start) = try Self.sample(size: 2 * 65536)
        let extended = file + file[(start + Self.chunk)...]
        #expect(throws: AgeError.dataAfterFinalChunk(1)) { try AgeDecryptor.decrypt(extended, identity: identity) }
        #expect(throws: AgeError.dataAfterFinalChunk(1)) { try AgeDecryptor.decrypt(file + [0], identity: identity) }
    }

    @Test("an empty final chunk after a full chunk is refused")
    func emptyFinalChunk() throws {
        // What a sloppy writer would make of 64 KiB: the full chunk sealed non-final, then an empty final chunk.
        var generator = SeededGenerator(state: 5)
        let identity = AgeIdentity.generate(using: &generator)
        var encryptor = try AgeEncryptor(recipients: [identity.recipient], using: &generator)
        let file = encryptor.header + encryptor.seal(pattern(65536)[...], last: false) + encryptor.finish()
        #expect(throws: AgeError.emptyFinalChunk) { try AgeDecryptor.decrypt(file, identity: identity) }
    }

    @Test(
        "headers that break the grammar are refused with what is wrong",
        arguments: [
            ("age-encryption.org/v1\n", "age-encryption.org/v2\n", "not an age v1 file"),
            ("\n---", "\n-> \n\n---", "empty or non-printable stanza argument"),
            ("\n---", "\nnot a stanza\n---", "line 4 is neither a stanza nor the MAC"),
            ("\n---", "\n-> grease\n" + String(repeating: "A", count: 65) + "\n---", "not base64 lines of 64 columns"),
            ("\n---", "\n-> grease\n" + String(repeating: "A", count: 64) + "\n---", "not base64 lines of 64 columns"),
            ("\n---", "\n-> grease\nA===\n---", "not base64 lines of 64 columns"),
            ("\n--- ", "\n--- AAAA", "the MAC line is not"),
        ])
    func malformedHeaders(old: String, new: String, reason: String) throws {
        let (file, identity, _) = try Self.sample()
        let altered = try Self.replacing(file, old, with: new)
        #expect {
            try AgeDecryptor.decrypt(altered, identity: identity)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("a header without any stanza is refused")
    func noStanza() throws {
        let (file, identity, _) = try Self.sample()
        let text = String(decoding: file.prefix(try Self.headerLength(file)), as: UTF8.self)
        let bare = Array(("age-encryption.org/v1\n" + text[text.range(of: "---")!.lowerBound...]).utf8) + file.dropFirst(try Self.headerLength(file))
        #expect(throws: AgeError.malformedHeader("it has no recipient stanza")) { try AgeDecryptor.decrypt(bare, identity: identity) }
    }

    @Test("an X25519 stanza with a padded or wrong-length share is refused as malformed")
    func malformedX25519() throws {
        let (file, identity, _) = try Self.sample()
        let text = String(decoding: file.prefix(try Self.headerLength(file)), as: UTF8.self)
        let share = String(text.split(separator: "\n")[1].dropFirst(10))
        let padded = try Self.replacing(file, share, with: share + "=")
        let short = try Self.replacing(file, share, with: String(share.dropLast(2)))
        for altered in [padded, short] {
            #expect {
                try AgeDecryptor.decrypt(altered, identity: identity)
            } throws: { error in
                guard case AgeError.malformedHeader = error else { return false }
                return true
            }
        }
    }

    @Test("a header that never ends is refused once it passes the limit, even fed byte by byte")
    func headerTooLarge() throws {
        var decryptor = AgeDecryptor(identity: try Self.sample(size: 1).identity)
        _ = try decryptor.update(Age.versionLine)
        let stanza = Array("-> grease\n".utf8)
        #expect(throws: AgeError.headerTooLarge(AgeDecryptor.maxHeaderSize)) {
            for _ in 0..<(AgeDecryptor.maxHeaderSize / stanza.count + 1) { _ = try decryptor.update(stanza) }
        }
        #expect(throws: AgeError.finished) { try decryptor.update([0]) }
    }

    @Test("a passphrase (scrypt) file is named as unsupported")
    func scrypt() throws {
        let (file, identity, _) = try Self.sample()
        let altered = try Self.replacing(file, "-> X25519", with: "-> scrypt c2FsdA 18\nAAAA\n-> X25519")
        #expect(throws: AgeError.unsupportedStanza("scrypt (a passphrase)")) { try AgeDecryptor.decrypt(altered, identity: identity) }
    }
}

extension String {
    fileprivate func replacingFirst(_ old: String, with new: String) -> String {
        guard let range = range(of: old) else { return self }
        return replacingCharacters(in: range, with: new)
    }
}
