import CKontorLinux
import KontorCore
import Logging
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's local socket: anyone may connect (mode 0666), the kernel says who they are
/// (SO_PEERCRED) and `handler` decides what they may do. One request per connection: a JSON line in,
/// a JSON line out, then close. It runs on its own threads, never on the agent's async loop, and a slow or
/// hostile caller costs it at most one of `maxConnections` threads for `readTimeout` seconds.
public final class LocalSocketServer: Sendable {
    /// How much one caller may ask of the daemon.
    public struct Limits: Sendable {
        /// The longest request line.
        public var maxRequestBytes = 64 * 1024
        /// The time from connecting to the end of the request line, however it trickles in.
        public var readTimeout: Double = 5
        /// The time the answer may take to be taken by the caller.
        public var writeTimeout: Double = 5
        /// Requests answered at once; more are refused at once with a "busy" answer.
        public var maxConnections = 4

        public init() {}
    }

    public let path: String
    let limits: Limits
    let logger: Logger
    let handler: @Sendable (LocalRequest, PeerCredentials) -> LocalReply
    private let listener: Int32
    /// The bound socket's inode: at stop, the path is removed only if it is still this socket.
    private let inode: UInt
    /// A pipe whose write end wakes the accept thread to stop.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let active = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    private let acceptThread = Mutex<pthread_t?>(nil)

    private init(
        path: String, limits: Limits, logger: Logger, handler: @escaping @Sendable (LocalRequest, PeerCredentials) -> LocalReply, listener: Int32, inode: UInt,
        wake: (Int32, Int32)
    ) {
        self.path = path
        self.limits = limits
        self.logger = logger
        self.handler = handler
        self.listener = listener
        self.inode = inode
        (wakeRead, wakeWrite) = wake
    }

    /// Binds `path` (see `bind`) and serves it on a thread of its own until `stop`.
    public static func start(
        path: String, limits: Limits = Limits(), logger: Logger, handler: @escaping @Sendable (LocalRequest, PeerCredentials) -> LocalReply
    ) throws -> LocalSocketServer {
        let (listener, inode) = try bind(path)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else {
            close(listener)
            throw AgentFileError(path, "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        let server = LocalSocketServer(
            path: path, limits: limits, logger: logger, handler: handler, listener: listener, inode: inode, wake: (pipeFDs[0], pipeFDs[1]))
        guard let thread = spawn({ server.acceptLoop() }) else {
            server.closeAll()
            throw AgentFileError(path, "cannot start the thread that serves the socket")
        }
        server.acceptThread.withLock { $0 = thread }
        return server
    }

    /// Stops accepting, waits for the accept thread and removes the socket (if it is still this one).
    /// Requests being answered finish on their own threads within their timeouts.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
        if let thread = acceptThread.withLock({ $0 }) { pthread_join(thread, nil) }
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK, UInt(info.st_ino) == inode { unlink(path) }
        closeAll()
    }

    private func closeAll() {
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    /// Creates the socket at `path` with mode 0666. Its folder must be a real folder (not a symlink) of
    /// this user that nobody else may write (`RuntimeDirectory=kontor-agent`, 0755); a missing folder is
    /// made so under a scratch root. A stale socket left by a killed daemon is removed; anything else at
    /// the path is left alone and refused. Nothing on the way follows a symlink.
    static func bind(_ path: String) throws -> (Int32, UInt) {
        var address = try LocalSocket.address(path)
        let folder = AtomicFile.parent(of: path)
        var info = stat()
        if lstat(folder, &info) != 0 && errno == ENOENT && mkdir(folder, 0o755) == 0 { chmod(folder, 0o755) }
        guard lstat(folder, &info) == 0 else { throw AgentFileError(folder, "cannot use: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            throw AgentFileError(folder, "must be a folder of the agent's user that nobody else may write; the socket is not made")
        }
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else { throw AgentFileError(path, "exists and is not a socket; it is left alone") }
            unlink(path)
        }
        // Non-blocking, so a caller that gives up between poll and accept never holds the accept thread.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw AgentFileError(path, "cannot open a socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // Anyone may connect: who may do what is decided by the caller's UID, per request.
        guard bound == 0, chmod(path, 0o666) == 0, lstat(path, &info) == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw AgentFileError(path, "cannot listen: \(reason)")
        }
        return (fd, UInt(info.st_ino))
    }

    private func acceptLoop() {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                logger.error("local socket: poll failed; no longer serving it", metadata: ["reason": "\(String(cString: strerror(errno)))"])
                return
            }
            if fds[1].revents != 0 { return }
            let client = kontor_accept_cloexec(listener)
            guard client >= 0 else {
                if [EINTR, EAGAIN, ECONNABORTED, EPROTO].contains(errno) { continue }
                logger.warning("local socket: cannot accept", metadata: ["reason": "\(String(cString: strerror(errno)))"])
                // Out of descriptors or memory: let what is being answered finish before trying again.
                usleep(100_000)
                continue
            }
            admit(client)
        }
    }

    /// Serves `client` on a thread of its own, or refuses it at once when `maxConnections` are busy.
    private func admit(_ client: Int32) {
        if active.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue > limits.maxConnections {
            active.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            refuse(client, "busy: the kontor-agent service is answering \(limits.maxConnections) other requests; try again in a moment")
            return
        }
        guard let thread = Self.spawn({ self.serve(client) }) else {
            active.wrappingSubtract(1, ordering: .sequentiallyConsistent)
            refuse(client, "busy: the kontor-agent service cannot start another thread; try again in a moment")
            return
        }
        pthread_detach(thread)
    }

    /// Answers without reading and without waiting for the caller.
    private func refuse(_ client: Int32, _ reason: String) {
        let line = Self.line(.failure(reason))
        _ = line.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        close(client)
    }

    private func serve(_ client: Int32) {
        var peer = PeerCredentials(uid: .max, gid: .max, pid: 0)
        let reply: LocalReply?
        if kontor_peer_credentials(client, &peer.uid, &peer.gid, &peer.pid) != 0 {
            reply = .failure("the kontor-agent service cannot tell who you are (SO_PEERCRED: \(String(cString: strerror(errno))))")
        } else {
            switch readRequest(client) {
            case .success(nil): reply = nil
            case .success(let line?):
                switch LocalRequest.parse(line) {
                case .success(let request): reply = handler(request, peer)
                case .failure(let why): reply = .failure(why.description)
                }
            case .failure(let why): reply = .failure(why.description)
            }
        }
        if let reply {
            LocalSocket.setTimeout(client, SO_SNDTIMEO, seconds: limits.writeTimeout)
            if !LocalSocket.sendAll(client, Self.line(reply)) {
                logger.debug("local socket: the caller did not take the answer", metadata: ["uid": "\(peer.uid)"])
            }
        }
        // Counted down before the close, so a caller that saw the end may connect again at once.
        active.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        close(client)
    }

    /// The request line (without its line break), nil when the caller closed without sending anything, or
    /// why there is none: too long, or not complete within `readTimeout` of connecting.
    private func readRequest(_ fd: Int32) -> Result<Data?, AgentError> {
        let deadline = Self.monotonic() + limits.readTimeout
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let end = buffer.firstIndex(of: 0x0A) { return .success(Data(buffer[..<end])) }
            guard buffer.count <= limits.maxRequestBytes else {
                return .failure(AgentError("the request is longer than \(limits.maxRequestBytes / 1024) KiB; send one JSON line"))
            }
            let left = deadline - Self.monotonic()
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = left > 0 ? poll(&pfd, 1, Int32(min(left * 1000, 60_000)) + 1) : 0
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                return .failure(AgentError("no complete request line within \(Int(limits.readTimeout)) s of connecting"))
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 && [EINTR, EAGAIN, EWOULDBLOCK].contains(errno) { continue }
            // The caller closed (or shut down its side): what it sent is the request, if anything.
            guard n > 0 else { return .success(buffer.isEmpty ? nil : Data(buffer)) }
            buffer += chunk[0..<n]
        }
    }

    /// One answer line.
    static func line(_ reply: LocalReply) -> [UInt8] {
        let encoded = (try? KontorJSON.encode(reply)) ?? Data(#"{"ok":false,"error":"the answer could not be encoded"}"#.utf8)
        return Array(encoded) + [0x0A]
    }

    static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Runs `body` on a new thread; nil when none can be made.
    static func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box)
        guard created == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }
}

extension Agent {
    /// Opens the local socket for the daemon. Without it the agent runs on (status, overrides and terms
    /// then need root), so a failure is logged, not thrown.
    func startLocalSocket() -> LocalSocketServer? {
        let service = LocalService(agent: self)
        do {
            let server = try LocalSocketServer.start(path: paths.localSocket, logger: logger) { service.answer($0, from: $1) }
            logger.info("answering on the local socket", metadata: ["path": "\(paths.localSocket)"])
            return server
        } catch {
            logger.warning("no local socket: status, quiet-hours overrides and usage terms need root", metadata: ["reason": "\(error)"])
            return nil
        }
    }
}
