import Crypto
import Foundation
import RawStructuredFieldValues
import Testing

@testable import KontorCore

/// The fast path for `Signature-Input` / `Signature` must never change an outcome: on every input,
/// ``HTTPMessageSignatures/parse(_:label:)`` (fast path, library as fallback) and the library alone
/// either both refuse or give the same signature.
@Suite("RFC 8941 fast path for signature fields")
struct SignatureFieldsFastPathTests {
    /// SplitMix64: the same inputs on every run.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func libraryOnly(_ input: String, _ signature: String, label: String?) throws -> ParsedSignature {
        let (chosen, list, bytes, member) = try HTTPMessageSignatures.parseWithLibrary(input: input, signature: signature, label: label)
        return try HTTPMessageSignatures.interpret(label: chosen, list: list, signature: bytes, member: member)
    }

    static func bothWays(_ input: String, _ signature: String, label: String?) -> (
        fast: Result<ParsedSignature, HTTPSignatureError>, library: Result<ParsedSignature, HTTPSignatureError>
    ) {
        let message = SignatureMessage(method: "POST", authority: "k", path: "/", query: nil, headers: [("Signature-Input", input), ("Signature", signature)])
        func run(_ body: () throws -> ParsedSignature) -> Result<ParsedSignature, HTTPSignatureError> {
            do { return .success(try body()) } catch let error as HTTPSignatureError { return .failure(error) } catch {
                return .failure(.malformed("\(error)"))
            }
        }
        return (
            run { try HTTPMessageSignatures.parse(message, label: label) },
            run { try libraryOnly(message.fields["signature-input"]!, message.fields["signature"]!, label: label) }
        )
    }

    /// A signature in the form the agent sends, with random labels, components, parameter order and values.
    static func plain(_ rng: inout Seeded) -> (String, String) {
        let labels = ["kontor", "sig1", "a", "x-y.z*", "k9"]
        let names = ["@method", "@authority", "@path", "@query", "content-digest", "date", "x-Upper", "@request-target"]
        let label = labels.randomElement(using: &rng)!
        let components = (0..<Int.random(in: 0...5, using: &rng)).map { _ in "\"\(names.randomElement(using: &rng)!)\"" }
        var params: [String] = []
        for name in ["created", "keyid", "alg", "nonce", "expires", "tag"].shuffled(using: &rng).prefix(Int.random(in: 0...6, using: &rng)) {
            switch Int.random(in: 0...3, using: &rng) {
            case 0: params.append(";\(name)=\(Int.random(in: -2_000_000_000...2_000_000_000, using: &rng))")
            case 1:
                params.append(
                    ";\(name)=\"\(String((0..<Int.random(in: 0...30, using: &rng)).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x23...0x5B, using: &rng))) }))\""
                )
            case 2: params.append(";\(name)=\"ed25519\"")
            default: params.append(";\(name)=1618884473")
            }
        }
        let bytes = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return ("\(label)=(\(components.joined(separator: " ")))\(params.joined())", "\(label)=:\(Data(bytes).base64EncodedString()):")
    }

    @Test("agrees with the library on 20,000 generated and mutated signatures")
    func differential() {
        var rng = Seeded(state: 2026)
        let interesting: [UInt8] = Array(" \t;=,()\"\\:-.*0a9Z+/?".utf8) + [0x7F, 0x00, 0xC3]
        var fastAccepted = 0
        for round in 0..<20_000 {
            var (input, signature) = Self.plain(&rng)
            if round % 2 == 1 {
                // Mutate one of the two fields: replace, insert or delete a byte.
                var bytes = Array((round % 4 == 1 ? input : signature).utf8)
                let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0...2, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[at] = interesting.randomElement(using: &rng)!
                case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
                default: if !bytes.isEmpty { bytes.remove(at: at) }
                }
                let mutated = String(decoding: bytes, as: UTF8.self)
                if round % 4 == 1 { input = mutated } else { signature = mutated }
            }
            let label: String? = round % 3 == 0 ? nil : (round % 3 == 1 ? "kontor" : input.split(separator: "=").first.map(String.init))
            let (fast, library) = Self.bothWays(input, signature, label: label)
            switch (fast, library) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "\(input) | \(signature)")
                fastAccepted += 1
            case (.failure, .failure): break
            default: Issue.record("fast path and library disagree on \(input) | \(signature) (label \(label ?? "nil")): \(fast) vs \(library)")
            }
        }
        #expect(fastAccepted > 1_000)
    }

    @Test("Content-Digest: the fast path and the library agree on generated and mutated fields")
    func digests() {
        var rng = Seeded(state: 9421)
        let body = Data("{\"appliedPolicyHash\":\"sha256:x\"}".utf8)
        let right = Data(SHA256.hash(data: body)).base64EncodedString()
        let interesting: [UInt8] = Array(" ;=,:\"-+/a9Z".utf8) + [0x00, 0x7F]
        for round in 0..<5_000 {
            var field = [
                "sha-256=:\(right):", "sha-256=:\(Data(SHA256.hash(data: Data("other".utf8))).base64EncodedString()):",
                "sha-512=:\(Data(SHA512.hash(data: body)).base64EncodedString()):",
            ][round % 3]
            if round % 2 == 1 {
                var bytes = Array(field.utf8)
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                if Bool.random(using: &rng) {
                    bytes[at] = interesting.randomElement(using: &rng)!
                } else {
                    bytes.insert(interesting.randomElement(using: &rng)!, at: at)
                }
                field = String(decoding: bytes, as: UTF8.self)
            }
            let fast = Result { try ContentDigest.verify(field, body: body) }.map { true }
            let library = Result { try ContentDigest.verifyWithLibrary(field, body: body) }.map { true }
            #expect((try? fast.get()) == (try? library.get()), "\(field)")
        }
    }

    @Test("the agent's own form takes the fast path; escapes, parameters on components and spaces fall back and still parse")
    func fastAndFallback() throws {
        let input = #"kontor=("@method" "@authority" "@path" "@query" "content-digest");created=1700000000;keyid="abc";alg="ed25519";nonce="n0nce-1""#
        let signature = "kontor=:\(Data(repeating: 7, count: 64).base64EncodedString()):"
        #expect(SignatureFieldsFastPath.parse(input: input, signature: signature, label: "kontor") != nil)
        for other in [
            #"kontor=("@method"  "@path");created=1"#, #"kontor=("@method" "signature";key="kontor";req);created=1"#,
            #"kontor=("@method");keyid="a\"b""#, #"kontor=("@method");created=1, other=("@path")"#, #"kontor=("@method"); created=1"#,
        ] {
            #expect(SignatureFieldsFastPath.parse(input: other, signature: signature, label: "kontor") == nil, "\(other)")
            let (fast, library) = Self.bothWays(other, signature, label: "kontor")
            #expect("\(fast)" == "\(library)")
        }
    }
}
