import ArgumentParser
import Foundation
import KontorClient
import KontorCore

// MARK: device commands

/// Queues one command for a device and prints it.
private func issue(_ client: AdminClient, json: Bool, device: String, type: CommandType, reason: String?) async throws {
    struct Input: Encodable {
        var type: CommandType
        var reason: String?
    }
    let answer = try await client.gatedPost(
        "/devices/" + AdminClient.segment(device) + "/commands", body: Input(type: type, reason: reason), as: CommandRecord.self)
    guard case .done(let command) = answer else {
        if case .pending(let approval) = answer { try printPending(approval, json: json) }
        return
    }
    if json { return try printJSON(command) }
    print("queued \(command.type.rawValue) \(command.id) for device \(command.deviceId); it goes out at the device's next check-in")
    print("follow it with: kontorctl commands list \(command.deviceId)")
}

struct Wipe: APICommand {
    static let configuration = CommandConfiguration(
        abstract: "Wipe a device's work container (never personal data); the device sends a signed receipt and is then revoked.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device ID.") var device: String
    @Option(help: "Why (kept in the audit log).") var reason: String

    func run(client: AdminClient) async throws { try await issue(client, json: connection.json, device: device, type: .wipe, reason: reason) }
}

struct Lock: APICommand {
    static let configuration = CommandConfiguration(abstract: "Lock a device's work container: logins refused, its programs frozen, until unlock.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device ID.") var device: String
    @Option(help: "Why (kept in the audit log).") var reason: String?

    func run(client: AdminClient) async throws { try await issue(client, json: connection.json, device: device, type: .lock, reason: reason) }
}

struct Unlock: APICommand {
    static let configuration = CommandConfiguration(abstract: "Unlock a work container locked with `kontorctl lock`.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device ID.") var device: String
    @Option(help: "Why (kept in the audit log).") var reason: String?

    func run(client: AdminClient) async throws { try await issue(client, json: connection.json, device: device, type: .unlock, reason: reason) }
}

struct Sync: APICommand {
    static let configuration = CommandConfiguration(abstract: "Ask a device to check in again at once (after its next check-in).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Device ID.") var device: String

    func run(client: AdminClient) async throws { try await issue(client, json: connection.json, device: device, type: .sync, reason: nil) }
}

struct Commands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The command queue of a device.", subcommands: [List.self, Show.self, Cancel.self])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "A device's commands, newest first.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Device ID.") var device: String

        func run(client: AdminClient) async throws {
            let commands = try await client.call(.GET, "/devices/" + AdminClient.segment(device) + "/commands", as: [CommandRecord].self)
            if connection.json { return try printJSON(commands) }
            if commands.isEmpty { return print("no commands for \(device)") }
            printTable(
                ["ID", "TYPE", "STATE", "ISSUED", "BY", "DELIVERED", "DONE", "NOTE"],
                commands.map {
                    [
                        $0.id, $0.type.rawValue, $0.state.rawValue, show($0.issuedAt), $0.issuedBy ?? "-", show($0.deliveredAt), show($0.completedAt),
                        $0.error ?? $0.receiptId.map { "receipt \($0)" } ?? $0.reason ?? "",
                    ]
                })
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "One command.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Command ID.") var id: String

        func run(client: AdminClient) async throws {
            let c = try await client.call(.GET, "/commands/" + AdminClient.segment(id), as: CommandRecord.self)
            if connection.json { return try printJSON(c) }
            let rows: [(String, String)] = [
                ("id", c.id), ("device", c.deviceId), ("type", c.type.rawValue), ("state", c.state.rawValue), ("reason", c.reason ?? "-"),
                ("issued", "\(show(c.issuedAt)) by \(c.issuedBy ?? "-")"), ("expires", show(c.expiresAt)), ("delivered", show(c.deliveredAt)),
                ("acknowledged", show(c.acknowledgedAt)), ("completed", show(c.completedAt)), ("error", c.error ?? "-"), ("receipt", c.receiptId ?? "-"),
            ]
            printFields(rows, width: 13)
        }
    }

    struct Cancel: APICommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a command the device has not acknowledged yet.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Command ID.") var id: String
        @Option(help: "Why.") var reason: String?

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String? }
            let c = try await client.call(.POST, "/commands/" + AdminClient.segment(id) + "/cancel", body: Input(reason: reason), as: CommandRecord.self)
            if connection.json { return try printJSON(c) }
            print("cancelled \(c.type.rawValue) \(c.id) for device \(c.deviceId)")
        }
    }
}

// MARK: offboarding

extension PersonDetail {
    func print() {
        let p = person
        KontorCLI.print(
            "\(visible(p.displayName)) <\(visible(p.email))>\nid:      \(p.id)\nstatus:  \(p.status.rawValue)\ngroups:  \(p.groups.joined(separator: ", "))\ncreated: \(show(p.createdAt))\(p.phone.map { "\nphone:   \(visible($0))" } ?? "")"
        )
        if let earlier = previousIds, !earlier.isEmpty { KontorCLI.print("before:  \(earlier.joined(separator: " <- ")) (left and came back)") }
        if let later = returnedAs { KontorCLI.print("came back as: \(later)") }
        if let o = offboarding {
            var line = "offboarding: requested \(show(o.requestedAt)) by \(o.requestedBy ?? "-"); wipe at \(show(o.wipeAt))"
            if let profile = o.restrictedProfile { line += "; restricted to profile \(profile) meanwhile" }
            if let done = o.completedAt {
                line += "; completed \(show(done)), seat freed"
            } else if let issued = o.wipesIssuedAt {
                line += "; wipes issued \(show(issued))"
            }
            KontorCLI.print(visible(line))
        }
        KontorCLI.print("devices:" + (devicesByOwnership.map { " active: \($0.described)" } ?? ""))
        if devices.isEmpty { KontorCLI.print("  (none)") }
        let byDevice = Dictionary(progress.map { ($0.deviceId, $0) }, uniquingKeysWith: { a, _ in a })
        for d in devices {
            var line = "  \(d.id)  \(d.facts.hostname)  \(Devices.status(d))  \(d.ownership.rawValue)  last seen \(show(d.lastSeen))"
            if let wipe = byDevice[d.id]?.wipe { line += "  wipe: \(wipe.rawValue)" }
            KontorCLI.print(visible(line))
        }
    }
}

extension Persons {
    struct Offboard: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Offboard a person: optionally restrict their devices now, then wipe every device's work container at the date.",
            discussion: """
                Without --at the wipes go out at once. Each device is revoked when its signed wipe receipt is in; when no device
                is left the person is offboarded and the seat is free. Follow the progress with `kontorctl persons show EMAIL`.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or ID.") var person: String
        @Option(help: "When to wipe: an ISO 8601 instant (2027-01-31T18:00:00Z) or a date (2027-01-31, the start of that day here).")
        var at: String?
        @Flag(help: "Start the restricted phase (the notice period) now; needs --profile.") var restrictNow = false
        @Option(help: "The restricted profile the person's devices use until the wipe.") var profile: String?
        @Option(help: "Why (kept in the audit log).") var reason: String?

        func validate() throws {
            if restrictNow != (profile != nil) { throw ValidationError("--restrict-now and --profile go together") }
            if let at, Self.parse(at) == nil { throw ValidationError("--at: \"\(at)\" is neither an ISO 8601 instant nor a date such as 2027-01-31") }
        }

        static func parse(_ text: String) -> Date? {
            if let instant = ISO8601.date(from: text) { return instant }
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, text.count == 10 else { return nil }
            return Calendar.current.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
        }

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var at: Date?
                var restrictNow: Bool
                var profile: String?
                var reason: String?
            }
            let answer = try await client.gatedPost(
                "/persons/" + AdminClient.segment(person) + "/offboard",
                body: Input(at: at.flatMap(Self.parse), restrictNow: restrictNow, profile: profile, reason: reason), as: PersonDetail.self)
            switch answer {
            case .pending(let approval): try printPending(approval, json: connection.json)
            case .done(let detail): if connection.json { try printJSON(detail) } else { detail.print() }
            }
        }
    }

    struct CancelOffboarding: APICommand {
        static let configuration = CommandConfiguration(
            commandName: "cancel-offboarding",
            abstract: "Take back an offboarding in its notice period (no wipe has gone out): the person is active again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or ID.") var person: String

        func run(client: AdminClient) async throws {
            let detail = try await client.call(.DELETE, "/persons/" + AdminClient.segment(person) + "/offboarding", as: PersonDetail.self)
            if connection.json { return try printJSON(detail) }
            detail.print()
        }
    }
}
