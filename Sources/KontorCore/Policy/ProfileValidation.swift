import Foundation

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

/// Checks what types alone cannot: formats, ranges, zones, regions, and the paths a wipe may touch.
public enum ProfileValidator {
    /// Roots under which extra work paths may lie. Anything else could be personal data, so a profile
    /// that lists it is refused.
    public static let allowedWorkRoots = ["/home/", "/srv/", "/var/lib/kontor/work/"]

    public static func issues(in profile: Profile) -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        func add(_ field: String, _ message: String) { out.append(ProfileIssue(field: field, message: message)) }

        if let v = profile.apiVersion, v != "kontor/v1" { add("apiVersion", "expected kontor/v1, found \"\(v)\"") }
        if let k = profile.kind, k != "Profile" { add("kind", "expected Profile, found \"\(k)\"") }
        if !isName(profile.name) { add("name", "expected 1 to 64 lowercase letters, digits, '.', '_' or '-', found \"\(profile.name)\"") }
        if let v = profile.checkinInterval, !(10...86_400).contains(v) { add("checkinInterval", "expected 10 to 86400 seconds, found \(v)") }
        if let v = profile.usageTermsVersion, !(1...64).contains(v.count) { add("usageTermsVersion", "expected 1 to 64 characters") }

        if let q = profile.quietHours {
            if let zone = q.timeZone, TimeZone(identifier: zone) == nil {
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
        }

        if let apps = profile.apps {
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
        }

        if let c = profile.container {
            if let pattern = c.accountPattern, !ContainerNames.isValidAccount(ContainerNames.account(pattern: pattern, localpart: "ada")) {
                add("container.accountPattern", "must give a Linux user name (lowercase letter first, then letters, digits, - or _), e.g. work-{localpart}")
            }
            for (i, path) in (c.extraWorkPaths ?? []).enumerated() {
                let field = "container.extraWorkPaths[\(i)]"
                if path.contains("..") || !path.hasPrefix("/") {
                    add(field, "expected an absolute path without '..', found \"\(path)\"")
                } else if !allowedWorkRoots.contains(where: { path.hasPrefix($0) }) {
                    add(field, "\"\(path)\" is outside the roots work data may live in (\(allowedWorkRoots.joined(separator: ", "))); personal data is never wiped")
                } else if !path.contains("{localpart}") && !path.contains("{account}") {
                    add(field, "must contain {localpart} or {account}, so each person's work data has its own directory")
                }
            }
        }

        if let o = profile.offline {
            if let h = o.lockAfter, !(1...8_760).contains(h) { add("offline.lockAfter", "expected 1 to 8760 hours, found \(h)") }
            if let d = o.wipeAfter, !(1...3_650).contains(d) { add("offline.wipeAfter", "expected 1 to 3650 days, found \(d)") }
            if let h = o.lockAfter, let d = o.wipeAfter, d * 24 < h { add("offline.wipeAfter", "must not come before lockAfter") }
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
