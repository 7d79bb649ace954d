import AsyncHTTPClient
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
#endif

/// Somewhere outside the database a signed audit checkpoint is written to, so that someone who can write
/// the database cannot also rewrite the checkpoints.
protocol CheckpointSink: Sendable {
    /// How the sink is named in replies and logs (a path, `syslog`, a webhook's host; never a secret).
    var name: String { get }
    func write(_ checkpoint: AuditCheckpoint) async throws
}

/// Appends each checkpoint as one JSON line to a file (created 0600 or 0640; never followed through a
/// symlink; an existing file that others may write or read is refused), and syncs it to disk.
struct FileCheckpointSink: CheckpointSink {
    let path: String
    let mode: Int
    var name: String { "file \(path)" }

    /// Opens the file once at start-up, so a wrong path or mode stops the server with a clear message.
    func check() throws {
        let fd = try open()
        close(fd)
    }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        let fd = try open()
        defer { close(fd) }
        let line = Array((checkpoint.jsonLine + "\n").utf8)
        // O_APPEND: one write of the whole line lands at the end, after any other writer's.
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else { throw ConfigError("auditCheckpointFile \(path): cannot append (\(String(cString: strerror(errno))))") }
        guard fsync(fd) == 0 else { throw ConfigError("auditCheckpointFile \(path): cannot sync (\(String(cString: strerror(errno))))") }
    }

    private func open() throws -> Int32 {
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw ConfigError("auditCheckpointFile \(path): cannot open for appending (\(String(cString: strerror(errno))))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ConfigError("auditCheckpointFile \(path): not a regular file")
        }
        // Group write or any access by others would let someone else edit or forge the record.
        let extra = Int(info.st_mode) & 0o777 & ~mode
        guard extra & 0o037 == 0 else {
            close(fd)
            throw ConfigError(
                "auditCheckpointFile \(path): mode \(String(Int(info.st_mode) & 0o777, radix: 8)) is wider than \(String(mode, radix: 8)); chmod \(String(mode, radix: 8)) \(path)"
            )
        }
        return fd
    }
}

/// Sends each checkpoint to syslog (facility auth, priority notice, tag kontor-server), from where the
/// system's log shipping can take it off the machine.
struct SyslogCheckpointSink: CheckpointSink {
    var name: String { "syslog" }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        let message = "kontor audit checkpoint " + checkpoint.jsonLine
        withVaList([message]) { vsyslog(LOG_AUTH | LOG_NOTICE, "%s", $0) }
    }
}

/// POSTs each checkpoint as JSON to a URL (a log collector, a notary service). The URL may carry a
/// secret, so only its scheme and host are ever shown.
struct WebhookCheckpointSink: CheckpointSink {
    let url: String
    let http: HTTPClient
    /// The whole exchange, connecting included (a refused connection is retried until then).
    var timeout: TimeAmount = .seconds(10)

    var name: String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "webhook" }
        return "webhook \(scheme)://\(host)\(c.port.map { ":\($0)" } ?? "")"
    }

    func write(_ checkpoint: AuditCheckpoint) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: checkpoint.jsonLine))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            // Said by the sink's name (scheme and host): the client's own error text might quote the whole URL.
            throw CheckpointSinkError("\(name) could not be reached (\(type(of: error)))")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw CheckpointSinkError("\(name) answered \(response.status.code)") }
    }
}

struct CheckpointSinkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
