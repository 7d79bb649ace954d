#if canImport(Glibc)
    import Glibc

    private let nofile = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#elseif canImport(Darwin)
    import Darwin

    private let nofile = RLIMIT_NOFILE
#endif

/// The process's open-file limit (`RLIMIT_NOFILE`, `LimitNOFILE=` in a systemd unit) and the connection
/// limit that leaves a reserve below it.
public enum OpenFileLimit {
    /// The soft limit now in force.
    public static func current() -> Int {
        var limit = rlimit()
        guard getrlimit(nofile, &limit) == 0 else { return 1024 }
        return clamp(limit.rlim_cur)
    }

    /// Raises the soft limit to the hard limit (what the administrator allows; systemd's default soft
    /// limit is only 1024) and returns the soft limit then in force.
    @discardableResult
    public static func raiseToHardLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(nofile, &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            _ = setrlimit(nofile, &raised)
        }
        return current()
    }

    /// Descriptors kept for everything but client connections: the database (a few per pooled
    /// connection), the event loops, logs.
    public static func reserve(openFiles: Int) -> Int { min(128, openFiles / 2) }

    /// The connection limit: `configured`, or with 0 the open-file limit less the reserve. A configured
    /// limit that leaves no reserve is a configuration error.
    public static func connectionLimit(configured: Int, openFiles: Int) throws -> Int {
        let reserve = reserve(openFiles: openFiles)
        let available = max(1, openFiles - reserve)
        guard configured > 0 else { return available }
        guard configured <= available else {
            throw ConfigError(
                "maxConnections: \(configured) connections need \(configured + reserve) open files (\(reserve) kept for the database and logs), but this process may open only \(openFiles); raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower maxConnections (0 picks \(available))"
            )
        }
        return configured
    }

    private static func clamp(_ value: rlim_t) -> Int {
        // RLIM_INFINITY and absurd values: a million descriptors is more than any set-up here needs.
        value > rlim_t(1 << 20) ? 1 << 20 : Int(value)
    }
}
