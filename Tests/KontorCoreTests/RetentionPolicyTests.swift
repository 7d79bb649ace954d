import Foundation
import KontorCore
import KontorProfiles
import Testing

private func layer(_ scope: String, _ profile: Profile) -> AssignedProfile {
    AssignedProfile(source: PolicySource(scope: scope, target: scope == "default" ? nil : "x", profile: profile.name, revision: 1), profile: profile)
}

@Suite("Profiles: the retention section (what is archived before a wipe)")
struct RetentionPolicyTests {
    static var recipient: String {
        var random = SystemRandomNumberGenerator()
        return AgeIdentity.generate(using: &random).recipient.description
    }

    @Test("a retention section is read from YAML, checked, and merged as a whole from the most specific layer, its paths expanded")
    func readAndMerged() throws {
        let recipient = Self.recipient
        let yaml = """
            apiVersion: kontor/v1
            kind: Profile
            name: office
            container:
              accountPattern: work-{localpart}
            retention:
              paths: ["/home/{account}/Buchhaltung", "/srv/work/{localpart}/Rechnungen"]
              recipients: ["\(recipient)"]
              retainDays: 3650
            """
        let office = try ProfileYAML.load(yaml, file: "office.yaml")
        #expect(ProfileValidator.issues(in: office).isEmpty, "\(ProfileValidator.issues(in: office))")
        var device = Profile(name: "lab")
        device.retention = RetentionPolicy(paths: ["/home/{account}/Lab"], recipients: [recipient], retainDays: 30, mode: "bestEffort")
        let subject = PolicySubject(email: "ada@example.org", groups: [])
        let merged = PolicyMerge.effectivePolicy(
            layers: [layer("default", office)], subject: subject, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(merged.retention?.paths == ["/home/work-ada/Buchhaltung", "/srv/work/ada/Rechnungen"])
        #expect(merged.retention?.mode == "required" && merged.retention?.timeoutMinutes == RetentionPolicy.defaultTimeoutMinutes)
        #expect(merged.origins?["retention"] == "office@1 (default)")
        let overridden = PolicyMerge.effectivePolicy(
            layers: [layer("default", office), layer("device", device)], subject: subject, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(
            overridden.retention
                == RetentionPolicy(paths: ["/home/work-ada/Lab"], recipients: [recipient], retainDays: 30, mode: "bestEffort", timeoutMinutes: 1440))
        let none = PolicyMerge.effectivePolicy(
            layers: [layer("device", device)].dropLast(), subject: subject, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(none.retention == nil)
    }

    @Test(
        "a retention section that reaches outside the container, names no usable recipient or an odd duration is refused naming the field",
        arguments: [
            (RetentionPolicy(paths: ["/home/ada/Private"], recipients: [recipient], retainDays: 10), "retention.paths[0]"),
            (RetentionPolicy(paths: ["/srv/work/shared"], recipients: [recipient], retainDays: 10), "retention.paths[0]"),
            (RetentionPolicy(paths: [], recipients: [recipient], retainDays: 10), "retention.paths"),
            (RetentionPolicy(paths: ["/home/{account}/A"], recipients: ["age1notarecipient"], retainDays: 10), "retention.recipients[0]"),
            (RetentionPolicy(paths: ["/home/{account}/A"], recipients: [], retainDays: 10), "retention.recipients"),
            (RetentionPolicy(paths: ["/home/{account}/A"], recipients: [recipient], retainDays: 0), "retention.retainDays"),
            (RetentionPolicy(paths: ["/home/{account}/A"], recipients: [recipient], retainDays: 10, mode: "maybe"), "retention.mode"),
            (RetentionPolicy(paths: ["/home/{account}/A"], recipients: [recipient], retainDays: 10, timeoutMinutes: 0), "retention.timeoutMinutes"),
        ])
    func refused(retention: RetentionPolicy, field: String) {
        var profile = Profile(name: "p")
        profile.retention = retention
        let issues = ProfileValidator.issues(in: profile)
        #expect(issues.map(\.field) == [field], "\(issues)")
    }
}
