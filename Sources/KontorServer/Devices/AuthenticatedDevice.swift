import Crypto
import Foundation
import KontorCore
import KontorStore
import Synchronization

/// What the check-in path needs to know about an enrolled device, without its facts or history.
public struct AuthenticatedDevice: Sendable, Equatable {
    public var id: String
    public var keyId: String
    public var status: DeviceStatus
    public var personId: String?
    public var group: String?
    public var successorId: String?
    /// A personal device's posture facts are discarded and its policy keeps inside the work container.
    public var ownership: Ownership

    init(_ stored: Device) {
        (id, keyId, status, personId, group, successorId) = (stored.id, stored.keyId, stored.status, stored.personId, stored.group, stored.successorId)
        ownership = stored.ownership
    }
}
