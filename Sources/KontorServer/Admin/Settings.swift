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
    static let offboardingNoticeDaysKey = "offboardingNoticeDays"
    /// The notice period of an offboarding a directory starts (SCIM `active: false` or DELETE), in days.
    static let defaultNoticeDays = 14
    /// Default seconds between device check-ins.
    public var checkinInterval: Int?
    /// Days between a directory's deactivation of a user and the wipe of their devices (1 to 365).
    public var offboardingNoticeDays: Int?
    /// How long Kontor keeps what it collects (``RetentionSettings``).
    public var retention: RetentionSettings?
    /// Which actions wait for a second person (``ApprovalSettings``).
    public var approvals: ApprovalSettings?

    public init(
        checkinInterval: Int? = nil, offboardingNoticeDays: Int? = nil, retention: RetentionSettings? = nil, approvals: ApprovalSettings? = nil
    ) {
        self.checkinInterval = checkinInterval
        self.offboardingNoticeDays = offboardingNoticeDays
        self.retention = retention
        self.approvals = approvals
    }
}
