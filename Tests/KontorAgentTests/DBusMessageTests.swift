import Foundation
import KontorCore
import Testing

@testable import KontorAgent

func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// The agent's own D-Bus marshalling, byte for byte against the specification's layout and messages a
/// real dbus-daemon sent (`SessionBusTests` also compares it with dbus-fast and talks to a real bus).
@Suite("D-Bus messages")
struct DBusMessageTests {
    /// `Hello` as libdbus sends it: four header fields (path, interface, member, destination), each
    /// aligned to 8, 109 bytes of fields, the header padded to 128.
    static let hello =
        "6c01000100000000010000006d00000001016f00150000002f6f72672f667265656465736b746f702f4442757300000002017300140000006f72672e667265656465736b746f702e4442757300000000030173000500000048656c6c6f00000006017300140000006f72672e667265656465736b746f702e4442757300000000"

    @Test("Hello is the exact bytes of the specification's layout")
    func helloBytes() {
        let message = DBusMessage.call(
            serial: 1, destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello")
        #expect(message == bytes(hex: Self.hello))
    }

    @Test("the Notify body (susssasa{sv}i) has every value aligned and padded")
    func notifyBodyBytes() {
        let body = DBusMessage.notifyBody(appName: "Kontor", summary: "Hi", body: "Yo", urgency: 1, expireTimeout: -1)
        let expected =
            "060000004b6f6e746f7200" + "00"  // s "Kontor", padded to 4
            + "00000000"  // u replaces_id 0
            + "0000000000" + "000000"  // s "" (icon), padded
            + "02000000486900" + "00"  // s "Hi"
            + "02000000596f00" + "00"  // s "Yo"
            + "00000000"  // as: empty
            + "10000000"  // a{sv}: 16 bytes, already 8-aligned at offset 48
            + "07000000757267656e637900" + "017900" + "01"  // {"urgency": <byte 1>}
            + "ffffffff"  // i -1
        #expect(body == bytes(hex: expected))
    }

    @Test("a NUL inside a string is written as a space, never as a NUL the bus would refuse")
    func nulInString() {
        var w = DBusWriter()
        w.string("a\u{0}b")
        #expect(w.bytes == [3, 0, 0, 0, 0x61, 0x20, 0x62, 0])
    }

    @Test("Hello's reply, as a real dbus-daemon sent it: a method return to serial 1 with the unique name")
    func parsesHelloReply() throws {
        let raw = bytes(
            hex:
                "6c02010109000000010000003d00000006017300040000003a312e31000000000501750001000000080167000173000007017300140000006f72672e667265656465736b746f702e4442757300000000040000003a312e3100"
        )
        #expect(try DBusMessage.length(ofMessageStarting: raw) == raw.count)
        let reply = try DBusReply(raw)
        #expect(reply.type == DBusMessage.methodReturn && reply.replySerial == 1 && reply.signature == "s")
        var body = try reply.bodyReader()
        #expect(try body.string() == ":1.1")
    }

    @Test("GetCapabilities' reply, from a notification server through a real bus: an array of strings")
    func parsesCapabilities() throws {
        let raw = bytes(
            hex:
                "6c02000120000000030000002d000000050175000200000006017300040000003a312e3100000000080167000261730007017300040000003a312e30000000001c00000004000000626f6479000000000b000000626f64792d6d61726b757000"
        )
        let reply = try DBusReply(raw)
        #expect(reply.replySerial == 2 && reply.signature == "as")
        var body = try reply.bodyReader()
        #expect(try body.strings() == ["body", "body-markup"])
    }

    @Test("an error reply in big-endian order: its name and message")
    func parsesBigEndianError() throws {
        var body = [UInt8]()
        body += [0, 0, 0, 4] + Array("nope".utf8) + [0]
        var fields = [UInt8]()
        fields += [4, 1, 0x73, 0, 0, 0, 0, 25] + Array("org.example.Error.Refused".utf8) + [0]  // 4+4+25+1 = 34 bytes
        fields += [0, 0, 0, 0, 0, 0]  // the next field at 8-aligned offset 56
        fields += [5, 1, 0x75, 0, 0, 0, 0, 7]  // reply serial 7
        fields += [8, 1, 0x67, 0, 1, 0x73, 0]  // signature "s"
        var raw: [UInt8] = [UInt8(ascii: "B"), 3, 1, 1, 0, 0, 0, UInt8(body.count), 0, 0, 0, 9, 0, 0, 0, UInt8(fields.count)] + fields
        while raw.count % 8 != 0 { raw.append(0) }
        raw += body
        let reply = try DBusReply(raw)
        #expect(reply.bigEndian && reply.type == DBusMessage.error && reply.serial == 9 && reply.replySerial == 7)
        #expect(reply.errorName == "org.example.Error.Refused")
        var reader = try reply.bodyReader()
        #expect(try reader.string() == "nope")
    }

    @Test("every truncation of a real message is an error, never a crash or a wrong reading")
    func truncated() throws {
        let raw = bytes(
            hex:
                "6c02000120000000030000002d000000050175000200000006017300040000003a312e3100000000080167000261730007017300040000003a312e30000000001c00000004000000626f6479000000000b000000626f64792d6d61726b757000"
        )
        for length in 0..<raw.count {
            #expect(throws: DBusError.self) { try DBusReply(Array(raw.prefix(length))) }
        }
        var overlong = raw
        overlong[4] = 0xFF
        overlong[5] = 0xFF
        overlong[6] = 0xFF
        #expect(throws: DBusError.self) { try DBusMessage.length(ofMessageStarting: overlong) }
    }

    @Test("where the server reads markup, an admin's text is escaped and shows as written; elsewhere it is left alone")
    func markupEscaped() {
        #expect(NotifyInternal.bodyText("<a href=\"x\">click</a> & go", markup: true) == "&lt;a href=\"x\"&gt;click&lt;/a&gt; &amp; go")
        #expect(NotifyInternal.bodyText("<b>&</b>", markup: false) == "<b>&</b>")
        #expect(NotifyInternal.bodyText(String(repeating: "x", count: 5000), markup: false).count == 1000)
    }
}

/// When the quiet-hours warnings are due: pure, with the instant passed in.
@Suite("Quiet-hours warnings")
struct QuietWarningTests {
    /// Quiet from 18:00 Berlin on Mondays; 2026-11-30 is a Monday (17:00 UTC).
    static let policy = QuietHoursPolicy(timeZone: "Europe/Berlin", weekly: ["monday": ["18:00-07:00"]])
    static let start = ISO8601.date(from: "2026-11-30T17:00:00Z")!

    @Test(
        "no warning at T-11; the 10-minute one from T-10 (one occurrence); the 1-minute one from T-1; none in quiet hours",
        arguments: [
            (-660.0, nil), (-600, "quiet-hours-10min"), (-300, "quiet-hours-10min"), (-61, "quiet-hours-10min"), (-60, "quiet-hours-1min"),
            (-1, "quiet-hours-1min"), (0, nil), (60, nil),
        ] as [(Double, String?)])
    func due(offset: Double, kind: String?) {
        let due = QuietWarnings.due(Self.policy, now: Self.start.addingTimeInterval(offset), deviceZone: nil)
        #expect(due?.notice.kind == kind)
        if let due { #expect(due.key == "\(kind!)@2026-11-30T17:00:00Z") }
    }

    @Test("the text names the minutes left and the local time quiet hours begin")
    func text() throws {
        let ten = try #require(QuietWarnings.due(Self.policy, now: Self.start.addingTimeInterval(-600), deviceZone: nil))
        #expect(ten.notice.summary == "Feierabend in 10 minutes — save your work")
        #expect(ten.notice.body.hasPrefix("Quiet hours begin at 18:00 (Europe/Berlin)."))
        #expect(ten.notice.urgency == 1)
        let one = try #require(QuietWarnings.due(Self.policy, now: Self.start.addingTimeInterval(-45), deviceZone: nil))
        #expect(one.notice.summary == "Feierabend in 1 minute — save your work" && one.notice.urgency == 2)
    }

    @Test("the daemon wakes at T-10 and at T-1, and not for a period that is already quiet")
    func wakeTimes() {
        #expect(QuietWarnings.next(Self.policy, after: Self.start.addingTimeInterval(-3600), deviceZone: nil) == Self.start.addingTimeInterval(-600))
        #expect(QuietWarnings.next(Self.policy, after: Self.start.addingTimeInterval(-600), deviceZone: nil) == Self.start.addingTimeInterval(-60))
        #expect(QuietWarnings.next(Self.policy, after: Self.start.addingTimeInterval(-30), deviceZone: nil) == nil)
        #expect(QuietWarnings.next(nil, after: Self.start, deviceZone: nil) == nil)
    }

    @Test("an occurrence is queued once, also after it was shown")
    func ledgerOnce() {
        var ledger = NoticeLedger()
        let notice = DesktopNotice(kind: "quiet-hours-10min", summary: "s", body: "b")
        ledger.queue(notice, key: "k")
        ledger.queue(notice, key: "k")
        #expect(ledger.pending.count == 1)
        ledger.finish("k")
        ledger.queue(notice, key: "k")
        #expect(ledger.pending.isEmpty && ledger.done == ["k"])
    }

    @Test("the state of an older agent, without notices, still loads")
    func olderState() throws {
        let state = try KontorJSON.decode(EnforcementState.self, from: Data(#"{"frozen": true}"#.utf8))
        #expect(state.notices == NoticeLedger() && state.frozen)
    }
}
