import Foundation
import Hummingbird
import KontorCore
import KontorStore
import NIOCore

/// Who is calling the admin API or using the console: a person signed in through OpenID Connect, or an API token.
public struct Principal: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case person
        case token
    }

    public var kind: Kind
    /// A person's OpenID subject (`sub`), or a token's id.
    public var subject: String
    /// A person's name from the provider, or the token's name.
    public var name: String
    public var role: Role
    /// The secret presented: the API token's id, or the person session's id.
    public var credentialId: String
    /// For tokens: why the token exists.
    public var purpose: TokenPurpose?
    /// For tokens: the person answerable for it, and their name.
    public var owner: String?
    public var ownerName: String?
    /// For people: when their session ends.
    public var sessionExpiresAt: Date?

    /// A person signed in through the provider.
    public static func person(_ session: StoredPersonSession) -> Principal {
        Principal(
            kind: .person, subject: session.subject, name: session.displayName, role: session.role, credentialId: session.id,
            sessionExpiresAt: session.expiresAt)
    }

    /// An API token.
    public static func token(_ token: APIToken) -> Principal {
        Principal(
            kind: .token, subject: token.id, name: token.name, role: token.role, credentialId: token.id, purpose: token.purpose, owner: token.owner,
            ownerName: token.ownerName)
    }

    /// The person who answers for what this principal does (`person:<subject>`): the person themself, or a token's
    /// owner. Nil for a token nobody answers for: it can ask for things, never be the second pair of eyes.
    public var accountable: String? {
        switch kind {
        case .person: "person:\(subject)"
        case .token: owner.map { "person:\($0)" }
        }
    }

    /// The accountable person's display name, for the log and the console.
    public var accountableName: String? {
        switch kind {
        case .person: name
        case .token: owner.map { ownerName ?? $0 }
        }
    }

    /// How the audit log names this principal: `person:Ada Lovelace <ada>` (name and subject from the provider), or
    /// `token:ci-bot (automation, owner ada)` / `token:bootstrap (break-glass)`.
    public var auditActor: String {
        switch kind {
        case .person:
            return Self.personActor(name: name, subject: subject)
        case .token:
            var marks = [(purpose ?? .automation).rawValue]
            if let owner { marks.append("owner \(owner)") }
            return "token:\(name) (\(marks.joined(separator: ", ")))"
        }
    }

    /// The audit log's name for a person: their name and subject from the provider.
    static func personActor(name: String, subject: String) -> String { "person:\(name) <\(subject)>" }

    /// How error messages and the console name the caller.
    public var described: String { kind == .person ? name : "token \"\(name)\"" }
}
