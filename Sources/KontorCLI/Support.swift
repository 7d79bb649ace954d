import ArgumentParser
import AsyncHTTPClient
import NIOSSL
import Foundation
import KontorClient
import KontorCore

/// Where the server is and who is asking; shared by every command that talks to the API.
public struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (or KONTOR_SERVER).") var server: String?
    @Option(name: .long, help: "API token (or KONTOR_TOKEN).") var token: String?
    @Option(name: .customLong("ca-file"), help: "PEM CA certificates to trust for the server (or KONTOR_CA_FILE).") var caFile: String?
    @Flag(name: .long, help: "Print JSON instead of a table.") var json = false

    public init() {}

    /// Runs `body` with a client for the configured server, trusting `--ca-file` when given.
    func withClient(_ body: (AdminClient) async throws -> Void) async throws {
        let env = ProcessInfo.processInfo.environment
        guard let server = server ?? env["KONTOR_SERVER"] else {
            throw ClientError.usage("no server: pass --server URL or set KONTOR_SERVER")
        }
        guard let caFile = caFile ?? env["KONTOR_CA_FILE"] else {
            return try await body(try AdminClient(server: server, token: token ?? env["KONTOR_TOKEN"] ?? ""))
        }
        guard FileManager.default.isReadableFile(atPath: caFile) else { throw ClientError.usage("--ca-file \(caFile): cannot read it") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.additionalTrustRoots = [.file(caFile)]
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(tlsConfiguration: tls))
        do {
            try await body(try AdminClient(server: server, token: token ?? env["KONTOR_TOKEN"] ?? "", http: http))
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }
}

/// Prints rows as an aligned table.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// Prints a value as pretty JSON.
func printJSON<T: Encodable>(_ value: T) throws {
    print(String(decoding: try KontorJSON.encode(value, pretty: true), as: UTF8.self))
}

func show(_ date: Date?) -> String { date.map { ISO8601.string(from: $0) } ?? "-" }

/// A command that talks to the API: failures become one line on stderr and exit code 1.
protocol APICommand: AsyncParsableCommand {
    var connection: ConnectionOptions { get }
    func run(client: AdminClient) async throws
}

extension APICommand {
    public func run() async throws {
        do {
            try await connection.withClient { try await run(client: $0) }
        } catch let error as ClientError {
            FileHandle.standardError.write(Data("kontorctl: \(error)\n".utf8))
            throw ExitCode(error.code == nil ? 2 : 1)
        }
    }
}

/// Agent-side JSON shapes the CLI decodes (duplicated from the server's outputs on purpose: the CLI
/// depends on the wire format, not on server code).
struct CreatedAPIToken: Codable { var token: String; var apiToken: APIToken }
struct CreatedEnrollmentToken: Codable { var token: String; var enrollmentToken: EnrollmentToken; var agentCommand: String }
struct ListedEnrollmentToken: Codable { var token: EnrollmentToken; var state: EnrollmentTokenState }
struct Principal: Codable { var name: String; var role: String; var tokenId: String }

extension KontorCtl {
    /// Lets the connection options stand before the subcommand too (`kontorctl --server U --token T
    /// devices list`): they are moved behind it, where every command declares them.
    public static func normalize(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let arg = arguments[index]
            if arg == "--server" || arg == "--token" || arg == "--ca-file", index + 1 < arguments.count {
                leading += [arg, arguments[index + 1]]
                index += 2
            } else if arg.hasPrefix("--server=") || arg.hasPrefix("--token=") || arg.hasPrefix("--ca-file=") || arg == "--json" {
                leading.append(arg)
                index += 1
            } else {
                break
            }
        }
        let rest = Array(arguments[index...])
        guard !leading.isEmpty, !rest.isEmpty else { return arguments }
        return rest + leading
    }

    /// Runs kontorctl with `CommandLine.arguments`.
    public static func mainWithGlobalOptions() async {
        await main(normalize(Array(CommandLine.arguments.dropFirst())))
    }
}
