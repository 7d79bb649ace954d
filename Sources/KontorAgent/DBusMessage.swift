#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Why a D-Bus exchange failed.
enum DBusError: Error, CustomStringConvertible, Equatable {
    /// No session to talk to: no bus socket, or nobody listening on it.
    case noSession(String)
    /// The bus or the peer misbehaved, refused or answered with an error.
    case failed(String)

    var description: String {
        switch self {
        case .noSession(let why), .failed(let why): return why
        }
    }
}

/// Writes D-Bus values in the little-endian wire format of the D-Bus specification: every value is
/// aligned to its own size (strings and arrays to 4, structs and dict entries to 8) from the start of
/// the message, which is why a body is written by its own writer (a body always starts 8-aligned).
struct DBusWriter {
    private(set) var bytes: [UInt8] = []

    mutating func pad(_ alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func uint32(_ value: UInt32) {
        pad(4)
        bytes += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
    }

    mutating func int32(_ value: Int32) { uint32(UInt32(bitPattern: value)) }

    /// A string (`s`) or object path (`o`): length, UTF-8 bytes, NUL. Swift strings are valid UTF-8; a
    /// NUL inside, which D-Bus forbids (the bus would drop the connection), is written as a space.
    mutating func string(_ value: String) {
        let utf8 = value.utf8.map { $0 == 0 ? 0x20 : $0 }
        uint32(UInt32(utf8.count))
        bytes += utf8
        bytes.append(0)
    }

    /// A signature (`g`): one length byte, the type codes, NUL.
    mutating func signature(_ value: String) {
        bytes.append(UInt8(value.utf8.count))
        bytes += value.utf8
        bytes.append(0)
    }

    /// An array: its byte length (counted from the first element, after the padding to the element's
    /// alignment), then the elements `body` writes.
    mutating func array(alignment: Int, _ body: (inout DBusWriter) -> Void) {
        pad(4)
        let lengthAt = bytes.count
        bytes += [0, 0, 0, 0]
        pad(alignment)
        let start = bytes.count
        body(&self)
        let length = UInt32(bytes.count - start)
        for i in 0..<4 { bytes[lengthAt + i] = UInt8(length >> (8 * UInt32(i)) & 0xFF) }
    }
}

/// Builds and reads the messages of the agent's one conversation with a session bus.
enum DBusMessage {
    static let methodCall: UInt8 = 1
    static let methodReturn: UInt8 = 2
    static let error: UInt8 = 3
    /// Messages larger than this are refused: the agent's replies are a few hundred bytes.
    static let maximumLength = 1 << 20

    /// A method call. `signature` describes `body`, written by a `DBusWriter` of its own.
    static func call(serial: UInt32, destination: String, path: String, interface: String, member: String, signature: String = "", body: [UInt8] = [])
        -> [UInt8]
    {
        var w = DBusWriter()
        w.byte(UInt8(ascii: "l"))
        w.byte(methodCall)
        w.byte(0)  // flags: a reply is expected
        w.byte(1)  // protocol version
        w.uint32(UInt32(body.count))
        w.uint32(serial)
        w.array(alignment: 8) { fields in
            field(&fields, 1, "o") { $0.string(path) }
            field(&fields, 2, "s") { $0.string(interface) }
            field(&fields, 3, "s") { $0.string(member) }
            field(&fields, 6, "s") { $0.string(destination) }
            if !signature.isEmpty { field(&fields, 8, "g") { $0.signature(signature) } }
        }
        w.pad(8)
        return w.bytes + body
    }

    /// One header field: a struct of its code and a variant.
    private static func field(_ w: inout DBusWriter, _ code: UInt8, _ type: String, _ value: (inout DBusWriter) -> Void) {
        w.pad(8)
        w.byte(code)
        w.signature(type)
        value(&w)
    }

    /// The body of `org.freedesktop.Notifications.Notify` (`susssasa{sv}i`): app name, replaces ID 0, no
    /// icon, summary, body, no actions, the urgency hint (a byte), the expiry in milliseconds (-1: the
    /// server's default).
    static func notifyBody(appName: String, summary: String, body: String, urgency: UInt8, expireTimeout: Int32) -> [UInt8] {
        var w = DBusWriter()
        w.string(appName)
        w.uint32(0)
        w.string("")
        w.string(summary)
        w.string(body)
        w.array(alignment: 4) { _ in }
        w.array(alignment: 8) { hints in
            hints.pad(8)
            hints.string("urgency")
            hints.signature("y")
            hints.byte(urgency)
        }
        w.int32(expireTimeout)
        return w.bytes
    }

    /// The length of the whole message whose fixed 16-byte header starts `bytes`, or nil when fewer
    /// than 16 bytes are there yet.
    static func length(ofMessageStarting bytes: [UInt8]) throws -> Int? {
        guard bytes.count >= 16 else { return nil }
        var r = try DBusReader(bytes)
        r.offset = 4
        let body = Int(try r.uint32())
        r.offset = 12
        let fields = Int(try r.uint32())
        guard body <= maximumLength, fields <= maximumLength else { throw DBusError.failed("the bus sent a message larger than 1 MiB") }
        return (16 + fields + 7) / 8 * 8 + body
    }
}

/// A message read from the bus: its type, serials, error name and body.
struct DBusReply: Equatable {
    var type: UInt8
    var serial: UInt32
    var replySerial: UInt32?
    var errorName: String?
    var signature = ""
    var body: [UInt8] = []
    var bigEndian = false

    /// Parses one whole message (either byte order, as the bus passes each peer's on).
    init(_ bytes: [UInt8]) throws {
        var r = try DBusReader(bytes)
        bigEndian = r.bigEndian
        r.offset = 1
        type = try r.byte()
        r.offset = 4
        let bodyLength = Int(try r.uint32())
        serial = try r.uint32()
        let fieldsEnd = Int(try r.uint32()) + 16
        while r.offset < fieldsEnd {
            try r.align(8)
            let code = try r.byte()
            let type = try r.signature()
            switch (code, type) {
            case (4, "s"): errorName = try r.string()
            case (5, "u"): replySerial = try r.uint32()
            case (8, "g"): signature = try r.signature()
            case (_, "s"), (_, "o"): _ = try r.string()
            case (_, "u"): _ = try r.uint32()
            case (_, "g"): _ = try r.signature()
            default: throw DBusError.failed("a header field of type \(type) is not in the D-Bus specification")
            }
        }
        guard r.offset == fieldsEnd else { throw DBusError.failed("the header fields overrun their length") }
        try r.align(8)
        guard r.offset + bodyLength == bytes.count else { throw DBusError.failed("the body length does not match the message") }
        body = Array(bytes[r.offset...])
    }

    /// A reader over the body.
    func bodyReader() throws -> DBusReader { try DBusReader(body, bigEndian: bigEndian) }
}

/// Reads D-Bus values; every read checks the bounds, so a short or hostile message is an error, never a crash.
struct DBusReader {
    let bytes: [UInt8]
    let bigEndian: Bool
    var offset = 0

    /// Reads a message, whose first byte gives the byte order.
    init(_ message: [UInt8]) throws {
        guard let first = message.first, first == UInt8(ascii: "l") || first == UInt8(ascii: "B") else {
            throw DBusError.failed("not a D-Bus message (byte order mark)")
        }
        self.init(message, bigEndian: first == UInt8(ascii: "B"))
    }

    init(_ bytes: [UInt8], bigEndian: Bool) {
        self.bytes = bytes
        self.bigEndian = bigEndian
    }

    mutating func align(_ alignment: Int) throws {
        let aligned = (offset + alignment - 1) / alignment * alignment
        guard aligned <= bytes.count else { throw DBusError.failed("a D-Bus message ends early") }
        offset = aligned
    }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw DBusError.failed("a D-Bus message ends early") }
        offset += 1
        return bytes[offset - 1]
    }

    mutating func uint32() throws -> UInt32 {
        try align(4)
        guard offset + 4 <= bytes.count else { throw DBusError.failed("a D-Bus message ends early") }
        let b = bytes[offset..<offset + 4].map(UInt32.init)
        offset += 4
        return bigEndian ? b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3] : b[3] << 24 | b[2] << 16 | b[1] << 8 | b[0]
    }

    mutating func string() throws -> String {
        let length = Int(try uint32())
        return try text(length)
    }

    mutating func signature() throws -> String { try text(Int(try byte())) }

    /// `length` bytes of text and the NUL after them.
    private mutating func text(_ length: Int) throws -> String {
        guard length < bytes.count - offset, bytes[offset + length] == 0 else { throw DBusError.failed("a D-Bus string is not terminated") }
        let value = String(decoding: bytes[offset..<offset + length], as: UTF8.self)
        offset += length + 1
        return value
    }

    /// An array of strings (`as`).
    mutating func strings() throws -> [String] {
        let end = Int(try uint32()) + offset
        guard end <= bytes.count else { throw DBusError.failed("a D-Bus array overruns its message") }
        var out: [String] = []
        while offset < end { out.append(try string()) }
        return out
    }
}
