import Foundation
import KontorClient
import KontorCore
import KontorTestSupport
import Testing

/// Finds the built executables: $KONTOR_BIN_DIR, else the folder of the running test bundle.
enum Binaries {
    static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["KONTOR_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // swift-testing may run from inside the .xctest bundle folder.
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("kontor-server").path) {
            candidate.deleteLastPathComponent()
        }
        return candidate
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// The result of running a command to completion.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments` and waits for it, on a thread of its own (see `onOwnThread`).
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
    try await onOwnThread { try runCommandBlocking(executable, arguments, environment: environment) }
}

private func runCommandBlocking(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env["KONTOR_SERVER"] = nil
    env["KONTOR_TOKEN"] = nil
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitForExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
}

/// Sends SIGTERM to `process` and waits for it to exit. One still running after `grace` seconds is a
/// failed test (a service systemd stops must stop: it would wait out TimeoutStopSec and kill it), and it is
/// killed so the run goes on instead of hanging. The wait sleeps: Foundation's `waitUntilExit` spins an
/// empty run loop, which burns a core and holds a thread of the cooperative pool (two such waits stalled
/// every other test on this 2-core machine).
@discardableResult
func stopProcess(_ process: Process, name: String, grace: Double = 15, log: () -> String = { "" }) -> Int32 {
    guard process.isRunning else { return process.terminationStatus }
    process.terminate()
    let deadline = Date().addingTimeInterval(grace)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
        Issue.record("\(name) did not stop within \(Int(grace)) s of SIGTERM and was killed; its log ends:\n\(log().suffix(3000))")
        kill(process.processIdentifier, SIGKILL)
        process.waitForExit()
    }
    return process.terminationStatus
}

/// Starts `executable` in the background with its output in `log`.
func startProcess(_ executable: String, _ arguments: [String], log: URL) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
}

/// Polls `condition` every 200 ms for up to `seconds` (real processes: there is no clock to inject).
func eventually(within seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
}

/// A real kontor-server process on a loopback port with its own data directory.
final class ServerProcess {
    let dataDir: URL
    let port: Int
    /// Extra arguments for `serve`, e.g. TLS.
    var extraArguments: [String] = []
    var scheme = "http"
    /// Extra environment, e.g. KONTOR_* settings.
    var environment: [String: String] = [:]
    /// Started under this open-file limit (soft and hard), through prlimit(1).
    var openFileLimit: Int?
    var url: String { "\(scheme)://127.0.0.1:\(port)" }
    private var process: Process?
    private let logURL: URL

    init(dataDir: URL? = nil, port: Int? = nil) throws {
        let dir = dataDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("kontor-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.dataDir = dir
        self.port = try port ?? Self.freePort()
        self.logURL = dir.appendingPathComponent("server.log")
    }

    /// Starts the server and waits until /healthz answers (the process is external: there is no clock to inject).
    func start() async throws {
        let process = Process()
        let arguments = ["serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", dataDir.path] + extraArguments
        if let openFileLimit {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            process.arguments = ["--nofile=\(openFileLimit):\(openFileLimit)", "--", Binaries.path("kontor-server")] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binaries.path("kontor-server"))
            process.arguments = arguments
        }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        // A restarted server (the same data directory) appends to the first one's log.
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let logHandle = try FileHandle(forWritingTo: logURL)
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if try await healthy() { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ClientError.transport("kontor-server did not become healthy: \(self.log())")
    }

    /// Health is probed over plain HTTP, or for TLS by the log line saying the server listens.
    private func healthy() async throws -> Bool {
        if scheme == "https" { return log().contains("Server started and listening") }
        return (try? await plainGET(url + "/healthz", timeout: .seconds(1)))?.status == 200
    }

    /// Sends SIGTERM and waits for the exit status; a server still running `grace` seconds later fails the
    /// test and is killed (see `stopProcess`).
    @discardableResult
    func stop(grace: Double = 15) -> Int32 {
        guard let process else { return 0 }
        return stopProcess(process, name: "kontor-server", grace: grace) { self.log() }
    }

    func log() -> String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func adminToken(role: Role, name: String = "e2e") async throws -> String {
        let result = try await runCommand(
            Binaries.path("kontor-server"), ["admin-token", "create", "--name", name, "--role", role.rawValue, "--data-dir", dataDir.path])
        guard result.status == 0 else { throw ClientError.usage("admin-token create failed: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func ctl(_ token: String, _ arguments: [String]) async throws -> CommandResult {
        try await runCommand(Binaries.path("kontorctl"), ["--server", url, "--token", token] + arguments)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ClientError.transport("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { stop() }
}
