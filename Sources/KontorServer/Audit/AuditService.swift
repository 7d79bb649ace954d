import Foundation
import KontorCore
import KontorStore

/// Records admin actions and device reports in the hash-chained audit log.
public struct AuditService: Sendable {
    let store: any AuditStore
    let clock: WallClock

    /// The actor string of an API token.
    static func actor(_ principal: Principal) -> String { "token:\(principal.name)" }

    @discardableResult
    public func record(_ actor: String, _ action: String, target: String?, detail: [String: String]? = nil) async throws -> AuditEntry {
        try await store.appendAudit(at: clock.now(), actor: actor, action: action, target: target, detail: detail)
    }

    public func verify() async throws -> AuditVerification {
        AuditChain.verify(try await store.auditEntries(since: nil, target: nil))
    }
}
