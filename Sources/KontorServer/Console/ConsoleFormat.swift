import Foundation
import KontorCore
import KontorStore

/// How the console shows times, states and lists: small pure functions, tested without a server.
struct ConsoleFormat {
    let now: Date
    let zone: TimeZone

    init(now: Date, zone: TimeZone = .current) {
        self.now = now
        self.zone = zone
    }

    /// For a template: the instant as `text` (`2026-11-24 18:30` in the server's zone), `iso` and `ago`;
    /// `false` for no instant, so `{{#x}}...{{/x}}` is skipped (Mustache treats any present value as true).
    func time(_ date: Date?) -> Any {
        guard let date else { return false }
        return ["iso": ISO8601.string(from: date), "text": text(date), "ago": ago(date)]
    }

    func text(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    /// A string for a template section: `false` when absent or empty.
    static func optional(_ text: String?) -> Any {
        guard let text, !text.isEmpty else { return false }
        return text
    }

    /// `just now`, `5 min ago`, `3 h ago`, `12 days ago`, or `in 2 h` for the future.
    func ago(_ date: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        let future = seconds < 0
        let s = abs(seconds)
        let amount: String
        switch s {
        case ..<60: return "just now"
        case ..<3600: amount = "\(Int(s / 60)) min"
        case ..<86_400: amount = "\(Int(s / 3600)) h"
        default: amount = "\(Int(s / 86_400)) day\(Int(s / 86_400) == 1 ? "" : "s")"
        }
        return future ? "in \(amount)" : "\(amount) ago"
    }

    /// Where a device stands, in words a person at the help desk uses.
    static func state(_ device: FleetDevice) -> (key: String, label: String) {
        if device.summary.wipeConfirmedAt != nil { return ("wiped", "wiped") }
        switch device.summary.status {
        case .active: return ("active", "active")
        case .replaced: return ("replaced", "replaced by a new enrollment")
        case .revoked: return ("revoked", "revoked")
        }
    }

    /// The store counts and filters the same compliance (``FleetStore``).
    typealias Compliance = FleetCompliance

    /// Compliance of an active device: never seen, a posture requirement failed, violations reported, policy
    /// not yet applied, or fine.
    static func compliance(_ device: FleetDevice) -> Compliance {
        guard device.summary.lastSeen != nil else { return .never }
        if !device.postureFailures.isEmpty { return .posture }
        if device.summary.violations > 0 { return .violations }
        if let effective = device.effectivePolicyHash, device.summary.appliedPolicyHash != effective { return .outdated }
        return .compliant
    }

    /// The compliance in words for a row: which posture requirement fails (`noncompliant: disk not encrypted`).
    static func complianceLabel(_ device: FleetDevice) -> String {
        let c = compliance(device)
        return c == .posture ? "noncompliant: " + device.postureFailures.joined(separator: ", ") : c.label
    }

    /// Page `page` (1-based) of `items`, with the numbers the pager shows.
    static func paginate<T>(_ items: [T], page: Int, size: Int) -> (items: ArraySlice<T>, page: Int, pages: Int) {
        let pages = max(1, (items.count + size - 1) / size)
        let current = min(max(1, page), pages)
        let start = (current - 1) * size
        return (items[start..<min(items.count, start + size)], current, pages)
    }

    /// A query string from the non-empty pairs, percent-encoded.
    static func query(_ pairs: [(String, String?)]) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        let parts = pairs.compactMap { key, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }
}

extension FleetCompliance {
    /// In words, for the console.
    var label: String {
        switch self {
        case .compliant: "compliant"
        case .outdated: "policy not yet confirmed"
        case .violations: "app violations"
        case .posture: "posture requirement failed"
        case .never: "never checked in"
        }
    }
}

/// A week of quiet hours for one policy, as the console draws it: per day, the quiet spans in words and
/// 24 hour cells (quiet, partly quiet, working).
struct QuietWeek {
    struct Span: Equatable {
        var start: Date
        var end: Date
        var reason: String
    }

    struct Day {
        var date: LocalDate
        var start: Date
        var end: Date
        var spans: [Span]
        var hours: [HourCell]
    }

    let zone: TimeZone
    let days: [Day]

    enum HourCell: String { case quiet, part, work }

    /// Walks the policy's transitions from Monday 00:00 of the week containing `day` to the next Monday.
    init(policy: QuietHoursPolicy, weekOf day: Date) {
        let rules = policy.zone(deviceZone: nil)
        let zone = TimeZone(identifier: rules.identifier) ?? .gmt
        self.zone = zone
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        let monday = calendar.dateInterval(of: .weekOfYear, for: day)?.start ?? day
        let end = calendar.date(byAdding: .day, value: 7, to: monday) ?? monday.addingTimeInterval(7 * 86_400)
        var quiet: [Span] = []
        var t = monday
        while t < end {
            let state = policy.evaluate(at: t)
            let next = min(state.nextTransition ?? end, end)
            if state.quiet { quiet.append(Span(start: t, end: next, reason: state.reason)) }
            guard next > t else { break }
            t = next
        }
        var days: [Day] = []
        for offset in 0..<7 {
            let start = calendar.date(byAdding: .day, value: offset, to: monday)!
            let stop = calendar.date(byAdding: .day, value: 1, to: start)!
            let spans = quiet.compactMap { s -> Span? in
                let a = max(s.start, start)
                let b = min(s.end, stop)
                return a < b ? Span(start: a, end: b, reason: s.reason) : nil
            }
            var hours: [HourCell] = []
            for h in 0..<24 {
                let hs = calendar.date(byAdding: .hour, value: h, to: start)!
                let he = min(calendar.date(byAdding: .hour, value: 1, to: hs)!, stop)
                let covered = spans.reduce(0.0) { $0 + max(0, min($1.end, he).timeIntervalSince(max($1.start, hs))) }
                hours.append(covered <= 0 ? .work : (covered >= he.timeIntervalSince(hs) ? .quiet : .part))
            }
            days.append(Day(date: WallClockResolver.localDate(of: start, in: rules), start: start, end: stop, spans: spans, hours: hours))
        }
        self.days = days
    }

    /// `HH:mm` in the week's zone; the end of a day is `24:00`.
    func clock(_ date: Date, dayEnd: Date) -> String {
        if date >= dayEnd { return "24:00" }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
    }
}
