import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// The request context of every route: the peer address (for rate limits) and, once the admin
/// authenticator has run, the calling principal.
public struct KontorRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.principal = nil
    }
}
