import Foundation
import KontorCore
import KontorStore

/// Which actions need a second person (the `approvals.*` settings): each of `wipe`, `offboard` and
/// `tokenCreate` is 0 (off: the action happens at once) or 2 (two people: the one who asks and another who
/// approves); a request expires after `expiryHours`. In a change (PATCH) every field is optional and only those
/// given change; in a reply every field is set.
public struct ApprovalSettings: Codable, Sendable, Equatable {
    public var wipe: Int?
    public var offboard: Int?
    public var tokenCreate: Int?
    /// Hours a request waits for its second person before it expires (1 to 168; 24 unless set).
    public var expiryHours: Int?

    public init(wipe: Int? = nil, offboard: Int? = nil, tokenCreate: Int? = nil, expiryHours: Int? = nil) {
        self.wipe = wipe
        self.offboard = offboard
        self.tokenCreate = tokenCreate
        self.expiryHours = expiryHours
    }

    static let expiryKey = "approvals.expiryHours"
    static let expiryRange = 1...168
    static let defaultExpiryHours = 24

    static func key(_ kind: ApprovalKind) -> String { "approvals.\(kind.rawValue)" }

    static func path(_ kind: ApprovalKind) -> WritableKeyPath<ApprovalSettings, Int?> {
        switch kind {
        case .wipe: \.wipe
        case .offboard: \.offboard
        case .tokenCreate: \.tokenCreate
        }
    }

    /// Whether `kind` waits for a second person.
    func required(_ kind: ApprovalKind) -> Bool { self[keyPath: Self.path(kind)] == 2 }

    /// Throws naming the first field with a value it may not have, before anything is written.
    func validate() throws {
        for kind in ApprovalKind.allCases {
            if let value = self[keyPath: Self.path(kind)], value != 0, value != 2 {
                throw KontorError.invalid(
                    "\(Self.key(kind)): expected 0 (no approval) or 2 (a second person must approve), found \(value)")
            }
        }
        if let hours = expiryHours, !Self.expiryRange.contains(hours) {
            throw KontorError.invalid("\(Self.expiryKey): expected 1 to 168 hours, found \(hours)")
        }
    }

    /// The settings as stored, with the default for each one never set (or stored unreadably).
    static func load(from store: any SettingsStore) async throws -> ApprovalSettings {
        var out = ApprovalSettings()
        for kind in ApprovalKind.allCases {
            out[keyPath: path(kind)] = try await store.setting(key(kind)).flatMap { Int($0) }.flatMap { $0 == 2 ? 2 : nil } ?? 0
        }
        let hours = try await store.setting(expiryKey).flatMap { Int($0) }
        out.expiryHours = hours.flatMap { expiryRange.contains($0) ? $0 : nil } ?? defaultExpiryHours
        return out
    }

    /// Writes the fields `self` sets (validated first) and audits each as `settings.changed` by `actor`.
    func apply(to store: any SettingsStore, audit: AuditService, actor: String) async throws {
        try validate()
        var changes: [(String, Int)] = ApprovalKind.allCases.compactMap { kind in self[keyPath: Self.path(kind)].map { (Self.key(kind), $0) } }
        if let expiryHours { changes.append((Self.expiryKey, expiryHours)) }
        for (key, value) in changes {
            try await store.setSetting(key, value: String(value))
            try await audit.record(actor, "settings.changed", target: key, detail: ["value": String(value)])
        }
    }
}
