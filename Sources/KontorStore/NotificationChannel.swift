import Foundation

/// A channel between the server instances that share a store (PostgreSQL LISTEN/NOTIFY): what one sends,
/// every listening instance receives, the sender included. Nothing is kept for an instance not listening.
public protocol NotificationChannel: Sendable {
    /// Sends `payload` to every instance listening (delivered after commit).
    func notify(_ payload: String) async throws
    /// Listens until cancelled, reconnecting when the connection drops: `connected` runs after each
    /// (re)connection — what was sent in between is lost, so the caller re-reads what it caches — and
    /// `received` for every payload.
    func listen(connected: @escaping @Sendable () async -> Void, received: @escaping @Sendable (String) async -> Void) async
}
