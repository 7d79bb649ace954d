import Foundation
import KontorProfiles
import Testing

@testable import KontorCore

private func layer(_ scope: String, _ profile: Profile, revision: Int = 1) -> AssignedProfile {
    AssignedProfile(source: PolicySource(scope: scope, target: scope == "default" ? nil : "x", profile: profile.name, revision: revision), profile: profile)
}

@Suite("Policy merge")
struct PolicyMergeTests {
    @Test("the most specific layer that sets a field wins, field by field, and says so")
    func fieldByField() {
        var base = Profile(name: "base")
        base.checkinInterval = 120
        base.quietHours = QuietHoursSpec()
        base.quietHours?.timeZone = "Europe/Berlin"
        base.quietHours?.weekly = ["monday": ["18:00-07:00"]]
        var group = Profile(name: "techs")
        group.quietHours = QuietHoursSpec()
        group.quietHours?.holidayRegion = "DE-BW"
        var device = Profile(name: "laptop")
        device.checkinInterval = 30
        let policy = PolicyMerge.effectivePolicy(
            layers: [layer("default", base), layer("group", group), layer("device", device)], subject: nil, fallbackAccountSuffix: "d",
            defaultCheckinInterval: 60)
        #expect(policy.checkinInterval == 30)
        #expect(policy.quietHours?.timeZone == "Europe/Berlin")
        #expect(policy.quietHours?.holidayRegion == "DE-BW")
        #expect(policy.quietHours?.weekly == ["monday": ["18:00-07:00"]])
        #expect(policy.origins?["checkinInterval"] == "laptop@1 (device x)")
        #expect(policy.origins?["quietHours.holidayRegion"] == "techs@1 (group x)")
        #expect(policy.origins?["quietHours.timeZone"] == "base@1 (default)")
        #expect(policy.sources.count == 3)
    }

    @Test("lists replace rather than add up")
    func listsReplace() {
        var base = Profile(name: "base")
        base.apps = AppPolicy(mode: "enforce", allow: [AppRule(package: "firefox-esr"), AppRule(package: "thunderbird")])
        var device = Profile(name: "dev")
        device.apps = AppPolicy(allow: [AppRule(path: "/usr/bin/vim")])
        let policy = PolicyMerge.effectivePolicy(
            layers: [layer("default", base), layer("device", device)], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(policy.apps?.allow == [AppRule(path: "/usr/bin/vim")])
        #expect(policy.apps?.mode == "enforce")
    }

    @Test("exemptions reach only the devices of the people they name")
    func exemptionsNarrowed() {
        var p = Profile(name: "craft")
        p.quietHours = QuietHoursSpec()
        p.quietHours?.exemptions = [
            Exemption(persons: ["lukas@example.org"], groups: nil, from: LocalDate("2027-01-04")!, until: LocalDate("2027-01-10")!, reason: "rota"),
            Exemption(persons: nil, groups: ["on-call"], from: LocalDate("2027-02-01")!, until: LocalDate("2027-02-07")!, reason: nil),
        ]
        func onCall(_ email: String, _ groups: [String]) -> Int {
            PolicyMerge.effectivePolicy(
                layers: [layer("default", p)], subject: PolicySubject(email: email, groups: groups), fallbackAccountSuffix: "d", defaultCheckinInterval: 60
            ).quietHours?.onCall.count ?? -1
        }
        #expect(onCall("LUKAS@example.org", []) == 1)
        #expect(onCall("mia@example.org", ["on-call"]) == 1)
        #expect(onCall("lukas@example.org", ["on-call"]) == 2)
        #expect(onCall("ada@example.org", ["office"]) == 0)
    }

    @Test("the container account comes from the person's email")
    func container() {
        var p = Profile(name: "c")
        p.container = ContainerPolicy(accountPattern: nil, extraWorkPaths: ["/srv/work/{localpart}"])
        let policy = PolicyMerge.effectivePolicy(
            layers: [layer("default", p)], subject: PolicySubject(email: "Anna.Schmidt@example.org", groups: []), fallbackAccountSuffix: "d",
            defaultCheckinInterval: 60)
        #expect(policy.container == ResolvedContainer(account: "work-anna-schmidt", extraWorkPaths: ["/srv/work/anna-schmidt"]))
        #expect(ContainerNames.isValidAccount("work-anna-schmidt"))
    }

    @Test("without profiles only the defaults apply, and provenance does not change the hash")
    func defaultsAndHash() {
        let none = PolicyMerge.effectivePolicy(layers: [], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 90)
        #expect(none.checkinInterval == 90)
        #expect(none.quietHours == nil && none.apps == nil && none.container == nil)
        var p = Profile(name: "p")
        p.checkinInterval = 90
        let fromProfile = PolicyMerge.effectivePolicy(
            layers: [layer("default", p, revision: 7)], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(fromProfile.canonicalHash == none.canonicalHash)
        p.checkinInterval = 91
        #expect(
            PolicyMerge.effectivePolicy(layers: [layer("default", p)], subject: nil, fallbackAccountSuffix: "d", defaultCheckinInterval: 60).canonicalHash
                != none.canonicalHash)
    }
}

@Suite("Profile YAML")
struct ProfileYAMLTests {
    @Test("a full profile loads")
    func loads() throws {
        let profile = try ProfileYAML.load(
            """
            apiVersion: kontor/v1
            kind: Profile
            name: craft
            checkinInterval: 60
            quietHours:
              timeZone: Europe/Berlin
              weekly:
                monday: ["17:00-07:00"]
                saturday: [all]
              holidayRegion: DE-BW
              extraDates: ["2027-12-24"]
              exemptions:
                - groups: [on-call]
                  from: "2027-01-04"
                  until: "2027-01-10"
              allowUserOverride: false
            apps:
              mode: enforce
              allow:
                - package: libreoffice-core
                - path: /usr/bin/bash
            container:
              extraWorkPaths: ["/srv/work/{localpart}"]
            offline: {lockAfter: 48, wipeAfter: 14}
            """, file: "craft.yaml")
        #expect(profile.quietHours?.extraDates == [LocalDate("2027-12-24")!])
        #expect(profile.apps?.allow?.count == 2)
        #expect(profile.offline?.wipeAfter == 14)
    }

    @Test(
        "errors name the file, the line, the field and what was expected",
        arguments: [
            ("name: p\nquietHours:\n  weekly:\n    monday: [\"25:00-07:00\"]\n", "p.yaml:4: quietHours.weekly.monday[0]: expected HH:MM-HH:MM"),
            ("name: p\ncheckinIntervall: 60\n", "p.yaml:2: checkinIntervall: unknown field"),
            ("name: p\ncheckinInterval: soon\n", "p.yaml:2: checkinInterval: expected an integer"),
            ("name: p\ncontainer:\n  extraWorkPaths: [\"/etc/{localpart}\"]\n", "p.yaml:3: container.extraWorkPaths[0]: \"/etc/{localpart}\" is outside"),
            ("name: p\nquietHours:\n  timeZone: Mars/Olympus\n", "p.yaml:3: quietHours.timeZone: expected an IANA time zone"),
            ("name: p\nquietHours:\n  holidayRegion: DE-XX\n", "p.yaml:3: quietHours.holidayRegion: expected one of"),
            ("name: p\napps:\n  allow:\n    - path: /usr/bin/a\n      package: a\n", "p.yaml:4: apps.allow[0]: give exactly one of path, sha256 or package"),
            ("name: p\noffline:\n  lockAfter: 0\n", "p.yaml:3: offline.lockAfter: expected 1 to 8760 hours"),
            ("checkinInterval: 60\n", "p.yaml:1: name: required field is missing"),
            ("name: Bad Name\n", "p.yaml:1: name: expected 1 to 64 lowercase"),
            ("name: p\nquietHours:\n  extraDates: [\"2027-02-30\"]\n", "p.yaml:3: quietHours.extraDates[0]: expected a date YYYY-MM-DD"),
            ("name: [unclosed\n", "p.yaml: not valid YAML"),
        ])
    func errors(yaml: String, expected: String) {
        do {
            _ = try ProfileYAML.load(yaml, file: "p.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "got: \(error)")
        }
    }

    @Test("the shipped restricted profile tightens apps and offline limits and keeps the default's quiet hours and container")
    func restricted() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "Profiles")
        func load(_ name: String) throws -> Profile {
            let url = dir.appendingPathComponent(name == "offboarding-restricted" ? "overlays/\(name).yaml" : "\(name).yaml")
            return try ProfileYAML.load(try String(contentsOf: url, encoding: .utf8), file: url.path)
        }
        let restricted = try load("offboarding-restricted")
        #expect(ProfileValidator.issues(in: restricted).isEmpty)
        let policy = PolicyMerge.effectivePolicy(
            layers: [layer("default", try load("office-default")), layer("device", restricted)], subject: PolicySubject(email: "a@example.org", groups: []),
            fallbackAccountSuffix: "d", defaultCheckinInterval: 60)
        #expect(policy.apps?.mode == "enforce")
        #expect(policy.apps?.allow?.contains { $0.package == "nextcloud-desktop" } == false)
        #expect(policy.offline == OfflinePolicy(lockAfter: 12, wipeAfter: 3))
        #expect(policy.quietHours?.holidayRegion == "DE-NW")
        #expect(policy.container?.account == "work-a")
    }

    @Test("every shipped profile loads and evaluates", arguments: ["school-staff", "craft-business", "office-default"])
    func shipped(name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Profiles/\(name).yaml")
        let profile = try ProfileYAML.load(try String(contentsOf: url, encoding: .utf8), file: url.path)
        #expect(profile.name == name)
        let policy = PolicyMerge.effectivePolicy(
            layers: [layer("default", profile)], subject: PolicySubject(email: "a@example.org", groups: []), fallbackAccountSuffix: "d",
            defaultCheckinInterval: 60)
        #expect(policy.quietHours?.evaluate(at: ISO8601.date(from: "2027-03-28T01:30:00Z")!).nextTransition != nil)
    }
}
