import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

@Suite("Rehire: a person ID is never reused")
struct RehireAPITests {
    @Test("the same email rehired three times: four distinct IDs linked in order, each history kept, the audit chain intact")
    func threeRehires() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let created = try await client.api(
                .post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"]}"#)
            var ids = [try created.decode(Person.self).id]
            let early = try await client.api(.post, "/api/v1/persons/ada@example.org/rehire", token: admin, json: "{}")
            #expect(early.status == .conflict, "an active person cannot be rehired")
            for round in 1...3 {
                #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: "{}").status == .accepted)
                let shown = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
                #expect(shown.person.id == ids.last && shown.person.status == .offboarded)
                let back = try await client.api(
                    .post, "/api/v1/persons/ada@example.org/rehire", token: admin, json: round == 2 ? #"{"groups": ["office"]}"# : "{}")
                #expect(back.status == .created)
                let person = try back.decode(Person.self)
                #expect(person.previousId == ids.last && person.status == .active)
                #expect(person.groups == (round >= 2 ? ["office"] : ["techs"]))
                ids.append(person.id)
            }
            #expect(Set(ids).count == 4)
            let current = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
            #expect(current.person.id == ids[3])
            #expect(current.previousIds == [ids[2], ids[1], ids[0]])
            let first = try await client.api(.get, "/api/v1/persons/\(ids[0])", token: admin).decode(PersonDetail.self)
            #expect(first.person.status == .offboarded && first.returnedAs == ids[1])
            let again = try await client.api(.post, "/api/v1/persons/\(ids[0])/rehire", token: admin, json: "{}")
            #expect(again.status == .conflict, "an ID that came back once cannot come back twice")
            #expect(String(buffer: try await client.api(.get, "/api/v1/audit/verify", token: admin).body).contains(#""ok":true"#))
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).body)
            #expect(audit.components(separatedBy: "person.rehired").count - 1 == 3)
        }
    }

    @Test("an offboarding at a date is cancelled in its notice period (operator, audited), not once its wipes went out")
    func cancelOffboarding() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        try await harness.test { client async throws in
            _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
            let nothing = try await client.api(.delete, "/api/v1/persons/ada@example.org/offboarding", token: admin)
            #expect(nothing.status == .conflict && nothing.errorMessage?.contains("not in the notice period") == true)
            let at = ISO8601.string(from: harness.clock.now.addingTimeInterval(7 * 86_400))
            #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: #"{"at": "\#(at)"}"#).status == .accepted)
            #expect(try await client.api(.delete, "/api/v1/persons/ada@example.org/offboarding", token: auditor).status == .forbidden)
            let cancelled = try await client.api(.delete, "/api/v1/persons/ada@example.org/offboarding", token: admin)
            #expect(cancelled.status == .ok)
            let detail = try cancelled.decode(PersonDetail.self)
            #expect(detail.person.status == .active && detail.offboarding == nil)
            #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: "{}").status == .accepted)
            let late = try await client.api(.delete, "/api/v1/persons/ada@example.org/offboarding", token: admin)
            #expect(late.status == .conflict, "the wipes went out (the person had no devices, so the offboarding is complete)")
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).body)
            #expect(audit.contains("person.offboarding-cancelled"))
        }
    }
}
