import Foundation
import KontorCore
import KontorStore

/// How long Kontor keeps what it collects (GDPR Art. 5(1)(e)): the `retention.*` settings. In a change
/// (PATCH) every field is optional and only those given change; in a reply every field is set.
public struct RetentionSettings: Codable, Sendable, Equatable {
    /// Device events older than this many days are deleted (1 to 3650; 365 unless set).
    public var eventsDays: Int?
    /// Check-in report history older than this many days is deleted (1 to 3650; 90 unless set). Kontor keeps
    /// only each device's latest report today, so there is no history for it to delete yet.
    public var checkinReportsDays: Int?
    /// Offboarded persons are due for pseudonymisation this many months after their offboarding completed
    /// (1 to 120; 24 unless set).
    public var pseudonymiseAfterMonths: Int?
    /// Whether the hourly background run deletes anything (true unless set); a run an admin asks for runs anyway.
    public var enabled: Bool?

    public init(eventsDays: Int? = nil, checkinReportsDays: Int? = nil, pseudonymiseAfterMonths: Int? = nil, enabled: Bool? = nil) {
        self.eventsDays = eventsDays
        self.checkinReportsDays = checkinReportsDays
        self.pseudonymiseAfterMonths = pseudonymiseAfterMonths
        self.enabled = enabled
    }

    /// One numeric setting: its name in the API, its key in the settings store, what it may be and its default.
    struct Field: Sendable {
        let name: String
        let range: ClosedRange<Int>
        let unit: String
        let defaultValue: Int
        let path: WritableKeyPath<RetentionSettings, Int?> & Sendable

        var key: String { "retention.\(name)" }
    }

    static let fields: [Field] = [
        Field(name: "eventsDays", range: 1...3650, unit: "days", defaultValue: 365, path: \.eventsDays),
        Field(name: "checkinReportsDays", range: 1...3650, unit: "days", defaultValue: 90, path: \.checkinReportsDays),
        Field(name: "pseudonymiseAfterMonths", range: 1...120, unit: "months", defaultValue: 24, path: \.pseudonymiseAfterMonths),
    ]
    static let enabledKey = "retention.enabled"

    /// Nothing to change.
    var isEmpty: Bool { self == RetentionSettings() }

    /// Throws naming the first field outside its range, with the range, before anything is written.
    func validate() throws {
        for field in Self.fields {
            if let value = self[keyPath: field.path], !field.range.contains(value) {
                throw KontorError.invalid(
                    "retention.\(field.name): expected \(field.range.lowerBound) to \(field.range.upperBound) \(field.unit), found \(value)")
            }
        }
    }

    /// The settings as stored, with the default for each one never set (or stored unreadably).
    static func load(from store: any SettingsStore) async throws -> RetentionSettings {
        var out = RetentionSettings()
        for field in fields {
            let stored = try await store.setting(field.key).flatMap { Int($0) }
            out[keyPath: field.path] = stored.flatMap { field.range.contains($0) ? $0 : nil } ?? field.defaultValue
        }
        out.enabled = try await store.setting(enabledKey).map { $0 != "false" } ?? true
        return out
    }

    /// Writes the fields `self` sets (validated first) and audits each as `settings.changed` by `actor`.
    func apply(to store: any SettingsStore, audit: AuditService, actor: String) async throws {
        try validate()
        for field in Self.fields {
            guard let value = self[keyPath: field.path] else { continue }
            try await store.setSetting(field.key, value: String(value))
            try await audit.record(actor, "settings.changed", target: field.key, detail: ["value": String(value)])
        }
        if let enabled {
            try await store.setSetting(Self.enabledKey, value: String(enabled))
            try await audit.record(actor, "settings.changed", target: Self.enabledKey, detail: ["value": String(enabled)])
        }
    }
}
