import Foundation
import Metrics
import ServiceLifecycle
import Synchronization

/// The check-ins this instance holds open (long polls), by device: a command queued for the device — on
/// this instance, or on another one and announced over the cluster — ends its wait at once. A device
/// holds at most one: a new long poll of the same device ends the one held before (its agent has
/// gone, or something else holds its key), so one device cannot pile up held requests.
public final class LongPolls: Sendable {
    /// How a wait ended.
    enum Outcome: Equatable, Sendable {
        /// Something for the device (a command, new profiles) or the server is stopping: answer now.
        case woken
        /// Nothing happened within the time.
        case timedOut
        /// A newer long poll of the same device took its place.
        case superseded
    }

    /// One held request. The first outcome wins.
    final class Ticket: Sendable {
        private enum State {
            case waiting(CheckedContinuation<Outcome, Never>?)
            case done(Outcome)
        }
        private let state = Mutex(State.waiting(nil))

        func finish(_ outcome: Outcome) {
            let continuation: CheckedContinuation<Outcome, Never>? = state.withLock { s in
                guard case .waiting(let c) = s else { return nil }
                s = .done(outcome)
                return c
            }
            continuation?.resume(returning: outcome)
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

    private let held = Mutex<[String: Ticket]>([:])
    /// `kontor_long_polls_held`: requests held open now.
    private let gauge = Gauge(label: "kontor_long_polls_held")
    /// Set when the server shuts down: held requests answer at once and none waits any more.
    private let closed = Atomic<Bool>(false)
    /// How a wait ends when nothing happens; tests pass one they control.
    private let sleep: @Sendable (Duration) async throws -> Void

    public init(sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.sleep = sleep
    }

    /// Registers a wait for `deviceId` before the caller looks for work one last time, so a command
    /// queued in between is not missed. A wait the device already had ends (superseded).
    func register(_ deviceId: String) -> Ticket {
        let ticket = Ticket()
        let (previous, total) = held.withLock { h in (h.updateValue(ticket, forKey: deviceId), h.count) }
        previous?.finish(.superseded)
        gauge.record(total)
        if closed.load(ordering: .acquiring) { ticket.finish(.woken) }
        return ticket
    }

    /// The server is stopping: every held request answers now (the agents come back to another instance,
    /// or to this one once it is up again), and new ones are not held.
    public func close() {
        closed.store(true, ordering: .releasing)
        wakeAll()
    }

    /// Waits until the ticket is woken, superseded or `timeout` passes; the ticket is gone afterwards.
    func wait(_ ticket: Ticket, deviceId: String, timeout: Duration) async -> Outcome {
        let sleep = self.sleep
        let outcome = await withTaskGroup(of: Outcome.self) { group in
            group.addTask { await ticket.outcome() }
            group.addTask {
                try? await sleep(timeout)
                ticket.finish(.timedOut)
                return .timedOut
            }
            let first = await group.next() ?? .timedOut
            group.cancelAll()
            return first
        }
        cancel(ticket, deviceId: deviceId)
        return outcome
    }

    /// Forgets a ticket (its request is answered).
    func cancel(_ ticket: Ticket, deviceId: String) {
        ticket.finish(.timedOut)
        let total = held.withLock { h in
            if h[deviceId] === ticket { h[deviceId] = nil }
            return h.count
        }
        gauge.record(total)
    }

    /// Ends the device's wait.
    public func wake(_ deviceId: String) {
        held.withLock { $0[deviceId] }?.finish(.woken)
    }

    /// Ends every wait (the catalog changed, or news may have been missed): each device checks in again.
    public func wakeAll() {
        let tickets = held.withLock { Array($0.values) }
        for ticket in tickets { ticket.finish(.woken) }
    }

    /// Requests held now.
    public var count: Int { held.withLock { $0.count } }
}
