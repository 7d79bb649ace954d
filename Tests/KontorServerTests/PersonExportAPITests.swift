import Crypto
import Foundation
import HummingbirdTesting
import KontorCore
import KontorStore
import KontorTestSupport
import Testing

@testable import KontorServer

/// The repository's `docs/person-export.schema.json`, found from this file.
let personExportSchemaPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("docs/person-export.schema.json").path

/// Ada with two devices (one wiped with a signed receipt, one that reported a quiet-hours override) and
/// Bob with a device of his own, made through the API; `body` gets the harness, client, admin token and
/// Ada's device IDs (wiped, overriding).
private func withExportWorld(
    _ body: @Sendable (Harness, any TestClientProtocol, String, String, String, SignedReceipt) async throws -> Void
) async throws {
    let harness = try await Harness()
    let admin = try await harness.token(.admin)
    try await harness.test { client async throws in
        for (email, name) in [("ada@example.org", "Ada"), ("bob@example.org", "Bob")] {
            #expect(
                try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "\#(email)", "displayName": "\#(name)"}"#).status == .created)
        }
        func enroll(_ email: String, machine: String) async throws -> (Curve25519.Signing.PrivateKey, String) {
            var facts = sampleFacts
            facts.machineIdHash = machine
            facts.hostname = machine
            let token = try await client.enrollToken(admin, json: #"{"person": "\#(email)"}"#)
            let (key, response) = try await client.enroll(token: token, facts: facts, at: harness.clock.now)
            return (key, try response.decode(EnrollResponse.self).deviceId)
        }
        let (wipedKey, wiped) = try await enroll("ada@example.org", machine: "ada-laptop")
        let (quietKey, quiet) = try await enroll("ada@example.org", machine: "ada-desktop")
        let (bobKey, bob) = try await enroll("bob@example.org", machine: "bob-laptop")
        let override = DeviceEvent(at: harness.clock.now, kind: "quiet.override", detail: "until 23:00: release night", id: "ev-1")
        for (key, kind) in [(quietKey, override), (bobKey, DeviceEvent(at: harness.clock.now, kind: "quiet.override", detail: "bob's night", id: "ev-2"))] {
            let request = CheckinRequest(appliedPolicyHash: nil, status: nil, facts: nil, events: [kind])
            #expect(try await client.signed(DeviceAPI.checkinPath, body: try KontorJSON.encode(request), key: key, at: harness.clock.now).status == .ok)
        }
        let wipe = try await client.api(.post, "/api/v1/devices/\(wiped)/commands", token: admin, json: #"{"type": "wipe", "reason": "stolen"}"#)
            .decode(CommandRecord.self)
        _ = try await checkin(client, key: wipedKey, at: harness.clock.now)
        let signed = try receipt(deviceId: wiped, commandId: wipe.id, key: wipedKey, at: harness.clock.now)
        #expect(try await client.sendReceipt(signed, key: wipedKey, at: harness.clock.now).status == .ok)
        _ = bob
        try await body(harness, client, admin, wiped, quiet, signed)
    }
}

@Suite("The person export (GDPR Art. 15)")
struct PersonExportAPITests {
    @Test("the export holds both devices, the verified receipt, the override and the audit entries naming the person, and nobody else's data")
    func exportHoldsThePersonsData() async throws {
        try await withExportWorld { harness, client, admin, wiped, quiet, signed in
            let response = try await client.api(.get, "/api/v1/persons/ada@example.org/export", token: admin)
            #expect(response.status == .ok)
            #expect(response.headers[.contentDisposition]?.contains("attachment") == true)
            let export = try response.decode(PersonExport.self)
            #expect(export.person.email == "ada@example.org")
            #expect(export.generatedAt == harness.clock.now)
            // Enrolled in the same second: the order between the two is the store's.
            #expect(Set(export.devices.map(\.device.id)) == [wiped, quiet] && export.devices.count == 2)
            let wipedDevice = try #require(export.devices.first { $0.device.id == wiped })
            let quietDevice = try #require(export.devices.first { $0.device.id == quiet })
            let receipts = wipedDevice.wipeReceipts
            #expect(receipts.count == 1)
            #expect(receipts.first?.payload == signed.payload && receipts.first?.signature == signed.signature)
            #expect(receipts.first?.signatureValid == true)
            #expect(wipedDevice.commands.map(\.type) == [.wipe])
            #expect(quietDevice.events.map(\.kind) == ["quiet.override"])
            #expect(quietDevice.events.first?.detail == "until 23:00: release night")
            #expect(quietDevice.effectivePolicy != nil && wipedDevice.effectivePolicy == nil)
            #expect(wipedDevice.device.status == .revoked && wipedDevice.device.wipeConfirmedAt != nil)
            #expect(export.enrollmentTokens.count == 2)
            #expect(Set(export.consentRecords.map(\.deviceId)) == [wiped, quiet])
            let actions = Set(export.auditEntries.map(\.action))
            #expect(actions.isSuperset(of: ["person.created", "enroll-token.created", "command.wipe", "device.wipe-receipt", "device.quiet-override"]))
            let text = String(buffer: response.body)
            #expect(!text.contains("bob") && !text.contains("Bob"), "another person's data is in the export")
            #expect(export.tables == PersonExportService.counts(export))
            #expect(Set(export.tables.keys) == Set(PersonExportService.tables))
            #expect(export.tables["devices"] == 2 && export.tables["wipe_receipts"] == 1 && export.tables["device_events"] == 1)
            #expect(export.tables["audit_log"] == export.auditEntries.count)
            // The export itself is audited, with the admin token as the actor.
            let last = try #require(try await harness.store.auditEntries(since: nil, target: "ada@example.org").last)
            #expect(last.action == "person.exported" && last.actor == "token:test-admin (automation)" && last.detail?["id"] == export.person.id)
        }
    }

    /// Validated by the Python `jsonschema` package (PyPI), the reference implementation of draft 2020-12,
    /// in the Python the README's test command sets up as KONTOR_INTEROP_PYTHON.
    @Test(
        "the export validates against docs/person-export.schema.json (jsonschema, draft 2020-12)",
        .enabled(if: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil, "set KONTOR_INTEROP_PYTHON to a Python with jsonschema"))
    func exportValidatesAgainstTheSchema() async throws {
        try await withExportWorld { _, client, admin, _, _, _ in
            let response = try await client.api(.get, "/api/v1/persons/ada@example.org/export", token: admin)
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-export-\(UUID().uuidString).json")
            try Data(buffer: response.body).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let (status, output) = try runPython(
                """
                import json, sys
                from jsonschema import Draft202012Validator, FormatChecker
                schema = json.load(open(sys.argv[1]))
                Draft202012Validator.check_schema(schema)
                errors = list(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(json.load(open(sys.argv[2]))))
                for e in errors: print(list(e.absolute_path), e.message)
                print("valid" if not errors else "INVALID")
                """, personExportSchemaPath, file.path)
            #expect(status == 0 && output.hasSuffix("valid\n") && !output.contains("INVALID"), "\(output)")
            // The schema is strict enough to notice: a field it does not know is refused.
            var tampered = try #require(JSONValue(parsing: String(buffer: response.body)))
            if case .object(var top) = tampered {
                top["secretExtra"] = .string("x")
                tampered = .object(top)
            }
            try Data(tampered.text.utf8).write(to: file)
            #expect(
                try runPython(
                    "import json, sys\nfrom jsonschema import validate\nvalidate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
                    personExportSchemaPath, file.path
                ).0 != 0)
        }
    }

    @Test("a receipt whose stored bytes were altered is exported with signatureValid false")
    func alteredReceiptIsFlagged() async throws {
        try await withExportWorld { harness, client, admin, wiped, _, _ in
            try await harness.tamper("DROP TRIGGER wipe_receipts_no_update" + (Harness.usesPostgres ? " ON wipe_receipts" : ""))
            try await harness.tamper("UPDATE wipe_receipts SET payload = replace(payload, '\"files\":12', '\"files\":1') WHERE device_id = '\(wiped)'")
            let export = try await client.api(.get, "/api/v1/persons/ada@example.org/export", token: admin).decode(PersonExport.self)
            let receipt = try #require(export.devices.first { $0.device.id == wiped }?.wipeReceipts.first)
            #expect(receipt.signatureValid == false)
            #expect(receipt.receipt == nil)
            #expect(receipt.payload.contains("\"files\":1,"))
        }
    }

    @Test("only an admin may export; an unknown person is a 404")
    func onlyAdmins() async throws {
        try await withExportWorld { harness, client, admin, _, _, _ in
            let op = try await harness.token(.operator)
            #expect(try await client.api(.get, "/api/v1/persons/ada@example.org/export", token: op).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/persons/ada@example.org/export.html", token: op).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/persons/nobody@example.org/export", token: admin).status == .notFound)
            let exported = try await harness.store.auditEntries(since: nil, target: nil).filter { $0.action == "person.exported" }
            #expect(exported.isEmpty)
        }
    }

    @Test("the HTML rendering names every section and escapes what the person's devices reported")
    func htmlRendering() async throws {
        try await withExportWorld { _, client, admin, _, quiet, _ in
            let response = try await client.api(.get, "/api/v1/persons/ada@example.org/export.html", token: admin)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
            let page = String(buffer: response.body)
            for heading in [
                "Directory record", "Devices", "Policies that apply", "Device events", "Commands", "Wipe receipts", "Archives of retained work data",
                "Enrollment, consent and usage terms", "Offboarding", "Audit log entries that name the person", "Where it is kept",
            ] {
                #expect(page.contains("<h2>\(heading)</h2>"), "no section \(heading)")
            }
            #expect(page.contains("until 23:00: release night"))
            #expect(page.contains("valid"))
            // Whatever a value holds is text on the page, never markup.
            var export = try await client.api(.get, "/api/v1/persons/ada@example.org/export", token: admin).decode(PersonExport.self)
            export.person.displayName = "<script>alert(1)</script>"
            let index = try #require(export.devices.firstIndex { $0.device.id == quiet })
            export.devices[index].events[0].detail = "<img src=x onerror=alert(2)>"
            let hostile = PersonExportHTML.render(export)
            #expect(!hostile.contains("<script>alert") && !hostile.contains("<img src=x"))
            #expect(hostile.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && hostile.contains("&lt;img src=x onerror=alert(2)&gt;"))
        }
    }
}

/// Runs `script` with KONTOR_INTEROP_PYTHON and `arguments`; its exit status and output.
func runPython(_ script: String, _ arguments: String...) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] ?? "/usr/bin/python3")
    process.arguments = ["-c", script] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitForExit()
    return (process.terminationStatus, text)
}
