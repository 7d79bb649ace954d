import Crypto
import Foundation
import HummingbirdTesting
import KontorClient
import KontorCore
import Synchronization
import Testing

@testable import KontorServer

/// A long-poll timeout the test ends by hand: nothing here waits on the real clock.
private final class Gate: Sendable {
    private let opened = Mutex<(Bool, [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { c in
            let open = opened.withLock { s -> Bool in
                if s.0 { return true }
                s.1.append(c)
                return false
            }
            if open { c.resume() }
        }
    }

    func open() {
        let waiting = opened.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.0 = true
            defer { s.1 = [] }
            return s.1
        }
        for c in waiting { c.resume() }
    }
}

/// Counts answered requests across tasks.
private final class Answered: Sendable {
    let count = Atomic<Int>(0)
}

/// A long-poll check-in: `wait` seconds, reporting `applied`.
private func longPoll(
    _ client: any TestClientProtocol, key: Curve25519.Signing.PrivateKey, at now: Date, applied: String?, wait: Int = 30
) async throws -> (CheckinResponse?, TestResponse) {
    let body = try KontorJSON.encode(CheckinRequest(appliedPolicyHash: applied, status: nil, facts: nil, wait: wait))
    let response = try await client.signed(DeviceAPI.checkinPath, body: body, key: key, at: now)
    return (try? response.decode(CheckinResponse.self), response)
}

private let operatorPrincipal = Principal.token(APIToken(id: "000000000000", name: "test-operator", role: .operator, createdAt: Date(timeIntervalSince1970: 0)))

/// Yields until the server holds `n` check-ins.
private func held(_ harness: Harness, _ n: Int) async {
    while harness.services.longPolls.count < n { await Task.yield() }
}

@Suite("Long poll")
struct LongPollTests {
    @Test("a held check-in returns as soon as a command is queued for its device, with the command")
    func wokenByCommand() async throws {
        // The wait would last an hour: only the wake-up can end it.
        let harness = try await Harness(longPolls: LongPolls(sleep: { _ in try await Task.sleep(for: .seconds(3600)) }))
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let (first, _) = try await checkin(client, key: key, at: harness.clock.now)
            let hash = try #require(first?.policyHash)
            async let poll = longPoll(client, key: key, at: harness.clock.now, applied: hash)
            await held(harness, 1)
            // Queued beside the held request (the test client sends one request at a time).
            let queued = try await harness.services.issueCommand(deviceId: id, type: .wipe, reason: "laptop stolen", expiresIn: nil, by: operatorPrincipal)
            #expect(queued.state == .queued)
            let (reply, response) = try await poll
            #expect(response.status == .ok)
            #expect(reply?.commands.map(\.type) == ["wipe"])
            #expect(reply?.longPoll == true)
            #expect(harness.services.longPolls.count == 0)
        }
    }

    @Test("with nothing to say the check-in is held until the time is up, then answers unchanged; a profile change answers at once with the policy")
    func timeoutAndPolicy() async throws {
        let gate = Gate()
        let harness = try await Harness(longPolls: LongPolls(sleep: { _ in await gate.wait() }))
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, _) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            let hash = try #require(try await checkin(client, key: key, at: harness.clock.now).0?.policyHash)

            async let poll = longPoll(client, key: key, at: harness.clock.now, applied: hash)
            await held(harness, 1)
            gate.open()
            let (timedOut, _) = try await poll
            #expect(timedOut?.result == "unchanged")
            #expect(timedOut?.commands.isEmpty == true)
            #expect(timedOut?.longPoll == true)

            async let second = longPoll(client, key: key, at: harness.clock.now, applied: hash)
            // The gate is open now, so this one times out at once too, unless woken first: either way it must not hang.
            let (again, _) = try await second
            #expect(again?.longPoll == true)
        }
    }

    @Test("a profile change ends held check-ins with the new policy")
    func wokenByPolicy() async throws {
        let harness = try await Harness(longPolls: LongPolls(sleep: { _ in try await Task.sleep(for: .seconds(3600)) }))
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, _) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            // Stored, not yet assigned: the device's policy does not change.
            _ = try await harness.services.policies.apply(source: "name: office\ncheckinInterval: 90\n", dryRun: false, by: "test")
            let hash = try #require(try await checkin(client, key: key, at: harness.clock.now).0?.policyHash)
            async let poll = longPoll(client, key: key, at: harness.clock.now, applied: hash)
            await held(harness, 1)
            _ = try await harness.services.policies.assign(profile: "office", scope: "default", target: nil, by: "test")
            let (reply, _) = try await poll
            #expect(reply?.result == "policy")
            #expect(reply?.policy?.checkinInterval == 90)
        }
    }

    @Test("a check-in without wait, or with long polls turned off, answers at once; an absurd wait is refused")
    func notHeld() async throws {
        let harness = try await Harness { $0.longPollMax = 0 }
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, _) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            let hash = try #require(try await checkin(client, key: key, at: harness.clock.now).0?.policyHash)
            let (reply, _) = try await longPoll(client, key: key, at: harness.clock.now, applied: hash)
            #expect(reply?.result == "unchanged")
            #expect(reply?.longPoll == nil, "the agent is told long polls are off and goes back to its interval")
            #expect(
                try await longPoll(client, key: key, at: harness.clock.now, applied: hash, wait: 86_400).1.status == .badRequest,
                "checked whether or not polls are held")
        }
        let open = try await Harness()
        let token = try await open.token(.admin)
        try await open.test { client in
            let (key, _) = try await client.enroll(token: try await client.enrollToken(token), at: open.clock.now)
            let (_, response) = try await longPoll(client, key: key, at: open.clock.now, applied: nil, wait: 86_400)
            #expect(response.status == .badRequest)
        }
    }
    @Test("a device holds one long poll: a new one ends the one held before, which answers without asking the agent to come straight back")
    func oneHeldPollPerDevice() async throws {
        // The wait would last an hour: only a newer poll or a wake-up ends it.
        let harness = try await Harness(longPolls: LongPolls(sleep: { _ in try await Task.sleep(for: .seconds(3600)) }))
        let admin = try await harness.token(.admin)
        try await harness.test { client in
            let (key, enrolled) = try await client.enroll(token: try await client.enrollToken(admin), at: harness.clock.now)
            let id = try enrolled.decode(EnrollResponse.self).deviceId
            let hash = try #require(try await checkin(client, key: key, at: harness.clock.now).0?.policyHash)
            let answered = Answered()
            // Twenty long polls of one device, each sent while the earlier ones would still be held.
            try await withThrowingTaskGroup(of: (CheckinResponse?, TestResponse).self) { group in
                for n in 0..<20 {
                    group.addTask {
                        defer { answered.count.add(1, ordering: .relaxed) }
                        return try await longPoll(client, key: key, at: harness.clock.now, applied: hash)
                    }
                    // Until this one is held and the one before has answered (or, were polls piling up, both are held).
                    while harness.services.longPolls.count == 0 || (answered.count.load(ordering: .relaxed) < n && harness.services.longPolls.count <= 1) {
                        await Task.yield()
                    }
                }
                let held = harness.services.longPolls.count
                #expect(held == 1, "one device held \(held) polls")
                // Polls piling up would never answer: let them go, so the test fails rather than hangs.
                while held != 1 && answered.count.load(ordering: .relaxed) < 20 {
                    harness.services.longPolls.wakeAll()
                    await Task.yield()
                }
                var superseded = 0
                for _ in 0..<19 {
                    guard let (reply, response) = try await group.next() else { break }
                    #expect(response.status == .ok)
                    #expect(reply?.result == "unchanged")
                    if reply?.longPoll == nil { superseded += 1 }
                }
                #expect(superseded == 19)
                harness.services.longPolls.wake(id)
                let last = try await group.next()
                #expect(last?.0?.longPoll == true, "the poll held last answers as usual")
            }
        }
    }
}

/// A timer tick the test gives by hand: each `advance` ends one wait; `started` counts the waits begun.
private final class Ticks: Sendable {
    private let state = Mutex<(started: Int, credit: Int, waiting: [CheckedContinuation<Void, Never>])>((0, 0, []))

    var started: Int { state.withLock { $0.started } }

    func wait() async {
        await withCheckedContinuation { c in
            let now = state.withLock { s -> Bool in
                s.started += 1
                if s.credit > 0 {
                    s.credit -= 1
                    return true
                }
                s.waiting.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func advance() {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty {
                s.credit += 1
                return nil
            }
            return s.waiting.removeFirst()
        }
        c?.resume()
    }
}

@Suite("Long poll timer")
struct LongPollTimerTests {
    @Test("one timer ends each held poll at its deadline, and forgets a ticket nobody waits for")
    func deadlines() async throws {
        let ticks = Ticks()
        let polls = LongPolls(sleep: { _ in await ticks.wait() })
        let short = polls.register("device-1", connection: nil, timeout: .seconds(2))
        let long = polls.register("device-2", connection: nil, timeout: .seconds(3))
        #expect(polls.count == 2)
        // Tick 1: nothing is due.
        ticks.advance()
        while ticks.started < 2 { await Task.yield() }
        #expect(short.settled == nil && long.settled == nil)
        // Tick 2: the 2-second poll is due; nobody waits for it, and it is forgotten all the same.
        ticks.advance()
        while ticks.started < 3 { await Task.yield() }
        #expect(short.settled == .timedOut)
        #expect(long.settled == nil)
        #expect(polls.count == 1)
        // Tick 3: the other one, whose waiter then answers.
        ticks.advance()
        #expect(await polls.wait(long) == .timedOut)
        #expect(polls.count == 0)
    }
}
