import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// `kontorctl archives`: the retained work data devices uploaded before their wipes.
struct Archives: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Archives of retained work data: list, fetch (and decrypt), hold, release, purge.",
        discussion: """
            A profile's retention section makes a device pack the named work folders before a wipe destroys its \
            container key, encrypted to the organisation's age recipients; the server keeps only the encrypted file, \
            for retainDays, and purges it then unless it is on legal hold. Every fetch, hold and purge is audited.
            """,
        subcommands: [List.self, Show.self, Get.self, Hold.self, Release.self, Purge.self])

    static func rows(_ archives: [ArchiveRecord]) -> [[String]] {
        archives.map {
            [
                $0.id, $0.deviceId, $0.state.rawValue + ($0.legalHold ? " (hold)" : ""), String($0.size), String($0.files),
                $0.retainUntil.map(ISO8601.string(from:)) ?? "-",
            ]
        }
    }

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List archives, newest first.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only this device's.") var device: String?

        func run(client: AdminClient) async throws {
            let archives = try await client.call(
                .GET, "/archives", query: device.map { "device=" + AdminClient.queryValue($0) }, as: [ArchiveRecord].self)
            if connection.json { return try printJSON(archives) }
            printTable(["ID", "DEVICE", "STATE", "BYTES", "FILES", "KEPT UNTIL"], Archives.rows(archives))
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "One archive's record.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The archive ID.") var id: String

        func run(client: AdminClient) async throws {
            let a = try await client.call(.GET, "/archives/" + AdminClient.segment(id), as: ArchiveRecord.self)
            if connection.json { return try printJSON(a) }
            printFields(
                [
                    ("id", a.id), ("device", a.deviceId), ("person", a.personId ?? "-"), ("wipe receipt", a.receiptId ?? "-"),
                    ("state", a.state.rawValue), ("legal hold", a.legalHold ? "yes" : "no"), ("bytes", "\(a.received) of \(a.size)"),
                    ("files", String(a.files)), ("sha256", a.sha256), ("created", ISO8601.string(from: a.createdAt)),
                    ("completed", a.completedAt.map(ISO8601.string(from:)) ?? "-"), ("kept until", a.retainUntil.map(ISO8601.string(from:)) ?? "-"),
                    ("purged", a.purgedAt.map(ISO8601.string(from:)) ?? "-"),
                ], width: 14)
        }
    }

    struct Get: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch an archive (admin; audited): the age file, or with --identity the tar inside it.",
            discussion: "The SHA-256 of what arrives is checked against the record before anything is written. Archives up to 2 GiB.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The archive ID.") var id: String
        @Option(help: "Where to write it (a new file).") var out: String
        @Option(help: "A file with the organisation's AGE-SECRET-KEY-1… identity: write the decrypted tar instead.") var identity: String?

        func run(client: AdminClient) async throws {
            let record = try await client.call(.GET, "/archives/" + AdminClient.segment(id), as: ArchiveRecord.self)
            let identity = try self.identity.map(Self.readIdentity)
            let exchange = try await client.raw(.GET, "/archives/" + AdminClient.segment(id) + "/content", limit: 2 << 30, timeout: .seconds(600))
            guard Bytes.sha256Hex(exchange.body) == record.sha256 else {
                throw ValidationError("the archive arrived with another SHA-256 than its record (\(record.sha256)); nothing was written")
            }
            var bytes = [UInt8](exchange.body)
            if let identity {
                do {
                    bytes = try AgeDecryptor.decrypt(bytes, identity: identity)
                } catch {
                    throw ValidationError("--identity: the archive does not open with this identity: \(error)")
                }
            }
            guard FileManager.default.createFile(atPath: out, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("--out: cannot write \(out)")
            }
            print("\(out): \(bytes.count) bytes\(identity == nil ? " (age; decrypt with age -d -i KEY, or --identity)" : " (tar: tar -xf \(out))")")
        }

        static func readIdentity(_ path: String) throws -> AgeIdentity {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("--identity: cannot read \(path)")
            }
            guard
                let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: {
                    $0.hasPrefix("AGE-SECRET-KEY-")
                })
            else { throw ValidationError("--identity: \(path) holds no AGE-SECRET-KEY-1… line") }
            do {
                return try AgeIdentity(line)
            } catch {
                throw ValidationError("--identity: \(error)")
            }
        }
    }

    struct Hold: APICommand {
        static let configuration = CommandConfiguration(abstract: "Put an archive on legal hold (admin): it is not purged until released.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The archive ID.") var id: String
        @Option(help: "Why (kept in the audit log).") var reason: String

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String }
            let a = try await client.call(.POST, "/archives/" + AdminClient.segment(id) + "/hold", body: Input(reason: reason), as: ArchiveRecord.self)
            if connection.json { return try printJSON(a) }
            print("\(a.id): on legal hold")
        }
    }

    struct Release: APICommand {
        static let configuration = CommandConfiguration(abstract: "Release a legal hold (admin).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The archive ID.") var id: String

        func run(client: AdminClient) async throws {
            let a = try await client.call(.POST, "/archives/" + AdminClient.segment(id) + "/release", as: ArchiveRecord.self)
            if connection.json { return try printJSON(a) }
            print("\(a.id): released; purged after \(a.retainUntil.map(ISO8601.string(from:)) ?? "-")")
        }
    }

    struct Purge: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Purge one archive now (admin, with --reason), or with --due every archive whose retention is over.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The archive ID.") var id: String?
        @Option(help: "Why (kept in the audit log).") var reason: String?
        @Flag(help: "Purge every archive whose retention is over and that no hold keeps.") var due = false

        func validate() throws {
            if due == (id != nil) { throw ValidationError("give an archive ID with --reason, or --due") }
            if id != nil, reason == nil { throw ValidationError("--reason: say why the archive is purged") }
        }

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String }
            struct Purged: Codable { var purged: [String] }
            guard let id else {
                let result = try await client.call(.POST, "/archives/purge-due", as: Purged.self)
                if connection.json { return try printJSON(result) }
                return print("\(result.purged.count) archives purged\(result.purged.isEmpty ? "" : ": " + result.purged.joined(separator: ", "))")
            }
            let a = try await client.call(.POST, "/archives/" + AdminClient.segment(id) + "/purge", body: Input(reason: reason ?? ""), as: ArchiveRecord.self)
            if connection.json { return try printJSON(a) }
            print("\(a.id): purged")
        }
    }
}
