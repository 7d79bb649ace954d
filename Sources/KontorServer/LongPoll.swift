import Foundation
import Metrics
import Synchronization

/// The check-ins this instance holds open (long polls), by device: a command queued for the device — on
/// this instance, or on another one and announced over the cluster — ends its wait at once.
public final class LongPolls: Sendable {
    /// One held request. The first outcome wins: woken (true) or timed out (false).
    final class Ticket: Sendable {
        private enum State {
            case waiting(CheckedContinuation<Bool, Never>?)
            case done(Bool)
        }
        private let state = Mutex(State.waiting(nil))

        func finish(_ woken: Bool) {
            let continuation: CheckedContinuation<Bool, Never>? = state.withLock { s in
                guard case .waiting(let c) = s else { return nil }
                s = .done(woken)
                return c
            }
            continuation?.resume(returning: woken)
        }

        func outcome() async -> Bool {
            await withCheckedContinuation { continuation in
                let done: Bool? = state.withLock { s in
                    switch s {
                    case .done(let woken): return woken
                    case .waiting:
                        s = .waiting(continuation)
                        return nil
                    }
                }
                if let done { continuation.resume(returning: done) }
            }
        }
    }

    private struct Held {
        var byDevice: [String: [ObjectIdentifier: Ticket]] = [:]
        var total = 0
    }
    private let held = Mutex(Held())
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
    /// queued in between is not missed.
    func register(_ deviceId: String) -> Ticket {
        let ticket = Ticket()
        let total = held.withLock { h in
            h.byDevice[deviceId, default: [:]][ObjectIdentifier(ticket)] = ticket
            h.total += 1
            return h.total
        }
        gauge.record(total)
        if closed.load(ordering: .acquiring) { ticket.finish(false) }
        return ticket
    }

    /// The server is stopping: every held request answers now (the agents come back to another instance,
    /// or to this one once it is up again), and new ones are not held.
    public func close() {
        closed.store(true, ordering: .releasing)
        wakeAll()
    }

    /// Waits until the ticket is woken (true) or `timeout` passes (false); the ticket is gone afterwards.
    func wait(_ ticket: Ticket, deviceId: String, timeout: Duration) async -> Bool {
        let sleep = self.sleep
        let woken = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await ticket.outcome() }
            group.addTask {
                try? await sleep(timeout)
                ticket.finish(false)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        cancel(ticket, deviceId: deviceId)
        return woken
    }

    /// Forgets a ticket (its request is answered).
    func cancel(_ ticket: Ticket, deviceId: String) {
        ticket.finish(false)
        let total = held.withLock { h in
            if h.byDevice[deviceId]?.removeValue(forKey: ObjectIdentifier(ticket)) != nil { h.total -= 1 }
            if h.byDevice[deviceId]?.isEmpty == true { h.byDevice[deviceId] = nil }
            return h.total
        }
        gauge.record(total)
    }

    /// Ends every wait of the device.
    public func wake(_ deviceId: String) {
        let tickets = held.withLock { $0.byDevice[deviceId].map { Array($0.values) } ?? [] }
        for ticket in tickets { ticket.finish(true) }
    }

    /// Ends every wait (the catalog changed, or news may have been missed): each device checks in again.
    public func wakeAll() {
        let tickets = held.withLock { $0.byDevice.values.flatMap { Array($0.values) } }
        for ticket in tickets { ticket.finish(true) }
    }

    /// Requests held now.
    public var count: Int { held.withLock { $0.total } }
}

import ServiceLifecycle

/// Ends the held check-ins when the server begins to shut down, so it does not wait for them.
struct LongPollShutdownService: Service {
    let longPolls: LongPolls

    func run() async throws {
        try? await gracefulShutdown()
        longPolls.close()
    }
}
