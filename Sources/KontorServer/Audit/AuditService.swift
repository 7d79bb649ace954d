import Foundation
import KontorCore
import KontorStore

/// Records admin actions and device reports in the hash-chained audit log.
public struct AuditService: Sendable {
    let store: any AuditStore
    let clock: WallClock

    /// The actor string of an API token.
    static func actor(_ principal: Principal) -> String { principal.auditActor }

    @discardableResult
    public func record(_ actor: String, _ action: String, target: String?, detail: [String: String]? = nil) async throws -> AuditEntry {
        try await store.appendAudit(at: clock.now(), actor: actor, action: action, target: target, detail: detail)
    }

    /// The log, oldest first: everything since `since`, about `target`.
    func entries(since: Date? = nil, target: String? = nil) async throws -> [AuditEntry] {
        try await store.auditEntries(since: since, target: target)
    }

    /// One page of entries matching `filter` (the console's search), and how many match in all.
    func entries(matching filter: AuditFilter, limit: Int, offset: Int) async throws -> (entries: [AuditEntry], total: Int) {
        let found = try await store.auditEntries(matching: filter, limit: limit, offset: offset)
        return (found.entries, found.total)
    }

    public func verify() async throws -> AuditVerification {
        AuditChain.verify(try await store.auditEntries(since: nil, target: nil))
    }
}
