import Foundation
import KontorStore
import Logging
import ServiceLifecycle
import Synchronization

/// What one server instance tells the others sharing its store, so their in-memory state stays right:
/// every instance keeps a device cache, the policy catalog, the index of devices with open commands and
/// the long polls it holds. Sent over the store's ``NotificationChannel`` (PostgreSQL LISTEN/NOTIFY); with
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

/// This instance's end of the cluster: publishes what changed here, and applies what other instances (and
/// this one, echoed back) published. With a channel it is a Service: ``run()`` sends what was published, in
/// order and without making the publisher wait, and listens to the others, for as long as the server runs.
public final class ClusterEvents: Service, Sendable {
    private let channel: (any NotificationChannel)?
    private let logger: Logger
    private let outbox: AsyncStream<String>.Continuation?
    private let pending: AsyncStream<String>?
    private let handlers = Mutex<[@Sendable (ClusterEvent) async -> Void]>([])

    /// No channel: a single instance, nothing is sent and nothing needs running.
    public init(channel: (any NotificationChannel)? = nil, logger: Logger = Logger(label: "kontor.cluster")) {
        self.channel = channel
        self.logger = logger
        guard channel != nil else {
            outbox = nil
            pending = nil
            return
        }
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        pending = stream
        outbox = continuation
    }

    deinit {
        outbox?.finish()
    }

    /// Whether other instances can be told anything.
    public var isShared: Bool { channel != nil }

    /// Tells every instance about `event`: queued for the channel, which echoes it back to this instance too;
    /// without a channel it is applied here at once (a long poll held here still has to wake up).
    public func publish(_ event: ClusterEvent) async {
        guard outbox != nil else { return await receive(event) }
        post(event)
    }

    /// Queues `event` for the channel without waiting; nothing without a channel (see ``publish(_:)``).
    public func post(_ event: ClusterEvent) {
        outbox?.yield(event.payload)
    }

    /// Adds what to do when an event arrives.
    public func onEvent(_ handler: @escaping @Sendable (ClusterEvent) async -> Void) {
        handlers.withLock { $0.append(handler) }
    }

    /// An event from the channel (or `.resync` from a listener that reconnected).
    public func receive(_ event: ClusterEvent) async {
        for handler in handlers.withLock({ $0 }) { await handler(event) }
    }

    /// A raw payload from the channel; unknown payloads (from a newer version) are ignored.
    public func receive(payload: String) async {
        guard let event = ClusterEvent(payload: payload) else { return }
        await receive(event)
    }

    /// Sends what this instance publishes and applies what every instance sends, until graceful shutdown;
    /// what was published before it is sent then. Without a channel there is nothing to run: it only waits.
    public func run() async throws {
        guard let channel, let pending, let outbox else { return try await gracefulShutdown() }
        await withDiscardingTaskGroup { group in
            group.addTask {
                await cancelWhenGracefulShutdown {
                    await channel.listen(
                        connected: {
                            // Whatever was sent while not listening is lost: read everything again.
                            self.logger.info("cluster listener connected")
                            await self.receive(.resync)
                        },
                        received: { payload in await self.receive(payload: payload) })
                }
            }
            group.addTask {
                // Sends until shutdown, then what is left in the queue.
                await withGracefulShutdownHandler {
                    for await payload in pending {
                        do {
                            try await channel.notify(payload)
                        } catch {
                            // The others re-sync when their listener reconnects; a lost send means the store itself is unreachable.
                            self.logger.warning("cluster event not sent", metadata: ["event": "\(payload)", "error": "\(String(reflecting: error))"])
                        }
                    }
                } onGracefulShutdown: {
                    outbox.finish()
                }
            }
        }
    }
}
