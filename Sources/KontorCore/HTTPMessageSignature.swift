import Crypto
import RawStructuredFieldValues

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// RFC 9421 HTTP Message Signatures with Ed25519, and RFC 9530 Content-Digest.
//
// No Swift library implements these on Linux, so Kontor does, on top of swift-http-structured-headers
// for the RFC 8941 parsing and serialisation the signature base depends on. Supported: the derived
// components @method, @authority, @path, @query, @request-target and @status; HTTP fields, with the
// `key` (dictionary member) and `req` (field of the request a response answers) parameters. Anything
// else (`sf`, `bs`, `tr`, @query-param, @target-uri, @scheme) is refused with a clear error rather
// than guessed at.

/// An HTTP request or response, reduced to what a signature can cover.
public struct SignatureMessage: Sendable {
    /// The request line or status of the message.
    public enum Start: Sendable {
        case request(method: String, authority: String, path: String, query: String?)
        case response(status: Int)
    }

    public var start: Start
    /// Field values by lowercased name; repeated fields are combined with ", " (RFC 9421 §2.1).
    public private(set) var fields: [String: String]
    private var relatedRequestBox: [SignatureMessage]
    /// Dictionary members already taken apart, by field name and key: a server that parsed the request's
    /// `Signature` to verify it need not parse it again to bind its reply (`"signature";key=...;req`).
    private var members: [String: String] = [:]

    /// Remembers the serialised value of member `key` of field `name` (as ``HTTPMessageSignatures/parse(_:label:)``
    /// found it), so a component selecting it needs no second parse of the field.
    public mutating func rememberMember(field name: String, key: String, serialized value: String) {
        members[name + ";" + key] = value
    }

    func member(field name: String, key: String) -> String? { members.isEmpty ? nil : members[name + ";" + key] }

    /// The request a response answers, for components with the `req` parameter.
    public var relatedRequest: SignatureMessage? {
        get { relatedRequestBox.first }
        set { relatedRequestBox = newValue.map { [$0] } ?? [] }
    }

    /// A request. `authority` is the Host (lowercased here), `path` the encoded path, `query` the encoded
    /// query without "?" (nil when the target has none).
    public init(method: String, authority: String, path: String, query: String?, headers: [(String, String)]) {
        self.start = .request(method: method, authority: authority.lowercased(), path: path.isEmpty ? "/" : path, query: query)
        self.fields = Self.combine(headers)
        self.relatedRequestBox = []
    }

    /// A response, optionally with the request it answers.
    public init(status: Int, headers: [(String, String)], request: SignatureMessage? = nil) {
        self.start = .response(status: status)
        self.fields = Self.combine(headers)
        self.relatedRequestBox = request.map { [$0] } ?? []
    }

    /// Sets (replaces) a field.
    public mutating func setField(_ name: String, _ value: String) {
        let key = name.lowercased()
        fields[key] = Self.trimmed(value)
        members = members.filter { !$0.key.hasPrefix(key + ";") }
    }

    /// `value` without leading and trailing spaces and tabs (RFC 9110 OWS).
    static func trimmed(_ value: String) -> String {
        let utf8 = value.utf8
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        guard let first = utf8.first, let last = utf8.last, isSpace(first) || isSpace(last) else { return value }
        guard let start = utf8.firstIndex(where: { !isSpace($0) }), let end = utf8.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(value[start...end])
    }

    private static func combine(_ headers: [(String, String)]) -> [String: String] {
        var out: [String: String] = [:]
        out.reserveCapacity(headers.count)
        for (name, value) in headers {
            let key = name.lowercased()
            let trimmed = Self.trimmed(value)
            if let existing = out[key] { out[key] = existing + ", " + trimmed } else { out[key] = trimmed }
        }
        return out
    }
}

/// A covered component: its name (`@method`, `content-digest`) and parameters.
public struct SignatureComponent: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    /// Dictionary member to select (`;key="..."`).
    public var key: String?
    /// Take the value from the request a response answers (`;req`).
    public var fromRequest: Bool

    public init(_ name: String, key: String? = nil, fromRequest: Bool = false) {
        self.name = name
        self.key = key
        self.fromRequest = fromRequest
    }

    /// The serialised component identifier, e.g. `"signature";key="kontor";req`.
    public var description: String { (try? serialized()) ?? "\"\(name)\"" }

    /// The component identifier as RFC 8941 serialises it: a string with the parameters `key` (a string)
    /// and `req` (true), in that order. Written out directly, since it is built for every component of
    /// every signature; a test holds it to the library's serialiser.
    func serialized() throws -> String {
        var out = try SFSerialization.string(name)
        if let key { out += ";key=" + (try SFSerialization.string(key)) }
        if fromRequest { out += ";req" }
        return out
    }

    var item: Item {
        var params = OrderedMap<String, BareItem>()
        if let key { params["key"] = .string(key) }
        if fromRequest { params["req"] = .bool(true) }
        return Item(bareItem: .string(name), parameters: params)
    }
}

/// The signature parameters (RFC 9421 §2.3).
public struct SignatureParameters: Sendable, Equatable {
    public var components: [SignatureComponent]
    public var created: Int?
    public var expires: Int?
    public var nonce: String?
    public var keyID: String?
    public var algorithm: String?
    public var tag: String?
    /// The order the parameters are serialised in: the signer's order when parsed, since the
    /// signature base depends on it.
    public var order: [String] = ["created", "expires", "keyid", "alg", "nonce", "tag"]

    public init(
        components: [SignatureComponent], created: Int?, keyID: String?, nonce: String? = nil, algorithm: String? = "ed25519",
        expires: Int? = nil, tag: String? = nil
    ) {
        self.components = components
        self.created = created
        self.keyID = keyID
        self.nonce = nonce
        self.algorithm = algorithm
        self.expires = expires
        self.tag = tag
    }
}

/// Why a signature was refused. Each case maps to its own API error code.
public enum HTTPSignatureError: Error, Equatable, CustomStringConvertible {
    case missing
    case malformed(String)
    case unsupported(String)
    case missingComponent(String)
    case requiredComponentNotCovered(String)
    case unknownKey(String)
    case invalidSignature
    case digestMismatch(String)

    public var description: String {
        switch self {
        case .missing: "no Signature-Input and Signature fields"
        case .malformed(let why): "malformed signature: \(why)"
        case .unsupported(let what): "unsupported in a signature: \(what)"
        case .missingComponent(let name): "covered component \(name) is not in the message"
        case .requiredComponentNotCovered(let name): "the signature must cover \(name)"
        case .unknownKey(let id): "unknown key \(id)"
        case .invalidSignature: "signature does not verify"
        case .digestMismatch(let why): "content digest: \(why)"
        }
    }
}

/// A signature taken apart by ``HTTPMessageSignatures/parse(_:label:)``, not yet verified.
public struct ParsedSignature: Sendable, Equatable {
    public var label: String
    public var parameters: SignatureParameters
    public var signature: Data
    /// The `Signature` dictionary member of `label`, serialised: what a `"signature";key=<label>`
    /// component of a reply resolves to.
    public var serializedMember: String
}

/// A signature that verified, with its parameters for the caller's freshness and replay checks.
public struct VerifiedSignature: Sendable, Equatable {
    public var label: String
    public var parameters: SignatureParameters
    /// The raw signature bytes, e.g. to bind a response to this request.
    public var signature: Data
}

/// Creates and verifies RFC 9421 signatures with Ed25519.
public enum HTTPMessageSignatures {
    /// The signature base (RFC 9421 §2.5) for `parameters` over `message`.
    public static func signatureBase(for message: SignatureMessage, parameters: SignatureParameters) throws -> String {
        String(decoding: try signatureBaseBytes(for: message, parameters: parameters), as: UTF8.self)
    }

    /// The signature base as the bytes that are signed.
    static func signatureBaseBytes(for message: SignatureMessage, parameters: SignatureParameters) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        var seen: [String] = []
        seen.reserveCapacity(parameters.components.count)
        for component in parameters.components {
            let identifier = try component.serialized()
            guard !seen.contains(identifier) else { throw HTTPSignatureError.malformed("component \(identifier) covered twice") }
            seen.append(identifier)
            let value = try resolve(component, in: message)
            guard !value.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else {
                throw HTTPSignatureError.malformed("value of \(identifier) contains a line break")
            }
            out.append(contentsOf: identifier.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(0x0A)
        }
        out.append(contentsOf: "\"@signature-params\": ".utf8)
        out.append(contentsOf: try serializeParameters(parameters).utf8)
        guard out.allSatisfy({ $0 < 0x80 }) else { throw HTTPSignatureError.malformed("signature base is not ASCII") }
        return out
    }

    /// Signs `message`; returns the `Signature-Input` and `Signature` field values to send.
    public static func sign(
        _ message: SignatureMessage, parameters: SignatureParameters, label: String = DeviceAPI.signatureLabel,
        key: Curve25519.Signing.PrivateKey
    ) throws -> (signatureInput: String, signature: String) {
        let base = try signatureBaseBytes(for: message, parameters: parameters)
        let signature = try key.signature(for: base)
        let params = try serializeParameters(parameters)
        return ("\(label)=\(params)", "\(label)=:\(signature.base64EncodedString()):")
    }

    /// Parses the signature with `label` (or the only one present) from `message`, checks that it covers
    /// `required`, looks its key up with `key`, and verifies it. Freshness and replay are the caller's checks.
    public static func verify(
        _ message: SignatureMessage, label: String? = nil, required: [String] = [],
        key: (_ keyID: String) throws -> Curve25519.Signing.PublicKey
    ) throws -> VerifiedSignature {
        try verify(parsed: try parse(message, label: label), of: message, required: required, key: key)
    }

    /// ``verify(_:label:required:key:)`` for a signature already taken apart with ``parse(_:label:)``,
    /// so a server that parsed it to find the key does not parse it again.
    public static func verify(
        parsed: ParsedSignature, of message: SignatureMessage, required: [String] = [],
        key: (_ keyID: String) throws -> Curve25519.Signing.PublicKey
    ) throws -> VerifiedSignature {
        let (chosenLabel, parameters, signature) = (parsed.label, parsed.parameters, parsed.signature)
        let covered = Set(parameters.components.filter { $0.key == nil && !$0.fromRequest }.map(\.name))
        for name in required where !covered.contains(name) { throw HTTPSignatureError.requiredComponentNotCovered(name) }
        if let algorithm = parameters.algorithm, algorithm != "ed25519" {
            throw HTTPSignatureError.unsupported("algorithm \(algorithm)")
        }
        guard let keyID = parameters.keyID else { throw HTTPSignatureError.malformed("no keyid parameter") }
        let publicKey = try key(keyID)
        let base = try signatureBaseBytes(for: message, parameters: parameters)
        guard publicKey.isValidSignature(signature, for: base) else { throw HTTPSignatureError.invalidSignature }
        return VerifiedSignature(label: chosenLabel, parameters: parameters, signature: signature)
    }

    /// Reads the signature parameters and bytes with `label` from the message's fields.
    public static func parse(_ message: SignatureMessage, label: String? = nil) throws -> ParsedSignature {
        guard let inputField = message.fields["signature-input"], let signatureField = message.fields["signature"] else {
            throw HTTPSignatureError.missing
        }
        let chosen: String
        let list: InnerList
        let signature: Data
        let member: String
        if let fast = SignatureFieldsFastPath.parse(input: inputField, signature: signatureField, label: label),
            let bytes = Data(base64Encoded: fast.signatureBase64)
        {
            (chosen, list, signature, member) = (fast.label, fast.list, bytes, ":" + fast.signatureBase64 + ":")
        } else {
            (chosen, list, signature, member) = try parseWithLibrary(input: inputField, signature: signatureField, label: label)
        }
        return try interpret(label: chosen, list: list, signature: signature, member: member)
    }

    /// The general case of ``parse(_:label:)``: any RFC 8941 form, through swift-http-structured-headers.
    static func parseWithLibrary(input inputField: String, signature signatureField: String, label: String?) throws -> (String, InnerList, Data, String) {
        let inputs: OrderedMap<String, ItemOrInnerList>
        let signatures: OrderedMap<String, ItemOrInnerList>
        do {
            var p1 = StructuredFieldValueParser(Array(inputField.utf8))
            inputs = try p1.parseDictionaryFieldValue()
            var p2 = StructuredFieldValueParser(Array(signatureField.utf8))
            signatures = try p2.parseDictionaryFieldValue()
        } catch {
            throw HTTPSignatureError.malformed("Signature-Input or Signature is not a structured field dictionary")
        }
        let chosen: String
        if let label {
            chosen = label
        } else if inputs.count == 1 {
            chosen = inputs[inputs.startIndex].0
        } else {
            throw HTTPSignatureError.malformed("several signatures and no label chosen")
        }
        guard case .innerList(let list)? = inputs[chosen] else {
            throw HTTPSignatureError.malformed("no signature input labelled \(chosen)")
        }
        guard case .item(let signatureItem)? = signatures[chosen], case .undecodedByteSequence(let b64) = signatureItem.bareItem,
            let signature = Data(base64Encoded: b64)
        else { throw HTTPSignatureError.malformed("no signature bytes labelled \(chosen)") }
        // A byte sequence serialises as its undecoded text between colons; with parameters, ask the library.
        let member = signatureItem.parameters.isEmpty ? ":" + b64 + ":" : try SFSerialization.item(signatureItem)
        return (chosen, list, signature, member)
    }

    /// The signature's components and parameters from the parsed inner list.
    static func interpret(label chosen: String, list: InnerList, signature: Data, member: String) throws -> ParsedSignature {
        var components: [SignatureComponent] = []
        for item in list.bareInnerList {
            guard case .string(let name) = item.bareItem else { throw HTTPSignatureError.malformed("component names must be strings") }
            guard name == name.lowercased() else { throw HTTPSignatureError.malformed("component \(name) is not lowercase") }
            var component = SignatureComponent(name)
            for (param, value) in item.parameters {
                switch (param, value) {
                case ("key", .string(let key)): component.key = key
                case ("req", .bool(true)): component.fromRequest = true
                default: throw HTTPSignatureError.unsupported("component parameter \(param) on \(name)")
                }
            }
            components.append(component)
        }
        var parameters = SignatureParameters(components: components, created: nil, keyID: nil, algorithm: nil)
        parameters.order = []
        for (name, value) in list.parameters {
            parameters.order.append(name)
            switch (name, value) {
            case ("created", .integer(let v)): parameters.created = v
            case ("expires", .integer(let v)): parameters.expires = v
            case ("nonce", .string(let v)): parameters.nonce = v
            case ("keyid", .string(let v)): parameters.keyID = v
            case ("alg", .string(let v)): parameters.algorithm = v
            case ("tag", .string(let v)): parameters.tag = v
            default: throw HTTPSignatureError.malformed("signature parameter \(name) has the wrong type or is unknown")
            }
        }
        return ParsedSignature(label: chosen, parameters: parameters, signature: signature, serializedMember: member)
    }

    /// The `@signature-params` value: the inner list of components with its parameters, serialised as
    /// RFC 8941 does (a test holds it to the library's serialiser).
    static func serializeParameters(_ p: SignatureParameters) throws -> String {
        var out = "("
        for (i, component) in p.components.enumerated() {
            if i > 0 { out += " " }
            out += try component.serialized()
        }
        out += ")"
        for name in p.order {
            switch name {
            case "created": if let v = p.created { out += ";created=" + (try SFSerialization.integer(v)) }
            case "expires": if let v = p.expires { out += ";expires=" + (try SFSerialization.integer(v)) }
            case "keyid": if let v = p.keyID { out += ";keyid=" + (try SFSerialization.string(v)) }
            case "alg": if let v = p.algorithm { out += ";alg=" + (try SFSerialization.string(v)) }
            case "nonce": if let v = p.nonce { out += ";nonce=" + (try SFSerialization.string(v)) }
            case "tag": if let v = p.tag { out += ";tag=" + (try SFSerialization.string(v)) }
            default: break
            }
        }
        return out
    }

    /// The same serialisation by swift-http-structured-headers, for tests.
    static func serializeParametersWithLibrary(_ p: SignatureParameters) throws -> String {
        var inner = BareInnerList()
        for component in p.components { inner.append(component.item) }
        var params = OrderedMap<String, BareItem>()
        for name in p.order {
            switch name {
            case "created": if let v = p.created { params[name] = .integer(v) }
            case "expires": if let v = p.expires { params[name] = .integer(v) }
            case "keyid": if let v = p.keyID { params[name] = .string(v) }
            case "alg": if let v = p.algorithm { params[name] = .string(v) }
            case "nonce": if let v = p.nonce { params[name] = .string(v) }
            case "tag": if let v = p.tag { params[name] = .string(v) }
            default: break
            }
        }
        var serializer = StructuredFieldValueSerializer()
        return String(decoding: try serializer.writeListFieldValue([.innerList(InnerList(bareInnerList: inner, parameters: params))]), as: UTF8.self)
    }

    static func resolve(_ component: SignatureComponent, in message: SignatureMessage) throws -> String {
        var source = message
        if component.fromRequest {
            guard let request = message.relatedRequest else { throw HTTPSignatureError.missingComponent(component.description) }
            source = request
        }
        if component.name.hasPrefix("@") {
            guard component.key == nil else { throw HTTPSignatureError.unsupported("key on \(component.name)") }
            switch (component.name, source.start) {
            case ("@method", .request(let method, _, _, _)): return method
            case ("@authority", .request(_, let authority, _, _)): return authority
            case ("@path", .request(_, _, let path, _)): return path
            case ("@query", .request(_, _, _, let query)): return "?" + (query ?? "")
            case ("@request-target", .request(_, _, let path, let query)): return query.map { "\(path)?\($0)" } ?? path
            case ("@status", .response(let status)): return String(status)
            case ("@method", _), ("@authority", _), ("@path", _), ("@query", _), ("@request-target", _), ("@status", _):
                throw HTTPSignatureError.malformed("\(component.name) does not apply to this message")
            default:
                throw HTTPSignatureError.unsupported("derived component \(component.name)")
            }
        }
        guard let value = source.fields[component.name] else { throw HTTPSignatureError.missingComponent(component.description) }
        guard let key = component.key else { return value }
        if let known = source.member(field: component.name, key: key) { return known }
        var parser = StructuredFieldValueParser(Array(value.utf8))
        guard let dictionary = try? parser.parseDictionaryFieldValue(), let member = dictionary[key] else {
            throw HTTPSignatureError.missingComponent(component.description)
        }
        var serializer = StructuredFieldValueSerializer()
        let out: [UInt8]
        switch member {
        case .item(let item): out = try serializer.writeItemFieldValue(item)
        case .innerList(let list): out = try serializer.writeListFieldValue([.innerList(list)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

enum SFSerialization {
    static func string(_ value: String) throws -> String {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(value.utf8.count + 2)
        for byte in value.utf8 {
            guard (0x20...0x7E).contains(byte) else { throw HTTPSignatureError.malformed("a string parameter holds a character RFC 8941 does not allow") }
            if byte == 0x22 || byte == 0x5C { out.append(0x5C) }
            out.append(byte)
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    static func integer(_ value: Int) throws -> String {
        guard (-999_999_999_999_999...999_999_999_999_999).contains(value) else {
            throw HTTPSignatureError.malformed("integer parameter \(value) is out of the RFC 8941 range")
        }
        return String(value)
    }

    static func item(_ item: Item) throws -> String {
        var serializer = StructuredFieldValueSerializer()
        return String(decoding: try serializer.writeItemFieldValue(item), as: UTF8.self)
    }
}
