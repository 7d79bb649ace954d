import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

/// A device in a fleet listing: its summary and, when active, the hash of the policy it should enforce.
public struct FleetDevice: Sendable, Equatable {
    public var summary: DeviceSummary
    public var effectivePolicyHash: String?

    public init(summary: DeviceSummary, effectivePolicyHash: String?) {
        self.summary = summary
        self.effectivePolicyHash = effectivePolicyHash
    }

    /// A full record as a listing entry.
    public init(_ device: Device) {
        self.init(summary: DeviceSummary(device), effectivePolicyHash: device.effectivePolicyHash)
    }
}
