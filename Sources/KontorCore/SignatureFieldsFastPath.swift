import RawStructuredFieldValues

/// A fast path for reading the `Signature-Input` and `Signature` fields that every device request
/// carries. swift-http-structured-headers parses them correctly but through unspecialised generic code
/// (a tenth of a check-in's server time); this reads only the plain form Kontor's agents send — one
/// signature, components as bare strings, integer and string parameters, no escapes, single spaces —
/// and answers nil for anything else, which then goes to the library. It never rejects: whatever it
/// does not recognise, the library decides. Tests compare the two on generated and mutated inputs.
enum SignatureFieldsFastPath {
    struct Fields {
        var label: String
        var list: InnerList
        /// The signature's byte sequence as sent (base64 between the colons).
        var signatureBase64: String
    }

    static func parse(input: String, signature: String, label: String?) -> Fields? {
        var i = Reader(input.utf8)
        guard let key = i.key(), i.take(UInt8(ascii: "=")), i.take(UInt8(ascii: "(")) else { return nil }
        if let label, label != key { return nil }
        var items = BareInnerList()
        if !i.take(UInt8(ascii: ")")) {
            while true {
                guard let name = i.string() else { return nil }
                items.append(Item(bareItem: BareItem.string(name), parameters: [:]))
                if i.take(UInt8(ascii: ")")) { break }
                guard i.take(UInt8(ascii: " ")) else { return nil }
            }
        }
        var parameters = OrderedMap<String, BareItem>()
        while i.take(UInt8(ascii: ";")) {
            guard let name = i.key(), parameters[name] == nil, i.take(UInt8(ascii: "=")) else { return nil }
            if let value = i.integer() {
                parameters[name] = BareItem.integer(value)
            } else if let value = i.string() {
                parameters[name] = BareItem.string(value)
            } else {
                return nil
            }
        }
        guard i.atEnd else { return nil }

        var s = Reader(signature.utf8)
        guard s.key() == key, s.take(UInt8(ascii: "=")), let base64 = s.byteSequence(), s.atEnd else { return nil }
        return Fields(label: key, list: InnerList(bareInnerList: items, parameters: parameters), signatureBase64: base64)
    }

    /// The base64 of a `Content-Digest` that is exactly one `sha-256` byte sequence without parameters.
    static func sha256Digest(_ field: String) -> String? {
        var r = Reader(field.utf8)
        guard r.key() == "sha-256", r.take(UInt8(ascii: "=")), let base64 = r.byteSequence(), r.atEnd else { return nil }
        return base64
    }

    /// Reads RFC 8941 tokens from the front of a field value.
    struct Reader {
        let bytes: String.UTF8View
        var index: String.UTF8View.Index

        init(_ bytes: String.UTF8View) {
            self.bytes = bytes
            self.index = bytes.startIndex
        }

        var atEnd: Bool { index == bytes.endIndex }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index != bytes.endIndex, bytes[index] == byte else { return false }
            bytes.formIndex(after: &index)
            return true
        }

        /// key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
        mutating func key() -> String? {
            let start = index
            guard index != bytes.endIndex, Self.isLowercase(bytes[index]) || bytes[index] == UInt8(ascii: "*") else { return nil }
            bytes.formIndex(after: &index)
            while index != bytes.endIndex {
                let b = bytes[index]
                guard
                    Self.isLowercase(b) || Self.isDigit(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
                        || b == UInt8(ascii: "*")
                else { break }
                bytes.formIndex(after: &index)
            }
            return String(Substring(bytes[start..<index]))
        }

        /// A string without escapes; nil (and nothing consumed) for anything else.
        mutating func string() -> String? {
            let begin = index
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index != bytes.endIndex {
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    let value = String(Substring(bytes[start..<index]))
                    bytes.formIndex(after: &index)
                    return value
                }
                guard b >= 0x20, b <= 0x7E, b != UInt8(ascii: "\\") else { break }
                bytes.formIndex(after: &index)
            }
            index = begin
            return nil
        }

        /// An integer of 1 to 15 digits with an optional minus; nil (nothing consumed) for anything else,
        /// decimals included.
        mutating func integer() -> Int? {
            let begin = index
            var negative = false
            if take(UInt8(ascii: "-")) { negative = true }
            var value = 0
            var digits = 0
            while index != bytes.endIndex, Self.isDigit(bytes[index]) {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                digits += 1
                bytes.formIndex(after: &index)
            }
            guard (1...15).contains(digits), index == bytes.endIndex || bytes[index] != UInt8(ascii: ".") else {
                index = begin
                return nil
            }
            return negative ? -value : value
        }

        /// A byte sequence `:base64:`, returned as the base64 text.
        mutating func byteSequence() -> String? {
            guard take(UInt8(ascii: ":")) else { return nil }
            let start = index
            while index != bytes.endIndex, bytes[index] != UInt8(ascii: ":") {
                let b = bytes[index]
                guard
                    Self.isLowercase(b) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || Self.isDigit(b) || b == UInt8(ascii: "+")
                        || b == UInt8(ascii: "/") || b == UInt8(ascii: "=")
                else { return nil }
                bytes.formIndex(after: &index)
            }
            let value = String(Substring(bytes[start..<index]))
            guard take(UInt8(ascii: ":")) else { return nil }
            return value
        }

        static func isLowercase(_ b: UInt8) -> Bool { b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z") }
        static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    }
}
