import Foundation
import Testing

@testable import KontorCore

@Suite("Visible text")
struct VisibleTextTests {
    static let controls: [UInt32] = Array(0x00...0x1F) + Array(0x7F...0x9F)

    @Test("every control character (C0, DEL, C1) is written out, so a terminal acts on none", arguments: controls)
    func controlsEscaped(value: UInt32) {
        let scalar = Unicode.Scalar(value)!
        let shown = VisibleText.escaped("a\(Character(scalar))b")
        #expect(shown == "a\\x" + String(format: "%02X", value) + "b")
        #expect(VisibleText.firstHidden(in: shown) == nil)
    }

    @Test(
        "invisible and direction-changing characters are written out",
        arguments: [0x200B, 0x200D, 0x202E, 0x2066, 0x2069, 0x200F, 0xFEFF, 0x00AD, 0x2028, 0x3164, 0xE0041] as [UInt32])
    func invisibleEscaped(value: UInt32) {
        let scalar = Unicode.Scalar(value)!
        #expect(VisibleText.isInvisible(scalar))
        let expected = value <= 0xFF ? "\\x" + String(format: "%02X", value) : "\\u{" + String(format: "%04X", value) + "}"
        #expect(VisibleText.escaped("x\(Character(scalar))y") == "x" + expected + "y")
    }

    @Test("ordinary text, accents, CJK and emoji (with their variation selector) come back unchanged")
    func plainUnchanged() {
        for text in ["laptop-7", "Zoë's Büro", "東京の事務所", "❤️ ok", "/home/work-ada/Projects/report (final).odt", ""] {
            #expect(VisibleText.escaped(text) == text)
            #expect(VisibleText.firstHidden(in: text) == nil)
        }
    }

    @Test("line breaks stay when the printer lays out lines itself, and only then")
    func keepingNewlines() {
        #expect(VisibleText.escaped("a\nb\u{1B}[2J", keeping: VisibleText.newlines) == "a\nb\\x1B[2J")
        #expect(VisibleText.escaped("a\nb") == "a\\x0Ab")
    }

    @Test("JSON with C1 and bidi characters in strings stays valid, decodes to the same value, and holds none of them raw")
    func jsonEscaped() throws {
        struct Doc: Codable, Equatable {
            var name: String
            var list: [String]
        }
        let doc = Doc(name: "evil\u{9B}31m\u{202E}gpj.exe\u{1B}]0;x\u{07}", list: ["\u{200B}", "ok\u{7F}"])
        let json = VisibleText.jsonEscaped(String(decoding: try KontorJSON.encode(doc, pretty: true), as: UTF8.self))
        #expect(!json.unicodeScalars.contains { VisibleText.isHidden($0) && $0 != "\n" })
        #expect(try KontorJSON.decode(Doc.self, from: Data(json.utf8)) == doc)
        let tag = VisibleText.jsonEscaped(#"{"a":"\#u{E0041}"}"#)
        #expect(tag == #"{"a":"\udb40\udc41"}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(tag.utf8)) as? [String: String] == ["a": "\u{E0041}"])
    }

    @Test("a hostname with an invisible or direction-changing character is refused naming the field; other facts only refuse controls")
    func factsValidation() {
        var facts = DeviceFacts(hostname: "laptop\u{200B}-7", osRelease: "Debian", kernel: "6.1", machineIdHash: "m", agentVersion: "0.1.0")
        #expect(facts.validationError()?.hasPrefix("facts.hostname: contains the invisible or direction-changing character U+200B") == true)
        facts.hostname = "\u{202E}7-potpal"
        #expect(facts.validationError()?.contains("U+202E") == true)
        facts.hostname = "laptop-7"
        facts.kernel = "6.1\u{1B}[31m"
        #expect(facts.validationError() == "facts.kernel: contains control characters (U+001B)")
        facts.kernel = "6.1"
        facts.osRelease = "Debian 👩‍💻"
        #expect(facts.validationError() == nil)
    }

    @Test("a check-in refuses control characters in identifiers and words of the agent's vocabulary, naming the field")
    func checkinIdentifiers() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let cases: [(CheckinRequest, String)] = [
            (CheckinRequest(appliedPolicyHash: "sha256:\u{1B}[2J", status: nil, facts: nil), "appliedPolicyHash"),
            (
                CheckinRequest(
                    appliedPolicyHash: nil, status: nil, facts: nil, events: [DeviceEvent(at: now, kind: "quiet.begin"), DeviceEvent(at: now, kind: "x\u{9B}")]),
                "events[1].kind"
            ),
            (
                CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, compliance: ComplianceReport(containerAccount: "work\u{200B}")),
                "compliance.containerAccount"
            ),
            (
                CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, compliance: ComplianceReport(containerState: "ok\u{7}")),
                "compliance.containerState"
            ),
            (
                CheckinRequest(
                    appliedPolicyHash: nil, status: nil, facts: nil,
                    compliance: ComplianceReport(violations: [AppViolation(executable: "/bin/x", pid: 1, action: "reported\u{1B}", at: now)])),
                "compliance.violations[0].action"
            ),
        ]
        for (request, field) in cases { #expect(request.characterProblem()?.hasPrefix("\(field): contains the control or invisible character") == true) }
        #expect(CheckinRequest(appliedPolicyHash: "sha256:abc", status: AgentReport(state: "ok", message: "\u{1B}"), facts: nil).characterProblem() == nil)
    }

    @Test("a check-in's free text keeps what was reported, with controls and invisible characters written out")
    func checkinFreeText() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let request = CheckinRequest(
            appliedPolicyHash: nil, status: AgentReport(state: "degraded", message: "cannot read /home/w/\u{1B}[2J\u{1B}]0;pwned\u{07}"), facts: nil,
            compliance: ComplianceReport(
                quietReason: "holiday\u{202E}", violations: [AppViolation(executable: "/home/w/\u{1B}[31mminer", pid: 7, action: "reported", at: now)]),
            events: [DeviceEvent(at: now, kind: "quiet.override", detail: "by \u{9B}2J")],
            acks: [CommandAck(id: "x", state: .failed, at: now, error: "e\u{1B}")])
        let clean = request.sanitized()
        #expect(clean.status?.message == "cannot read /home/w/\\x1B[2J\\x1B]0;pwned\\x07")
        #expect(clean.compliance?.quietReason == "holiday\\u{202E}")
        #expect(clean.compliance?.violations.first?.executable == "/home/w/\\x1B[31mminer")
        #expect(clean.events?.first?.detail == "by \\x9B2J")
        #expect(clean.acks?.first?.error == "e\\x1B")
        let plain = CheckinRequest(appliedPolicyHash: "sha256:a", status: AgentReport(state: "ok", message: "fine"), facts: nil)
        #expect(plain.sanitized() == plain)
    }
}
