/// The rules of the line between work and private on a laptop, as pure functions. The server checks them
/// when a profile is applied and again before a stored profile is delivered; the agent checks them again
/// on the device (with its own, local roots) before it creates, freezes, signals or deletes anything, so a
/// mistaken or compromised server cannot move the line. docs/agent.md states the agent's side.
public enum WorkBoundary {
    /// Every work account's name starts with this. A profile therefore cannot name root, a system account
    /// or a person's own login (`{localpart}`, `ada`) as the work container.
    public static let accountPrefix = "work-"

    /// Where extra work paths may lie besides the work home, unless a device's agent.yaml narrows it.
    public static let defaultWorkRoots = ["/srv/work"]

    /// How a profile names the work home in `extraWorkPaths` (only paths below it are allowed).
    public static let homeTemplate = "/home/{account}"

    /// The placeholders a profile's work path may use.
    public static let placeholders = ["{localpart}", "{account}"]

    /// Why `name` cannot be a work account, or nil when it can: a valid Linux user name with the reserved
    /// prefix and something after it.
    public static func accountProblem(_ name: String) -> String? {
        guard ContainerNames.isValidAccount(name) else {
            return "\"\(name)\" is not a valid Linux user name (a lowercase letter first, then lowercase letters, digits, - or _, at most 32)"
        }
        guard name.hasPrefix(accountPrefix), name.count > accountPrefix.count else {
            return
                "\"\(name)\" does not start with the reserved prefix \(accountPrefix) (work accounts are always \(accountPrefix)…, so a profile can never name root, a system account or a person's own login)"
        }
        return nil
    }

    /// Why `path` is not a plain absolute path, or nil: it starts with `/`, has no empty, `.` or `..`
    /// component, no trailing slash and no control characters.
    public static func plainPathProblem(_ path: String) -> String? {
        guard path.hasPrefix("/"), path.count > 1 else { return "expected an absolute path, found \"\(path)\"" }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return "contains a control character" }
        guard !path.hasSuffix("/") else { return "ends with '/'" }
        for component in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "has an empty component ('//')" }
            if component == "." || component == ".." { return "has a '\(component)' component" }
        }
        return nil
    }

    /// Whether `path` lies strictly below `root` (component by component: /srv/workshop is not under /srv/work).
    public static func isBelow(_ path: String, _ root: String) -> Bool {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path.hasPrefix(base + "/") && path.count > base.count + 1
    }

    /// Whether `path` is `root` or lies below it.
    public static func isAtOrBelow(_ path: String, _ root: String) -> Bool {
        path == root || isBelow(path, root)
    }

    /// Why a profile's `extraWorkPaths` entry (before `{localpart}`/`{account}` are expanded) is refused, or
    /// nil: a plain absolute path below the work home (`/home/{account}/…`) or below one of `roots`
    /// (default `/srv/work`), and there with `{localpart}` or `{account}` so each person has their own.
    public static func workPathTemplateProblem(_ path: String, roots: [String] = defaultWorkRoots) -> String? {
        if let problem = plainPathProblem(path) { return problem }
        var rest = Substring(path)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return "has a '{' without '}'" }
            let placeholder = String(rest[open...close])
            guard placeholders.contains(placeholder) else {
                return "unknown placeholder \(placeholder); only \(placeholders.joined(separator: " and ")) are expanded"
            }
            rest = rest[rest.index(after: close)...]
        }
        if rest.contains("}") { return "has a '}' without '{'" }
        if isBelow(path, homeTemplate) { return nil }
        let allowed = ([homeTemplate + "/…"] + roots.map { $0 + "/…" }).joined(separator: ", ")
        guard roots.contains(where: { isBelow(path, $0) }) else {
            if path.hasPrefix("/home/") {
                return
                    "\"\(path)\" is in a home other than the work account's: only \(homeTemplate)/… is the work home (allowed: \(allowed)); personal data is never touched"
            }
            return "\"\(path)\" is outside the roots work data may live in (\(allowed)); personal data and the system are never touched"
        }
        guard placeholders.contains(where: { path.contains($0) }) else {
            return "must contain {localpart} or {account}, so each person's work data has its own directory"
        }
        return nil
    }
}
