import Crypto
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import Metrics

#if canImport(Glibc)
#endif

/// Server-wide settings an admin may change at run time.
public struct Settings: Codable, Sendable, Equatable {
    static let checkinIntervalKey = "checkinInterval"
    /// Default seconds between device check-ins.
    public var checkinInterval: Int?
}
