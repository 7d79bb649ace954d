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

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        /// Connections in the order they began to wait. An item is stale once its connection is busy,
        /// closed or waiting again since; stale items are skipped when taken and dropped when the queue
        /// is compacted, so finding the longest-waiting connection costs O(1) amortised, however many
        /// connections are open (a flood at the limit must not cost a scan per new connection).
        var queue: [(id: ObjectIdentifier, since: NIODeadline)] = []
        var head = 0

        mutating func enqueue(_ id: ObjectIdentifier, since: NIODeadline) {
            queue.append((id, since))
            if queue.count - head > 2 * entries.count + 1024 {
                queue = queue[head...].filter { entries[$0.id]?.waitingSince == $0.since }
                head = 0
            } else if head >= 1024, head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
        }

        /// Removes and returns the connection that has waited longest, if any waits.
        mutating func takeLongestWaiting() -> (any Channel)? {
            while head < queue.count {
                let item = queue[head]
                head += 1
                if let entry = entries[item.id], entry.waitingSince == item.since {
                    entries[item.id] = nil
                    return entry.channel
                }
            }
            return nil
        }
    }

    public let limit: Int
    private let state = Mutex(State())
    private let logger: Logger
    /// Uptime (ns) of the last "limit reached" warning: at most one a minute.
    private let lastWarning = Atomic<Int64>(-1)
    /// `kontor_connections_open`: HTTP connections open now.
    private let openGauge = Gauge(label: "kontor_connections_open")
    /// `kontor_connections_closed_total{reason}`: connections the server closed, by reason.
    private let closedCounters: [ConnectionCloseReason: Counter] = Dictionary(
        uniqueKeysWithValues: ConnectionCloseReason.allCases.map {
            ($0, Counter(label: "kontor_connections_closed_total", dimensions: [("reason", $0.rawValue)]))
        })

    public init(limit: Int, logger: Logger) {
        precondition(limit > 0)
        self.limit = limit
        self.logger = logger
    }

    /// Registers a new connection; false when it must be closed (the limit is reached and no open
    /// connection waits for a request). At the limit the connection that has waited longest is closed.
    func open(_ channel: any Channel, now: NIODeadline) -> Bool {
        let id = ObjectIdentifier(channel)
        let (admitted, evicted, count) = state.withLock { state -> (Bool, (any Channel)?, Int) in
            var evicted: (any Channel)?
            if state.entries.count >= limit {
                evicted = state.takeLongestWaiting()
                guard evicted != nil else { return (false, nil, state.entries.count) }
            }
            state.entries[id] = Entry(channel: channel, waitingSince: now)
            state.enqueue(id, since: now)
            return (true, evicted, state.entries.count)
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
        state.withLock { $0.entries[ObjectIdentifier(channel)]?.waitingSince = nil }
    }

    /// The connection waits for its next request since `now`.
    func waiting(_ channel: any Channel, since now: NIODeadline) {
        let id = ObjectIdentifier(channel)
        state.withLock { state in
            guard state.entries[id] != nil else { return }
            state.entries[id]?.waitingSince = now
            state.enqueue(id, since: now)
        }
    }

    func closed(_ channel: any Channel) {
        let count = state.withLock { state in
            state.entries.removeValue(forKey: ObjectIdentifier(channel))
            return state.entries.count
        }
        openGauge.record(count)
    }

    /// Counts a connection the server closed.
    func closedByServer(_ reason: ConnectionCloseReason) { closedCounters[reason]?.increment() }

    /// Connections open now.
    public var count: Int { state.withLock { $0.entries.count } }

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
