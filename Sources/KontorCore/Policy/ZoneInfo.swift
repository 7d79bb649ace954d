import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An IANA time zone read from the system's time zone database (`/usr/share/zoneinfo`, TZif files as in
/// RFC 8536), for quiet hours. Not Foundation's `TimeZone`: on Linux only the full Foundation knows zones
/// by name (through ICU and its ~30 MB of data), and the agent links FoundationEssentials only. The server
/// and the agent read the same files, so both evaluate a profile alike.
public struct ZoneInfo: Sendable, Equatable, CustomStringConvertible {
    /// The IANA name, e.g. `Europe/Berlin` (`GMT` for ``gmt``).
    public let identifier: String
    /// Transition instants (seconds since 1970, ascending) and the UTC offset in force from each on.
    let transitions: [Int64]
    let offsets: [Int]
    /// The offset before the first transition (the file's first local time type).
    let initialOffset: Int
    /// The file's footer: the rule for instants after the last transition.
    let rule: PosixZoneRule?

    public var description: String { identifier }

    /// UTC, named `GMT` as Foundation names it on Linux.
    public static let gmt = ZoneInfo(identifier: "GMT", transitions: [], offsets: [], initialOffset: 0, rule: nil)

    init(identifier: String, transitions: [Int64], offsets: [Int], initialOffset: Int, rule: PosixZoneRule?) {
        self.identifier = identifier
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
    }

    /// The offset from UTC in seconds at `date`.
    public func secondsFromGMT(for date: Date) -> Int {
        let t = Int64(date.timeIntervalSince1970.rounded(.down))
        guard let first = transitions.first, t >= first else {
            return transitions.isEmpty ? (rule?.offset(at: t) ?? initialOffset) : initialOffset
        }
        // The last transition at or before t.
        var low = 0
        var high = transitions.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if transitions[mid] <= t { low = mid } else { high = mid - 1 }
        }
        if low == transitions.count - 1, t > transitions[low], let rule { return rule.offset(at: t) }
        return offsets[low]
    }

    /// The first instant after `date` at which the offset changes, if any.
    public func nextTransition(after date: Date) -> Date? {
        let seconds = date.timeIntervalSince1970
        var previous = initialOffset
        for (index, t) in transitions.enumerated() {
            defer { previous = offsets[index] }
            guard Double(t) > seconds, offsets[index] != previous else { continue }
            return Date(timeIntervalSince1970: Double(t))
        }
        guard let rule else { return nil }
        let from = max(Int64(seconds.rounded(.down)), transitions.last ?? Int64.min)
        return rule.nextTransition(after: from).map { Date(timeIntervalSince1970: Double($0)) }
    }
}

extension ZoneInfo {
    /// Where the system keeps its time zone database.
    public static let databaseDirectory = "/usr/share/zoneinfo"
    private static let cache = ZoneCache()

    /// The zone named `identifier` in the system's database, or nil when it is not a zone there. Names
    /// are checked before any file is opened (profiles come from the server): plain components of letters,
    /// digits and `._+-`, no `.` or `..`. UTC and GMT are known without the database.
    public init?(identifier: String) {
        guard let zone = Self.cache.zone(identifier, load: { try? ZoneInfo.load(identifier: $0, directory: ZoneInfo.databaseDirectory) }) else {
            return nil
        }
        self = zone
    }

    /// Reads `identifier` from `directory`; nil when the name is malformed or no such file exists.
    static func load(identifier: String, directory: String) throws -> ZoneInfo? {
        guard isPlainIdentifier(identifier) else { return nil }
        guard let data = FileManager.default.contents(atPath: directory + "/" + identifier) else {
            return ["UTC", "Etc/UTC", "GMT", "Etc/GMT"].contains(identifier)
                ? ZoneInfo(identifier: identifier, transitions: [], offsets: [], initialOffset: 0, rule: nil) : nil
        }
        return try ZoneInfo(tzif: [UInt8](data), identifier: identifier)
    }

    static func isPlainIdentifier(_ identifier: String) -> Bool {
        guard (1...255).contains(identifier.utf8.count) else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-".utf8)
        return identifier.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && part.utf8.allSatisfy(allowed.contains)
        }
    }

    /// This device's zone: `TZ` when set (a zone name, optionally after `:`), else the zone `/etc/localtime`
    /// links to, else the name in `/etc/timezone`, else UTC (``gmt``).
    public static var current: ZoneInfo { current(environment: ProcessInfo.processInfo.environment, etc: "/etc") }

    static func current(environment: [String: String], etc: String) -> ZoneInfo {
        if var name = environment["TZ"], !name.isEmpty {
            if name.hasPrefix(":") { name.removeFirst() }
            return ZoneInfo(identifier: name) ?? .gmt
        }
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: etc + "/localtime"),
            case let parts = target.split(separator: "/"), let at = parts.lastIndex(of: "zoneinfo"),
            let zone = ZoneInfo(identifier: parts[(at + 1)...].joined(separator: "/"))
        {
            return zone
        }
        if let data = FileManager.default.contents(atPath: etc + "/timezone"),
            let name = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first,
            let zone = ZoneInfo(identifier: String(name.filter { !$0.isWhitespace }))
        {
            return zone
        }
        return .gmt
    }
}

/// Zones already read, by name; only zones that exist are kept, so the cache holds at most the database.
private final class ZoneCache: Sendable {
    private let zones = Mutex<[String: ZoneInfo]>([:])

    func zone(_ identifier: String, load: (String) -> ZoneInfo?) -> ZoneInfo? {
        if let zone = zones.withLock({ $0[identifier] }) { return zone }
        guard let zone = load(identifier) else { return nil }
        zones.withLock { $0[identifier] = zone }
        return zone
    }
}
