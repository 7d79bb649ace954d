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
    public func pendingTerms() throws -> LocalTerms? { throw AgentError("usage terms: not available in this build") }
    /// Records the person's answer (signed with the device key, sent at the next check-in).
    public func respondToTerms(version: String, accept: Bool, by login: String) throws -> String {
        throw AgentError("usage terms: not available in this build")
    }
}
