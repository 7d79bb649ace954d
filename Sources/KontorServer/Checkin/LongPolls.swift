import Foundation
import Metrics
import ServiceLifecycle
import Synchronization

/// The check-ins this instance holds open (long polls), by device: a command queued for the device — on
/// this instance, or on another one and announced over the cluster — ends its wait at once. A device
/// holds at most one: a new long poll of the same device ends the one held before (its agent has
/// gone, or something else holds its key), so one device cannot pile up held requests.
///
/// A held poll costs what it must and no more: one ``Ticket`` (its outcome and, while waiting, one
/// continuation) in three tables — by device, by connection and in the bucket of the second it is due.
/// One timer task for all of them walks the buckets once a tick, so no poll has a task or a sleeping
/// child of its own, and a poll whose connection closes (the agent was stopped, the laptop left the
/// network and reset it) ends at once through ``connectionClosed(_:)``, which the connection's channel
/// handler calls, instead of staying held until its time is up.
public final class LongPolls: Sendable {
    /// How a wait ended.
    enum Outcome: Equatable, Sendable {
        /// Something for the device (a command, new profiles) or the server is stopping: answer now.
        case woken
        /// Nothing happened within the time.
        case timedOut
        /// A newer long poll of the same device took its place.
        case superseded
        /// The client closed its connection: nobody will read an answer.
        case peerGone
    }

    /// One held request. The first outcome wins.
    final class Ticket: Sendable {
        let deviceId: String
        let connection: ObjectIdentifier?
        private enum State {
            case waiting(CheckedContinuation<Outcome, Never>?)
            case done(Outcome)
        }
        private let state = Mutex(State.waiting(nil))

        init(deviceId: String, connection: ObjectIdentifier?) {
            self.deviceId = deviceId
            self.connection = connection
        }

        func finish(_ outcome: Outcome) {
            let continuation: CheckedContinuation<Outcome, Never>? = state.withLock { s in
                guard case .waiting(let c) = s else { return nil }
                s = .done(outcome)
                return c
            }
            continuation?.resume(returning: outcome)
        }

        /// How it ended, or nil while it waits.
        var settled: Outcome? {
            state.withLock { s in
                if case .done(let outcome) = s { return outcome }
                return nil
            }
        }

        func outcome() async -> Outcome {
            await withCheckedContinuation { continuation in
                let done: Outcome? = state.withLock { s in
                    switch s {
                    case .done(let outcome): return outcome
                    case .waiting:
                        s = .waiting(continuation)
                        return nil
                    }
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }

    private struct Tables {
        var byDevice: [String: Ticket] = [:]
        var byConnection: [ObjectIdentifier: Ticket] = [:]
        /// Tickets by the tick they are due at (a timer wheel in seconds); a ticket answered earlier stays
        /// in its bucket, finished, until the bucket is emptied.
        var due: [Int: [Ticket]] = [:]
        /// Ticks counted by the timer task since the first one started.
        var tick = 0
        var timerRunning = false
    }

    private let tables = Mutex(Tables())
    /// `kontor_long_polls_held`: requests held open now.
    private let gauge = Gauge(label: "kontor_long_polls_held")
    /// `kontor_long_polls_abandoned_total`: held requests whose client closed the connection.
    private let abandoned = Counter(label: "kontor_long_polls_abandoned_total")
    /// Set when the server shuts down: held requests answer at once and none waits any more.
    private let closed = Atomic<Bool>(false)
    /// The timer's period.
    private let tickLength: Duration
    /// Waits one tick; tests pass one they control.
    private let sleep: @Sendable (Duration) async throws -> Void

    public init(tick: Duration = .seconds(1), sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.tickLength = tick
        self.sleep = sleep
    }

    /// Registers a wait of up to `timeout` for `deviceId` on `connection` before the caller looks for work
    /// one last time, so a command queued in between is not missed. A wait the device already had ends
    /// (superseded).
    func register(_ deviceId: String, connection: ObjectIdentifier?, timeout: Duration) -> Ticket {
        let ticket = Ticket(deviceId: deviceId, connection: connection)
        let ticks = Int((timeout / tickLength).rounded(.up))
        let (previous, total, startTimer) = tables.withLock { t in
            let previous = t.byDevice.updateValue(ticket, forKey: deviceId)
            if let connection { t.byConnection[connection] = ticket }
            t.due[t.tick + max(ticks, 1), default: []].append(ticket)
            let start = !t.timerRunning
            t.timerRunning = true
            return (previous, t.byDevice.count, start)
        }
        previous?.finish(.superseded)
        gauge.record(total)
        if startTimer { Task.detached { await self.runTimer() } }
        if closed.load(ordering: .acquiring) { ticket.finish(.woken) }
        return ticket
    }

    /// Ends the tickets that are due, one tick at a time, while any is held; a later registration starts it again.
    private func runTimer() async {
        while true {
            // A cancelled sleep counts as the tick.
            try? await sleep(tickLength)
            let (due, total, stop): ([Ticket], Int, Bool) = tables.withLock { t in
                t.tick += 1
                let due = t.due.removeValue(forKey: t.tick) ?? []
                // Forgotten here too, so a ticket whose request went away without cancelling it (an error
                // between registering and waiting) is gone by its deadline.
                for ticket in due {
                    if t.byDevice[ticket.deviceId] === ticket { t.byDevice[ticket.deviceId] = nil }
                    if let connection = ticket.connection, t.byConnection[connection] === ticket { t.byConnection[connection] = nil }
                }
                let stop = t.byDevice.isEmpty && t.due.isEmpty
                if stop { t.timerRunning = false }
                return (due, t.byDevice.count, stop)
            }
            for ticket in due { ticket.finish(.timedOut) }
            if !due.isEmpty { gauge.record(total) }
            if stop { return }
        }
    }

    /// The server is stopping: every held request answers now (the agents come back to another instance,
    /// or to this one once it is up again), and new ones are not held.
    public func close() {
        closed.store(true, ordering: .releasing)
        wakeAll()
    }

    /// Waits until the ticket is woken, superseded, its connection closes or its time passes (or the task is
    /// cancelled, which counts as woken); the ticket is gone afterwards.
    func wait(_ ticket: Ticket) async -> Outcome {
        let outcome = await withTaskCancellationHandler {
            await ticket.outcome()
        } onCancel: {
            ticket.finish(.woken)
        }
        cancel(ticket)
        return outcome
    }

    /// Forgets a ticket (its request is answered).
    func cancel(_ ticket: Ticket) {
        ticket.finish(.timedOut)
        let total = tables.withLock { t in
            if t.byDevice[ticket.deviceId] === ticket { t.byDevice[ticket.deviceId] = nil }
            if let connection = ticket.connection, t.byConnection[connection] === ticket { t.byConnection[connection] = nil }
            return t.byDevice.count
        }
        gauge.record(total)
    }

    /// The connection closed, or its client half-closed it: a request held on it ends now.
    public func connectionClosed(_ connection: ObjectIdentifier) {
        guard let ticket = tables.withLock({ $0.byConnection.removeValue(forKey: connection) }) else { return }
        abandoned.increment()
        ticket.finish(.peerGone)
    }

    /// Ends the device's wait.
    public func wake(_ deviceId: String) {
        tables.withLock { $0.byDevice[deviceId] }?.finish(.woken)
    }

    /// Ends every wait (the catalog changed, or news may have been missed): each device checks in again.
    public func wakeAll() {
        let tickets = tables.withLock { Array($0.byDevice.values) }
        for ticket in tickets { ticket.finish(.woken) }
    }

    /// Requests held now.
    public var count: Int { tables.withLock { $0.byDevice.count } }
}
