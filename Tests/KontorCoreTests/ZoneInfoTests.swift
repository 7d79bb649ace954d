import Foundation
import Testing

@testable import KontorCore

/// Zones whose rules ICU's data (Foundation's TimeZone) and the system's tzdata agree on for 2000-2040:
/// both hemispheres, half-hour and 45-minute offsets, a 30-minute DST shift, DST abolished.
private let zones = [
    "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "America/Sao_Paulo", "Australia/Sydney", "Australia/Lord_Howe",
    "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "Asia/Tokyo", "America/St_Johns", "Pacific/Auckland", "UTC",
]

@Suite("Time zones from the system's tzdata")
struct ZoneInfoTests {
    @Test("offsets and transitions agree with Foundation's TimeZone from 2000 to 2040", arguments: zones)
    func agreesWithFoundation(name: String) throws {
        let zone = try #require(ZoneInfo(identifier: name))
        let reference = try #require(TimeZone(identifier: name))
        // Every 7 hours 13 minutes over 40 years: about 48,000 instants per zone, at all times of day.
        var t = 946_684_800.0
        while t < 2_208_988_800 {
            let date = Date(timeIntervalSince1970: t)
            #expect(zone.secondsFromGMT(for: date) == reference.secondsFromGMT(for: date), "\(name) at \(date)")
            t += 26_000
        }
        // Transitions, walked from 2000 to 2040, one by one.
        var from = Date(timeIntervalSince1970: 946_684_800)
        var count = 0
        while let next = reference.nextDaylightSavingTimeTransition(after: from), next.timeIntervalSince1970 < 2_208_988_800 {
            #expect(zone.nextTransition(after: from) == next, "\(name) after \(from)")
            from = next
            count += 1
        }
        #expect(zone.nextTransition(after: from).map { $0.timeIntervalSince1970 >= 2_208_988_800 } ?? true)
        if name == "Europe/Berlin" { #expect(count == 80) }
    }

    @Test("beyond the file's last transition its footer rule takes over (a file cut at 2000)")
    func footerRule() throws {
        // Europe/Berlin with no transitions at all: only the footer CET-1CEST,M3.5.0,M10.5.0/3.
        let zone = try ZoneInfo(tzif: tzif(footer: "CET-1CEST,M3.5.0,M10.5.0/3"), identifier: "Test/Berlin")
        let reference = try #require(TimeZone(identifier: "Europe/Berlin"))
        for t in stride(from: 1_600_000_000.0, to: 1_900_000_000, by: 86_400 / 3 + 7) {
            let date = Date(timeIntervalSince1970: t)
            #expect(zone.secondsFromGMT(for: date) == reference.secondsFromGMT(for: date), "at \(date)")
        }
        let after = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(zone.nextTransition(after: after) == reference.nextDaylightSavingTimeTransition(after: after))
    }

    @Test(
        "POSIX rules: both hemispheres, Julian days, times past midnight and all-year daylight time",
        arguments: [
            ("AEST-10AEDT,M10.1.0,M4.1.0/3", 1_800_000_000, 39_600),  // 2027-01-15: summer in Sydney
            ("AEST-10AEDT,M10.1.0,M4.1.0/3", 1_815_000_000, 36_000),  // 2027-07-08: winter
            ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 1_815_000_000, -7_200),  // Nuuk 2027, negative times
            ("EST5EDT,0/0,J365/25", 1_815_000_000, -14_400),  // daylight time all year
            ("EST5EDT,0/0,J365/25", 1_798_761_600, -14_400),  // ... also at the turn of the year
            ("IST-5:30", 1_815_000_000, 19_800),
            ("<+0545>-5:45", 1_815_000_000, 20_700),
            ("XXX3YYY,J60/2,J300/2", 1_804_000_000, -7_200),  // 2027-03-01 is J60: daylight time
        ])
    func posixRules(rule: String, at: Int64, offset: Int) throws {
        let parsed = try #require(PosixZoneRule(rule))
        #expect(parsed.offset(at: at) == offset)
    }

    @Test("malformed rules, names and files are refused", arguments: ["", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "C-1", "CET-25"])
    func badRules(rule: String) { #expect(PosixZoneRule(rule) == nil) }

    @Test(
        "zone names from a profile never leave the database folder",
        arguments: ["../../etc/passwd", "/etc/localtime", "Europe/../../x", "Europe//Berlin", "Europe/Berlin\0", "", "Europe/Nowhere"])
    func hostileNames(name: String) { #expect(ZoneInfo(identifier: name) == nil) }

    @Test("a file that is not TZif, or is cut short, is an error that names the zone")
    func badFiles() throws {
        #expect(throws: ZoneInfoError.self) { try ZoneInfo(tzif: Array("not a zone".utf8), identifier: "X/Y") }
        let whole = try tzif(footer: "CET-1CEST,M3.5.0,M10.5.0/3")
        do {
            _ = try ZoneInfo(tzif: Array(whole.prefix(60)), identifier: "X/Y")
            Issue.record("a truncated file was accepted")
        } catch {
            #expect("\(error)".hasPrefix("time zone X/Y: "))
        }
    }

    @Test("the device's zone: TZ first, then the /etc/localtime link, then /etc/timezone, else UTC")
    func current() throws {
        let etc = FileManager.default.temporaryDirectory.appendingPathComponent("zoneinfo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: etc) }
        #expect(ZoneInfo.current(environment: [:], etc: etc) == .gmt)
        try "Asia/Tokyo\n".write(toFile: etc + "/timezone", atomically: true, encoding: .utf8)
        #expect(ZoneInfo.current(environment: [:], etc: etc).identifier == "Asia/Tokyo")
        try FileManager.default.createSymbolicLink(atPath: etc + "/localtime", withDestinationPath: "/usr/share/zoneinfo/Europe/Berlin")
        #expect(ZoneInfo.current(environment: [:], etc: etc).identifier == "Europe/Berlin")
        #expect(ZoneInfo.current(environment: ["TZ": ":America/New_York"], etc: etc).identifier == "America/New_York")
        #expect(ZoneInfo.current(environment: ["TZ": "../../etc/shadow"], etc: etc) == .gmt)
    }

    /// A version 2 TZif file with one local time type, no transitions, and `footer`.
    private func tzif(footer: String) throws -> [UInt8] {
        func header(_ version: UInt8) -> [UInt8] {
            var h = Array("TZif".utf8) + [version] + [UInt8](repeating: 0, count: 15)
            for count: UInt32 in [0, 0, 0, 0, 1, 4] { h += withUnsafeBytes(of: count.bigEndian, Array.init) }
            return h
        }
        let type: [UInt8] = withUnsafeBytes(of: Int32(3600).bigEndian, Array.init) + [0, 0] + Array("CET\0".utf8)
        return header(UInt8(ascii: "2")) + type + header(UInt8(ascii: "2")) + type + Array("\n\(footer)\n".utf8)
    }
}
