import KontorCore
import KontorProfiles
import Testing

@Suite("The work/private boundary, as rules")
struct WorkBoundaryTests {
    @Test("work accounts carry the reserved prefix: root, a person's login or a bare {localpart} never qualify")
    func accounts() {
        #expect(WorkBoundary.accountProblem("work-ada") == nil)
        #expect(WorkBoundary.accountProblem("work-device-0193ab12") == nil)
        for name in ["root", "ada", "work-", "work", "daemon", "Work-ada", "work-ada.l", "w-ada", ""] {
            #expect(WorkBoundary.accountProblem(name) != nil, "\(name) was accepted")
        }
    }

    @Test(
        "extra work paths lie below /srv/work (with a placeholder) or the work home, nowhere else",
        arguments: [
            ("/srv/work/{localpart}", true), ("/srv/work/{account}/inbox", true), ("/home/{account}/Projects", true), ("/srv/work/team-{localpart}", true),
            ("/srv/work", false), ("/srv/work/shared", false), ("/srv/workshop/{localpart}", false), ("/home/{localpart}/Documents", false),
            ("/home/{account}", false), ("/home/shared", false), ("/home/ada/.ssh", false), ("/etc/{localpart}", false), ("/srv/www/{localpart}", false),
            ("/var/lib/kontor/work/{account}", false), ("/srv/work/{localpart}/../../etc", false), ("/srv/work/./{localpart}", false),
            ("/srv/work//{localpart}", false), ("/srv/work/{localpart}/", false), ("srv/work/{localpart}", false), ("/srv/work/{user}", false),
            ("/srv/work/{localpart", false), ("/srv/work/\u{1b}[31m{localpart}", false),
        ])
    func workPaths(path: String, allowed: Bool) {
        let problem = WorkBoundary.workPathTemplateProblem(path)
        #expect((problem == nil) == allowed, "\(path): \(problem ?? "accepted")")
    }

    @Test("isBelow compares whole components")
    func below() {
        #expect(WorkBoundary.isBelow("/srv/work/ada", "/srv/work"))
        #expect(!WorkBoundary.isBelow("/srv/workshop", "/srv/work"))
        #expect(!WorkBoundary.isBelow("/srv/work", "/srv/work"))
        #expect(WorkBoundary.isAtOrBelow("/srv/work", "/srv/work"))
        #expect(WorkBoundary.isBelow("/home/work-ada/x", "/home/work-ada/"))
    }

    @Test(
        "the validator names the field for each boundary problem",
        arguments: [
            ("name: p\ncontainer:\n  accountPattern: root\n", "p.yaml:3: container.accountPattern: must start with the reserved prefix work-"),
            ("name: p\ncontainer:\n  accountPattern: \"{localpart}\"\n", "p.yaml:3: container.accountPattern: must start with the reserved prefix work-"),
            (
                "name: p\ncontainer:\n  extraWorkPaths: [\"/home/{localpart}/Documents\"]\n",
                "p.yaml:3: container.extraWorkPaths[0]: \"/home/{localpart}/Documents\" is in a home other than the work account's"
            ),
            (
                "name: p\ncontainer:\n  extraWorkPaths: [\"/srv/www/{localpart}\"]\n",
                "p.yaml:3: container.extraWorkPaths[0]: \"/srv/www/{localpart}\" is outside the roots"
            ),
        ])
    func validator(yaml: String, expected: String) {
        do {
            _ = try ProfileYAML.load(yaml, file: "p.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "got: \(error)")
        }
    }
}
