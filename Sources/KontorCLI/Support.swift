import ArgumentParser
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
        if token ?? env["KONTOR_TOKEN"] == nil, let session = try LoginSession.load(), server ?? env["KONTOR_SERVER"] ?? session.server == session.server {
            return try await body(try await Self.personClient(session))
        }
        guard let server = server ?? env["KONTOR_SERVER"] else {
            throw ClientError.usage("no server: pass --server URL or set KONTOR_SERVER")
        }
        let caFile = caFile ?? env["KONTOR_CA_FILE"]
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) { throw ClientError.usage("--ca-file \(caFile): cannot read it") }
        try await body(try AdminClient(server: server, token: token ?? env["KONTOR_TOKEN"] ?? "", transport: HTTP1Transport(.init(caFile: caFile))))
    }

    /// A client with the signed-in person's session (`kontorctl login`), renewed with the provider's refresh
    /// token when it has ended or is about to.
    static func personClient(_ saved: LoginSession) async throws -> AdminClient {
        var session = saved
        let transport = HTTP1Transport(.init(caFile: session.caFile))
        if session.expiresAt.timeIntervalSinceNow < 60 {
            let client = SignInClient(transport: transport)
            let tokens = try await DeviceGrant.refresh(session, client: client)
            let opened = try await client.openSession(server: try ServerURL(session.server), idToken: tokens.idToken ?? "")
            session.sessionToken = opened.token
            session.expiresAt = opened.expiresAt
            session.role = opened.role
            session.name = opened.name
            session.refreshToken = tokens.refreshToken ?? session.refreshToken
            try session.save()
        }
        return try AdminClient(server: session.server, token: session.sessionToken, transport: transport)
    }
}

// MARK: output
//
// Everything kontorctl prints shows what devices sent, and a device (or a work user on it, through the
// name of a program they run) can put terminal escape sequences and invisible or direction-changing
// characters into those strings. So all output goes through the functions below: within this module
// `print` is the one here, which writes every control or invisible character in a visible form
// (`\x1B`, `\u{202E}`; ``VisibleText``); tables and field lists also make line breaks inside a value
// visible, so one value cannot fake another line; JSON keeps its escapes valid.

/// Prints like `Swift.print`, with control and invisible characters made visible; the line breaks
/// kontorctl lays out itself stay.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator)
    Swift.print(VisibleText.escaped(text, keeping: VisibleText.newlines), terminator: terminator)
}

/// One value as a single visible line.
func visible(_ text: String) -> String { VisibleText.escaped(text) }

/// Writes `data` (text from the server: JSON lines, CSV) to standard output with control and invisible
/// characters made visible; JSON stays valid, and line ends stay.
func writeOutput(_ data: Data, json: Bool) {
    let text = String(decoding: data, as: UTF8.self)
    let safe = json ? VisibleText.jsonEscaped(text) : VisibleText.escaped(text, keeping: ["\n", "\r"])
    FileHandle.standardOutput.write(Data(safe.utf8))
}

/// One line on standard error, made visible like all other output (server messages may quote device text).
func printError(_ message: String) {
    FileHandle.standardError.write(Data("kontorctl: \(VisibleText.escaped(message))\n".utf8))
}

/// Prints `label  value` lines with the labels padded to `width`; each value on one visible line.
func printFields(_ rows: [(String, String)], width: Int) {
    // A label as long as the column still gets a space before its value.
    let width = max(width, (rows.map(\.0.count).max() ?? 0) + 1)
    for (label, value) in rows { print(label.padding(toLength: width, withPad: " ", startingAt: 0) + visible(value)) }
}

/// Prints rows as an aligned table; each cell on one visible line.
func printTable(_ header: [String], _ rawRows: [[String]]) {
    let rows = rawRows.map { $0.map(visible) }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// Prints a value as pretty JSON, with DEL, C1 and invisible characters as `\uXXXX` escapes (C0 are
/// escaped by the encoder already): the same JSON to a parser, nothing a terminal acts on.
func printJSON<T: Encodable>(_ value: T) throws {
    Swift.print(VisibleText.jsonEscaped(String(decoding: try KontorJSON.encode(value, pretty: true), as: UTF8.self)))
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
            printError("\(error)")
            throw ExitCode(error.code == nil ? 2 : 1)
        }
    }
}

/// Agent-side JSON shapes the CLI decodes (duplicated from the server's outputs on purpose: the CLI
/// depends on the wire format, not on server code).
struct CreatedAPIToken: Codable {
    var token: String
    var apiToken: APIToken
}
struct CreatedEnrollmentToken: Codable {
    var token: String
    var enrollmentToken: EnrollmentToken
    var agentCommand: String
}
struct ListedEnrollmentToken: Codable {
    var token: EnrollmentToken
    var state: EnrollmentTokenState
}
struct Principal: Codable {
    var name: String
    var role: String
    var tokenId: String?
    var kind: String?
    var subject: String?
    var purpose: String?
    var owner: String?
    var expiresAt: Date?
}

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
