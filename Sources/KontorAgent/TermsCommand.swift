import ArgumentParser
import KontorClient
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

extension RootOptions {
    /// Asks the daemon through its local socket; the one way for everyone, root included, while it runs.
    /// Root with no daemon running gets the same answer from this process (the status without even a
    /// configuration, as before the socket); anyone else is told the service is not running, unless the
    /// status is there to read anyway.
    func ask(_ request: LocalRequest) throws -> LocalReply {
        let reply: LocalReply
        do {
            reply = try LocalSocket.ask(request, path: paths.localSocket)
        } catch .notRunning(let why) {
            // Without a daemon anyone may still read what they can read anyway: a device that was never
            // enrolled (no state folder) or a scratch --root. The person's view all the same.
            if request.op == .status, geteuid() != 0, access(paths.stateDir, R_OK | X_OK) == 0 || errno == ENOENT {
                return LocalReply(status: try AgentStatusReport.read(AgentStore(paths: paths)).redactedForPerson())
            }
            guard geteuid() == 0 else {
                throw AgentError(
                    "the kontor-agent service is not running (\(why)), so it cannot answer without root; the device may not be enrolled, or the service stopped: ask your administrator (sudo systemctl start kontor-agent), or run this with sudo"
                )
            }
            if request.op == .status {
                reply = LocalReply(status: try AgentStatusReport.read(AgentStore(paths: paths)))
            } else {
                let config = try config()
                let agent = Agent(paths: paths, config: config, transport: HTTP1Transport(), logger: logger(config))
                reply = LocalService(agent: agent).answer(request, from: PeerCredentials(uid: 0, gid: getegid(), pid: getpid()))
            }
        } catch .failed(let why) {
            throw AgentError(why)
        }
        guard reply.ok else { throw AgentError(reply.error ?? "the kontor-agent service refused without saying why") }
        return reply
    }
}

/// `kontor-agent terms`: the person reads and answers the usage terms, without root.
struct TermsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terms", abstract: "The usage terms of this device: read, accept or decline them (no root needed).",
        subcommands: [Show.self, Accept.self, Decline.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the usage terms this device's policy asks you to accept.")
        @OptionGroup var options: RootOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await failing {
                let reply = try options.ask(LocalRequest(op: .termsShow))
                guard let terms = reply.terms else {
                    print(reply.message ?? "There are no usage terms to accept on this device.")
                    return
                }
                print(json ? String(decoding: try KontorJSON.encode(terms, pretty: true), as: UTF8.self) : TermsCommand.text(terms))
            }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept a version of the usage terms (signed by this device, sent to your organisation).")
        @OptionGroup var options: RootOptions
        @Argument(help: "The version you accept, as `kontor-agent terms show` names it.") var version: String

        func run() async throws {
            try await failing { print(try options.ask(LocalRequest(op: .termsRespond, version: version, accept: true)).message ?? "Accepted.") }
        }
    }

    struct Decline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decline a version of the usage terms (recorded and sent to your organisation).")
        @OptionGroup var options: RootOptions
        @Argument(help: "The version you decline.") var version: String

        func run() async throws {
            try await failing { print(try options.ask(LocalRequest(op: .termsRespond, version: version, accept: false)).message ?? "Declined.") }
        }
    }

    /// The terms for a terminal: the server's texts with control characters written out, never acted on.
    static func text(_ terms: LocalTerms) -> String {
        let keep: Set<Unicode.Scalar> = ["\n", "\t"]
        var lines = ["Usage terms \(VisibleText.escaped(terms.version)) (SHA-256 \(terms.sha256))", "", VisibleText.escaped(terms.text, keeping: keep)]
        if let undertaking = terms.undertaking { lines += ["", "Undertaking:", "", VisibleText.escaped(undertaking, keeping: keep)] }
        lines.append("")
        if terms.accepted {
            lines.append("You have accepted this version.")
        } else {
            let by = terms.deadline.map { " by \(ISO8601.string(from: $0))" } ?? ""
            lines.append(
                "To accept\(by): kontor-agent terms accept \(VisibleText.escaped(terms.version)); to decline: kontor-agent terms decline \(VisibleText.escaped(terms.version))"
            )
        }
        return lines.joined(separator: "\n")
    }
}
