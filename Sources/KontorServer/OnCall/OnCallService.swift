import Foundation
import KontorCore
import KontorStore

/// Who is on call now, and the on-call calendar of a group: the persons whose effective quiet hours
/// exempt them (from the profiles and their exemptions), with their work phone. Quiet hours are evaluated
/// in the profile's `timeZone` (UTC when it sets none: the server has no device zone to fall back on).
struct OnCallService: Sendable {
    let store: any PersonStore
    let policies: PolicyService
    let clock: WallClock

    /// How far the feed reaches back, and how many days it covers, unless asked otherwise.
    static let feedPast: TimeInterval = 7 * 86_400
    static let feedDays = 63

    func answer(group: String?, at: Date?) async throws -> OnCallAnswer {
        let instant = at ?? clock.now()
        let (members, groupPolicy) = try await roster(group: group)
        return OnCallAnswer(at: instant, group: group, quietHours: groupPolicy?.evaluate(at: instant), onCall: OnCallRoster.onCall(members, at: instant))
    }

    /// The group's quiet periods and on-call periods over `days` days from `from` (by default a week ago
    /// to eight weeks ahead), as a calendar.
    func feed(group: String, from: Date? = nil, days: Int? = nil) async throws -> ICalendar {
        let days = days ?? Self.feedDays
        guard (1...366).contains(days) else { throw KontorError.invalid("days: expected 1 to 366, found \(days)") }
        let from = from ?? clock.now().addingTimeInterval(-Self.feedPast)
        let to = from.addingTimeInterval(TimeInterval(days) * 86_400)
        let (members, groupPolicy) = try await roster(group: group)
        var events: [ICalendar.Event] = []
        for period in groupPolicy?.quietPeriods(from: from, to: to) ?? [] {
            events.append(
                ICalendar.Event(
                    uid: "quiet-\(group)-\(Int(period.start.timeIntervalSince1970))@kontor", start: period.start, end: period.end,
                    summary: "Quiet hours (Feierabend)", description: period.reason.map { "Work stops: \($0)" }, categories: ["QUIET HOURS"]))
        }
        for entry in OnCallRoster.periods(members, from: from, to: to) {
            let phone = entry.phone.map { ", \($0)" } ?? ""
            events.append(
                ICalendar.Event(
                    uid: "oncall-\(group)-\(entry.email.lowercased())-\(Int(entry.from.timeIntervalSince1970))@kontor", start: entry.from,
                    end: entry.until, summary: "On call: \(entry.displayName)\(phone)", description: entry.reason, categories: ["ON CALL"]))
        }
        return ICalendar(name: "Kontor: on call, \(group)", events: events.sorted { ($0.start, $0.uid) < ($1.start, $1.uid) })
    }

    /// The persons of `group` (everyone when nil) who have not left, each with their effective quiet
    /// hours; and the group's own quiet hours, with nobody's exemptions.
    private func roster(group: String?) async throws -> ([OnCallRoster.Member], QuietHoursPolicy?) {
        if let group, !Validation.isName(group) {
            throw KontorError.invalid("group: \"\(VisibleText.escaped(group))\" must be 1 to 64 letters, digits, '.', '_' or '-'")
        }
        let snapshot = try await policies.snapshot()
        let persons = try await store.persons().filter { $0.status != .offboarded && (group.map($0.groups.contains) ?? true) }
        if let group, persons.isEmpty, snapshot.groups[group] == nil {
            throw KontorError.notFound("no group \(group): no person is in it and no profile is assigned to it")
        }
        let members = persons.map { person in
            let layerGroup = group ?? person.groups.first { snapshot.groups[$0] != nil }
            let policy = PolicyService.effectivePolicy(
                deviceId: "", person: person, group: layerGroup, ownership: .company, snapshot: snapshot, defaultInterval: snapshot.checkinInterval)
            return OnCallRoster.Member(email: person.email, displayName: person.displayName, phone: person.phone, quietHours: policy.quietHours)
        }
        let groupPolicy = PolicyService.effectivePolicy(
            deviceId: "", person: nil, group: group, ownership: .company, snapshot: snapshot, defaultInterval: snapshot.checkinInterval
        )
        .quietHours
        return (members, groupPolicy)
    }
}
