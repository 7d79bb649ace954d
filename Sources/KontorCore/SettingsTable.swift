/// One setting's value as written (YAML, environment, flag), with where it came from: the parsers every
/// configuration loader shares, each failing with a message that names the place, the setting, what was
/// expected and what was found.
public struct SettingText: Sendable {
    public let key: String
    public let text: String
    /// `file:line`, an environment variable's name, a flag.
    public let source: String
    let makeError: @Sendable (String) -> any Error

    public init(key: String, text: String, source: String, makeError: @escaping @Sendable (String) -> any Error) {
        self.key = key
        self.text = text
        self.source = source
        self.makeError = makeError
    }

    /// The loader's error for this setting: `source: key: what`.
    public func error(_ what: String) -> any Error { makeError("\(source): \(key): \(what)") }

    /// A whole number within `range`.
    public func int(_ range: ClosedRange<Int>) throws -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw error("expected a whole number from \(range.lowerBound) to \(range.upperBound), found \"\(text)\"")
        }
        return value
    }

    /// The text, or nil when it is empty (a setting cleared).
    public var optional: String? { text.isEmpty ? nil : text }

    /// true/yes/on/1 or false/no/off/0.
    public func flag() throws -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw error("expected true or false, found \"\(text)\"")
        }
    }

    /// One of `allowed`, as written.
    public func oneOf(_ allowed: [String]) throws -> String {
        guard allowed.contains(text) else {
            let list = allowed.count > 1 ? allowed.dropLast().joined(separator: ", ") + " or " + allowed.last! : allowed.joined()
            throw error("expected \(list), found \"\(text)\"")
        }
        return text
    }
}

/// The settings a configuration knows, in order, each with how it is applied: one table instead of a
/// switch, so the list of names, the unknown-setting message and the parsing cannot drift apart.
public struct SettingsTable<Config>: Sendable {
    public typealias Apply = @Sendable (inout Config, SettingText) throws -> Void
    let entries: [(key: String, apply: Apply)]

    public init(_ entries: [(key: String, apply: Apply)]) { self.entries = entries }

    /// The names, in the table's order.
    public var keys: [String] { entries.map(\.key) }

    /// Applies `value` to `config`, or throws naming the unknown setting and the known ones.
    public func apply(_ value: SettingText, to config: inout Config) throws {
        guard let entry = entries.first(where: { $0.key == value.key }) else {
            throw value.makeError("\(value.source): unknown setting \"\(value.key)\"; known settings: \(keys.joined(separator: ", "))")
        }
        try entry.apply(&config, value)
    }
}
