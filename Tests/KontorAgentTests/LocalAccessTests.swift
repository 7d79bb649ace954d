import Foundation
import KontorCore
import Testing

@testable import KontorAgent

@Suite("Who may ask the agent through its local socket")
struct LocalAccessTests {
    let accounts = [
        Account(name: "root", uid: 0, gid: 0, home: "/root"),
        Account(name: "ada", uid: 1000, gid: 1000, home: "/home/ada"),
        Account(name: "bob", uid: 1001, gid: 1001, home: "/home/bob"),
    ]
    let work = WorkAccount(name: "work-ada", uid: 70001, gid: 70001, home: "/home/work-ada", createdAt: Date(timeIntervalSince1970: 0))

    @Test("root may always ask, also on a device where nobody was named")
    func root() throws {
        #expect(try LocalAccess.decide(uid: 0, personLogin: nil, accounts: [], workAccount: nil).get() == .root)
    }

    @Test("the person named at enrollment is known by the UID of their login")
    func person() throws {
        #expect(try LocalAccess.decide(uid: 1000, personLogin: "ada", accounts: accounts, workAccount: work).get() == .person(login: "ada"))
    }

    @Test("the work account the agent created may ask")
    func workAccount() throws {
        #expect(try LocalAccess.decide(uid: 70001, personLogin: "ada", accounts: accounts, workAccount: work).get() == .workAccount(name: "work-ada"))
    }

    @Test("another local user is refused with a message naming their UID and who may ask")
    func stranger() throws {
        let refusal = try #require(LocalAccess.decide(uid: 1001, personLogin: "ada", accounts: accounts, workAccount: work).failure)
        #expect(refusal.description.contains("UID 1001 may not ask"))
        #expect(refusal.description.contains("ada, UID 1000"))
        #expect(refusal.description.contains("work-ada, UID 70001"))
    }

    @Test("the login is resolved at every request: a login whose UID changed no longer lets the old UID in")
    func loginMovedToAnotherUID() throws {
        let moved = [Account(name: "ada", uid: 1002, gid: 1002, home: "/home/ada")]
        #expect(LocalAccess.decide(uid: 1000, personLogin: "ada", accounts: moved, workAccount: nil).failure != nil)
        #expect(try LocalAccess.decide(uid: 1002, personLogin: "ada", accounts: moved, workAccount: nil).get() == .person(login: "ada"))
    }

    @Test("the first entry of a login counts, as getpwnam reads the database: a second line with the same name does not let its UID in")
    func duplicateLogin() throws {
        let twice = accounts + [Account(name: "ada", uid: 1001, gid: 1001, home: "/home/ada")]
        #expect(LocalAccess.decide(uid: 1001, personLogin: "ada", accounts: twice, workAccount: nil).failure != nil)
    }

    @Test("with nobody named at enrollment, or a login without an account, only root and the work account may ask; the refusal says so")
    func nobodyNamed() throws {
        let none = try #require(LocalAccess.decide(uid: 1000, personLogin: nil, accounts: accounts, workAccount: nil).failure)
        #expect(none.description.contains("none was: kontor-agent enroll --user LOGIN"))
        #expect(none.description.contains("none created yet"))
        let missing = try #require(LocalAccess.decide(uid: 1000, personLogin: "carol", accounts: accounts, workAccount: nil).failure)
        #expect(missing.description.contains("carol, who has no account on this device"))
    }

    @Test("the person's view leaves out the error text, the problems' text and the wipe's signed receipt, and says so")
    func redaction() throws {
        var report = AgentStatusReport(
            enrolled: true, server: "https://kontor.example.org", deviceId: "d-1", enrolledAt: Date(), lastCheckin: nil, lastAttempt: Date(),
            lastError: "/var/lib/kontor/agent/policy.json: unreadable", policyHash: "h", policyReceivedAt: nil, enforcing: ["quiet hours"],
            pendingActions: ["report quiet.override"], pendingReports: ["rejected a server reply: /etc/kontor/ca.pem"], dataSent: ["the hostname"],
            wipeInProgress: nil, wiped: nil)
        report.locks = ["locked by your organisation (a lock command); it ends with their unlock"]
        let view = report.redactedForPerson()
        #expect(view.redacted == true)
        #expect(view.lastError?.contains("/var/lib") == false)
        #expect(view.lastError?.contains("sudo kontor-agent status") == true)
        #expect(view.pendingReports.count == 1 && !view.pendingReports[0].contains("/etc"))
        #expect(view.enforcing == report.enforcing && view.dataSent == report.dataSent && view.locks == report.locks)
        #expect(view.deviceId == "d-1" && view.server == report.server)
        #expect(view.text(now: Date()).contains("Shown to you as the person at this device"))
        #expect(report.text(now: Date()).contains("Shown to you") == false)
    }

    @Test(
        "a request line that is not one gets a reason saying what was expected",
        arguments: [
            ("hello", "not a request"), (#"{"op":"rm -rf"}"#, "unknown operation \"rm -rf\""), (#"{"reason":"x"}"#, "unknown operation"),
            (#"{"op":1}"#, "not a request"),
        ])
    func badLines(line: String, expected: String) throws {
        let failure = try #require(LocalRequest.parse(Data(line.utf8)).failure)
        #expect(failure.description.contains(expected))
    }

    @Test("every operation parses from its wire name")
    func operations() throws {
        let line = #"{"op":"terms-respond","version":"2026-1","accept":false}"#
        #expect(try LocalRequest.parse(Data(line.utf8)).get() == LocalRequest(op: .termsRespond, version: "2026-1", accept: false))
        for op in LocalRequest.Operation.allCases {
            #expect(try LocalRequest.parse(try KontorJSON.encode(LocalRequest(op: op))).get().op == op)
        }
    }

    @Test("enrolling names a person only by an existing login that is neither root nor a work account")
    func enrollUser() throws {
        let all = accounts + [Account(name: "work-ada", uid: 70001, gid: 70001, home: "/home/work-ada")]
        try Enroll.checkPerson("ada", accounts: all)
        #expect(throws: AgentError.self) { try Enroll.checkPerson("carol", accounts: all) }
        #expect(throws: AgentError.self) { try Enroll.checkPerson("root", accounts: all) }
        #expect(throws: AgentError.self) { try Enroll.checkPerson("work-ada", accounts: all) }
    }
}

extension Result {
    /// The error, nil on success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
