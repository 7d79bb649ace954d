#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address as its bytes (4 or 16). An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a
/// dual-stack socket reports IPv4 peers) is the IPv4 address, so one network matches both spellings.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, network order.
    public let bytes: [UInt8]

    /// Parses `192.0.2.1` or `2001:db8::1` (a zone such as `%eth0` is ignored); nil for anything else.
    public init?(_ text: String) {
        let plain = text.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
        guard !plain.isEmpty, plain.utf8.count <= 45 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, plain, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, plain, &v6) == 1 else { return nil }
        let raw = withUnsafeBytes(of: &v6) { Array($0) }
        bytes = raw[0..<10].allSatisfy { $0 == 0 } && raw[10] == 0xff && raw[11] == 0xff ? Array(raw[12..<16]) : raw
    }

    /// One hop of an `X-Forwarded-For` list: an address, optionally with a port (`192.0.2.1:4711`,
    /// `[2001:db8::1]:443`) or in brackets.
    public init?(forwardedHop text: String) {
        var hop = Substring(text)
        if hop.hasPrefix("[") {
            guard let close = hop.firstIndex(of: "]") else { return nil }
            let rest = hop[hop.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            hop = hop[hop.index(after: hop.startIndex)..<close]
        } else if hop.filter({ $0 == ":" }).count == 1, let colon = hop.firstIndex(of: ":") {
            // IPv4 with a port (an IPv6 address has at least two colons).
            guard hop[hop.index(after: colon)...].allSatisfy(\.isNumber) else { return nil }
            hop = hop[..<colon]
        }
        self.init(String(hop))
    }

    public var isIPv4: Bool { bytes.count == 4 }

    public var description: String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, socklen_t(out.count)) }
        guard written != nil else { return "?" }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a /32 or /128.
public struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// What is wrong with a network as written, for configuration messages.
    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else {
            throw ParseError(description: "\"\(text)\" is not an IPv4 or IPv6 address or network (e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8)")
        }
        let bits = address.bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), (0...bits).contains(parsed), parts[1].allSatisfy(\.isNumber) else {
                throw ParseError(description: "\"\(text)\": the prefix length must be 0 to \(bits) for an \(address.isIPv4 ? "IPv4" : "IPv6") network")
            }
            length = parsed
        }
        let network = IPNetwork(address: address, prefixLength: length)
        guard network.address == address else {
            throw ParseError(description: "\"\(text)\" has bits set beyond its /\(length) prefix; the network is \(network)")
        }
        self = network
    }

    /// The network of `address` with its host bits cleared.
    init(address: IPAddress, prefixLength: Int) {
        var bytes = address.bytes
        for i in bytes.indices {
            let keep = max(0, min(8, prefixLength - i * 8))
            bytes[i] &= keep == 8 ? 0xff : ~(0xff >> keep)
        }
        self.address = IPAddress(bytes: bytes)
        self.prefixLength = prefixLength
    }

    public func contains(_ other: IPAddress) -> Bool {
        other.bytes.count == address.bytes.count && IPNetwork(address: other, prefixLength: prefixLength).address == address
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

extension IPAddress {
    fileprivate init(bytes: [UInt8]) { self.bytes = bytes }
}
