import Foundation
import Hummingbird
import KontorCore
import KontorStore

extension ConsolePages {
    // MARK: Profiles and quiet hours

    func profiles(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let snapshot = try await services.policies.snapshot()
        let listed = try await services.policies.listing()
        let format = self.format
        return console.render(
            "profiles", title: "Profiles", nav: "profiles", session: session, request: request,
            [
                "profiles": listed.map { r -> [String: Any] in
                    [
                        "name": r.name, "revision": r.revision, "description": r.description ?? "", "created": format.time(r.createdAt),
                        "by": r.createdBy ?? "", "held": r.held,
                        "assigned": r.assignedTo.map { $0 == "default" ? "everyone (default)" : $0 }.joined(separator: ", "),
                    ]
                },
                "held": listed.filter(\.held).map {
                    ["name": $0.name, "revision": $0.revision, "issues": ($0.issues ?? []).map { ["text": $0] }] as [String: Any]
                },
                "assignments": snapshot.assignments.map {
                    ["profile": $0.profile, "scope": $0.scope, "target": $0.scope == "default" ? "everyone" : $0.target]
                },
                "checkinInterval": snapshot.checkinInterval,
            ])
    }

    func profile(_ request: Request, _ session: ConsoleSession, name: String) async throws -> Response {
        let revisions = (try? await services.policies.revisions(name: name)) ?? []
        guard let latest = revisions.last else { throw APIError.notFound("There is no profile named \(name).") }
        let wanted = request.uri.queryParameters.get("revision").flatMap { Int($0) }
        guard let shown = wanted.map({ w in revisions.first { $0.revision == w } }) ?? latest else {
            throw APIError.notFound("Profile \(name) has no revision \(wanted ?? 0).")
        }
        let format = self.format
        let assignments = try await services.policies.assignments().filter { $0.profile == name }
        return console.render(
            "profile", title: "Profile \(name)", nav: "profiles", session: session, request: request,
            [
                "name": name, "description": shown.profile.description ?? "", "revision": shown.revision, "latest": latest.revision,
                "isLatest": shown.revision == latest.revision, "source": shown.source,
                "revisions": revisions.reversed().map { r -> [String: Any] in
                    [
                        "revision": r.revision, "created": format.time(r.createdAt), "by": r.createdBy ?? "", "current": r.revision == shown.revision,
                        "link": "\(ConsoleController.prefix)/profiles/\(name)?revision=\(r.revision)",
                    ]
                },
                "assignments": assignments.map { ["scope": $0.scope, "target": $0.scope == "default" ? "everyone" : $0.target] },
            ])
    }

    func quietHours(_ request: Request, _ session: ConsoleSession) async throws -> Response {
        let query = request.uri.queryParameters
        let persons = try await services.directory.persons().sorted { $0.email < $1.email }
        let chosen = query.get("person").flatMap { ref in persons.first { $0.id == ref || $0.email == ref } }
        var weekOf = services.clock.now()
        if let text = query.get("week") {
            guard let day = LocalDate(String(text)) else { throw APIError.invalid("week: \"\(text)\" is not a date (YYYY-MM-DD).") }
            weekOf = WallClockResolver.instant(day, minutes: 12 * 60, in: .current)
        }
        var values: [String: Any] = [
            "persons": persons.map { ["id": $0.id, "email": $0.email, "name": $0.displayName, "selected": $0.id == chosen?.id] as [String: Any] },
            "week": WallClockResolver.localDate(of: weekOf, in: .current).description,
        ]
        if let person = chosen {
            values["person"] = ["name": person.displayName, "email": person.email]
            let devices = try await services.directory.devices(person: person.id).filter { $0.status == .active }
            let policy: EffectivePolicy
            if let device = devices.first {
                policy = try await services.policies.effectivePolicy(for: device)
                values["basis"] = "as enforced on \(device.facts.hostname)"
            } else {
                let snapshot = try await services.policies.snapshot()
                policy = PolicyService.effectivePolicy(
                    deviceId: "", person: person, group: nil, ownership: .company, snapshot: snapshot, defaultInterval: snapshot.checkinInterval)
                values["basis"] = "for a device without a group (no device enrolled yet)"
            }
            values["sources"] = policy.sources.isEmpty ? "built-in default" : policy.sources.joined(separator: ", ")
            if let quiet = policy.quietHours {
                let week = QuietWeek(policy: quiet, weekOf: weekOf)
                values["zone"] = week.zone.identifier
                values["hours"] = (0..<24).map { String(format: "%02d", $0) }
                values["days"] = week.days.map { day -> [String: Any] in
                    [
                        "date": day.date.description, "weekday": QuietHoursPolicy.weekdays[day.date.isoWeekday - 1].capitalized,
                        "cells": day.hours.enumerated().map { ["hour": String(format: "%02d", $0.offset), "kind": $0.element.rawValue] },
                        "spans": day.spans.map {
                            ["from": week.clock($0.start, dayEnd: day.end), "to": week.clock($0.end, dayEnd: day.end), "reason": $0.reason]
                        },
                    ]
                }
                if let first = week.days.first?.date {
                    values["prevWeek"] =
                        "\(ConsoleController.prefix)/quiet-hours"
                        + ConsoleFormat.query([("person", person.email), ("week", first.adding(days: -7).description)])
                    values["nextWeek"] =
                        "\(ConsoleController.prefix)/quiet-hours"
                        + ConsoleFormat.query([("person", person.email), ("week", first.adding(days: 7).description)])
                }
            } else {
                values["noQuietHours"] = true
            }
        }
        return console.render("quiet-hours", title: "Quiet hours", nav: "profiles", session: session, request: request, values)
    }
}
