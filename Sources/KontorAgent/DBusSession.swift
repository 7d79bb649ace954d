#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal client of a D-Bus session bus over its Unix socket: SASL `EXTERNAL` with the caller's own
/// UID (the bus checks it against `SO_PEERCRED`), `Hello`, then method calls one at a time. Only the
/// process that `kontor-agent notify-internal` runs after dropping to the work account's UID uses it,
/// so nothing it reads from the bus reaches the root agent but an exit status and a line of text.
struct DBusSession {
    private let fd: Int32
    private var serial: UInt32 = 0
    private var buffer: [UInt8] = []

    /// Connects to the socket at `path`; every read and write gives up after `timeout` seconds.
    init(path: String, timeout: Int) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw DBusError.failed("\(path): longer than a socket address allows") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DBusError.failed("socket: \(String(cString: strerror(errno)))") }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            let why = "\(path): \(String(cString: strerror(code)))"
            // No socket, or a socket nobody listens on: the session is not there (logged out).
            if [ENOENT, ENOTDIR, ECONNREFUSED].contains(code) { throw DBusError.noSession(why) }
            throw DBusError.failed(why)
        }
    }

    func close() { _ = Glibc.close(fd) }

    /// SASL `EXTERNAL` as `uid`, then `BEGIN`.
    mutating func authenticate(uid: uid_t) throws {
        let hexUID = String("\(uid)".utf8.map { $0.padded(2, radix: 16) }.joined())
        try send([0] + Array("AUTH EXTERNAL \(hexUID)\r\n".utf8))
        let answer = try readLine()
        guard answer.hasPrefix("OK ") else { throw DBusError.failed("the session bus refused UID \(uid): \(answer.prefix(200))") }
        try send(Array("BEGIN\r\n".utf8))
    }

    /// Calls a method and returns its reply; a D-Bus error reply is thrown with its name and message.
    mutating func call(destination: String, path: String, interface: String, member: String, signature: String = "", body: [UInt8] = []) throws
        -> DBusReply
    {
        serial += 1
        let mine = serial
        try send(DBusMessage.call(serial: mine, destination: destination, path: path, interface: interface, member: member, signature: signature, body: body))
        // Signals (NameAcquired after Hello) and anything else not answering this call are skipped.
        for _ in 0..<64 {
            let reply = try DBusReply(try readMessage())
            guard reply.replySerial == mine, reply.type == DBusMessage.methodReturn || reply.type == DBusMessage.error else { continue }
            if reply.type == DBusMessage.error {
                var reader = try reply.bodyReader()
                let message = reply.signature.hasPrefix("s") ? (try? reader.string()) ?? "" : ""
                throw DBusError.failed("\(member): \(reply.errorName ?? "error") \(message.prefix(300))")
            }
            return reply
        }
        throw DBusError.failed("\(member): no reply among 64 messages")
    }

    private func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DBusError.failed("writing to the session bus: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    /// Reads more from the socket into the buffer.
    private mutating func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw DBusError.failed("the session bus did not answer in time") }
            guard n > 0 else { throw DBusError.failed("the session bus closed the connection") }
            buffer += chunk[0..<n]
            return
        }
    }

    private mutating func readLine() throws -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 1)
                return line.trimmingWhitespace()
            }
            guard buffer.count < 16_384 else { throw DBusError.failed("the session bus sent an overlong authentication line") }
            try fill()
        }
    }

    private mutating func readMessage() throws -> [UInt8] {
        while true {
            if let length = try DBusMessage.length(ofMessageStarting: buffer), buffer.count >= length {
                let message = Array(buffer[..<length])
                buffer.removeFirst(length)
                return message
            }
            try fill()
        }
    }
}
