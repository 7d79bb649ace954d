import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// The request context of every route: the peer address (for rate limits) and, once an authenticator
/// has run, the calling principal (admin routes) or the verified device (device routes).
public struct KontorRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var principal: Principal?
    /// Set by ``DeviceAuthMiddleware`` once a device request's signature verified.
    public var deviceRequest: VerifiedDeviceRequest?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.principal = nil
        self.deviceRequest = nil
    }
}
