import Crypto
import Foundation
import KontorCore
import KontorStore
import Logging

/// A device in a fleet listing: its summary and, when active, the hash of the policy it should enforce
/// and the posture requirements of that policy it fails.
public struct FleetDevice: Sendable, Equatable {
    public var summary: DeviceSummary
    public var effectivePolicyHash: String?
    public var postureFailures: [String]

    public init(summary: DeviceSummary, effectivePolicyHash: String?, postureFailures: [String] = []) {
        self.summary = summary
        self.effectivePolicyHash = effectivePolicyHash
        self.postureFailures = postureFailures
    }

    /// A full record as a listing entry.
    public init(_ device: Device) {
        self.init(summary: DeviceSummary(device), effectivePolicyHash: device.effectivePolicyHash, postureFailures: device.postureFailures ?? [])
    }
}
