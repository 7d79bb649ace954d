import ArgumentParser
import Foundation
import KontorClient
import KontorCore

extension Persons {
    struct Erase: APICommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase a person on request (admin; GDPR Art. 17) once none of their devices is active.",
            discussion: """
                Email, name, phone, device hostnames and the SCIM user name become a pseudonym (erased-…), the devices' events and last \
                reports are deleted and every audit value naming the person is erased; the audit chain still verifies. Wipe receipts and \
                answers to the usage terms stay as the device signed them. This cannot be undone. Do not name the person in --reason.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or ID.") var person: String
        @Option(help: "Why (kept in the audit log), e.g. the request's date and ticket.") var reason: String

        func run(client: AdminClient) async throws {
            struct Input: Encodable { var reason: String }
            let result = try await client.call(
                .POST, "/persons/" + AdminClient.segment(person) + "/erase", body: Input(reason: reason), as: PseudonymisedPerson.self)
            if connection.json { return try printJSON(result) }
            print("erased: person \(result.personId) is now \(result.pseudonym)")
            print("  \(result.devices) device(s) renamed, \(result.events) device event(s) deleted, \(result.auditEntries) audit entr(ies) with values erased")
            print("  `kontorctl audit verify` still passes; wipe receipts and usage-terms answers are kept as signed")
        }
    }
}
