import Foundation
import KontorCore
import Yams

/// A profile that failed to load: every problem with file, line, field and what was expected.
public struct ProfileLoadError: Error, CustomStringConvertible, Sendable {
    public var problems: [String]
    public var description: String { problems.joined(separator: "\n") }
}

/// Reads policy profiles from YAML with errors people can act on. Types come from Codable; unknown
/// keys, formats and ranges are checked here and by ``ProfileValidator``; every problem is mapped back
/// to its line.
public enum ProfileYAML {
    /// Keys allowed at each level; `[]` stands for "each list element".
    static let shape: [String: Set<String>] = [
        "": [
            "apiVersion", "kind", "name", "description", "checkinInterval", "usageTermsVersion", "quietHours", "apps", "container", "offline", "posture",
            "retention",
        ],
        "quietHours": ["timeZone", "weekly", "holidayRegion", "extraDates", "exemptions", "allowUserOverride", "lockContainerKey"],
        "quietHours.weekly": Set(QuietHoursPolicy.weekdays),
        "quietHours.exemptions[]": ["persons", "groups", "from", "until", "reason"],
        "apps": ["mode", "allow"],
        "apps.allow[]": ["path", "sha256", "package", "name"],
        "container": ["accountPattern", "extraWorkPaths"],
        "offline": ["lockAfter", "wipeAfter"],
        "posture": ["requireDiskEncryption", "maxUpdateAgeDays"],
        "retention": ["paths", "recipients", "retainDays", "mode", "timeoutMinutes"],
    ]

    /// Parses and validates `text` read from `file`.
    public static func load(_ text: String, file: String) throws -> Profile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ProfileLoadError(problems: ["\(file): the file is empty"]) }
            root = node
        } catch let error as YamlError {
            throw ProfileLoadError(problems: ["\(file): not valid YAML: \(error)"])
        }
        var problems: [String] = []
        checkKeys(root, path: "", file: file, into: &problems)
        if !problems.isEmpty { throw ProfileLoadError(problems: problems) }

        let profile: Profile
        do {
            profile = try YAMLDecoder().decode(Profile.self, from: root)
        } catch let error as DecodingError {
            let (path, message) = describe(error)
            throw ProfileLoadError(problems: ["\(file):\(line(of: path, in: root)): \(path.isEmpty ? "profile" : path): \(message)"])
        }
        for issue in ProfileValidator.issues(in: profile) {
            problems.append("\(file):\(line(of: issue.field, in: root)): \(issue.field): \(issue.message)")
        }
        if !problems.isEmpty { throw ProfileLoadError(problems: problems) }
        return profile
    }

    private static func checkKeys(_ node: Node, path: String, file: String, into problems: inout [String]) {
        if let mapping = node.mapping {
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                if let allowed = shape[path], !allowed.contains(name) {
                    problems.append("\(file):\(key.mark?.line ?? 0): \(childPath): unknown field; expected one of \(allowed.sorted().joined(separator: ", "))")
                    continue
                }
                checkKeys(value, path: childPath, file: file, into: &problems)
            }
        } else if let sequence = node.sequence {
            for element in sequence { checkKeys(element, path: path + "[]", file: file, into: &problems) }
        }
    }

    /// The field path and a message for a decoding error.
    static func describe(_ error: DecodingError) -> (String, String) {
        let text = error.fieldDescription
        guard let colon = text.range(of: ": ") else { return ("", text) }
        let path = String(text[..<colon.lowerBound])
        return (path == "body" ? "" : path, String(text[colon.upperBound...]))
    }

    /// The line of the deepest node along `path` (`a.b[2].c`), 1-based; 0 when unknown.
    static func line(of path: String, in root: Node) -> Int {
        var node = root
        var best = root.mark?.line ?? 0
        for part in path.replacingOccurrences(of: "[", with: ".[").split(separator: ".") {
            if part.hasPrefix("["), let index = Int(part.dropFirst().dropLast()), let seq = node.sequence, index < seq.count {
                node = seq[index]
            } else if let mapping = node.mapping, let (key, value) = mapping.first(where: { $0.key.string == String(part) }) {
                best = key.mark?.line ?? best
                node = value
                continue
            } else {
                break
            }
            best = node.mark?.line ?? best
        }
        return best
    }
}
