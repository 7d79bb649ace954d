import Crypto
import Foundation
import HummingbirdTesting
import KontorCore
import Logging
import Testing

@testable import KontorServer

/// A signed check-in carrying `request` as is.
private func send(_ client: any TestClientProtocol, _ request: CheckinRequest, key: Curve25519.Signing.PrivateKey, at now: Date) async throws -> TestResponse {
    try await client.signed(DeviceAPI.checkinPath, body: try KontorJSON.encode(request), key: key, at: now)
}

private func overrides(_ n: Int, at now: Date) -> [DeviceEvent] {
    (0..<n).map { DeviceEvent(at: now, kind: "quiet.override", detail: "until 23:00: deadline \($0)") }
}

/// The audit entries about a device with `action`.
private func audited(_ harness: Harness, _ deviceId: String, _ action: String) async throws -> [AuditEntry] {
    try await harness.store.auditEntries(since: nil, target: deviceId).filter { $0.action == action }
}

/// A device enrolled through the API: its key and ID.
private func device(_ harness: Harness, _ client: any TestClientProtocol, admin: String) async throws -> (Curve25519.Signing.PrivateKey, String) {
    let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
    return (key, try enrolled.decode(EnrollResponse.self).deviceId)
}

@Suite("Check-in: validated before anything is written, and each device's events within hourly limits")
struct CheckinLimitsTests {
    /// Requests with one bad part beside good events and a good acknowledgement.
    enum BadPart: String, CaseIterable, Sendable {
        case ack, wait, eventKind, tooManyAcks

        func apply(to request: inout CheckinRequest, commandId: String, at now: Date) {
            switch self {
            case .ack: request.acks?.append(CommandAck(id: "not-a-command", state: .acknowledged, at: now))
            case .wait: request.wait = 86_400
            case .eventKind: request.events?.append(DeviceEvent(at: now, kind: "quiet override!", detail: nil))
            case .tooManyAcks: request.acks = Array(repeating: CommandAck(id: commandId, state: .acknowledged, at: now), count: 101)
            }
        }

        var field: String {
            switch self {
            case .ack: "acks[1].id"
            case .wait: "wait"
            case .eventKind: "events[2].kind"
            case .tooManyAcks: "acks"
            }
        }
    }

    @Test("a check-in refused for one bad part writes none of its events, audit entries or acknowledgements", arguments: BadPart.allCases)
    func refusedWritesNothing(bad: BadPart) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, id) = try await device(harness, client, admin: admin)
            let command = try await client.api(.post, "/api/v1/devices/\(id)/commands", token: admin, json: #"{"type": "lock", "reason": "lost"}"#)
                .decode(CommandRecord.self)
            _ = try await checkin(client, key: key, at: harness.clock.now)
            let auditBefore = try await harness.store.auditEntries(since: nil, target: id).count
            let now = harness.clock.now
            var request = CheckinRequest(
                appliedPolicyHash: nil, status: nil, facts: nil, events: overrides(2, at: now),
                acks: [CommandAck(id: command.id, state: .acknowledged, at: now)])
            bad.apply(to: &request, commandId: command.id, at: now)

            let response = try await send(client, request, key: key, at: now)
            #expect(response.status == .badRequest)
            #expect(response.errorMessage?.hasPrefix(bad.field + ":") == true, "\(response.errorMessage ?? "")")
            #expect(try await harness.store.events(deviceId: id, limit: 100).isEmpty)
            #expect(try await harness.store.auditEntries(since: nil, target: id).count == auditBefore)
            #expect(try await harness.store.command(id: command.id)?.state == .delivered)
        }
    }

    @Test("quiet-hours overrides beyond the hourly limit are stored but not audited one by one; one entry counts them when the hour is over")
    func overridesLimited() async throws {
        let harness = try await Harness { $0.deviceAuditEventsPerHour = 3 }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, id) = try await device(harness, client, admin: admin)
            // 100 overrides in each of two check-ins: what used to be 200 permanent audit entries.
            for _ in 0..<2 {
                let response = try await send(
                    client, CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: overrides(100, at: harness.clock.now)), key: key,
                    at: harness.clock.now)
                #expect(response.status == .ok)
            }
            #expect(try await audited(harness, id, "device.quiet-override").count == 3)
            #expect(try await harness.store.events(deviceId: id, limit: 1000).count == 200)
            #expect(try await audited(harness, id, "device.events-limited").isEmpty)

            harness.clock.advance(3600)
            let next = try await send(
                client, CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: overrides(1, at: harness.clock.now)), key: key,
                at: harness.clock.now)
            #expect(next.status == .ok)
            let summary = try #require(try await audited(harness, id, "device.events-limited").first)
            #expect(summary.detail?["overridesNotAudited"] == "197")
            #expect(summary.detail?["eventsNotStored"] == "0")
            #expect(summary.actor == "device:\(id)")
            // The new hour has its own allowance.
            #expect(try await audited(harness, id, "device.quiet-override").count == 4)
        }
    }

    @Test("events beyond the hourly limit are not stored; their number is audited once the hour is over, even if the device says nothing more")
    func eventsLimited() async throws {
        let harness = try await Harness { $0.deviceEventsPerHour = 10 }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, id) = try await device(harness, client, admin: admin)
            for _ in 0..<2 {
                let events = (0..<8).map { DeviceEvent(at: harness.clock.now, kind: "app.violation", detail: "/usr/bin/game-\($0)") }
                #expect(
                    try await send(client, CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: events), key: key, at: harness.clock.now)
                        .status == .ok)
            }
            let stored = try await harness.store.events(deviceId: id, limit: 100)
            #expect(stored.count == 10)
            // Oldest first: the first check-in's eight and two of the second's.
            #expect(Set(stored.compactMap(\.detail)) == Set((0..<8).map { "/usr/bin/game-\($0)" }))

            let service = EventLimitService(reports: harness.services.checkinReports, logger: Logger(label: "test"))
            await service.closeEndedHours()
            #expect(try await audited(harness, id, "device.events-limited").isEmpty, "the hour is not over yet")
            harness.clock.advance(3600)
            await service.closeEndedHours()
            let summary = try #require(try await audited(harness, id, "device.events-limited").first)
            #expect(summary.detail?["eventsNotStored"] == "6")
            #expect(summary.detail?["eventsPerHour"] == "10")
            await service.closeEndedHours()
            #expect(try await audited(harness, id, "device.events-limited").count == 1, "counted once")
        }
    }

    @Test("an over-long event detail is cut on a character boundary and says how long it was; the check-in is not refused")
    func longDetailCut() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, id) = try await device(harness, client, admin: admin)
            let name = String(repeating: "é", count: 5000)
            let event = DeviceEvent(at: harness.clock.now, kind: "app.violation", detail: name)
            #expect(
                try await send(client, CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [event]), key: key, at: harness.clock.now).status
                    == .ok)
            let stored = try #require(try await harness.store.events(deviceId: id, limit: 1).first?.detail)
            #expect(stored.utf8.count <= 1024)
            #expect(stored.hasPrefix("éééé"))
            #expect(stored.hasSuffix(" … [cut from 10000 bytes]"))
        }
    }

    @Test("cutting never splits a character, whatever its size", arguments: ["a", "é", "€", "😀", "👩‍👩‍👧"])
    func cutKeepsCharacters(unit: String) {
        let event = DeviceEvent(at: Date(timeIntervalSince1970: 0), kind: "x", detail: String(repeating: unit, count: 400))
        let cut = CheckinReports.cut(event, to: 100)
        let detail = cut.detail ?? ""
        #expect(detail.utf8.count <= 100)
        let kept = detail.components(separatedBy: " … [cut from ").first ?? ""
        #expect(kept.allSatisfy { String($0) == unit })
        #expect(
            CheckinReports.cut(DeviceEvent(at: Date(timeIntervalSince1970: 0), kind: "x", detail: unit), to: 100)
                == DeviceEvent(at: Date(timeIntervalSince1970: 0), kind: "x", detail: unit))
    }

    @Test("a device's hour is counted from the hour's start; the server's shutdown writes what is counted so far")
    func budgetWindows() {
        let budget = DeviceEventBudget(limits: .init(eventsPerHour: 2, auditedPerHour: 1))
        let at = Date(timeIntervalSince1970: 0)
        let hour = 1_800_000_000 - 1_800_000_000 % 3600
        let (first, none) = budget.admit(deviceId: "d", events: overrides(3, at: at), now: hour + 10)
        #expect(first.stored.count == 2)
        #expect(first.audited.count == 1)
        #expect(none == nil)
        #expect(budget.closeEndedHours(now: hour + 3599).isEmpty)
        #expect(budget.drain() == [.init(deviceId: "d", start: hour, eventsNotStored: 1, notAudited: 2)])
        #expect(budget.count == 0)
    }
}

@Suite("Check-in: sent again after a lost reply")
struct CheckinRetryTests {
    @Test("a check-in sent again (a new signature, the same events) stores each event and its audit entry once; events without an ID are stored as sent")
    func resentStoresOnce() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, id) = try await device(harness, client, admin: admin)
            let now = harness.clock.now
            let events = [
                DeviceEvent(at: now, kind: "quiet.override", detail: "until 23:00: customer call", id: "0193f1c2-aaaa-7000-8000-000000000001"),
                DeviceEvent(at: now, kind: "app.violation", detail: "/usr/bin/steam", id: "0193f1c2-aaaa-7000-8000-000000000002"),
            ]
            let request = CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: events)
            for _ in 0..<3 { #expect(try await send(client, request, key: key, at: harness.clock.now).status == .ok) }
            let stored = try await harness.store.events(deviceId: id, limit: 100)
            #expect(stored.count == 2)
            #expect(Set(stored.compactMap(\.id)) == Set(events.compactMap(\.id)))
            #expect(try await audited(harness, id, "device.quiet-override").count == 1)

            // One more, with the old ones again: only the new one is added.
            let next = DeviceEvent(at: now, kind: "quiet.end", detail: nil, id: "0193f1c2-aaaa-7000-8000-000000000003")
            #expect(
                try await send(client, CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: events + [next]), key: key, at: now).status
                    == .ok)
            #expect(try await harness.store.events(deviceId: id, limit: 100).count == 3)

            // An older agent sends no IDs: nothing to tell a resend by, so each is stored.
            let old = CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [DeviceEvent(at: now, kind: "quiet.begin")])
            for _ in 0..<2 { #expect(try await send(client, old, key: key, at: now).status == .ok) }
            #expect(try await harness.store.events(deviceId: id, limit: 100).count == 5)

            let bad = CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [DeviceEvent(at: now, kind: "quiet.begin", id: "not an id!")])
            let refused = try await send(client, bad, key: key, at: now)
            #expect(refused.status == .badRequest)
            #expect(refused.errorMessage?.hasPrefix("events[0].id:") == true)
        }
    }
}
