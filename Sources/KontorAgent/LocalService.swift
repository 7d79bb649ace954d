import KontorCore
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Answers the requests of the local socket for the daemon (and in process for root when no daemon
/// runs): decides who the caller is, then does what that caller may. Everything a caller sends is
/// treated as hostile: a reason or a version with control or invisible characters is refused, since it is
/// logged and reported to the server.
public struct LocalService: Sendable {
    let agent: Agent

    public init(agent: Agent) { self.agent = agent }

    /// Who the caller is to this device, or why they may not ask (read afresh at every request).
    public func role(of peer: PeerCredentials) -> Result<LocalRole, AgentError> {
        let identity = try? agent.store.identity()
        let work: WorkAccount?
        if case .success(let account) = agent.enforcer.accounts.verified() { work = account } else { work = nil }
        return LocalAccess.decide(
            uid: peer.uid, personLogin: identity?.personLogin, accounts: agent.enforcer.accounts.allAccounts(), workAccount: work)
    }

    /// The answer to `request` from `peer`; never throws (a failure is an answer too).
    public func answer(_ request: LocalRequest, from peer: PeerCredentials) -> LocalReply {
        let role: LocalRole
        switch self.role(of: peer) {
        case .success(let known): role = known
        case .failure(let refusal):
            agent.logger.notice(
                "local request refused", metadata: ["op": "\(request.op.rawValue)", "uid": "\(peer.uid)", "pid": "\(peer.pid)"])
            return .failure(refusal.description)
        }
        let metadata: Logger.Metadata = ["op": "\(request.op.rawValue)", "uid": "\(peer.uid)", "login": "\(role.login)", "pid": "\(peer.pid)"]
        do {
            let reply = try perform(request, role: role, peer: peer)
            agent.logger.info("local request answered", metadata: metadata)
            return reply
        } catch let error as AgentError {
            agent.logger.notice("local request failed", metadata: metadata.merging(["reason": "\(error)"]) { $1 })
            return .failure(error.description)
        } catch {
            // Other errors (files, coders) may name the agent's files: root sees them, the person a pointer.
            agent.logger.warning("local request failed", metadata: metadata.merging(["reason": "\(error)"]) { $1 })
            if role == .root { return .failure("\(error)") }
            return .failure("the agent could not do this; an administrator sees why in: journalctl -u kontor-agent")
        }
    }

    private func perform(_ request: LocalRequest, role: LocalRole, peer: PeerCredentials) throws -> LocalReply {
        switch request.op {
        case .status:
            let report = try AgentStatusReport.read(agent.store)
            return LocalReply(status: role == .root ? report : report.redactedForPerson())
        case .quietHoursOverride:
            let reason = try Self.visible(request.reason, "reason", missing: "say why with --reason")
            let override = try agent.overrideQuietHours(reason: reason, by: "\(role.login) (UID \(peer.uid))")
            return LocalReply(
                quietOverride: override,
                message: "Quiet hours ended until \(ISO8601.string(from: override.until)). This is reported to your organisation.")
        case .termsShow:
            guard let terms = try agent.pendingTerms() else { return LocalReply(message: "There are no usage terms to accept on this device.") }
            return LocalReply(terms: terms)
        case .termsRespond:
            let version = try Self.visible(request.version, "version", missing: "name the version you answer")
            guard version.count <= 100 else { throw AgentError("version: at most 100 characters") }
            guard let accept = request.accept else { throw AgentError("accept: say true to accept or false to decline") }
            return LocalReply(message: try agent.respondToTerms(version: version, accept: accept, by: role.login))
        }
    }

    /// A text field a local user sent: present, and without control or invisible characters.
    static func visible(_ value: String?, _ field: String, missing: String) throws -> String {
        guard let value else { throw AgentError("\(field): missing; \(missing)") }
        if let hidden = VisibleText.firstHidden(in: value) {
            throw AgentError("\(field): contains the invisible or control character \(VisibleText.codePoint(hidden)); write it in plain text")
        }
        return value
    }
}
