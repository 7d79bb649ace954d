import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The client's side of the agent's local socket (`kontor-agent status`, `quiet-hours override`, `terms`),
/// and what client and server share: a Unix stream socket, one JSON line each way, then close.
public enum LocalSocket {
    /// Why a request could not be asked at all.
    public enum Failure: Error, CustomStringConvertible {
        /// No daemon listens (no socket, or a stale one).
        case notRunning(String)
        /// Something else: permissions, a timeout, a reply that is not one.
        case failed(String)

        public var description: String {
            switch self {
            case .notRunning(let why), .failed(let why): why
            }
        }
    }

    /// Asks the daemon listening on `path` and waits up to `timeout` seconds for its answer.
    public static func ask(_ request: LocalRequest, path: String, timeout: Double = 60) throws(Failure) -> LocalReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .failed("cannot open a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Also bounds connect(2): a Unix socket whose backlog is full blocks the caller until it times out.
        setTimeout(fd, SO_SNDTIMEO, seconds: timeout)
        setTimeout(fd, SO_RCVTIMEO, seconds: timeout)
        var address: sockaddr_un
        do { address = try self.address(path) } catch { throw .failed("\(error)") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            let reason = String(cString: strerror(errno))
            switch errno {
            case ENOENT, ECONNREFUSED, ENOTDIR: throw .notRunning("\(path): \(reason)")
            case EAGAIN: throw .failed("\(path): the kontor-agent service is busy; try again in a moment")
            default: throw .failed("\(path): \(reason)")
            }
        }
        guard let line = try? KontorJSON.encode(request) else { throw .failed("cannot encode the request") }
        // The server may already have answered (busy) and closed: its answer is read either way.
        _ = sendAll(fd, Array(line) + [0x0A])
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while !reply.contains(0x0A) && reply.count < 16 << 20 {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { throw .failed("\(path): no answer within \(Int(timeout)) s") }
            guard n > 0 else { break }
            reply += chunk[0..<n]
        }
        guard let decoded = try? KontorJSON.decode(LocalReply.self, from: Data(reply.prefix { $0 != 0x0A })) else {
            throw .failed("\(path): the kontor-agent service answered something that is not an answer (is it the same version?)")
        }
        return decoded
    }

    /// The socket address of `path`; a path longer than a Unix socket address holds is refused.
    static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw AgentFileError(path, "too long for a Unix socket (at most \(capacity - 1) bytes); use a shorter --root")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Writes all of `bytes`, never raising SIGPIPE; false when the peer went away or the send timed out.
    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Sets a send or receive timeout (SO_SNDTIMEO, SO_RCVTIMEO) on `fd`.
    static func setTimeout(_ fd: Int32, _ option: Int32, seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
