import ArgumentParser
import Foundation
import KontorClient
import KontorCore

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reports for the people Kontor answers to.", subcommands: [DPO.self])

    struct DPO: APICommand {
        static let configuration = CommandConfiguration(
            commandName: "dpo",
            abstract: "The data-protection officer's pack for a period: report.json, report.html and report.pdf in one zip file.",
            discussion: """
                Auditor role or above. The PDF is printed from the HTML by headless Chromium on this machine (--chromium, or chromium \
                found in PATH); without one the pack has JSON and HTML only, and says so. The server signs its audit log's head for the \
                pack; keep the pack with your records of processing.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "First day of the period (2026-01-01); default a year before --to.") var from: String?
        @Option(help: "Last day of the period, included; default today.") var to: String?
        @Option(help: "The zip file to write (must not exist).") var out: String
        @Flag(help: "Name persons by pseudonym, e.g. for a works council.") var pseudonymise = false
        @Option(help: "The Chromium executable that prints the PDF.") var chromium: String?
        @Flag(help: "Make no PDF.") var noPDF = false

        func validate() throws {
            for (name, value) in [("--from", from), ("--to", to)] {
                if let value, LocalDate(value) == nil { throw ValidationError("\(name): expected a day such as 2026-01-31, found \"\(value)\"") }
            }
            if FileManager.default.fileExists(atPath: out) { throw ValidationError("--out: \(out) exists; choose a new file") }
        }

        func run(client: AdminClient) async throws {
            var query = ["pseudonymise=\(pseudonymise)"]
            if let from { query.append("from=\(from)") }
            if let to { query.append("to=\(to)") }
            let json = try await client.raw(.GET, "/reports/dpo", query: query.joined(separator: "&"), timeout: .seconds(120)).body
            let report = try KontorJSON.decode(DPOReport.self, from: json)
            let html = try await client.raw(.GET, "/reports/dpo.html", query: query.joined(separator: "&"), timeout: .seconds(120)).body
            var entries = [ZipWriter.Entry(name: "report.json", data: Array(json)), ZipWriter.Entry(name: "report.html", data: Array(html))]
            var pdfNote = "report.pdf: the report printed from report.html by headless Chromium."
            if noPDF {
                pdfNote = "No PDF was made (--no-pdf)."
            } else if let browser = chromium ?? Self.findChromium() {
                entries.append(ZipWriter.Entry(name: "report.pdf", data: try Self.printPDF(html: html, chromium: browser)))
            } else {
                pdfNote = "No PDF: no Chromium was found on the machine that made the pack (kontorctl report dpo --chromium PATH)."
                printError("warning: \(pdfNote)")
            }
            if let head = report.auditHead { entries.append(ZipWriter.Entry(name: "audit-head.jsonl", data: Array((head.jsonLine + "\n").utf8))) }
            entries.append(ZipWriter.Entry(name: "README.txt", data: Array(Self.readme(report, pdfNote: pdfNote).utf8)))
            let zip = try ZipWriter.archive(entries, modified: report.generatedAt)
            guard FileManager.default.createFile(atPath: out, contents: Data(zip), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("--out: cannot write \(out)")
            }
            print("wrote \(out): \(entries.map(\.name).joined(separator: ", ")) (\(zip.count) bytes)")
            print(
                "audit log \(report.auditVerified ? "verified" : "DID NOT VERIFY")\(report.auditHead.map { "; signed head: entry \($0.seq), \($0.head)" } ?? "")"
            )
        }

        static func readme(_ r: DPOReport, pdfNote: String) -> String {
            """
            Kontor data-protection pack
            Period: \(ISO8601.string(from: r.from)) to \(ISO8601.string(from: r.to)) (the end excluded); made \(ISO8601.string(from: r.generatedAt)).
            report.json: the report as data (every figure); report.html: the same for people. \(pdfNote)
            The audit log \(r.auditVerified ? "verified" : "did NOT verify") when the pack was made.\(r.auditHead.map { " Its head, signed by the server (Ed25519): entry \($0.seq), \($0.head), in audit-head.jsonl; later, kontorctl audit verify --checkpoint audit-head.jsonl shows the log still holds it." } ?? "")

            """
        }

        static func findChromium() -> String? {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            for dir in path.split(separator: ":") {
                for name in ["chromium", "chromium-browser", "google-chrome"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
                    return "\(dir)/\(name)"
                }
            }
            return nil
        }

        /// Prints `html` to PDF with headless Chromium in a scratch folder.
        static func printPDF(html: Data, chromium: String) throws -> [UInt8] {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-dpo-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(at: dir) }
            let page = dir.appendingPathComponent("report.html")
            let pdf = dir.appendingPathComponent("report.pdf")
            try html.write(to: page)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: chromium)
            process.arguments =
                ["--headless", "--disable-gpu", "--no-pdf-header-footer", "--user-data-dir=\(dir.path)/profile", "--print-to-pdf=\(pdf.path)"]
                + (geteuid() == 0 ? ["--no-sandbox"] : []) + [page.absoluteString]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Not `waitUntilExit`: on Linux it spins an empty run loop, a core taken from Chromium.
            while process.isRunning { usleep(10_000) }
            guard process.terminationStatus == 0, let bytes = FileManager.default.contents(atPath: pdf.path), bytes.starts(with: Array("%PDF".utf8)) else {
                throw ValidationError("\(chromium) did not print the report to PDF (exit \(process.terminationStatus)); try --no-pdf")
            }
            return Array(bytes)
        }
    }
}
