#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An iCalendar document (RFC 5545) of timed events: what the on-call feed serves. Times are written in
/// UTC (`…Z`), so DST and the reader's zone cannot shift them; text is escaped (§3.3.11) and lines are
/// folded at 75 octets without splitting a UTF-8 character (§3.1); lines end with CRLF.
public struct ICalendar: Sendable, Equatable {
    public struct Event: Sendable, Equatable {
        /// Stable across requests, so a subscribed calendar updates events instead of duplicating them.
        public var uid: String
        public var start: Date
        public var end: Date
        public var summary: String
        public var description: String?
        public var categories: [String]

        public init(uid: String, start: Date, end: Date, summary: String, description: String? = nil, categories: [String] = []) {
            self.uid = uid
            self.start = start
            self.end = end
            self.summary = summary
            self.description = description
            self.categories = categories
        }
    }

    public var name: String
    public var productID = "-//Kontor//On call//EN"
    public var events: [Event]

    public init(name: String, events: [Event]) {
        self.name = name
        self.events = events
    }

    /// The document; `stamp` is the DTSTAMP of every event (when the feed was made).
    public func text(stamp: Date) -> String {
        var lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:\(Self.escape(productID))", "CALSCALE:GREGORIAN", "X-WR-CALNAME:\(Self.escape(name))"]
        for event in events {
            lines += ["BEGIN:VEVENT", "UID:\(Self.escape(event.uid))", "DTSTAMP:\(Self.utc(stamp))", "DTSTART:\(Self.utc(event.start))"]
            lines += ["DTEND:\(Self.utc(event.end))", "SUMMARY:\(Self.escape(event.summary))"]
            if let description = event.description { lines.append("DESCRIPTION:\(Self.escape(description))") }
            if !event.categories.isEmpty { lines.append("CATEGORIES:" + event.categories.map(Self.escape).joined(separator: ",")) }
            lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
        }
        lines.append("END:VCALENDAR")
        return lines.map(Self.fold).joined(separator: "\r\n") + "\r\n"
    }

    /// `YYYYMMDDTHHMMSSZ`: the basic form of the whole-second ISO 8601 instant Kontor writes everywhere.
    static func utc(_ date: Date) -> String { ISO8601.string(from: date).filter { $0 != "-" && $0 != ":" } }

    /// TEXT escaping: backslash, semicolon, comma and newlines; other control characters are dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\n": out += "\\n"
            case "\r": continue
            default:
                if scalar.properties.generalCategory == .control { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Folds a content line into 75-octet pieces; continuation lines begin with a space.
    static func fold(_ line: String) -> String {
        var pieces: [String] = []
        var current = ""
        var octets = 0
        // By Unicode scalar: a fold never splits a UTF-8 sequence (a scalar is at most 4 octets).
        for scalar in line.unicodeScalars {
            let size = String(scalar).utf8.count
            let limit = pieces.isEmpty ? 75 : 74
            if octets + size > limit {
                pieces.append(current)
                current = ""
                octets = 0
            }
            current.unicodeScalars.append(scalar)
            octets += size
        }
        pieces.append(current)
        return pieces.joined(separator: "\r\n ")
    }
}
