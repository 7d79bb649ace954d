import Foundation
import Hummingbird
import KontorCore
import NIOCore

/// The person's export as HTTP answers: the JSON document as a download, and a page people read, rendered
/// with the console's Mustache library (every value escaped; a section per kind of data, nested documents
/// such as facts and policies shown as indented JSON).
enum PersonExportHTML {
    /// A table of a section: a caption, column names and rows of cell text.
    struct Table {
        var caption: String?
        var headers: [String]
        var rows: [[String]]
        var values: [String: Any] {
            var out: [String: Any] = ["headers": headers, "rows": rows.map { ["cells": $0] }]
            if let caption { out["caption"] = caption }
            return out
        }
    }

    /// The JSON document, pretty-printed, offered as a file named after the person's ID.
    static func jsonResponse(_ export: PersonExport) throws -> Response {
        let data = try KontorJSON.encode(export, pretty: true)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json", .contentDisposition: "attachment; filename=\"kontor-person-\(export.person.id).json\"",
                .cacheControl: "no-store",
            ], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The page.
    static func response(_ export: PersonExport) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: render(export))))
    }

    /// The page as HTML text.
    static func render(_ export: PersonExport) -> String {
        let p = export.person
        let values: [String: Any] = [
            "name": p.displayName, "email": p.email, "id": p.id, "generatedAt": time(export.generatedAt), "kontorVersion": export.kontorVersion,
            "sections": sections(export),
        ]
        return ConsoleRenderer.shared.render("person-export", values)
    }

    /// A date as ISO 8601 text; empty when there is none.
    static func time(_ date: Date?) -> String { date.map { ISO8601.string(from: $0) } ?? "" }

    /// `value` as indented JSON text.
    static func json(_ value: some Encodable) -> String {
        (try? KontorJSON.encode(value, pretty: true)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// One section of the page: a heading, an optional note, tables and preformatted blocks.
    static func section(_ anchor: String, _ title: String, note: String? = nil, tables: [Table] = [], blocks: [(String, String)] = []) -> [String: Any] {
        var out: [String: Any] = [
            "anchor": anchor, "title": title, "tables": tables.map(\.values), "blocks": blocks.map { ["caption": $0.0, "text": $0.1] },
        ]
        if let note { out["note"] = note }
        return out
    }

    /// Every section, in the order a reader expects: who, what devices, what they did, what was done to them.
    static func sections(_ e: PersonExport) -> [[String: Any]] {
        [directory(e), devices(e), policies(e), events(e), commands(e), receipts(e), archives(e), consent(e), offboarding(e), audit(e), tables(e)]
    }

    /// The directory record, the rehire links and the SCIM records.
    static func directory(_ e: PersonExport) -> [String: Any] {
        let p = e.person
        let fields: [[String]] = [
            ["Person ID", p.id], ["Email", p.email], ["Name", p.displayName], ["Groups", p.groups.joined(separator: ", ")], ["Phone", p.phone ?? ""],
            ["Status", p.status.rawValue], ["Taking part", p.participation.rawValue], ["In the directory since", time(p.createdAt)],
            ["Earlier person IDs (rehire)", e.rehire.previousIds.joined(separator: ", ")], ["Returned as", e.rehire.returnedAs ?? ""],
        ]
        let scim = e.scimUsers.map { [$0.id, $0.userName, $0.externalId ?? "", time($0.createdAt), time($0.updatedAt), time($0.deletedAt)] }
        return section(
            "directory", "Directory record",
            tables: [
                Table(headers: ["Field", "Value"], rows: fields),
                Table(caption: "Directory sync (SCIM)", headers: ["ID", "userName", "externalId", "Created", "Updated", "Deleted"], rows: scim),
            ])
    }

    /// The devices and, for each, its facts and last reports as indented JSON.
    static func devices(_ e: PersonExport) -> [String: Any] {
        let rows = e.devices.map(\.device).map { d in
            [
                d.facts.hostname, d.id, d.status.rawValue, d.ownership.rawValue, time(d.enrolledAt), time(d.lastSeen), d.facts.osRelease,
                d.facts.agentVersion, time(d.wipeConfirmedAt),
            ]
        }
        var blocks: [(String, String)] = []
        for d in e.devices.map(\.device) {
            blocks.append(("\(d.facts.hostname) (\(d.id)): facts", json(d.facts)))
            if let status = d.agentStatus { blocks.append(("\(d.facts.hostname): agent status at the last check-in", json(status))) }
            if let compliance = d.compliance { blocks.append(("\(d.facts.hostname): compliance report", json(compliance))) }
        }
        return section(
            "devices", "Devices", note: "Every device enrolled for the person, with what its agent last reported.",
            tables: [Table(headers: ["Hostname", "ID", "State", "Ownership", "Enrolled", "Last seen", "OS", "Agent", "Wipe confirmed"], rows: rows)],
            blocks: blocks)
    }

    /// For each device, the profile revisions that apply and the effective policy now.
    static func policies(_ e: PersonExport) -> [String: Any] {
        var tables: [Table] = []
        var blocks: [(String, String)] = []
        for d in e.devices {
            let sources = d.device.policySources ?? d.effectivePolicy?.sources ?? []
            let assigned = d.profileAssignments.map { "\($0.profile) (assigned \(time($0.assignedAt)))" }
            tables.append(
                Table(
                    caption: d.device.facts.hostname, headers: ["Profile revisions that apply", "Assigned to this device"],
                    rows: [[sources.joined(separator: ", "), assigned.joined(separator: ", ")]]))
            if let policy = d.effectivePolicy { blocks.append(("\(d.device.facts.hostname): effective policy now", json(policy))) }
        }
        return section("policies", "Policies that apply", note: "Only active devices have a policy now.", tables: tables, blocks: blocks)
    }

    /// Each device's events.
    static func events(_ e: PersonExport) -> [String: Any] {
        let tables = e.devices.map { d in
            Table(caption: d.device.facts.hostname, headers: ["At", "Kind", "Detail"], rows: d.events.map { [time($0.at), $0.kind, $0.detail ?? ""] })
        }
        return section("events", "Device events", note: "Every event the store keeps (quiet hours, overrides, app violations, …).", tables: tables)
    }
}
