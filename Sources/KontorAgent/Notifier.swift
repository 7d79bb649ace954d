import CKontorLinux
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// A desktop notification for the person in the work session.
public struct DesktopNotice: Codable, Sendable, Equatable {
    /// What it is about (`quiet-hours-10min`, `container-locked`, `terms-pending`): the detail of its
    /// `notice.sent` event.
    public var kind: String
    public var summary: String
    public var body: String
    /// The specification's urgency: 0 low, 1 normal, 2 critical (stays until dismissed).
    public var urgency: UInt8

    public init(kind: String, summary: String, body: String, urgency: UInt8 = 1) {
        self.kind = kind
        self.summary = summary
        self.body = body
        self.urgency = urgency
    }
}

/// What became of a notice.
public enum NoticeOutcome: Sendable, Equatable {
    /// The notification server took it (its notification ID).
    case sent(UInt32)
    /// The work account has no session bus (not logged in): nothing to show it on.
    case noSession(String)
    case failed(String)
}

/// Shows notices in the work account's graphical session.
public protocol DesktopNotifier: Sendable {
    func show(_ notice: DesktopNotice, to account: WorkAccount) -> NoticeOutcome
}

/// Sends `org.freedesktop.Notifications.Notify` on the work account's session bus
/// (`/run/user/UID/bus` under the agent's root) as the work account: the agent starts itself again as
/// `setpriv --reuid=UID --regid=GID --clear-groups -- kontor-agent notify-internal`, which refuses to
/// run as root, speaks D-Bus and exits; the notice goes in on stdin, never on a command line. A bus or
/// notification server that does not answer gets the child killed after `timeout` seconds.
public struct SessionBusNotifier: DesktopNotifier {
    let paths: AgentPaths
    /// The agent's own executable (the test suite passes the built `kontor-agent`).
    let executable: String
    let setpriv: String
    let timeout: Double

    public init(paths: AgentPaths, executable: String? = nil, setpriv: String = "/usr/bin/setpriv", timeout: Double = 5) {
        self.paths = paths
        self.executable = executable ?? Self.ownExecutable()
        self.setpriv = setpriv
        self.timeout = timeout
    }

    static func ownExecutable() -> String {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return "/usr/bin/kontor-agent" }
        // Replaced by an upgrade while running: the new binary is at the same path.
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// The work account's session bus.
    public func busPath(_ account: WorkAccount) -> String { paths.resolve("/run/user/\(account.uid)/bus") }

    public func show(_ notice: DesktopNotice, to account: WorkAccount) -> NoticeOutcome {
        // Only the work account the agent created: never root, never an ID outside its range (checked
        // by AccountManager.verified before this is called; checked again here for UID 0).
        guard account.uid != 0, account.gid != 0 else { return .failed("refusing to notify UID 0") }
        let bus = busPath(account)
        var info = stat()
        guard lstat(bus, &info) == 0 else { return .noSession("no session bus at \(bus)") }
        let arguments = [
            "--reuid=\(account.uid)", "--regid=\(account.gid)", "--clear-groups", "--", executable, "notify-internal", "--bus", bus,
        ]
        let input: [UInt8]
        do { input = Array(try KontorJSON.encode(notice)) } catch { return .failed("\(error)") }
        let result: TimedResult
        do {
            result = try TimedCommand.run(setpriv, arguments, input: input, timeout: timeout)
        } catch {
            return .failed("\(error)")
        }
        let stdout = String(decoding: result.stdout.prefix(200), as: UTF8.self).trimmingWhitespace()
        let stderr = String(decoding: result.stderr.prefix(500), as: UTF8.self).trimmingWhitespace()
        if result.timedOut { return .failed("no answer from the session bus within \(Int(timeout)) s; the notifier was stopped") }
        switch result.status {
        case 0: return .sent(UInt32(stdout) ?? 0)
        case NotifyInternal.noSessionStatus: return .noSession(stderr)
        default: return .failed(stderr.isEmpty ? "the notifier exited with status \(result.status)" : stderr)
        }
    }
}

/// The outcome of a program run with a deadline.
struct TimedResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]
    var timedOut: Bool
}

/// Runs a program with `input` on its stdin and a deadline: past it the program is killed (SIGKILL),
/// so a hung peer never stalls the agent. Output beyond 64 KiB is dropped.
enum TimedCommand {
    static func run(_ path: String, _ arguments: [String], input: [UInt8], timeout: Double) throws -> TimedResult {
        // stdin is a socket pair rather than a pipe: writing to a child that already exited then fails
        // with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE in the agent.
        var pipes: [[Int32]] = [[-1, -1], [-1, -1], [-1, -1]]
        var made = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pipes[0]) == 0
        for i in 1..<3 where made { made = pipe2(&pipes[i], O_CLOEXEC) == 0 }
        guard made else {
            for p in pipes.joined() where p >= 0 { close(p) }
            throw AgentError("\(path): cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipes[0][0], 0)
        posix_spawn_file_actions_adddup2(&actions, pipes[1][1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipes[2][1], 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        // A small, fixed environment: nothing of the agent's reaches the work account's process.
        let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { for entry in envp { free(entry) } }
        var pid: pid_t = 0
        let spawned = Spawn.withDefaultSignals { posix_spawn(&pid, path, &actions, &$0, argv, envp) }
        close(pipes[0][0])
        close(pipes[1][1])
        close(pipes[2][1])
        defer {
            close(pipes[1][0])
            close(pipes[2][0])
        }
        guard spawned == 0 else {
            close(pipes[0][1])
            throw AgentError("\(path): cannot start: \(String(cString: strerror(spawned)))")
        }
        // The notice is far smaller than a pipe's buffer: written at once, then closed.
        _ = input.withUnsafeBytes { send(pipes[0][1], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(pipes[0][1])
        let deadline = monotonicSeconds() + timeout
        let (stdout, stderr, late) = readUntil(deadline, pipes[1][0], pipes[2][0])
        let (code, timedOut) = reap(pid, deadline: deadline, late: late)
        return TimedResult(status: code, stdout: stdout, stderr: stderr, timedOut: timedOut)
    }

    /// Waits for the child until `deadline` (it may have closed its output and still run), then kills
    /// it; its exit status (128 + signal when killed) and whether the deadline passed.
    private static func reap(_ pid: pid_t, deadline: Double, late: Bool) -> (Int32, Bool) {
        var timedOut = late
        var status: Int32 = 0
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            timedOut = monotonicSeconds() >= deadline
            if !timedOut { usleep(10_000) }
        }
        if timedOut {
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        return (status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F), timedOut)
    }

    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Reads both pipes to their ends or until `deadline`; whether the deadline came first.
    private static func readUntil(_ deadline: Double, _ a: Int32, _ b: Int32) -> ([UInt8], [UInt8], Bool) {
        var fds = [pollfd(fd: a, events: Int16(POLLIN), revents: 0), pollfd(fd: b, events: Int16(POLLIN), revents: 0)]
        var data: [[UInt8]] = [[], []]
        var buffer = [UInt8](repeating: 0, count: 4096)
        while fds.contains(where: { $0.fd >= 0 }) {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return (data[0], data[1], true) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(left * 1000 + 1, 60_000)))
            if ready < 0 && errno != EINTR { break }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &buffer, buffer.count)
                if n > 0 {
                    if data[i].count < 65_536 { data[i] += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    fds[i].fd = -1
                }
            }
        }
        return (data[0], data[1], false)
    }
}
