import KontorCore
import Metrics
import Synchronization

/// How many events each device has had stored, and put in the audit log, in the current hour; what is
/// over the hourly limits is counted instead of written, and the count goes into one audit entry when
/// the hour is over (``DeviceEventBudget/Overflow``). One lock and one dictionary entry per device that
/// reported events this hour; a check-in without events never comes here.
///
/// Each instance counts for itself: with several instances a device may get up to that many times the
/// limits.
public final class DeviceEventBudget: Sendable {
    /// Events a device may have stored, and audit-worthy ones it may put in the audit log, per hour.
    public struct Limits: Sendable, Equatable {
        public var eventsPerHour: Int
        public var auditedPerHour: Int

        public init(eventsPerHour: Int, auditedPerHour: Int) {
            self.eventsPerHour = eventsPerHour
            self.auditedPerHour = auditedPerHour
        }
    }

    /// What one check-in's events may do.
    struct Admitted: Equatable {
        /// Stored as the device's events.
        var stored: [DeviceEvent]
        /// Each also gets its own audit entry.
        var audited: [DeviceEvent]
    }

    /// What a device sent over the limits in one hour.
    public struct Overflow: Sendable, Equatable {
        public var deviceId: String
        /// The hour, as seconds since 1970: [start, start + 3600).
        public var start: Int
        public var eventsNotStored: Int
        public var notAudited: Int
    }

    private struct Window {
        var start: Int
        var stored = 0
        var audited = 0
        var eventsNotStored = 0
        var notAudited = 0

        func overflow(_ deviceId: String) -> Overflow? {
            eventsNotStored == 0 && notAudited == 0
                ? nil : Overflow(deviceId: deviceId, start: start, eventsNotStored: eventsNotStored, notAudited: notAudited)
        }
    }

    /// The event kinds that get an audit entry of their own: an employee working in quiet hours.
    static let auditedKinds: Set<String> = ["quiet.override"]

    public let limits: Limits
    private let windows = Mutex<[String: Window]>([:])
    private let notStoredCounter = Counter(label: "kontor_device_events_limited_total", dimensions: [("what", "stored")])
    private let notAuditedCounter = Counter(label: "kontor_device_events_limited_total", dimensions: [("what", "audited")])

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Takes what the hour's limits allow of `events` (oldest first); returns it, and the overflow of the
    /// device's previous hour when this check-in is the first of a new one.
    func admit(deviceId: String, events: [DeviceEvent], now: Int) -> (Admitted, Overflow?) {
        let start = now - now % 3600
        let limits = self.limits
        let (admitted, previous, notStored, notAudited) = windows.withLock { windows in
            var previous: Overflow?
            var window = windows[deviceId] ?? Window(start: start)
            if window.start != start {
                previous = window.overflow(deviceId)
                window = Window(start: start)
            }
            var admitted = Admitted(stored: [], audited: [])
            let (notStoredBefore, notAuditedBefore) = (window.eventsNotStored, window.notAudited)
            for event in events {
                guard window.stored < limits.eventsPerHour else {
                    window.eventsNotStored += 1
                    if Self.auditedKinds.contains(event.kind) { window.notAudited += 1 }
                    continue
                }
                window.stored += 1
                admitted.stored.append(event)
                guard Self.auditedKinds.contains(event.kind) else { continue }
                if window.audited < limits.auditedPerHour {
                    window.audited += 1
                    admitted.audited.append(event)
                } else {
                    window.notAudited += 1
                }
            }
            windows[deviceId] = window
            return (admitted, previous, window.eventsNotStored - notStoredBefore, window.notAudited - notAuditedBefore)
        }
        if notStored > 0 { notStoredCounter.increment(by: notStored) }
        if notAudited > 0 { notAuditedCounter.increment(by: notAudited) }
        return (admitted, previous)
    }

    /// Forgets the hours that are over and returns those with something over the limits.
    func closeEndedHours(now: Int) -> [Overflow] {
        let start = now - now % 3600
        return windows.withLock { windows in
            var out: [Overflow] = []
            for (deviceId, window) in windows where window.start != start {
                if let overflow = window.overflow(deviceId) { out.append(overflow) }
                windows[deviceId] = nil
            }
            return out
        }
    }

    /// Everything over the limits so far, the current hour included (the server is stopping).
    func drain() -> [Overflow] {
        windows.withLock { windows in
            defer { windows.removeAll() }
            return windows.compactMap { $0.value.overflow($0.key) }
        }
    }

    /// Devices with a window held.
    var count: Int { windows.withLock { $0.count } }
}
