/// A Debian package version (`[epoch:]upstream[-revision]`) ordered exactly as dpkg orders them
/// (deb-version(7), dpkg's `verrevcmp`): `~` sorts before everything, even the end; letters before other
/// characters; digit runs compare as numbers. Done in process rather than with `dpkg --compare-versions`
/// because counting pending updates compares hundreds of pairs, and the agent runs no program from the
/// tree it reads.
struct DebianVersion: Comparable, Sendable {
    let epoch: Int
    let upstream: [UInt8]
    let revision: [UInt8]

    /// Nil for a version dpkg would refuse: an empty one, an epoch that is not a number, whitespace.
    init?(_ text: some StringProtocol) {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 256, !bytes.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) else { return nil }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            let digits = bytes[..<colon]
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(Self.isDigit) else { return nil }
            epoch = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            bytes.removeSubrange(...colon)
        } else {
            epoch = 0
        }
        if let dash = bytes.lastIndex(of: UInt8(ascii: "-")) {
            revision = Array(bytes[(dash + 1)...])
            bytes.removeSubrange(dash...)
        } else {
            revision = []
        }
        guard !bytes.isEmpty else { return nil }
        upstream = bytes
    }

    static func < (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) < 0 }

    static func == (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) == 0 }

    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    static func compare(_ a: DebianVersion, _ b: DebianVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let upstream = compare(a.upstream, b.upstream)
        return upstream != 0 ? upstream : compare(a.revision, b.revision)
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }

    /// dpkg's weight of a character in a non-digit run; 0 stands for the end of the string or a digit.
    private static func order(_ c: UInt8?) -> Int {
        guard let c, !isDigit(c) else { return 0 }
        if isLetter(c) { return Int(c) }
        if c == UInt8(ascii: "~") { return -1 }
        return Int(c) + 256
    }

    /// dpkg's `verrevcmp`: alternating non-digit and digit runs.
    private static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var i = 0
        var j = 0
        func at(_ s: [UInt8], _ k: Int) -> UInt8? { k < s.count ? s[k] : nil }
        while i < a.count || j < b.count {
            while (at(a, i).map { !isDigit($0) } ?? false) || (at(b, j).map { !isDigit($0) } ?? false) {
                let ac = order(at(a, i))
                let bc = order(at(b, j))
                if ac != bc { return ac - bc }
                i += 1
                j += 1
            }
            while at(a, i) == UInt8(ascii: "0") { i += 1 }
            while at(b, j) == UInt8(ascii: "0") { j += 1 }
            var firstDifference = 0
            while let x = at(a, i), let y = at(b, j), isDigit(x), isDigit(y) {
                if firstDifference == 0 { firstDifference = Int(x) - Int(y) }
                i += 1
                j += 1
            }
            if let x = at(a, i), isDigit(x) { return 1 }
            if let y = at(b, j), isDigit(y) { return -1 }
            if firstDifference != 0 { return firstDifference }
        }
        return 0
    }
}
