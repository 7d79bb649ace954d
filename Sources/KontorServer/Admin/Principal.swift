import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// Who is calling the admin API.
public struct Principal: Sendable, Equatable {
    public var tokenId: String
    public var name: String
    public var role: Role
}
