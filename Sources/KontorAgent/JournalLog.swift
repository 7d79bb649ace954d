import KontorCore
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// Log lines for the journal: systemd connects a service's stderr to journald and names that stream in
/// `JOURNAL_STREAM` (`DEVICE:INODE`). journald stamps the time and unit itself, and reads a leading `<N>`
/// as the line's syslog priority (`SyslogLevelPrefix=yes`, the default), so `journalctl -p err` finds the
/// errors. Each line is `<N>message key=value…`: no time stamp, no colours, control characters written
/// out visibly (`VisibleText`), so one event is one line and a hostile value cannot forge another.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void = JournalLogHandler.writeToStandardError) {
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let given = event.metadata { all.merge(given) { $1 } }
        write(Self.line(level: event.level, message: "\(event.message)", metadata: all))
    }

    /// The syslog priority of a level: debug 7, info 6, notice 5, warning 4, error 3, critical 2.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func line(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        let fields = metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let text = ([message] + fields).joined(separator: " ")
        return "<\(priority(level))>\(VisibleText.escaped(text))\n"
    }

    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        _ = line.withCString { Glibc.write(STDERR_FILENO, $0, strlen($0)) }
    }

    /// Whether stderr is the journal stream systemd set up (not merely inherited by a child whose stderr
    /// went elsewhere): the device and inode in `JOURNAL_STREAM` are stderr's own.
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        var info = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
