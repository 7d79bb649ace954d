import ArgumentParser
import Foundation
import KontorClient
import KontorCore

/// `kontorctl`: the admin command line. It talks only to the admin API.
public struct KontorCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kontorctl",
        abstract: "Manage a Kontor server: persons, devices, enrollment and API tokens.",
        discussion: "Set KONTOR_SERVER and KONTOR_TOKEN, or pass --server and --token to each command.",
        subcommands: [
            Login.self, Logout.self, WhoAmI.self, Persons.self, Devices.self, Wipe.self, Lock.self, Unlock.self, Sync.self, Commands.self, EnrollTokens.self,
            AdminTokens.self,
            Profiles.self, Holidays.self, Audit.self, SettingsCommand.self, OnCall.self, Terms.self, Archives.self, Report.self, RetentionCommand.self,
            Approvals.self,
        ])

    public init() {}
}

struct WhoAmI: APICommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show the token in use and its role.")
    @OptionGroup var connection: ConnectionOptions

    func run(client: AdminClient) async throws {
        let me = try await client.call(.GET, "/me", as: Principal.self)
        guard !connection.json else { return try printJSON(me) }
        if me.kind == "person" {
            let until = me.expiresAt.map { ", session until \(show($0))" } ?? ""
            print("\(me.name) <\(me.subject ?? "")> (\(me.role)) on \(client.server.url(""))\(until)")
        } else {
            let marks = [me.purpose, me.owner.map { "owner \($0)" }].compactMap { $0 }.joined(separator: ", ")
            print("token \(me.name) (\(me.role)\(marks.isEmpty ? "" : ", \(marks)")) on \(client.server.url(""))")
        }
    }
}

// MARK: persons

struct Persons: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The staff directory.",
        subcommands: [
            List.self, Show.self, Create.self, Update.self, Import.self, Offboard.self, CancelOffboarding.self, Rehire.self, Export.self, ExportData.self,
            Erase.self,
        ])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List persons.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let persons = try await client.call(.GET, "/persons", as: [Person].self)
            if connection.json { return try printJSON(persons) }
            printTable(
                ["EMAIL", "NAME", "GROUPS", "STATUS", "ID"],
                persons.map {
                    [
                        $0.email, $0.displayName, $0.groups.joined(separator: ","),
                        $0.status.rawValue + ($0.participation == .declined ? " (not taking part)" : ""), $0.id,
                    ]
                })
            let seats = persons.filter { $0.status != .offboarded }.count
            print("\(persons.count) persons; \(seats) seats in use (offboarded persons free theirs)")
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Show a person and their devices.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or ID.") var person: String

        func run(client: AdminClient) async throws {
            let found = try await client.call(.GET, "/persons/" + AdminClient.segment(person), as: PersonDetail.self)
            if connection.json { return try printJSON(found) }
            found.print()
        }
    }

    struct Create: APICommand {
        static let configuration = CommandConfiguration(abstract: "Add a person.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Work email address.") var email: String
        @Option(help: "Display name.") var name: String
        @Option(name: .customLong("group"), help: "A group (repeat for several).") var groups: [String] = []
        @Option(help: "A work phone number, given to whoever asks who is on call (kontorctl oncall).") var phone: String?

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var email: String
                var displayName: String
                var groups: [String]
                var phone: String?
            }
            let person = try await client.call(
                .POST, "/persons", body: Input(email: email, displayName: name, groups: groups, phone: phone), as: Person.self)
            if connection.json { return try printJSON(person) }
            print("created \(person.email) (\(person.id))")
        }
    }

    struct Update: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a person: name, groups, work phone, whether they take part.",
            discussion: """
                A group change reaches their devices' policies at the next check-in. Taking part is voluntary: a person \
                who declined gets no enrollment token, and their unused ones are revoked.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or ID.") var person: String
        @Option(help: "Display name.") var name: String?
        @Option(name: .customLong("group"), help: "Replace the groups with these (repeat for several).") var groups: [String] = []
        @Option(name: .customLong("add-group"), help: "Add a group (repeat for several).") var addGroups: [String] = []
        @Option(name: .customLong("remove-group"), help: "Remove a group (repeat for several).") var removeGroups: [String] = []
        @Option(help: "Work phone number; \"\" removes it.") var phone: String?
        @Option(help: "taking-part or declined.") var participation: Participation?

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var displayName: String?
                var groups: [String]?
                var addGroups: [String]?
                var removeGroups: [String]?
                var phone: String?
                var participation: Participation?
            }
            let input = Input(
                displayName: name, groups: groups.isEmpty ? nil : groups, addGroups: addGroups.isEmpty ? nil : addGroups,
                removeGroups: removeGroups.isEmpty ? nil : removeGroups, phone: phone, participation: participation)
            guard name != nil || !groups.isEmpty || !addGroups.isEmpty || !removeGroups.isEmpty || phone != nil || participation != nil else {
                throw ValidationError("nothing to change: give --name, --group, --add-group, --remove-group, --phone or --participation")
            }
            let updated = try await client.call(.PATCH, "/persons/" + AdminClient.segment(person), body: input, as: Person.self)
            if connection.json { return try printJSON(updated) }
            print(
                "\(updated.email): \(updated.displayName); groups \(updated.groups.isEmpty ? "-" : updated.groups.joined(separator: ",")); phone \(updated.phone ?? "-"); \(updated.participation.rawValue)"
            )
        }
    }

    struct Export: APICommand {
        static let configuration = CommandConfiguration(abstract: "Export the whole directory.")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "CSV (the default), for spreadsheets and the data-protection officer.") var csv = false

        func run(client: AdminClient) async throws {
            if connection.json { return try printJSON(try await client.call(.GET, "/persons", as: [Person].self)) }
            let exchange = try await client.raw(.GET, "/persons/export")
            writeOutput(exchange.body, json: false)
        }
    }
}

// MARK: devices

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enrolled devices.", subcommands: [List.self, Show.self, Policy.self, Revoke.self])

    struct Revoke: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a device that will not come back (lost, stolen, broken): its key is refused from then on.",
            discussion: "The work data on it is not confirmed wiped: the device shows as \"revoked, wipe unconfirmed\".")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Device ID.") var id: String
        @Option(help: "Why (kept in the audit log).") var reason: String

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String }
            let device = try await client.call(.POST, "/devices/" + AdminClient.segment(id) + "/revoke", body: Input(reason: reason), as: Device.self)
            if connection.json { return try printJSON(device) }
            print("revoked \(device.id) (\(device.facts.hostname)); wipe unconfirmed")
        }
    }

    /// The status as people read it: a revoked device without a wipe receipt says so.
    static func status(_ d: Device) -> String {
        switch (d.status, d.wipeConfirmedAt) {
        case (.revoked, nil): "revoked, wipe unconfirmed"
        case (.revoked, .some): "revoked, wiped"
        case (.active, .some): "active, wiped offline"
        default: d.status.rawValue
        }
    }

    /// The confirmed wipe, from its signed receipt (checked with the device's key here, not taken on trust).
    static func wipeRows(_ d: Device, client: AdminClient) async throws -> [(String, String)] {
        struct Row: Decodable {
            var id: String
            var signed: SignedReceipt
        }
        guard let id = d.wipeReceiptId else { return [] }
        let rows = try await client.call(.GET, "/devices/" + AdminClient.segment(d.id) + "/receipts", as: [Row].self)
        guard let key = DeviceKeys.publicKey(base64: d.publicKey), let receipt = rows.first(where: { $0.id == id })?.signed.verified(by: key) else {
            return [("wipe receipt", "\(id) (its signature does not verify with the device key)")]
        }
        let method =
            receipt.method == "cryptoErase+delete"
            ? "cryptographic erase, then deletion" : "deletion only\(receipt.methodNote.map { ": \(visible($0))" } ?? "")"
        let archive =
            receipt.archive.map { "\($0.id): \($0.files) files, \($0.size) bytes, SHA-256 \($0.sha256)\($0.leftOut.map { "; \($0.count) left out" } ?? "")" }
            ?? receipt.archiveFailed.map { "none: \(visible($0))" } ?? "-"
        return [
            ("wipe receipt", "\(id), \(receipt.totalFiles) files removed, signature verified"), ("erased by", method), ("archive", archive),
        ]
    }

    /// Whether a wipe of the device's container can destroy its key, or why it can only delete; and whether
    /// the key is out of the kernel now (the container locked).
    static func cryptoErase(_ c: ComplianceReport?) -> String {
        let key =
            switch c?.containerKey {
            case "locked"?: "; the key is out of the kernel now (container locked)"
            case "lockedFilesBusy"?: "; the key is out of the kernel now, files frozen programs hold open stay readable until closed"
            default: ""
            }
        switch c?.cryptoErase {
        case "available"?: return "available (the work home is encrypted; a wipe destroys its key)" + key
        case "unavailable"?: return "unavailable: \(c?.cryptoEraseReason ?? "no reason given") — a wipe can only delete"
        default: return "-"
        }
    }

    /// One word for the device's compliance: `ok`, `outdated` (has not applied the current policy),
    /// `violations:N`, `unknown` (no report yet), or `noncompliant: ` and the posture requirements it fails.
    static func compliance(_ d: Device) -> String {
        switch ComplianceWord.of(d) {
        case "noncompliant": "noncompliant: " + (d.postureFailures ?? []).joined(separator: ", ")
        case "violations": "violations:\(d.compliance?.violations.count ?? 0)"
        case let word: word
        }
    }

    struct Policy: APICommand {
        static let configuration = CommandConfiguration(abstract: "A device's effective policy and where each field comes from.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Device ID.") var id: String

        struct Output: Codable {
            var deviceId: String
            var policyHash: String
            var applied: Bool
            var policy: EffectivePolicy
        }

        func run(client: AdminClient) async throws {
            let out = try await client.call(.GET, "/devices/" + AdminClient.segment(id) + "/policy", as: Output.self)
            if connection.json { return try printJSON(out) }
            print("device \(out.deviceId): policy \(out.policyHash) (\(out.applied ? "applied" : "not applied yet"))")
            print("from: \(out.policy.sources.isEmpty ? "built-in defaults" : out.policy.sources.joined(separator: " < "))")
            for (field, source) in (out.policy.origins ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("  \(field.padding(toLength: 28, withPad: " ", startingAt: 0)) \(source)")
            }
        }
    }

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List devices with their last-seen time.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Only the devices of this person (email or ID).") var person: String?
        @Option(help: "Only company or only personal devices.") var ownership: Ownership?

        func run(client: AdminClient) async throws {
            let query = [person.map { "person=" + AdminClient.queryValue($0) }, ownership.map { "ownership=" + $0.rawValue }].compactMap { $0 }
            let devices = try await client.call(.GET, "/devices", query: query.isEmpty ? nil : query.joined(separator: "&"), as: [Device].self)
            if connection.json { return try printJSON(devices) }
            printTable(
                ["ID", "HOSTNAME", "STATUS", "OWNERSHIP", "GROUP", "LAST SEEN", "AGENT", "COMPLIANCE"],
                devices.map {
                    [
                        $0.id, $0.facts.hostname, Devices.status($0), $0.ownership.rawValue, $0.group ?? "-", show($0.lastSeen), $0.agentStatus?.state ?? "-",
                        Devices.compliance($0),
                    ]
                })
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Show one device.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Device ID.") var id: String

        func run(client: AdminClient) async throws {
            let d = try await client.call(.GET, "/devices/" + AdminClient.segment(id), as: Device.self)
            if connection.json { return try printJSON(d) }
            let rows: [(String, String)] = [
                ("id", d.id), ("status", Devices.status(d)), ("ownership", d.ownership.rawValue), ("person", d.personId ?? "-"), ("group", d.group ?? "-"),
                ("hostname", d.facts.hostname), ("os", d.facts.osRelease), ("kernel", d.facts.kernel), ("agent", d.facts.agentVersion),
                ("enrolled", show(d.enrolledAt)), ("last seen", show(d.lastSeen)), ("policy", d.appliedPolicyHash ?? "-"),
                ("agent state", d.agentStatus.map { "\($0.state)\($0.message.map { ": \($0)" } ?? "")" } ?? "-"),
                ("terms", d.acceptedTermsVersion ?? "-"), ("predecessor", d.predecessorId ?? "-"), ("successor", d.successorId ?? "-"),
                ("key id", d.keyId), ("compliance", Devices.compliance(d)),
                ("policy from", d.policySources.map { $0.isEmpty ? "built-in defaults" : $0.joined(separator: " < ") } ?? "-"),
                ("not applied", d.notApplied.map { $0.joined(separator: "; ") } ?? "-"),
                ("quiet now", d.compliance?.quiet.map { $0 ? "yes (\(d.compliance?.quietReason ?? ""))" : "no" } ?? "-"),
                ("container", d.compliance?.containerAccount.map { "\($0) (\(d.compliance?.containerState ?? "?"))" } ?? "-"),
                ("crypto-erase", Devices.cryptoErase(d.compliance)),
            ]
            let posture =
                d.facts.posture.map { $0.described.map { ($0.label, $0.value) } }
                ?? [("posture", d.ownership == .personal ? "not collected (personal device)" : "not reported (agent too old)")]
            printFields(rows + posture + (try await Devices.wipeRows(d, client: client)), width: 16)
            let violations = d.compliance?.violations ?? []
            if !violations.isEmpty {
                print("violations:")
                for v in violations { print("  \(show(v.at))  \(visible(v.executable))  pid \(v.pid)  \(visible(v.action))") }
            }
            let commands = try await client.call(.GET, "/devices/" + AdminClient.segment(id) + "/commands", as: [CommandRecord].self)
            if !commands.isEmpty {
                print("commands:")
                for c in commands.prefix(10) { print("  \(show(c.issuedAt))  \(c.type.rawValue)  \(c.state.rawValue)  \(visible(c.id))") }
            }
            let events = try await client.call(.GET, "/devices/" + AdminClient.segment(id) + "/events", as: [DeviceEvent].self)
            if !events.isEmpty {
                print("recent events:")
                for e in events.prefix(10) { print("  \(show(e.at))  \(visible(e.kind))\(e.detail.map { "  \(visible($0))" } ?? "")") }
            }
        }
    }
}

// MARK: enrollment tokens

struct EnrollTokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-tokens", abstract: "Tokens that let a device enroll.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: APICommand {
        static let configuration = CommandConfiguration(abstract: "Create a token; it is shown once, with the command to run on the device.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "The person (email or ID) the device will belong to.") var person: String?
        @Option(help: "The device group.") var group: String?
        @Option(help: "How many devices may use it.") var uses: Int = 1
        @Option(help: "Lifetime, e.g. 30m, 24h, 7d.") var expires: String = "24h"
        @Option(help: "company (the default) or personal: whom the devices enrolled with it belong to.") var ownership: Ownership = .company

        func validate() throws {
            guard uses >= 1 else { throw ValidationError("--uses must be at least 1") }
            guard HumanDuration.seconds(expires) != nil else { throw ValidationError("--expires: \"\(expires)\" is not a duration such as 30m, 24h or 7d") }
        }

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var person: String?
                var group: String?
                var uses: Int
                var expiresIn: Int
                var ownership: Ownership
            }
            let created = try await client.call(
                .POST, "/enroll-tokens",
                body: Input(person: person, group: group, uses: uses, expiresIn: HumanDuration.seconds(expires)!, ownership: ownership),
                as: CreatedEnrollmentToken.self)
            if connection.json { return try printJSON(created) }
            let t = created.enrollmentToken
            print("Enrollment token (shown only now): \(created.token)")
            print("Valid for \(t.maxUses) \(t.ownership.rawValue) device\(t.maxUses == 1 ? "" : "s") until \(show(t.expiresAt)).")
            print("On the device, run:\n\n  \(created.agentCommand)\n")
        }
    }

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List enrollment tokens and their state.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let tokens = try await client.call(.GET, "/enroll-tokens", as: [ListedEnrollmentToken].self)
            if connection.json { return try printJSON(tokens) }
            printTable(
                ["ID", "STATE", "USES", "EXPIRES", "PERSON", "GROUP", "OWNERSHIP", "CREATED BY"],
                tokens.map {
                    [
                        $0.token.id, $0.state.rawValue, "\($0.token.uses)/\($0.token.maxUses)", show($0.token.expiresAt), $0.token.personId ?? "-",
                        $0.token.group ?? "-", $0.token.ownership.rawValue, $0.token.createdBy ?? "-",
                    ]
                })
        }
    }

    struct Revoke: APICommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an enrollment token.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Token ID (the part after ket_, before the second _).") var id: String

        func run(client: AdminClient) async throws {
            let token = try await client.call(.DELETE, "/enroll-tokens/" + AdminClient.segment(id), as: EnrollmentToken.self)
            if connection.json { return try printJSON(token) }
            print("revoked enrollment token \(token.id)")
        }
    }
}

// MARK: API tokens

struct AdminTokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-tokens", abstract: "API tokens (admin role).", subcommands: [List.self, Create.self, Revoke.self])

    struct List: APICommand {
        static let configuration = CommandConfiguration(abstract: "List API tokens.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let tokens = try await client.call(.GET, "/api-tokens", as: [APIToken].self)
            if connection.json { return try printJSON(tokens) }
            printTable(
                ["ID", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED"],
                tokens.map { [$0.id, $0.name, $0.role.rawValue, show($0.createdAt), show($0.lastUsedAt), show($0.revokedAt)] })
        }
    }

    struct Create: APICommand {
        static let configuration = CommandConfiguration(abstract: "Create an API token; prints the token once.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Who or what uses it.") var name: String
        @Option(help: "directory (uses only SCIM), feed (reads only the on-call calendar), auditor, operator or admin.") var role: String

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("--role must be directory, feed, auditor, operator or admin, not \"\(role)\"") }
        }

        func run(client: AdminClient) async throws {
            struct Input: Encodable {
                var name: String
                var role: String
            }
            switch try await client.gatedPost("/api-tokens", body: Input(name: name, role: role), as: CreatedAPIToken.self) {
            case .pending(let approval): try printPending(approval, json: connection.json)
            case .done(let created): if connection.json { try printJSON(created) } else { print(created.token) }
            }
        }
    }

    struct Revoke: APICommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API token.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Token ID.") var id: String

        func run(client: AdminClient) async throws {
            let token = try await client.call(.DELETE, "/api-tokens/" + AdminClient.segment(id), as: APIToken.self)
            if connection.json { return try printJSON(token) }
            print("revoked API token \(token.id) (\(token.name))")
        }
    }
}

// MARK: settings

struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings", abstract: "Server settings.", subcommands: [Show.self, Set.self, Retention.self, ApprovalSettingsCommand.self])

    struct Values: Codable {
        var checkinInterval: Int?
        var offboardingNoticeDays: Int?
        var retention: RetentionValues?
        var approvals: ApprovalValues?

        func print() {
            KontorCLI.print("checkinInterval        \(checkinInterval.map(String.init) ?? "-") s")
            KontorCLI.print("offboardingNoticeDays  \(offboardingNoticeDays.map(String.init) ?? "-") days (a directory's deactivation → wipe)")
            retention?.print()
            approvals?.print()
        }
    }

    struct Show: APICommand {
        static let configuration = CommandConfiguration(abstract: "Show the settings.")
        @OptionGroup var connection: ConnectionOptions

        func run(client: AdminClient) async throws {
            let values = try await client.call(.GET, "/settings", as: Values.self)
            if connection.json { return try printJSON(values) }
            values.print()
        }
    }

    struct Set: APICommand {
        static let configuration = CommandConfiguration(abstract: "Change settings (admin).")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("checkin-interval"), help: "Seconds between device check-ins.") var checkinInterval: Int?
        @Option(
            name: .customLong("offboarding-notice-days"),
            help: "Days from a directory's deactivation of a user (SCIM) to the wipe of their devices (1-365).")
        var offboardingNoticeDays: Int?

        func run(client: AdminClient) async throws {
            let body = Values(checkinInterval: checkinInterval, offboardingNoticeDays: offboardingNoticeDays)
            let values = try await client.call(.PATCH, "/settings", body: body, as: Values.self)
            if connection.json { return try printJSON(values) }
            values.print()
        }
    }
}
