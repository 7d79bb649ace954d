import Crypto
import RawStructuredFieldValues

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// RFC 9530 Content-Digest with SHA-256 and SHA-512.
public enum ContentDigest {
    /// The `Content-Digest` value Kontor sends: `sha-256=:<base64>:`.
    public static func header(for body: some DataProtocol) -> String {
        "sha-256=:\(Data(SHA256.hash(data: body)).base64EncodedString()):"
    }

    /// Checks `field` against `body`. Every sha-256 and sha-512 member must match, at least one must be
    /// present; members with other algorithms are ignored.
    public static func verify(_ field: String?, body: some DataProtocol) throws {
        guard let field else { throw HTTPSignatureError.digestMismatch("no Content-Digest field") }
        // The form Kontor sends, `sha-256=:<base64>:`, read directly; anything else through the library.
        if let base64 = SignatureFieldsFastPath.sha256Digest(field), let got = Data(base64Encoded: base64) {
            guard Bytes.constantTimeEqual(got, Data(SHA256.hash(data: body))) else {
                throw HTTPSignatureError.digestMismatch("sha-256 does not match the body")
            }
            return
        }
        try verifyWithLibrary(field, body: body)
    }

    /// The general case of ``verify(_:body:)``: any RFC 8941 dictionary, through swift-http-structured-headers.
    static func verifyWithLibrary(_ field: String, body: some DataProtocol) throws {
        var parser = StructuredFieldValueParser(Array(field.utf8))
        guard let members = try? parser.parseDictionaryFieldValue() else {
            throw HTTPSignatureError.digestMismatch("Content-Digest is not a structured field dictionary")
        }
        var checked = 0
        for (algorithm, member) in members {
            let expected: Data
            switch algorithm {
            case "sha-256": expected = Data(SHA256.hash(data: body))
            case "sha-512": expected = Data(SHA512.hash(data: body))
            default: continue
            }
            guard case .item(let item) = member, case .undecodedByteSequence(let b64) = item.bareItem, let got = Data(base64Encoded: b64)
            else { throw HTTPSignatureError.digestMismatch("\(algorithm) is not a byte sequence") }
            guard Bytes.constantTimeEqual(got, expected) else { throw HTTPSignatureError.digestMismatch("\(algorithm) does not match the body") }
            checked += 1
        }
        guard checked > 0 else { throw HTTPSignatureError.digestMismatch("no sha-256 or sha-512 member") }
    }
}

/// RFC 8941 serialisation of the two bare items a signature's parameters use, written out because it
/// runs for every request; errors where the library's serialiser refuses too.
