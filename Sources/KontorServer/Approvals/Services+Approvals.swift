import Foundation
import KontorCore
import KontorStore

/// An action that happened, or a request that waits for a second person (with, for a token, its secret: shown to
/// the requester now, working only once approved).
enum Gated<Done: Sendable>: Sendable {
    case done(Done)
    case pending(Approval, secret: String? = nil)

    /// The same with what was done transformed.
    func map<T: Sendable>(_ transform: (Done) async throws -> T) async rethrows -> Gated<T> {
        switch self {
        case .done(let value): .done(try await transform(value))
        case .pending(let approval, let secret): .pending(approval, secret: secret)
        }
    }
}

/// The requests an approval replays, as kept in its payload.
enum ApprovalPayload {
    struct Wipe: Codable {
        var deviceId: String
        var reason: String?
        var expiresIn: Int?
        /// The requester's name on the command.
        var issuedBy: String
    }

    struct Offboard: Codable {
        var personId: String
        var request: OffboardingService.Request
        /// The requester's role: what the offboarding may do (an operator's restricted profile) is theirs.
        var role: Role
        var requestedBy: String
    }

    struct TokenCreate: Codable {
        var apiToken: APIToken
        /// The hash of the secret the requester was shown; the secret itself is kept nowhere.
        var secretHash: String
    }
}

/// The actions the approval settings may hold back, for the API and the console alike.
extension Services {
    /// Issues a command; a wipe waits for a second person when `approvals.wipe` is 2 (checked first, so a request
    /// that could never run is refused now).
    func requestCommand(deviceId: String, type: CommandType, reason: String?, expiresIn: Int?, by principal: Principal) async throws -> Gated<
        CommandRecord
    > {
        guard type == .wipe, try await approvals.required(.wipe) else {
            return .done(try await issueCommand(deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn, by: principal))
        }
        let trimmed = try await commands.check(deviceId: deviceId, type: type, reason: reason, expiresIn: expiresIn)
        let payload = ApprovalPayload.Wipe(deviceId: deviceId, reason: trimmed, expiresIn: expiresIn, issuedBy: principal.name)
        return .pending(try await approvals.request(.wipe, target: deviceId, payload: payload, by: principal))
    }

    /// Starts an offboarding, or asks for approval when `approvals.offboard` is 2; a date given stays the date.
    func requestOffboarding(_ person: Person, _ input: OffboardingService.Request, by principal: Principal) async throws -> Gated<Offboarding> {
        guard try await approvals.required(.offboard) else { return .done(try await startOffboarding(person, input, by: principal)) }
        _ = try await offboarding.check(person, input, role: principal.role)
        let payload = ApprovalPayload.Offboard(personId: person.id, request: input, role: principal.role, requestedBy: principal.name)
        return .pending(try await approvals.request(.offboard, target: person.email, payload: payload, by: principal))
    }

    /// Creates an API token, or when `approvals.tokenCreate` is 2 mints its secret now and keeps only the hash in
    /// the request: the secret is shown to the requester, never to the approver, and works once approved.
    func requestAPIToken(name: String, role: Role, purpose: TokenPurpose, by principal: Principal) async throws -> Gated<(APIToken, String)> {
        guard try await approvals.required(.tokenCreate) else {
            return .done(try await createAPIToken(name: name, role: role, purpose: purpose, by: principal))
        }
        let owner = principal.accountable.map { String($0.dropFirst("person:".count)) }
        let (token, secret) = try tokens.prepare(name: name, role: role, purpose: purpose, owner: owner, ownerName: principal.accountableName)
        let payload = ApprovalPayload.TokenCreate(apiToken: token, secretHash: secret.secretHash)
        return .pending(try await approvals.request(.tokenCreate, target: token.name, payload: payload, by: principal), secret: secret.token)
    }

    /// Approves a request and runs it as its requester asked: the action's audit entry names the requester as
    /// actor and this principal as `approvedBy`. The approval records what the action made, or why it failed.
    func approve(_ id: String, by principal: Principal) async throws -> Approval {
        let pending = try await approvals.approval(id)
        try approvals.check(pending, principal: principal, verb: "approve")
        // What can no longer happen (the device went away meanwhile) is refused before anyone approves it.
        try await precheck(pending)
        let approved = try await approvals.decide(id, .approved, reason: nil, by: principal)
        do {
            try await approvals.setResult(id, try await run(approved))
        } catch {
            try await approvals.setResult(id, "failed: \((error as? KontorError)?.message ?? "internal error")")
            throw error
        }
        return try await approvals.approval(id)
    }

    /// Rejects a request; nothing happens, and the reason is kept.
    func reject(_ id: String, reason: String?, by principal: Principal) async throws -> Approval {
        try await approvals.decide(id, .rejected, reason: reason, by: principal)
    }

    private func precheck(_ approval: Approval) async throws {
        switch approval.kind {
        case .wipe:
            let wipe = try decodePayload(ApprovalPayload.Wipe.self, approval)
            _ = try await commands.check(deviceId: wipe.deviceId, type: .wipe, reason: wipe.reason, expiresIn: wipe.expiresIn)
        case .offboard:
            let offboard = try decodePayload(ApprovalPayload.Offboard.self, approval)
            _ = try await offboarding.check(try await directory.person(offboard.personId), offboard.request, role: offboard.role)
        case .tokenCreate:
            _ = try decodePayload(ApprovalPayload.TokenCreate.self, approval)
        }
    }

    /// Runs an approved request; returns what it made.
    private func run(_ approval: Approval) async throws -> String {
        let approvedBy = approval.decidedBy
        switch approval.kind {
        case .wipe:
            let wipe = try decodePayload(ApprovalPayload.Wipe.self, approval)
            let command = try await issueCommand(
                deviceId: wipe.deviceId, type: .wipe, reason: wipe.reason, expiresIn: wipe.expiresIn, actor: approval.requestedBy, name: wipe.issuedBy,
                approvedBy: approvedBy)
            return command.id
        case .offboard:
            let offboard = try decodePayload(ApprovalPayload.Offboard.self, approval)
            let person = try await directory.person(offboard.personId)
            let started = try await offboarding.start(
                person, offboard.request, role: offboard.role, actor: approval.requestedBy, by: offboard.requestedBy, approvedBy: approvedBy)
            return "wipeAt \(ISO8601.string(from: started.wipeAt))"
        case .tokenCreate:
            let request = try decodePayload(ApprovalPayload.TokenCreate.self, approval)
            let token = try await tokens.insert(request.apiToken, secretHash: request.secretHash)
            try await auditTokenCreated(token, actor: approval.requestedBy, approvedBy: approvedBy)
            return token.id
        }
    }

    private func decodePayload<T: Decodable>(_ type: T.Type, _ approval: Approval) throws -> T {
        guard let value = try? KontorJSON.decode(type, from: Data(approval.payload.utf8)) else {
            throw KontorError.conflict("approval \(approval.id) holds a request this server cannot read")
        }
        return value
    }
}
