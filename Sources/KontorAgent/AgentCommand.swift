import ArgumentParser
import KontorClient
import KontorCore
import Logging
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `kontor-agent`: the Linux agent's command line.
public struct KontorAgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kontor-agent",
        abstract: "Kontor agent: enrolls this device, applies its policy and reports back.",
        subcommands: [Enroll.self, Run.self, Status.self, QuietHoursCommand.self, TermsCommand.self, NotifyInternal.self])

    public init() {}
}

/// Options every subcommand shares.
struct RootOptions: ParsableArguments {
    @Option(help: "Resolve every path the agent reads or writes under this directory (for tests and demos).")
    var root: String = "/"

    var paths: AgentPaths { AgentPaths(root: root) }

    func config() throws -> AgentConfig {
        do {
            return try AgentConfig.load(paths.configFile)
        } catch let error as AgentFileError {
            throw AgentError(error.description)
        }
    }

    /// Logs to stderr, one line per event: under systemd in the journal's form (priorities, no time stamp).
    func logger(_ config: AgentConfig) -> Logger {
        let journal = JournalLogHandler.stderrIsJournal()
        var logger = Logger(label: "kontor-agent") { label -> any LogHandler in
            if journal { return JournalLogHandler() }
            return StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
        return logger
    }
}

/// Writes `line` and a line break to stderr.
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
    }
}

/// Prints the one-line reason and exits 1.
func failing<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AgentError {
        printError("kontor-agent: \(error)")
        throw ExitCode(1)
    } catch let error as AgentFileError {
        printError("kontor-agent: \(error)")
        throw ExitCode(1)
    }
}

/// The agent's transport: trusts `caFile` besides the system's roots; one connection per request.
func withTransport<T>(_ config: AgentConfig, _ body: (any HTTPTransport) async throws -> T) async throws -> T {
    // A long poll may be held by the server for `longPoll` seconds before any byte of the reply comes.
    let configuration = HTTP1Transport.Configuration(
        caFile: config.caFile, connectTimeout: .seconds(10), readTimeout: .seconds(Int64(config.requestTimeout + config.longPoll)))
    return try await body(HTTP1Transport(configuration))
}

struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enroll this device with a token from your IT department.")

    @OptionGroup var options: RootOptions
    @Option(help: "The Kontor server URL.") var server: String
    @Option(help: "The enrollment token (ket_...).") var token: String
    @Option(name: .customLong("accept-terms"), help: "The usage-terms version you accept for this device.") var acceptTerms: String?
    @Flag(help: "Enroll again as a new device even though this one is enrolled.") var force = false
    @Option(
        help: "The local login of the person who uses this device: they may see the status, end quiet hours early and answer the usage terms without root."
    ) var user: String?

    func validate() throws {
        guard PresentedSecret(token, kind: .enrollmentToken) != nil else {
            throw ValidationError("--token: \"\(token.prefix(8))…\" is not an enrollment token (they start with ket_)")
        }
    }

    func run() async throws {
        try await failing {
            let config = try options.config()
            if let user { try Self.checkPerson(user, accounts: AccountManager(paths: options.paths).allAccounts()) }
            var identity = try await withTransport(config) { transport in
                try await Agent(paths: options.paths, config: config, transport: transport, logger: options.logger(config))
                    .enroll(server: server, token: token, acceptTerms: acceptTerms, force: force)
            }
            if let user {
                identity.personLogin = user
                try AgentStore(paths: options.paths).save(identity)
            }
            print("Enrolled as device \(identity.deviceId) with \(identity.server).")
            if options.root == "/" {
                print("The kontor-agent service starts by itself; `kontor-agent status` shows what is managed.")
            }
        }
    }
}

extension Enroll {
    /// The person named at enrollment: an account of this device's, neither root nor a work account.
    static func checkPerson(_ login: String, accounts: [Account]) throws {
        guard let account = accounts.first(where: { $0.name == login }) else {
            throw AgentError("--user: there is no account \"\(VisibleText.escaped(login))\" on this device; name the login of the person who uses it")
        }
        guard account.uid != 0 else { throw AgentError("--user: \(login) is root; name the person's own login") }
        guard !login.hasPrefix(WorkBoundary.accountPrefix) else {
            throw AgentError("--user: \(login) is a work account; name the person's own login (the work account may ask anyway)")
        }
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the agent (the systemd service runs this).")

    @OptionGroup var options: RootOptions
    @Flag(help: "Do one full cycle (check in, apply, report) and exit: 0 on success.") var once = false

    func run() async throws {
        try await failing {
            let config = try options.config()
            let logger = options.logger(config)
            try await withTransport(config) { transport in
                var agent = Agent(paths: options.paths, config: config, transport: transport, logger: logger)
                // Most of the daemon's life is a held long poll: the pages sending it touched go back then.
                agent.settled = { AgentProcess.trimExecutable() }
                if once {
                    switch try await agent.cycle() {
                    case .success: return
                    case .failure(let reason, _): throw AgentError(reason)
                    case .unenrolled(let receipt):
                        print("The work container was wiped; the server confirmed receipt \(receipt) and revoked this device. Its key and state are destroyed.")
                        return
                    }
                }
                guard try agent.store.identity() != nil else {
                    throw AgentError("not enrolled; run: kontor-agent enroll --server URL --token TOKEN")
                }
                logger.notice("kontor-agent running", metadata: ["version": "\(agentVersion)"])
                // Until SIGTERM or SIGINT (exit 0, "stopping"), or a confirmed wipe left nothing to manage
                // (exit 0, so systemd does not restart it).
                try await AgentService(agent: agent).run()
            }
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what is managed on this device and what is sent to the server.")

    @OptionGroup var options: RootOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await failing {
            guard let report = try options.ask(LocalRequest(op: .status)).status else { throw AgentError("the kontor-agent service sent no status") }
            if json {
                print(String(decoding: try KontorJSON.encode(report, pretty: true), as: UTF8.self))
            } else {
                print(report.text(now: Date()))
            }
        }
    }
}

struct QuietHoursCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quiet-hours", abstract: "Quiet hours (Feierabend) on this device.", subcommands: [Override.self])

    struct Override: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End the current quiet period early, when your organisation allows it (no root needed). Logged and reported.")
        @OptionGroup var options: RootOptions
        @Option(help: "Why (reported to your organisation).") var reason: String

        func run() async throws {
            try await failing {
                let reply = try options.ask(LocalRequest(op: .quietHoursOverride, reason: reason))
                print(reply.message ?? "Quiet hours ended early. This is reported to your organisation.")
            }
        }
    }
}
