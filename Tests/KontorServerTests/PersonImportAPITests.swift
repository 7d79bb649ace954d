import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

private func body(_ csv: String, dryRun: Bool) throws -> String {
    String(data: try JSONSerialization.data(withJSONObject: ["csv": csv, "dryRun": dryRun]), encoding: .utf8)!
}

@Suite("Importing a staff list: adds and updates, never deletes; checked whole first; idempotent")
struct PersonImportAPITests {
    static let staff = """
        email,name,groups,phone
        ada@example.org,"Lovelace, Ada",techs;office,+49 30 1
        bo@example.org,Bo,office,
        new@example.org,New Person,,
        """

    @Test("a dry run lists what would change and writes nothing; the import writes it; a second run changes nothing")
    func dryRunThenImport() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            for json in [
                #"{"email": "ada@example.org", "displayName": "Ada", "groups": ["techs"]}"#,
                #"{"email": "bo@example.org", "displayName": "Bo", "groups": ["office"]}"#,
                #"{"email": "cy@example.org", "displayName": "Cy"}"#,
            ] { #expect(try await client.api(.post, "/api/v1/persons", token: admin, json: json).status == .created) }
            let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
            let (_, enrolled) = try await client.enroll(token: token, at: harness.clock.now)
            let deviceId = try enrolled.decode(EnrollResponse.self).deviceId

            let dry = try await client.api(.post, "/api/v1/persons/import", token: admin, json: try body(Self.staff, dryRun: true))
            #expect(dry.status == .ok)
            let plan = try dry.decode(PersonImport.Plan.self)
            #expect(plan.dryRun)
            #expect(plan.added.map(\.email) == ["new@example.org"])
            #expect(plan.updated == [.init(email: "ada@example.org", fields: ["displayName", "groups", "phone"])])
            #expect(plan.unchanged == 1)
            #expect(plan.missing == ["cy@example.org"])
            #expect(plan.devicesAffected == [deviceId])
            #expect(try await client.api(.get, "/api/v1/persons", token: admin).decode([Person].self).count == 3)

            let done = try await client.api(.post, "/api/v1/persons/import", token: admin, json: try body(Self.staff, dryRun: false)).decode(
                PersonImport.Plan.self)
            #expect(!done.dryRun && done.added.count == 1 && done.updated.count == 1)
            let persons = try await client.api(.get, "/api/v1/persons", token: admin).decode([Person].self)
            #expect(persons.count == 4)
            let ada = try #require(persons.first { $0.email == "ada@example.org" })
            #expect(ada.displayName == "Lovelace, Ada" && ada.groups == ["techs", "office"] && ada.phone == "+49 30 1")
            #expect(persons.contains { $0.email == "cy@example.org" && $0.status == .active }, "missing persons are listed, not deleted")

            let again = try await client.api(.post, "/api/v1/persons/import", token: admin, json: try body(Self.staff, dryRun: false)).decode(
                PersonImport.Plan.self)
            #expect(again.added.isEmpty && again.updated.isEmpty && again.unchanged == 3)
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=new@example.org", token: admin).body)
            #expect(audit.contains("person.created") && audit.contains("import"))
        }
    }

    @Test("a row naming someone who left and came back updates the current person, not the one who left")
    func rehiredPerson() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#).status == .created)
            #expect(try await client.api(.post, "/api/v1/persons/ada@example.org/offboard", token: admin, json: "{}").status == .accepted)
            let back = try await client.api(.post, "/api/v1/persons/ada@example.org/rehire", token: admin, json: "{}").decode(Person.self)
            let plan = try await client.api(
                .post, "/api/v1/persons/import", token: admin, json: try body("email,name\nada@example.org,Ada King\n", dryRun: false)
            ).decode(PersonImport.Plan.self)
            #expect(plan.updated == [.init(email: "ada@example.org", fields: ["displayName"])])
            #expect(plan.offboarded.isEmpty && plan.missing.isEmpty)
            #expect(try await harness.store.person(id: back.id)?.displayName == "Ada King")
            #expect(try await harness.store.person(id: try #require(back.previousId))?.displayName == "Ada")
        }
    }

    @Test(
        "a bad row is named by line and column and nothing of the file is written",
        arguments: [
            ("email,name\nok@example.org,Ok\nnot-an-email,X\n", "csv: line 3, column email:"),
            ("email,name,groups\nok@example.org,Ok,a b\n", "csv: line 2, column groups:"),
            ("email,name,phone\nok@example.org,Ok,call me\n", "csv: line 2, column phone:"),
            ("email,name\nok@example.org,\n", "csv: line 2, column name:"),
            ("email,name\nok@example.org,Ok\nOK@example.org,Again\n", "csv: line 3, column email: OK@example.org is also on line 2"),
            ("email,nom\nok@example.org,Ok\n", "csv: line 1, column 2: unknown column"),
            ("email,name\n\"ok@example.org,Ok\n", "csv: line 2: a quoted field is not closed"),
            ("email,name\nok@example.org,Ok,extra\n", "csv: line 2: 3 fields, the header has 2"),
        ])
    func badRows(csv: String, message: String) async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let refused = try await client.api(.post, "/api/v1/persons/import", token: admin, json: try body(csv, dryRun: false))
            #expect(refused.status == .badRequest)
            #expect(refused.errorMessage?.hasPrefix(message) == true, "\(refused.errorMessage ?? "")")
            #expect(try await client.api(.get, "/api/v1/persons", token: admin).decode([Person].self).isEmpty)
        }
    }
}
