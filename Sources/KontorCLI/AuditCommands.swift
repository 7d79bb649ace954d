import ArgumentParser
import Foundation
import KontorClient
import KontorCore

#if canImport(Glibc)
    import Glibc
#endif

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The tamper-evident audit log of every admin action, for the data-protection officer.",
        subcommands: [List.self, Verify.self, Checkpoint.self, Export.self])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List audit entries.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only entries at or after this instant (ISO 8601).") var since: String?
        @Option(help: "Only entries about this device.") var device: String?
        @Option(help: "Only entries about this target (an ID, email or profile name).") var target: String?

        func validate() throws {
            if let since, ISO8601.date(from: since) == nil { throw ValidationError("--since: \"\(since)\" is not an ISO 8601 instant") }
            if device != nil && target != nil { throw ValidationError("give --device or --target, not both") }
        }

        func run(client: AdminClient) async throws {
            var query: [String] = []
            if let since { query.append("since=" + AdminClient.queryValue(since)) }
            if let t = device ?? target { query.append("target=" + AdminClient.queryValue(t)) }
            let entries = try await client.call(.GET, "/audit", query: query.isEmpty ? nil : query.joined(separator: "&"), as: [AuditEntry].self)
            if connection.json { return try printJSON(entries) }
            printTable(
                ["SEQ", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL"],
                entries.map { e in
                    [
                        String(e.seq), show(e.at), e.actor, e.action, e.target ?? "-",
                        (e.detail ?? [:]).sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                    ]
                })
        }
    }

    struct Verify: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain, and signed checkpoints kept outside the server; exit 1 and say what is wrong when anything fails.",
            discussion: """
                The chain alone shows entries were not changed one by one; someone who can write the database can still rewrite
                history and recompute every hash. A checkpoint (kontorctl audit checkpoint, or the server's checkpoint file, syslog or
                webhook) is signed by the server key: with --checkpoint FILE each one in FILE (JSON lines; text before the JSON on a
                line, as in syslog, is skipped) is checked against the server key and the current log.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("checkpoint"), help: "A file of checkpoints (repeat for several).") var checkpointFiles: [String] = []

        func run(client: AdminClient) async throws {
            let loaded = try checkpointFiles.flatMap { try CheckpointFile.read($0) }
            let result: AuditVerification
            if loaded.isEmpty {
                result = try await client.call(.GET, "/audit/verify", as: AuditVerification.self)
            } else {
                struct Input: Encodable { var checkpoints: [AuditCheckpoint] }
                result = try await client.call(.POST, "/audit/verify", body: Input(checkpoints: loaded.map(\.checkpoint)), as: AuditVerification.self)
            }
            let checks = result.checkpoints ?? []
            let failed = zip(loaded, checks).filter { !$0.1.ok }
            if connection.json {
                try printJSON(result)
            } else {
                if result.ok {
                    print("audit log intact: \(result.entries) entries, head \(result.head)")
                    if let legacy = result.legacy { print(legacy) }
                    if loaded.isEmpty {
                        print("this shows no entry was changed on its own; to catch a rewrite of the whole log, check signed checkpoints: --checkpoint FILE")
                    }
                } else {
                    print("audit log BROKEN at entry \(result.firstBadSeq ?? 0): \(result.problem ?? "")")
                }
                for (source, check) in zip(loaded, checks) {
                    let name = "checkpoint \(source.location) (entry \(check.seq), signed \(show(check.at)))"
                    print(check.ok ? "\(name): ok" : "\(name): DOES NOT MATCH: \(check.problem ?? "")")
                }
                if !failed.isEmpty { print("\(failed.count) of \(loaded.count) checkpoints do not match the log: it was changed after they were signed") }
            }
            if !result.ok || !failed.isEmpty || checks.count != loaded.count { throw ExitCode(1) }
        }
    }

    struct Checkpoint: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Have the server sign its audit log's head now (admin); keep the checkpoint outside the server.",
            discussion: "The server also writes it to its configured sinks (auditCheckpointFile, auditCheckpointSyslog, auditCheckpointWebhook).")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Append the checkpoint as a JSON line to this file (created 0600).") var output: String?

        struct Output: Codable {
            struct Sink: Codable {
                var sink: String
                var ok: Bool
                var error: String?
            }
            var checkpoint: AuditCheckpoint
            var sinks: [Sink]
        }

        func run(client: AdminClient) async throws {
            let signed = try await client.call(.POST, "/audit/checkpoints", as: Output.self)
            if let output { try CheckpointFile.append(signed.checkpoint, to: output) }
            if connection.json { return try printJSON(signed) }
            let c = signed.checkpoint
            print("signed checkpoint: entry \(c.seq), head \(c.head), at \(show(c.at)), key \(c.keyId)")
            for sink in signed.sinks { print(sink.ok ? "written to \(sink.sink)" : "NOT written to \(sink.sink): \(sink.error ?? "")") }
            if let output { print("appended to \(output)") }
            if signed.sinks.isEmpty && output == nil {
                print("the server has no checkpoint sink configured; keep this checkpoint yourself: kontorctl audit checkpoint --output FILE")
            }
            if signed.sinks.contains(where: { !$0.ok }) { throw ExitCode(1) }
        }
    }

    struct Export: APICommand {
        static let configuration = CommandConfiguration(abstract: "Write the whole log as JSON lines to standard output.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            writeOutput(try await client.raw(.GET, "/audit/export").body, json: true)
        }
    }
}

/// Files of audit checkpoints: one JSON checkpoint per line, as the server's file sink and
/// `audit checkpoint --output` write them. Text before the JSON on a line (a syslog prefix) is skipped.
enum CheckpointFile {
    struct Loaded {
        var checkpoint: AuditCheckpoint
        /// `FILE:LINE`, to say which checkpoint failed.
        var location: String
    }

    static func read(_ path: String) throws -> [Loaded] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ClientError.usage("--checkpoint \(path): cannot read the file") }
        var out: [Loaded] = []
        for (index, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let brace = line.firstIndex(of: "{"),
                let checkpoint = try? KontorJSON.decode(AuditCheckpoint.self, from: Data(line[brace...].utf8)), checkpoint.type == AuditCheckpoint.kind
            else {
                throw ClientError.usage("--checkpoint \(path):\(index + 1): not an audit checkpoint (expected one JSON checkpoint per line)")
            }
            out.append(Loaded(checkpoint: checkpoint, location: "\(path):\(index + 1)"))
        }
        guard !out.isEmpty else { throw ClientError.usage("--checkpoint \(path): holds no checkpoint") }
        return out
    }

    /// Appends one line, creating the file 0600.
    static func append(_ checkpoint: AuditCheckpoint, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ClientError.usage("--output \(path): cannot open for appending (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        let line = Array((checkpoint.jsonLine + "\n").utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else { throw ClientError.usage("--output \(path): cannot write (\(String(cString: strerror(errno))))") }
    }
}
