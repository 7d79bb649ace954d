import ArgumentParser
import Foundation
import KontorClient
import KontorCore

extension Persons {
    /// An access request under GDPR Art. 15: everything the server holds about one person.
    struct ExportData: APICommand {
        static let configuration = CommandConfiguration(
            commandName: "export-data",
            abstract: "Everything Kontor holds about one person (GDPR Art. 15), as JSON on standard output.",
            discussion: """
                kontorctl persons export-data ada@example.org > ada.json
                kontorctl persons export-data ada@example.org --html ada.html > ada.json
                The JSON is described by docs/person-export.schema.json. Needs an admin token; each export is audited as person.exported.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Email or person ID.") var person: String
        @Option(help: "Also write a page people read to this file (mode 0600).") var html: String?

        func validate() throws {
            guard !person.trimmingCharacters(in: .whitespaces).isEmpty, !person.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw ValidationError("person: give an email or a person ID, without control characters")
            }
            if let html, html.isEmpty { throw ValidationError("--html: give a file name") }
        }

        func run(client: AdminClient) async throws {
            let path = "/persons/" + AdminClient.segment(person) + "/export"
            let exchange = try await client.raw(.GET, path, timeout: .seconds(300))
            if let html {
                let page = try await client.raw(.GET, path + ".html", timeout: .seconds(300))
                guard FileManager.default.createFile(atPath: html, contents: page.body, attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("--html: cannot write \(html)")
                }
                FileHandle.standardError.write(Data("kontorctl: wrote \(VisibleText.escaped(html)) (\(page.body.count) bytes)\n".utf8))
            }
            writeOutput(exchange.body, json: true)
        }
    }
}
