import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// The request context of every route: the peer address (for rate limits) and, once an authenticator
/// has run, the calling principal (admin routes) or the verified device (device routes).
public struct KontorRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// What handlers return is encoded with the shared JSON coder (sorted keys, ISO 8601 UTC).
    public var responseEncoder: JSONEncoder { KontorJSON.makeEncoder() }
    public let remoteAddress: SocketAddress?
    /// The client's connection, by identity: a held check-in ends when it closes (``LongPolls``).
    public let connection: ObjectIdentifier
    public var principal: Principal?
    /// Set by ``DeviceAuthMiddleware`` once a device request's signature verified.
    public var deviceRequest: VerifiedDeviceRequest?
    /// Set by ``HeldCheckinMiddleware`` on a check-in: where it leaves a long poll's wait.
    var heldCheckin: HeldCheckinSlot?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.connection = ObjectIdentifier(source.channel)
        self.principal = nil
        self.deviceRequest = nil
        self.heldCheckin = nil
    }
}
