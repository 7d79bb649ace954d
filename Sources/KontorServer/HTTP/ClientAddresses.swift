import Foundation
import HTTPTypes
import NIOCore

/// Who sent a request, for rate limits and logs. The TCP peer, unless the peer is one of the trusted
/// proxies: then the right-most hop of `X-Forwarded-For` that is not itself a trusted proxy (every
/// proxy appends the address it saw, so hops to the left of the first untrusted one are whatever the
/// client chose to send). From any other peer the header is ignored, so a client cannot pick its own
/// address.
public struct ClientAddresses: Sendable {
    public let trustedProxies: [IPNetwork]

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    public init(trustedProxies: [IPNetwork]) {
        self.trustedProxies = trustedProxies
    }

    /// The client's address as text (`unknown` without a peer, e.g. in router tests).
    public func client(peer: SocketAddress?, headers: HTTPFields) -> String {
        guard let peerText = peer?.ipAddress else { return "unknown" }
        guard !trustedProxies.isEmpty, let peerAddress = IPAddress(peerText) else { return peerText }
        guard isTrusted(peerAddress) else { return peerAddress.description }
        let hops = headers[values: Self.forwardedFor].flatMap { $0.split(separator: ",") }
        var client = peerAddress
        for hop in hops.reversed() {
            // A hop that is not an address ends the walk: the last trusted proxy is then as near to the
            // client as can be told (clients behind it are counted together rather than trusted).
            guard let address = IPAddress(forwardedHop: hop.trimmingCharacters(in: .whitespaces)) else { break }
            client = address
            if !isTrusted(address) { break }
        }
        return client.description
    }

    func isTrusted(_ address: IPAddress) -> Bool { trustedProxies.contains { $0.contains(address) } }
}
