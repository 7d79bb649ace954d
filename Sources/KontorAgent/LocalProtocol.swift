import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// One request on the agent's local socket: a single JSON line such as `{"op":"status"}`.
public struct LocalRequest: Codable, Sendable, Equatable {
    /// What the caller asks for.
    public enum Operation: String, Codable, Sendable, CaseIterable {
        case status
        case quietHoursOverride = "quiet-hours-override"
        case termsShow = "terms-show"
        case termsRespond = "terms-respond"
    }

    public var op: Operation
    /// `quiet-hours-override`: why (reported to the organisation).
    public var reason: String?
    /// `terms-respond`: the version answered.
    public var version: String?
    /// `terms-respond`: true to accept, false to decline.
    public var accept: Bool?

    public init(op: Operation, reason: String? = nil, version: String? = nil, accept: Bool? = nil) {
        self.op = op
        self.reason = reason
        self.version = version
        self.accept = accept
    }

    /// Parses one request line; a line that is not one gets a reason that says what was expected.
    public static func parse(_ line: Data) -> Result<LocalRequest, AgentError> {
        struct Raw: Decodable {
            var op: String?
            var reason: String?
            var version: String?
            var accept: Bool?
        }
        let known = Operation.allCases.map(\.rawValue).joined(separator: ", ")
        guard let raw = try? KontorJSON.decode(Raw.self, from: line) else {
            return .failure(AgentError("not a request: send one JSON object on one line, such as {\"op\":\"status\"}"))
        }
        guard let name = raw.op, let op = Operation(rawValue: name) else {
            return .failure(AgentError("unknown operation \"\(String((raw.op ?? "").prefix(40)))\"; known: \(known)"))
        }
        return .success(LocalRequest(op: op, reason: raw.reason, version: raw.version, accept: raw.accept))
    }
}

/// The answer to one request: a single JSON line.
public struct LocalReply: Codable, Sendable {
    public var ok: Bool
    /// Why the request was refused or failed, for the person at the terminal.
    public var error: String?
    /// `status`: the whole report for root, the person's view for everyone else (`redactedForPerson`).
    public var status: AgentStatusReport?
    /// `quiet-hours-override`: the override now in force.
    public var quietOverride: QuietOverride?
    /// `terms-show`: the terms to accept (none when the policy names none).
    public var terms: LocalTerms?
    /// What was done, in one line.
    public var message: String?

    public init(
        ok: Bool = true, error: String? = nil, status: AgentStatusReport? = nil, quietOverride: QuietOverride? = nil, terms: LocalTerms? = nil,
        message: String? = nil
    ) {
        self.ok = ok
        self.error = error
        self.status = status
        self.quietOverride = quietOverride
        self.terms = terms
        self.message = message
    }

    /// A refusal or failure.
    public static func failure(_ reason: String) -> LocalReply { LocalReply(ok: false, error: reason) }
}

/// Who is on the other end of a local connection, as the kernel says (SO_PEERCRED).
public struct PeerCredentials: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32

    public init(uid: UInt32, gid: UInt32, pid: Int32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}

/// What a caller of the local socket is to this device.
public enum LocalRole: Sendable, Equatable {
    /// UID 0: everything, and the whole status.
    case root
    /// The local login named at enrollment (`kontor-agent enroll --user LOGIN`).
    case person(login: String)
    /// The work account the agent created.
    case workAccount(name: String)

    /// The login the caller is known by, for events and logs.
    public var login: String {
        switch self {
        case .root: "root"
        case .person(let login): login
        case .workAccount(let name): name
        }
    }
}

/// Who may use the local socket: root, the enrolled person and the work account; nobody else.
public enum LocalAccess {
    /// Decides what `uid` is, from the login named at enrollment, the account database (the person's
    /// login is resolved to its UID here, at every request, so a changed database counts at once) and the
    /// verified work account. Everyone else is refused with a message naming their UID and who may ask.
    public static func decide(uid: UInt32, personLogin: String?, accounts: [Account], workAccount: WorkAccount?) -> Result<LocalRole, AgentError> {
        if uid == 0 { return .success(.root) }
        // The first line of a login wins, as getpwnam(3) reads the database.
        let person = personLogin.flatMap { login in accounts.first { $0.name == login } }
        if let person, person.uid == uid { return .success(.person(login: person.name)) }
        if let workAccount, workAccount.uid == uid { return .success(.workAccount(name: workAccount.name)) }
        let named: String
        switch (personLogin, person) {
        case (nil, _): named = "the person named at enrollment (none was: kontor-agent enroll --user LOGIN)"
        case (let login?, nil): named = "the person named at enrollment (\(login), who has no account on this device)"
        case (let login?, let account?): named = "the person named at enrollment (\(login), UID \(account.uid))"
        }
        let work = workAccount.map { "the work account (\($0.name), UID \($0.uid))" } ?? "the work account (none created yet)"
        return .failure(AgentError("UID \(uid) may not ask the kontor-agent service: only root, \(named) and \(work) may; use sudo, or ask them"))
    }
}
