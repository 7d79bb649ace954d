import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// The context of admin routes: creating it fails unless the caller is authenticated, so a handler
/// always has a principal.
public struct AdminRequestContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// What handlers return is encoded with the shared JSON coder (sorted keys, ISO 8601 UTC).
    public var responseEncoder: JSONEncoder { KontorJSON.makeEncoder() }
    public let principal: Principal

    public init(context: KontorRequestContext) throws {
        guard let principal = context.principal else {
            throw APIError(.unauthorized, .unauthorized, "an API token is required (Authorization: Bearer kat_...)", headers: [.wwwAuthenticate: "Bearer"])
        }
        self.coreContext = context.coreContext
        self.principal = principal
    }

    /// Throws 403 unless the caller's role includes `role`.
    public func require(_ role: Role) throws {
        guard principal.role.allows(role) else {
            throw APIError(.forbidden, .forbidden, "this needs the \(role.rawValue) role; \(principal.described) has \(principal.role.rawValue)")
        }
    }
}
