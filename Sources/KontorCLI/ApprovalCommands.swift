import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// An approval request as the API sends it (the server's ApprovalView).
struct ApprovalRecord: Codable {
    var id: String
    var kind: String
    var status: String
    var state: String
    var target: String
    var requestedBy: String
    var requesterName: String?
    var createdAt: Date
    var expiresAt: Date
    var decidedBy: String?
    var decidedAt: Date?
    var reason: String?
    var result: String?
    /// Only in the reply to a token's request: the secret, which works once approved.
    var token: String?

    var isPending: Bool { status == "pending-approval" }
}

/// What an action the server may hold back for approval answered: what it did, or the waiting request.
enum GatedAnswer<Output> {
    case done(Output)
    case pending(ApprovalRecord)
}

extension AdminClient {
    /// POSTs `body` as JSON; the decoded answer, or the request when the server holds the action back for approval.
    func gatedPost<Output: Decodable>(_ path: String, body: some Encodable, as: Output.Type) async throws -> GatedAnswer<Output> {
        let exchange = try await raw(.POST, path, json: try KontorJSON.encode(body))
        do {
            if exchange.status == 202, let approval = try? KontorJSON.decode(ApprovalRecord.self, from: exchange.body), approval.isPending {
                return .pending(approval)
            }
            return .done(try KontorJSON.decode(Output.self, from: exchange.body))
        } catch {
            throw ClientError.badResponse("POST \(path): \(error)")
        }
    }
}

/// Tells the requester that their action waits for a second person, and how that person approves it.
func printPending(_ approval: ApprovalRecord, json: Bool) throws {
    if json { return try printJSON(approval) }
    print("waiting for approval: request \(approval.id) (\(approval.kind) of \(approval.target)) until \(show(approval.expiresAt))")
    print("nothing happens until another person approves it with: kontorctl approvals approve \(approval.id)")
    if let token = approval.token { print("token (shown only now; it works once approved): \(token)") }
}

/// `kontorctl approvals`: the requests that wait for a second person, and their decision.
struct Approvals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Four-eyes approvals: requests that wait for a second person.",
        discussion: """
            With approvals.wipe, approvals.offboard or approvals.tokenCreate set to 2 (kontorctl settings approvals), those \
            actions wait here until someone other than the requester (a token counts as its owner) approves them.
            """,
        subcommands: [List.self, Show.self, Approve.self, Reject.self])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List the requests waiting for approval (--all: every request).")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "Every request, decided and expired ones too.") var all = false

        func run(client: AdminClient) async throws {
            let approvals = try await client.call(.GET, "/approvals", query: all ? nil : "state=pending", as: [ApprovalRecord].self)
            if connection.json { return try printJSON(approvals) }
            if approvals.isEmpty { return print(all ? "no approval requests" : "nothing waits for approval") }
            printTable(
                ["ID", "KIND", "TARGET", "STATE", "REQUESTED BY", "EXPIRES", "DECIDED BY"],
                approvals.map { [$0.id, $0.kind, $0.target, $0.state, $0.requestedBy, show($0.expiresAt), $0.decidedBy ?? "-"] })
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Show one request.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Approval ID.") var id: String

        func run(client: AdminClient) async throws {
            let approval = try await client.call(.GET, "/approvals/" + AdminClient.segment(id), as: ApprovalRecord.self)
            if connection.json { return try printJSON(approval) }
            Approvals.printRecord(approval)
        }
    }

    struct Approve: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a request someone else made; it happens now, audited with both names.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Approval ID.") var id: String

        func run(client: AdminClient) async throws {
            let approval = try await client.call(.POST, "/approvals/" + AdminClient.segment(id) + "/approve", as: ApprovalRecord.self)
            if connection.json { return try printJSON(approval) }
            print("approved \(approval.kind) of \(approval.target) requested by \(approval.requestedBy): \(approval.result ?? "done")")
        }
    }

    struct Reject: APICommand {
        static let configuration = CommandConfiguration(abstract: "Reject a request; nothing happens.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Approval ID.") var id: String
        @Option(help: "Why (3 to 500 characters, kept in the audit log).") var reason: String

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String }
            let approval = try await client.call(
                .POST, "/approvals/" + AdminClient.segment(id) + "/reject", body: Input(reason: reason), as: ApprovalRecord.self)
            if connection.json { return try printJSON(approval) }
            print("rejected \(approval.kind) of \(approval.target) requested by \(approval.requestedBy)")
        }
    }

    static func printRecord(_ a: ApprovalRecord) {
        printFields(
            [
                ("id", a.id), ("kind", a.kind), ("target", a.target), ("state", a.status), ("requested by", a.requestedBy),
                ("requested", show(a.createdAt)), ("expires", show(a.expiresAt)), ("decided by", a.decidedBy ?? "-"), ("decided", show(a.decidedAt)),
                ("reason", a.reason ?? "-"), ("result", a.result ?? "-"),
            ], width: 14)
    }
}

/// The `approvals` part of the settings as the API sends it (every field set in a reply).
struct ApprovalValues: Codable {
    var wipe: Int?
    var offboard: Int?
    var tokenCreate: Int?
    var expiryHours: Int?

    func print() {
        func show(_ value: Int?) -> String { value.map { $0 == 2 ? "2 (a second person must approve)" : "\($0) (no approval)" } ?? "-" }
        KontorCLI.print("approvals.wipe         \(show(wipe))")
        KontorCLI.print("approvals.offboard     \(show(offboard))")
        KontorCLI.print("approvals.tokenCreate  \(show(tokenCreate))")
        KontorCLI.print("approvals.expiryHours  \(expiryHours.map(String.init) ?? "-") hours (then a request expires)")
    }
}

extension SettingsCommand {
    /// `kontorctl settings approvals`: shows which actions need a second person, or changes those given (admin).
    struct ApprovalSettingsCommand: APICommand {
        static let configuration = CommandConfiguration(
            commandName: "approvals", abstract: "Show or change which actions wait for a second person (four-eyes approval).",
            discussion: "Each of --wipe, --offboard and --token-create is 0 (happens at once) or 2 (a second person must approve).")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "0 or 2: wipe commands.") var wipe: Int?
        @Option(help: "0 or 2: offboardings.") var offboard: Int?
        @Option(name: .customLong("token-create"), help: "0 or 2: new API tokens.") var tokenCreate: Int?
        @Option(name: .customLong("expiry-hours"), help: "Hours before a request expires (1-168; default 24).") var expiryHours: Int?

        func run(client: AdminClient) async throws {
            let change = ApprovalValues(wipe: wipe, offboard: offboard, tokenCreate: tokenCreate, expiryHours: expiryHours)
            let changing = [wipe, offboard, tokenCreate, expiryHours].contains { $0 != nil }
            let values =
                changing
                ? try await client.call(.PATCH, "/settings", body: Values(approvals: change), as: Values.self)
                : try await client.call(.GET, "/settings", as: Values.self)
            if connection.json { return try printJSON(values.approvals) }
            values.approvals?.print()
        }
    }
}
