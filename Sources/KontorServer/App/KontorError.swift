import KontorCore

/// Why a service said no, in the domain's own terms: what kind of refusal, a stable code for programs
/// (the wire codes of ``ErrorCode``) and a message for people that names what was wrong. Services never
/// name an HTTP status; ``ErrorMiddleware`` turns the kind into one, in one place.
public struct KontorError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The request itself is wrong (a field, a value): fixing it helps.
        case invalid
        /// Well formed, but against a rule of what it would do (a profile that reaches beyond the work
        /// container of a personal device).
        case unprocessable
        /// What it names does not exist.
        case notFound
        /// It collides with the current state (taken, already done, in the wrong state).
        case conflict
        /// Allowed to someone else, or not any more (a role, a used-up token).
        case forbidden
        /// The caller could not be told apart from anyone (an unknown token).
        case unauthenticated
    }

    public var kind: Kind
    public var code: ErrorCode
    public var message: String

    public init(_ kind: Kind, _ code: ErrorCode, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    static func invalid(_ message: String) -> KontorError { KontorError(.invalid, .invalidRequest, message) }
    static func unprocessable(_ message: String) -> KontorError { KontorError(.unprocessable, .invalidRequest, message) }
    static func notFound(_ message: String) -> KontorError { KontorError(.notFound, .notFound, message) }
    static func conflict(_ message: String) -> KontorError { KontorError(.conflict, .conflict, message) }
    static func forbidden(_ message: String) -> KontorError { KontorError(.forbidden, .forbidden, message) }
}
