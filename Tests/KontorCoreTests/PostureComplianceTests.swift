import Foundation
import KontorProfiles
import Testing

@testable import KontorCore

@Suite("Posture compliance")
struct PostureComplianceTests {
    let now = Date(timeIntervalSince1970: 1_795_000_000)
    let day: TimeInterval = 86_400

    @Test(
        "requireDiskEncryption passes only an encrypted disk; unknown and unreported fail, each in its own words",
        arguments: [
            (DiskEncryptionState?.some(.encrypted), [String]()), (.notEncrypted, ["disk not encrypted"]), (.unknown, ["disk encryption unknown"]),
            (nil, ["disk encryption not reported"]),
        ])
    func diskEncryption(state: DiskEncryptionState?, expected: [String]) {
        let posture = state.map { PostureSummary(diskEncryption: $0, updatedAt: now) }
        #expect(PostureCompliance.failures(PosturePolicy(requireDiskEncryption: true), posture, now: now) == expected)
        #expect(PostureCompliance.failures(PosturePolicy(requireDiskEncryption: false), posture, now: now).isEmpty)
    }

    @Test("maxUpdateAgeDays measures the later of the list update and the last upgrade against the server's clock")
    func updateAge() {
        let policy = PosturePolicy(maxUpdateAgeDays: 7)
        func summary(lists: Date?, upgrade: Date?) -> PostureSummary {
            PostureSummary(diskEncryption: .encrypted, updatedAt: UpdatePosture(listsUpdatedAt: lists, lastUpgradeAt: upgrade).updatedAt)
        }
        #expect(PostureCompliance.failures(policy, summary(lists: now - 7 * day, upgrade: nil), now: now).isEmpty)
        #expect(PostureCompliance.failures(policy, summary(lists: now - 9 * day, upgrade: now - 30 * day), now: now) == ["updates 9 days old (at most 7)"])
        #expect(PostureCompliance.failures(policy, summary(lists: now - 30 * day, upgrade: now - day), now: now).isEmpty)
        #expect(PostureCompliance.failures(policy, summary(lists: nil, upgrade: nil), now: now) == ["update age unknown"])
        #expect(PostureCompliance.failures(policy, nil, now: now) == ["updates not reported"])
        #expect(PostureCompliance.failures(nil, nil, now: now).isEmpty)
    }

    @Test("both requirements failing are both named, in the order of the policy")
    func both() {
        let failures = PostureCompliance.failures(
            PosturePolicy(requireDiskEncryption: true, maxUpdateAgeDays: 3), PostureSummary(diskEncryption: .notEncrypted, updatedAt: now - 5 * day), now: now)
        #expect(failures == ["disk not encrypted", "updates 5 days old (at most 3)"])
    }

    @Test("a listing's three stored values give the same summary as the full posture")
    func storedSummary() throws {
        let updates = UpdatePosture(listsUpdatedAt: now - day, lastUpgradeAt: now - 2 * day)
        let posture = DevicePosture(
            diskEncryption: DiskEncryption(.encrypted, "LUKS2 on dm-0"), secureBoot: SecureBoot(.enabled), updates: updates, unitHardening: UnitHardening())
        let stored = PostureSummary(
            storedState: "encrypted", listsUpdatedAt: ISO8601.string(from: now - day), lastUpgradeAt: ISO8601.string(from: now - 2 * day))
        #expect(stored == posture.summary)
        #expect(PostureSummary(storedState: nil, listsUpdatedAt: nil, lastUpgradeAt: nil) == nil)
        #expect(PostureSummary(storedState: "quantum", listsUpdatedAt: "junk", lastUpgradeAt: nil)?.diskEncryption == .unknown)
    }
}

@Suite("Posture on the wire and in profiles")
struct PostureWireTests {
    @Test("facts without a posture (older agents) decode; a state this version does not know reads as unknown")
    func compatible() throws {
        let old = #"{"hostname":"pc","osRelease":"Debian","kernel":"6.1","machineIdHash":"m","agentVersion":"0.1.0"}"#
        #expect(try KontorJSON.decode(DeviceFacts.self, from: Data(old.utf8)).posture == nil)
        let newer = """
            {"hostname":"pc","osRelease":"Debian","kernel":"6.1","machineIdHash":"m","agentVersion":"0.9.0","posture":{
             "diskEncryption":{"state":"encryptedWithTPM"},"secureBoot":{"state":"enabled"},"updates":{"rebootRequired":false},"unitHardening":{}}}
            """
        let facts = try KontorJSON.decode(DeviceFacts.self, from: Data(newer.utf8))
        #expect(facts.posture?.diskEncryption.state == .unknown)
        #expect(facts.posture?.secureBoot.state == .enabled)
    }

    @Test("posture text with a control character, too many packages or an impossible score is refused, naming the field")
    func validation() {
        var facts = DeviceFacts(hostname: "pc", osRelease: "Debian", kernel: "6.1", machineIdHash: "m", agentVersion: "0.1.0")
        let clean = DevicePosture(
            diskEncryption: DiskEncryption(.unknown), secureBoot: SecureBoot(.unknown), updates: UpdatePosture(), unitHardening: UnitHardening())
        facts.posture = clean
        #expect(facts.validationError() == nil)
        facts.posture?.diskEncryption.detail = "dm-0\u{1B}[2J"
        #expect(facts.validationError()?.hasPrefix("facts.posture.diskEncryption.detail: contains the control") == true)
        facts.posture = clean
        facts.posture?.updates.rebootPackages = (0..<51).map { "pkg\($0)" }
        #expect(facts.validationError() == "facts.posture.updates.rebootPackages: at most 50 entries")
        facts.posture = clean
        facts.posture?.unitHardening.exposure = 12
        #expect(facts.validationError() == "facts.posture.unitHardening.exposure: expected 0.0 to 10.0")
    }

    @Test("profiles set posture requirements; the most specific layer wins, as for every field, and is named")
    func merge() throws {
        let base = try ProfileYAML.load("name: base\nposture:\n  requireDiskEncryption: true\n  maxUpdateAgeDays: 14\n", file: "base.yaml")
        let lab = try ProfileYAML.load("name: lab\nposture:\n  requireDiskEncryption: false\n", file: "lab.yaml")
        let policy = PolicyMerge.effectivePolicy(
            layers: [
                AssignedProfile(source: PolicySource(scope: "default", target: nil, profile: "base", revision: 1), profile: base),
                AssignedProfile(source: PolicySource(scope: "device", target: "d1", profile: "lab", revision: 2), profile: lab),
            ], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(policy.posture == PosturePolicy(requireDiskEncryption: false, maxUpdateAgeDays: 14))
        #expect(policy.origins?["posture.requireDiskEncryption"] == "lab@2 (device d1)")
        #expect(policy.origins?["posture.maxUpdateAgeDays"] == "base@1 (default)")
        let none = PolicyMerge.effectivePolicy(layers: [], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(none.posture == nil)
    }

    @Test(
        "bad posture values are refused with the line and what was expected",
        arguments: [
            ("name: p\nposture:\n  maxUpdateAgeDays: 0\n", "p.yaml:3: posture.maxUpdateAgeDays: expected 1 to 3650 days, found 0"),
            (
                "name: p\nposture:\n  requireEncryption: true\n",
                "p.yaml:3: posture.requireEncryption: unknown field; expected one of maxUpdateAgeDays, requireDiskEncryption"
            ),
        ])
    func refused(yaml: String, message: String) {
        #expect(throws: ProfileLoadError.self) { try ProfileYAML.load(yaml, file: "p.yaml") }
        do {
            _ = try ProfileYAML.load(yaml, file: "p.yaml")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("a string where a yes/no belongs is refused, naming the field")
    func notABool() {
        do {
            _ = try ProfileYAML.load("name: p\nposture:\n  requireDiskEncryption: sometimes\n", file: "p.yaml")
            Issue.record("loaded")
        } catch {
            #expect("\(error)".contains("posture.requireDiskEncryption"))
        }
    }
}
