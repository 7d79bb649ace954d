import KontorClient
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The usage terms this device must accept, as the socket and `kontor-agent terms show` give them.
public struct LocalTerms: Codable, Sendable, Equatable {
    public var version: String
    public var text: String
    public var sha256: String
    public var undertaking: String?
    public var deadline: Date?
    public var accepted: Bool
}

extension Agent {
    /// The terms the device's policy names, nil when none.
    public func pendingTerms() throws -> LocalTerms? {
        guard let requirement = try store.policy()?.policy.terms else { return nil }
        let text = try fetchedTerms(requirement)
        return LocalTerms(
            version: requirement.version, text: text.text, sha256: requirement.sha256, undertaking: text.undertaking, deadline: requirement.deadline,
            accepted: requirement.decision == .accepted)
    }

    /// Records the person's answer (signed with the device key, sent at the next check-in).
    public func respondToTerms(version: String, accept: Bool, by login: String) throws -> String {
        guard let requirement = try store.policy()?.policy.terms else { throw AgentError("this device is not asked to accept any usage terms") }
        guard requirement.version == version else {
            throw AgentError("this device is asked to answer usage terms \(requirement.version), not \(version); read them with: kontor-agent terms show")
        }
        let text = try fetchedTerms(requirement)
        guard let identity = try store.identity(), let key = try store.deviceKey() else { throw AgentError("not enrolled") }
        let now = clock.now()
        let decision: TermsDecision = accept ? .accepted : .declined
        let statement = TermsStatement(
            id: IdentifierGenerator.uuidV7(now: now), version: version, textSha256: text.sha256, undertakingSha256: text.undertakingSha256,
            deviceId: identity.deviceId, personId: requirement.personId, login: login, decision: decision, at: now)
        let signed = try SignedTermsResponse.sign(statement, key: key)
        try serial.run {
            var state = try store.state()
            state.pendingTermsResponses.append(signed)
            state.enforcement.add(DeviceEvent(at: now, kind: "terms.\(decision.rawValue)", detail: "\(version) by \(login)"))
            try store.save(state)
        }
        logger.notice("usage terms answered", metadata: ["terms.version": "\(version)", "terms.decision": "\(decision.rawValue)", "login": "\(login)"])
        return accept
            ? "You accepted usage terms \(version). It is signed with this device's key and sent to your organisation at the next check-in; the work account opens then."
            : "You declined usage terms \(version). This is sent to your organisation; the work account stays locked after the deadline. Your personal account is not affected."
    }

    /// The fetched text of `requirement`, when it is the version and text the policy names.
    func fetchedTerms(_ requirement: TermsRequirement) throws -> UsageTerms {
        guard let data = try AtomicFile.read(paths.termsFile), let terms = try? KontorJSON.decode(UsageTerms.self, from: data),
            terms.version == requirement.version, terms.sha256 == requirement.sha256
        else {
            throw AgentError("the text of usage terms \(requirement.version) has not reached this device yet; it comes with the next check-in")
        }
        return terms
    }

    /// Sends the answers not yet sent, and fetches the text of the terms the policy names when it is not
    /// here yet. Network trouble leaves both for the next cycle; an answer the server refuses is reported
    /// and dropped (sending it again would be refused again).
    func syncTerms(client: DeviceClient, device: DeviceIdentity) async {
        do {
            let pending = try store.state().pendingTermsResponses
            for response in pending {
                do {
                    let confirmation = try await client.sendTermsResponse(response, identity: device)
                    logger.notice("usage terms answer delivered", metadata: ["terms.response": "\(confirmation.id)"])
                } catch ClientError.api(let status, let code, let message) where (400..<500).contains(status) {
                    logger.warning("the server refused a usage terms answer", metadata: ["code": "\(code)", "reason": "\(message)"])
                    try serial.run {
                        var state = try store.state()
                        state.report("usage terms answer refused: \(code): \(message)")
                        try store.save(state)
                    }
                }
                try serial.run {
                    var state = try store.state()
                    state.pendingTermsResponses.removeAll { $0 == response }
                    try store.save(state)
                }
            }
            guard let requirement = try store.policy()?.policy.terms, (try? fetchedTerms(requirement)) == nil else { return }
            let terms = try await client.termsText(version: requirement.version, sha256: requirement.sha256, identity: device)
            try AtomicFile.write(try KontorJSON.encode(terms), to: paths.termsFile, mode: 0o644)
            logger.notice(
                "usage terms to answer", metadata: ["terms.version": "\(terms.version)", "deadline": "\(ISO8601.string(from: requirement.deadline))"])
        } catch {
            logger.info("usage terms not synchronised; trying again at the next check-in", metadata: ["reason": "\(error)"])
        }
    }
}
