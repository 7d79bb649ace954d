import Foundation
import Testing

@testable import KontorCore

/// A deterministic generator (SplitMix64) so encryptions in tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func pattern(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
}

@Suite("age v1 keys and files")
struct AgeTests {
    /// Made with pyrage 1.x: `x25519.Identity.generate()`, its `to_public()`, and
    /// `pyrage.encrypt(b"Kept for the tax office: invoice 2026-117.\n", [recipient])` (rage adds a grease stanza).
    static let pyrageIdentity = "AGE-SECRET-KEY-1KCZGDVZX0JTPF8RA9NZZYNJXTNEY5P049KM605FPMX3DF6LCCZJS0LU2UG"
    static let pyrageRecipient = "age175sl4p993vjlk2f6jhwsdh24ftcpwnrdz7lrx4mv2lsm2x9823hqhufc8c"
    static let pyrageFile = """
        YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBWRTdPQms2aGtEREdHOEFTaEdQS25nV0xsUm5QYVVnRFRVN05yN0pMOXh3CmFGNlFDMUVtbGdsUmRGWXJKcDJGU3NNQmVZNWN6cDVvWVFCVi9pYXhINE0KLT4gX2g1IlwtZ3JlYXNlIFUKdGc1YU5zZWVPMTdVYWFaenpoNHBUQTJuLzB0OC8zb3ptdTMrY0w5ditwUUd6blUKLS0tIDRESnJoMUJNSzhZZmwwNzF4OUdIdDdSYkIrU2NOQ0Jab0hEMlgzczl0VFEKyG3UpPqBHEESu+ZT5lXVkJdfbgDVzGEJ4/FSZIDUJV4zHcjElIHkHEa9fGD/NUiBVZGLZYBD6JqwOmJVmyqui52wo4CWOGvI8vzU
        """

    static func base64(_ text: String) -> [UInt8] {
        AgeBase64.decode(Array(text.utf8.filter { $0 != UInt8(ascii: "=") }))!
    }

    @Test("an identity made by pyrage gives the same recipient as pyrage, and its text round-trips")
    func pyrageKeys() throws {
        let identity = try AgeIdentity(Self.pyrageIdentity)
        #expect(identity.recipient.description == Self.pyrageRecipient)
        #expect(identity.secretText == Self.pyrageIdentity)
        #expect(try AgeRecipient(Self.pyrageRecipient) == identity.recipient)
    }

    @Test("a file pyrage encrypted (with its grease stanza) decrypts to the known text")
    func pyrageKnownAnswer() throws {
        let plaintext = try AgeDecryptor.decrypt(Self.base64(Self.pyrageFile), identity: AgeIdentity(Self.pyrageIdentity))
        #expect(String(decoding: plaintext, as: UTF8.self) == "Kept for the tax office: invoice 2026-117.\n")
    }

    @Test(
        "keys that are not age X25519 keys are refused, naming what is wrong",
        arguments: [
            ("age175sl4p993vjlk2f6jhwsdh24ftcpwnrdz7lrx4mv2lsm2x9823hqhufc8d", "checksum"),
            ("agf175sl4p993vjlk2f6jhwsdh24ftcpwnrdz7lrx4mv2lsm2x9823hqhufc8c", "checksum"),
            ("Age175sl4p993vjlk2f6jhwsdh24ftcpwnrdz7lrx4mv2lsm2x9823hqhufc8c", "mixes upper and lower case"),
            ("age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "checksum"),
            (Bech32.encode(hrp: "age", data: [UInt8](repeating: 7, count: 31)), "31 bytes"),
            (Bech32.encode(hrp: "ssh", data: [UInt8](repeating: 7, count: 32)), "prefix is \"ssh\", expected \"age\""),
            (AgeTests.pyrageIdentity, "prefix is \"age-secret-key-\", expected \"age\""),
        ])
    func badRecipients(text: String, reason: String) {
        #expect {
            try AgeRecipient(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("identities that are not age X25519 identities are refused without echoing the secret")
    func badIdentities() {
        let mistyped = String(Self.pyrageIdentity.dropLast()) + "H"
        let cases = [
            (mistyped, "checksum"), (Self.pyrageRecipient, "expected \"AGE-SECRET-KEY-\""),
            (Bech32.encode(hrp: "AGE-SECRET-KEY-", data: [1, 2, 3], uppercase: true), "3 bytes"),
            (Self.pyrageIdentity.lowercased(), ""),  // lower case is valid Bech32
        ]
        for (text, reason) in cases.dropLast() {
            #expect {
                try AgeIdentity(text)
            } throws: { error in
                "\(error)".contains(reason) && !"\(error)".contains(String(text.dropFirst(16)))
            }
        }
        #expect(throws: Never.self) { try AgeIdentity(cases[3].0) }
    }

    @Test("files of every size around the 64 KiB chunk boundary decrypt to what was encrypted", arguments: [0, 1, 65536, 65537, 200 * 1024])
    func roundTrip(size: Int) throws {
        var generator = SeededGenerator(state: UInt64(size))
        let identity = AgeIdentity.generate(using: &generator)
        let plaintext = pattern(size)
        let file = try AgeEncryptor.encrypt(plaintext, to: [identity.recipient], using: &generator)
        let chunks = max(1, (size + 65535) / 65536)
        let headerLength = try AgeDecryptorTests.headerLength(file)
        #expect(file.count == headerLength + 16 + size + 16 * chunks)
        #expect(try AgeDecryptor.decrypt(file, identity: identity) == plaintext)
    }

    @Test("the streaming encryptor and decryptor give the same bytes whatever the piece sizes")
    func streamingPieces() throws {
        var generator = SeededGenerator(state: 42)
        let identity = AgeIdentity.generate(using: &generator)
        let plaintext = pattern(150_000)
        var seeded = SeededGenerator(state: 7)
        let whole = try AgeEncryptor.encrypt(plaintext, to: [identity.recipient], using: &seeded)
        seeded = SeededGenerator(state: 7)
        var encryptor = try AgeEncryptor(recipients: [identity.recipient], using: &seeded)
        var file = encryptor.header
        for start in stride(from: 0, to: plaintext.count, by: 7001) {
            file += encryptor.update(plaintext[start..<min(plaintext.count, start + 7001)])
        }
        file += encryptor.finish()
        #expect(file == whole)
        var decryptor = AgeDecryptor(identity: identity)
        var output: [UInt8] = []
        for start in stride(from: 0, to: file.count, by: 997) {
            output += try decryptor.update(file[start..<min(file.count, start + 997)])
        }
        output += try decryptor.finish()
        #expect(output == plaintext)
    }

    @Test("a file for several recipients decrypts with each of their identities and no other")
    func severalRecipients() throws {
        var generator = SeededGenerator(state: 3)
        let identities = (0..<3).map { _ in AgeIdentity.generate(using: &generator) }
        let file = try AgeEncryptor.encrypt(pattern(1000), to: identities.map(\.recipient), using: &generator)
        #expect(String(decoding: file.prefix(400), as: UTF8.self).components(separatedBy: "-> X25519 ").count == 4)
        for identity in identities {
            #expect(try AgeDecryptor.decrypt(file, identity: identity) == pattern(1000))
        }
        #expect(throws: AgeError.noMatchingIdentity) {
            try AgeDecryptor.decrypt(file, identity: AgeIdentity.generate(using: &generator))
        }
    }

    @Test("two encryptions with the system generator share no file key, share or nonce")
    func systemRandomness() throws {
        let recipient = try AgeRecipient(Self.pyrageRecipient)
        let first = try AgeEncryptor(recipients: [recipient]).header
        let second = try AgeEncryptor(recipients: [recipient]).header
        #expect(first.count == second.count && first != second)
        #expect(first.suffix(16) != second.suffix(16))
    }

    @Test("an encryptor needs a recipient")
    func noRecipients() {
        #expect(throws: AgeError.noRecipients) { try AgeEncryptor(recipients: []) }
    }
}
