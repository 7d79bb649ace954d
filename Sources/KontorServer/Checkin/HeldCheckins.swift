import Hummingbird
import KontorCore
import Synchronization

/// Where a check-in that is to be held leaves its wait for the outermost middleware (``HeldCheckinMiddleware``).
///
/// Why: a held long poll is a request in progress, and Hummingbird runs it in its connection's task. A Swift
/// task keeps the most stack its frames ever took until it ends (its allocator frees no slab before), so
/// a poll held at the bottom of the middleware chain keeps the frames of everything that ran before the
/// wait — the signature check, the check-in's writes, the policy — for all of its 55 s: about 30 KB a poll.
/// Instead the whole chain runs in a short-lived child task; a check-in that is to be held puts its ticket
/// and how to finish here and returns; the connection's task, whose stack is then only Hummingbird's
/// and this middleware's, waits; and the reply is built in another short-lived task.
final class HeldCheckinSlot: Sendable {
    struct Parked: Sendable {
        let ticket: LongPolls.Ticket
        /// Builds the signed reply once the wait is over.
        let finish: @Sendable (LongPolls.Outcome) async throws -> Response
    }
    private let parked = Mutex<Parked?>(nil)

    func park(_ ticket: LongPolls.Ticket, finish: @escaping @Sendable (LongPolls.Outcome) async throws -> Response) {
        parked.withLock { $0 = Parked(ticket: ticket, finish: finish) }
    }

    func take() -> Parked? {
        parked.withLock { p in
            defer { p = nil }
            return p
        }
    }
}

/// The outermost middleware: runs a check-in's whole chain in a child task, then holds it when the check-in
/// parked a wait in the context's ``HeldCheckinSlot`` (see there). Every other request goes straight on.
struct HeldCheckinMiddleware: RouterMiddleware {
    typealias Context = KontorRequestContext
    let longPolls: LongPolls

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, request.uri.path == DeviceAPI.checkinPath else { return try await next(request, context) }
        var marked = context
        let slot = HeldCheckinSlot()
        marked.heldCheckin = slot
        let response: Response
        do {
            response = try await withoutActuallyEscaping(next) { [marked] next in
                let run = UnsafeSendableBox(next)
                return try await inChildTask { try await run.value(request, marked) }
            }
        } catch {
            // Parked, then failed further up the chain: nobody waits for the ticket.
            if let parked = slot.take() { longPolls.cancel(parked.ticket) }
            throw error
        }
        guard let parked = slot.take() else { return response }
        let outcome = await longPolls.wait(parked.ticket)
        do {
            return try await inChildTask { try await parked.finish(outcome) }
        } catch {
            return try ErrorMiddleware<Context>.response(to: error, request: request, context: context)
        }
    }
}

/// Carries the chain's `next` (not marked Sendable by Hummingbird) into the child task that runs it while
/// its caller waits: the closure is only ever called there, once, and finishes before the caller goes on.
private struct UnsafeSendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `work` in a child task of its own, whose stack is freed when it ends (see ``HeldCheckinSlot``).
func inChildTask<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await work() }
        return try await group.next()!
    }
}
