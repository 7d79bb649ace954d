import Logging
import Metrics
import NIOCore
import Synchronization

/// The server's open HTTP connections, held under a limit kept below the open-file limit, so that a
/// flood of connections (idle, half-sent, trickled) can never take the descriptors the database, the
/// logs and `/healthz` need. At the limit a new connection takes the place of the one that has waited
/// longest for a request (an idle or slow client; a request in progress, such as a held check-in, is
/// never cut); when every connection has a request in progress, the new one is closed at once.
public final class OpenConnections: Sendable {
    private struct Entry {
        let channel: any Channel
        /// Since when it waits for a request head; nil while a request is in progress.
        var waitingSince: NIODeadline?
    }

    public let limit: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    private let logger: Logger
    /// Uptime (ns) of the last "limit reached" warning: at most one a minute.
    private let lastWarning = Atomic<Int64>(-1)
    /// `kontor_connections_open`: HTTP connections open now.
    private let openGauge = Gauge(label: "kontor_connections_open")
    /// `kontor_connections_closed_total{reason}`: connections the server closed, by reason.
    private let closedCounters: [ConnectionCloseReason: Counter] = Dictionary(
        uniqueKeysWithValues: ConnectionCloseReason.allCases.map { ($0, Counter(label: "kontor_connections_closed_total", dimensions: [("reason", $0.rawValue)])) })

    public init(limit: Int, logger: Logger) {
        precondition(limit > 0)
        self.limit = limit
        self.logger = logger
    }

    /// Registers a new connection; false when it must be closed (the limit is reached and no open
    /// connection waits for a request). At the limit the connection that has waited longest is closed.
    func open(_ channel: any Channel, now: NIODeadline) -> Bool {
        let (admitted, evicted, count) = entries.withLock { entries -> (Bool, (any Channel)?, Int) in
            var evicted: (any Channel)?
            if entries.count >= limit {
                // Linear, but only at the limit, and over at most `limit` entries.
                var oldest: (id: ObjectIdentifier, since: NIODeadline)?
                for (id, entry) in entries {
                    if let since = entry.waitingSince, oldest.map({ since < $0.since }) ?? true { oldest = (id, since) }
                }
                guard let oldest else { return (false, nil, entries.count) }
                evicted = entries.removeValue(forKey: oldest.id)?.channel
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, waitingSince: now)
            return (true, evicted, entries.count)
        }
        openGauge.record(count)
        if let evicted {
            closedByServer(.evicted)
            evicted.close(promise: nil)
        }
        if evicted != nil || !admitted { warnLimitReached(now: now) }
        return admitted
    }

    /// The connection has a request in progress: it is not closed to make room.
    func busy(_ channel: any Channel) {
        entries.withLock { $0[ObjectIdentifier(channel)]?.waitingSince = nil }
    }

    /// The connection waits for its next request since `now`.
    func waiting(_ channel: any Channel, since now: NIODeadline) {
        entries.withLock { $0[ObjectIdentifier(channel)]?.waitingSince = now }
    }

    func closed(_ channel: any Channel) {
        let count = entries.withLock { entries in
            entries.removeValue(forKey: ObjectIdentifier(channel))
            return entries.count
        }
        openGauge.record(count)
    }

    /// Counts a connection the server closed.
    func closedByServer(_ reason: ConnectionCloseReason) { closedCounters[reason]?.increment() }

    /// Connections open now.
    public var count: Int { entries.withLock { $0.count } }

    private func warnLimitReached(now: NIODeadline) {
        let last = lastWarning.load(ordering: .relaxed)
        let nanos = Int64(now.uptimeNanoseconds)
        guard last < 0 || nanos - last >= 60_000_000_000,
            lastWarning.compareExchange(expected: last, desired: nanos, ordering: .relaxed).exchanged
        else { return }
        logger.warning(
            "connection limit reached: closing the longest-waiting connections, or new ones when every connection is busy (maxConnections; see kontor_connections_closed_total)",
            metadata: ["limit": "\(limit)"])
    }
}
