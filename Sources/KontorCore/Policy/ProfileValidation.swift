#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A problem in a profile: the field (`quietHours.weekly.monday[0]`) and what was expected.
public struct ProfileIssue: Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// Checks what types alone cannot: formats, ranges, zones, regions, and the work/private boundary
/// (`WorkBoundary`): the work account's name and the paths a wipe may touch.
public enum ProfileValidator {
    public static func issues(in profile: Profile) -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        func add(_ field: String, _ message: String) { out.append(ProfileIssue(field: field, message: message)) }
        if let v = profile.apiVersion, v != "kontor/v1" { add("apiVersion", "expected kontor/v1, found \"\(v)\"") }
        if let k = profile.kind, k != "Profile" { add("kind", "expected Profile, found \"\(k)\"") }
        if !isName(profile.name) { add("name", "expected 1 to 64 lowercase letters, digits, '.', '_' or '-', found \"\(profile.name)\"") }
        if let v = profile.checkinInterval, !(10...86_400).contains(v) { add("checkinInterval", "expected 10 to 86400 seconds, found \(v)") }
        if let v = profile.usageTermsVersion, !(1...64).contains(v.count) { add("usageTermsVersion", "expected 1 to 64 characters") }
        if let q = profile.quietHours { out += issues(in: q) }
        if let apps = profile.apps { out += issues(in: apps) }
        if let c = profile.container { out += issues(in: c) }
        if let r = profile.retention { out += r.issues() }
        if let o = profile.offline {
            if let h = o.lockAfter, !(1...8_760).contains(h) { add("offline.lockAfter", "expected 1 to 8760 hours, found \(h)") }
            if let d = o.wipeAfter, !(1...3_650).contains(d) { add("offline.wipeAfter", "expected 1 to 3650 days, found \(d)") }
            if let h = o.lockAfter, let d = o.wipeAfter, d * 24 < h { add("offline.wipeAfter", "must not come before lockAfter") }
        }
        if let d = profile.posture?.maxUpdateAgeDays, !(1...3_650).contains(d) {
            add("posture.maxUpdateAgeDays", "expected 1 to 3650 days, found \(d)")
        }
        return out
    }

    static func issues(in q: QuietHoursSpec) -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        func add(_ field: String, _ message: String) { out.append(ProfileIssue(field: field, message: message)) }
        if let zone = q.timeZone, ZoneInfo(identifier: zone) == nil {
            add("quietHours.timeZone", "expected an IANA time zone such as Europe/Berlin, found \"\(zone)\"")
        }
        for (day, windows) in (q.weekly ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard QuietHoursPolicy.weekdays.contains(day) else {
                add("quietHours.weekly.\(day)", "expected a weekday (monday … sunday)")
                continue
            }
            for (i, w) in windows.enumerated() where QuietWindow(w) == nil {
                add("quietHours.weekly.\(day)[\(i)]", "expected HH:MM-HH:MM (e.g. 18:00-07:00) or all, found \"\(w)\"")
            }
        }
        if let region = q.holidayRegion, !HolidayCalendar.regions.contains(region) {
            add("quietHours.holidayRegion", "expected one of \(HolidayCalendar.regions.joined(separator: ", ")), found \"\(region)\"")
        }
        for (i, e) in (q.exemptions ?? []).enumerated() {
            let field = "quietHours.exemptions[\(i)]"
            if (e.persons ?? []).isEmpty && (e.groups ?? []).isEmpty { add(field, "name at least one person or group") }
            if e.until < e.from { add("\(field).until", "ends (\(e.until)) before it starts (\(e.from))") }
            for (j, p) in (e.persons ?? []).enumerated() where !p.contains("@") { add("\(field).persons[\(j)]", "expected an email address, found \"\(p)\"") }
        }
        return out
    }

    static func issues(in apps: AppPolicy) -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        func add(_ field: String, _ message: String) { out.append(ProfileIssue(field: field, message: message)) }
        if let mode = apps.mode, mode != "audit", mode != "enforce" { add("apps.mode", "expected audit or enforce, found \"\(mode)\"") }
        for (i, rule) in (apps.allow ?? []).enumerated() {
            let field = "apps.allow[\(i)]"
            let kinds = [rule.path, rule.sha256, rule.package].compactMap { $0 }.count
            if kinds != 1 { add(field, "give exactly one of path, sha256 or package") }
            if let p = rule.path, !p.hasPrefix("/") || p.contains("/../") { add("\(field).path", "expected an absolute path, found \"\(p)\"") }
            if let h = rule.sha256, h.count != 64 || !h.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
                add("\(field).sha256", "expected 64 lowercase hex digits")
            }
            if let p = rule.package, !isPackage(p) { add("\(field).package", "expected a Debian package name, found \"\(p)\"") }
        }
        return out
    }

    /// The work/private boundary: the account's name and the paths a wipe may touch (``WorkBoundary``).
    static func issues(in c: ContainerPolicy) -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        if let pattern = c.accountPattern {
            if !pattern.hasPrefix(WorkBoundary.accountPrefix) {
                out.append(
                    ProfileIssue(
                        field: "container.accountPattern",
                        message:
                            "must start with the reserved prefix \(WorkBoundary.accountPrefix), e.g. \(WorkBoundary.accountPrefix){localpart}: the work account is always one the agent creates, never root, a system account or the person's own login, found \"\(pattern)\""
                    ))
            } else if let problem = WorkBoundary.accountProblem(ContainerNames.account(pattern: pattern, localpart: "ada")) {
                out.append(
                    ProfileIssue(
                        field: "container.accountPattern", message: "must give a Linux user name, e.g. \(WorkBoundary.accountPrefix){localpart}: \(problem)"))
            }
        }
        for (i, path) in (c.extraWorkPaths ?? []).enumerated() {
            if let problem = WorkBoundary.workPathTemplateProblem(path) { out.append(ProfileIssue(field: "container.extraWorkPaths[\(i)]", message: problem)) }
        }
        return out
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.first, first.isASCII, first.isLowercase || first.isNumber, (1...64).contains(s.count) else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "._-".contains($0)) }
    }

    static func isPackage(_ s: String) -> Bool {
        guard let first = s.first, first.isASCII, first.isLowercase || first.isNumber, s.count >= 2 else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || "+-.".contains($0)) }
    }
}
