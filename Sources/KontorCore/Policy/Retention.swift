#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Work data an organisation must keep (tax and commercial retention duties): before a commanded or an
/// offboarding wipe destroys the container key, the agent packs `paths` into an archive encrypted to the
/// organisation's age `recipients` and uploads it; the server keeps it `retainDays` days. `required` holds
/// the wipe until the archive is confirmed (at most `timeoutMinutes`, then the wipe goes ahead and the
/// receipt says the archive failed); `bestEffort` tries once. An offline dead-man wipe archives nothing.
public struct RetentionPolicy: Codable, Sendable, Equatable, Hashable {
    /// Work paths to keep, inside the container only: `/home/{account}/…`, or below a work root with
    /// `{localpart}`/`{account}` (the same rules as `container.extraWorkPaths`).
    public var paths: [String]
    /// age X25519 recipients (`age1…`) of the organisation.
    public var recipients: [String]
    public var retainDays: Int
    /// `required` (the default) or `bestEffort`.
    public var mode: String?
    /// How long a `required` archive may hold the wipe (default 1440: a day).
    public var timeoutMinutes: Int?

    public init(paths: [String], recipients: [String], retainDays: Int, mode: String? = nil, timeoutMinutes: Int? = nil) {
        self.paths = paths
        self.recipients = recipients
        self.retainDays = retainDays
        self.mode = mode
        self.timeoutMinutes = timeoutMinutes
    }

    public static let modes = ["required", "bestEffort"]
    public static let defaultTimeoutMinutes = 1440

    /// Problems with the section, each with its field (`retention.recipients[1]`).
    public func issues() -> [ProfileIssue] {
        var out: [ProfileIssue] = []
        func add(_ field: String, _ message: String) { out.append(ProfileIssue(field: "retention." + field, message: message)) }
        if paths.isEmpty { add("paths", "name at least one work path to keep") }
        if paths.count > 50 { add("paths", "at most 50 paths") }
        for (i, path) in paths.enumerated() {
            if let problem = WorkBoundary.workPathTemplateProblem(path) { add("paths[\(i)]", problem) }
        }
        if recipients.isEmpty { add("recipients", "name at least one age recipient (age1…) of the organisation") }
        if recipients.count > 20 { add("recipients", "at most 20 recipients") }
        for (i, recipient) in recipients.enumerated() {
            do {
                _ = try AgeRecipient(recipient)
            } catch {
                add("recipients[\(i)]", "\(error)")
            }
        }
        if !(1...4000).contains(retainDays) { add("retainDays", "expected 1 to 4000 days, found \(retainDays)") }
        if let mode, !Self.modes.contains(mode) { add("mode", "expected required or bestEffort, found \"\(mode)\"") }
        if let t = timeoutMinutes, !(1...10_080).contains(t) { add("timeoutMinutes", "expected 1 to 10080 minutes (a week), found \(t)") }
        return out
    }
}
