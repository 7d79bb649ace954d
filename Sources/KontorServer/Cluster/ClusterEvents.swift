import Foundation
import Logging
import Synchronization

/// What one server instance tells the others sharing its store, so their in-memory state stays right:
/// every instance keeps a device cache, the policy catalog, the index of devices with open commands and
/// the long polls it holds. Sent over PostgreSQL LISTEN/NOTIFY (``PostgresClusterTransport``); with
/// SQLite there is one instance and nothing is sent.
public enum ClusterEvent: Sendable, Equatable {
    /// The device's identity or status changed (revoked, replaced, wiped): drop it from the caches.
    case device(String)
    /// A command was queued for the device: it has open commands, and a long poll it holds ends now.
    case commands(String)
    /// Profiles, assignments or settings changed: reload the catalog.
    case catalog
    /// Events may have been missed (the listener reconnected): drop every cache. Never sent.
    case resync

    var payload: String {
        switch self {
        case .device(let id): "d:" + id
        case .commands(let id): "c:" + id
        case .catalog: "p"
        case .resync: "r"
        }
    }

    init?(payload: String) {
        if payload == "p" {
            self = .catalog
        } else if payload.hasPrefix("d:"), payload.count > 2 {
            self = .device(String(payload.dropFirst(2)))
        } else if payload.hasPrefix("c:"), payload.count > 2 {
            self = .commands(String(payload.dropFirst(2)))
        } else {
            return nil
        }
    }
}

/// Carries event payloads to the other instances.
public protocol ClusterTransport: Sendable {
    func send(_ payload: String) async throws
}

/// This instance's end of the cluster: publishes what changed here (in order, without making the caller
/// wait), and applies what other instances (and this one, echoed back) published.
public final class ClusterEvents: Sendable {
    private let transport: (any ClusterTransport)?
    private let outbox: AsyncStream<String>.Continuation?
    private let handlers = Mutex<[@Sendable (ClusterEvent) async -> Void]>([])
    private let sender: Task<Void, Never>?

    /// No transport: a single instance, nothing is sent.
    public init(transport: (any ClusterTransport)? = nil, logger: Logger = Logger(label: "kontor.cluster")) {
        self.transport = transport
        guard let transport else {
            outbox = nil
            sender = nil
            return
        }
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        outbox = continuation
        sender = Task {
            for await payload in stream {
                do {
                    try await transport.send(payload)
                } catch {
                    // The others re-sync when their listener reconnects; a lost send means the store itself is unreachable.
                    logger.warning("cluster event not sent", metadata: ["event": "\(payload)", "error": "\(String(reflecting: error))"])
                }
            }
        }
    }

    deinit {
        outbox?.finish()
    }

    /// Whether other instances can be told anything.
    public var isShared: Bool { transport != nil }

    /// Queues `event` for the other instances. PostgreSQL echoes it back to this one too; without a
    /// transport it is applied here directly (a long poll held here still has to wake up).
    public func publish(_ event: ClusterEvent) {
        if let outbox {
            outbox.yield(event.payload)
        } else {
            Task { await self.receive(event) }
        }
    }

    /// Adds what to do when an event arrives.
    public func onEvent(_ handler: @escaping @Sendable (ClusterEvent) async -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    /// An event from the transport (or `.resync` from a listener that reconnected).
    public func receive(_ event: ClusterEvent) async {
        for handler in handlers.withLock({ $0 }) { await handler(event) }
    }

    /// A raw payload from the transport; unknown payloads (from a newer version) are ignored.
    public func receive(payload: String) async {
        guard let event = ClusterEvent(payload: payload) else { return }
        await receive(event)
    }
}
