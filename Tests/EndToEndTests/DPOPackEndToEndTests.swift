import Foundation
import KontorCore
import Testing

private let tools =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/pdftotext")
    && ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] != nil

/// `kontorctl report dpo` with the real server: a zip that Python's zipfile (an independent implementation)
/// opens and checks (CRC), whose PDF — printed by headless Chromium — reads back with pdftotext to the
/// report's headings and figures.
@Suite("End to end: the data-protection officer's pack", .enabled(if: tools, "needs chromium, pdftotext (poppler-utils) and KONTOR_INTEROP_PYTHON"))
struct DPOPackEndToEndTests {
    @Test("the pack opens with zipfile, its PDF has the headings and the figures of its JSON, and its signed head checks against the log")
    func pack() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let admin = try await server.adminToken(role: .admin)
        let auditor = try await server.adminToken(role: .auditor, name: "dpo")
        for (email, name) in [("ada@example.org", "Ada"), ("bo@example.org", "Bo")] {
            #expect(try await server.ctl(admin, ["persons", "create", "--email", email, "--name", name]).status == 0)
        }
        let terms = server.dataDir.appendingPathComponent("terms.md")
        try Data("Work stays at work.".utf8).write(to: terms)
        #expect(try await server.ctl(admin, ["terms", "publish", "2026-11", "--file", terms.path]).status == 0)
        #expect(try await server.ctl(admin, ["persons", "erase", "bo@example.org", "--reason", "request 7"]).status == 0)
        // Two of Ada's laptops with the real agent: one keeps working, the other is wiped and sends its receipt.
        var wiped = 0
        if getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/userdel") {
            let agent = Binaries.path("kontor-agent")
            var devices: [(root: String, id: String)] = []
            for n in 1...2 {
                let created = try await server.ctl(admin, ["enroll-tokens", "create", "--person", "ada@example.org", "--json"])
                let token = try #require((try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)) as? [String: Any])?["token"] as? String)
                let root = server.dataDir.appendingPathComponent("laptop-\(n)").path
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                #expect(try await runCommand(agent, ["enroll", "--server", server.url, "--token", token, "--root", root]).status == 0)
                #expect(try await runCommand(agent, ["run", "--once", "--root", root]).status == 0)
                let identity = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: root + "/var/lib/kontor/agent/identity.json")))
                devices.append((root, try #require((identity as? [String: Any])?["deviceId"] as? String)))
            }
            #expect(try await server.ctl(admin, ["wipe", devices[1].id, "--reason", "returned"]).status == 0)
            #expect(try await runCommand(agent, ["run", "--once", "--root", devices[1].root]).stdout.contains("wiped"))
            wiped = 1
        }

        let zip = server.dataDir.appendingPathComponent("pack.zip").path
        let made = try await server.ctl(auditor, ["report", "dpo", "--out", zip])
        #expect(made.status == 0, "\(made.stderr)")
        let out = server.dataDir.appendingPathComponent("pack").path
        let python = ProcessInfo.processInfo.environment["KONTOR_INTEROP_PYTHON"] ?? "python3"
        let unzip = try await runCommand(
            python,
            [
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2]); print(' '.join(z.namelist()))",
                zip, out,
            ])
        #expect(unzip.status == 0, "\(unzip.stderr)")
        #expect(unzip.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "report.json report.html report.pdf audit-head.jsonl README.txt")

        let report = try KontorJSON.decode(DPOReport.self, from: try Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
        let text = try await runCommand("/usr/bin/pdftotext", ["-layout", out + "/report.pdf", "-"]).stdout
        for heading in [
            "Data-protection report", "Record of processing", "Devices", "Wipes", "Usage terms and consent", "Quiet-hours overrides",
            "Retention and erasure", "Audit log",
        ] {
            #expect(text.contains(heading), "\(heading) is not in the PDF")
        }
        #expect(report.erasures == 1 && text.contains("1 persons erased on request in the period"))
        #expect(text.contains("\(report.devices.total) devices in all") && text.contains("\(report.wipes.count) wipe receipts received"))
        #expect(report.wipes.count == wiped && report.devices.total == 2 * wiped)
        if let wipe = report.wipes.first {
            // The receipt's digest in the pack is the one the audit log holds (the PDF wraps it inside its table cell).
            let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
            #expect(html.contains(wipe.payloadDigest) && !wipe.payloadDigest.isEmpty)
            let audit = try await server.ctl(auditor, ["audit", "list", "--json"])
            #expect(audit.stdout.contains(wipe.payloadDigest), "the digest is not the audit log's")
            let listed = try await server.ctl(auditor, ["devices", "list", "--json"])
            let devices = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            #expect(report.devices.byStatus == Dictionary(grouping: devices.compactMap { $0["status"] as? String }, by: { $0 }).mapValues(\.count))
        }
        #expect(text.contains("The audit log verified when this report was made") && report.auditVerified)
        let pending = try #require(report.terms.first?.pending)
        #expect(text.range(of: #"2026-11\s+\S+\s+0\s+0\s+\#(pending)"#, options: .regularExpression) != nil, "the terms row: \(text)")

        let checked = try await server.ctl(auditor, ["audit", "verify", "--checkpoint", out + "/audit-head.jsonl"])
        #expect(checked.status == 0 && checked.stdout.contains(": ok"), "\(checked.stdout)\(checked.stderr)")
    }
}
