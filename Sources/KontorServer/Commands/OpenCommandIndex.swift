import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Which devices have commands waiting, kept in memory so the unchanged check-in of a device without
/// commands never touches the command table. Loaded from the store on first use; a command queued here
/// is added at once, one queued on another instance when its announcement arrives (docs/scaling.md).
actor OpenCommandIndex {
    private var devices: Set<String>?
    /// Bumped whenever a command is queued for the device, so a delivery that found nothing does not
    /// forget a command queued while it looked.
    private var generations: [String: Int] = [:]

    /// Whether the device may have open commands, and the generation seen.
    func contains(_ deviceId: String, load: () async throws -> Set<String>) async throws -> (Bool, Int) {
        if devices == nil { devices = try await load() }
        return (devices!.contains(deviceId), generations[deviceId, default: 0])
    }

    func insert(_ deviceId: String) {
        devices?.insert(deviceId)
        generations[deviceId, default: 0] += 1
    }

    /// Reads the store again at the next check-in (news may have been missed).
    func reset() {
        devices = nil
        generations.removeAll()
    }

    func forget(_ deviceId: String) {
        devices?.remove(deviceId)
        generations[deviceId] = nil
    }

    /// Forgets the device unless a command was queued for it since `generation`.
    func remove(_ deviceId: String, seen generation: Int) {
        guard generations[deviceId, default: 0] == generation else { return }
        forget(deviceId)
    }
}
