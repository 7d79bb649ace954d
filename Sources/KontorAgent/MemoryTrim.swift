import NIOCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The agent process's own footprint (docs/benchmarks.md, issue 16).
public enum AgentProcess {
    /// Call first thing in `main`: one event loop and one blocking thread for the agent's single HTTP
    /// client (NIO would start one of each per core, each with its own stack and malloc arena).
    public static func configure() {
        NIOSingletons.groupLoopCountSuggestion = 1
        NIOSingletons.blockingPoolThreadCountSuggestion = 1
    }

    /// Gives back the pages of the agent's own executable that only start-up needed: pages of its
    /// read-only mappings (code, constants) that were never copied are dropped from the process (`MADV_DONTNEED`);
    /// whatever runs later faults its pages in again from the page cache. Mappings with any written
    /// (copy-on-write) page, such as relocated data, are left alone. Returns the bytes dropped.
    @discardableResult
    public static func trimExecutable() -> Int {
        guard let smaps = try? String(contentsOfFile: "/proc/self/smaps", encoding: .utf8) else { return 0 }
        var dropped = 0
        for m in trimmable(smaps, image: UInt(bitPattern: #dsohandle)) {
            guard let address = UnsafeMutableRawPointer(bitPattern: m.start), madvise(address, Int(m.end - m.start), MADV_DONTNEED) == 0 else { continue }
            dropped += m.resident
        }
        return dropped
    }

    /// The mappings of the file mapped at `image` that are read-only, private, pristine and resident.
    static func trimmable(_ smaps: String, image: UInt) -> [Mapping] {
        let mappings = Mapping.parse(smaps)
        guard let own = mappings.first(where: { $0.start <= image && image < $0.end }), own.inode != "0" else { return [] }
        return mappings.filter { m in
            m.device == own.device && m.inode == own.inode && (m.permissions == "r--p" || m.permissions == "r-xp") && m.pristine && m.resident > 0
        }
    }

    /// One mapping of /proc/self/smaps, with what the trim needs.
    struct Mapping {
        var start: UInt
        var end: UInt
        var permissions: Substring
        var device: Substring
        var inode: Substring
        var resident = 0
        /// No anonymous (copied-on-write) page: every page is the file's own.
        var pristine = false

        static func parse(_ text: String) -> [Mapping] {
            var out: [Mapping] = []
            var written = 0
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count >= 5, let dash = fields[0].firstIndex(of: "-"), let start = UInt(fields[0][..<dash], radix: 16),
                    let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16)
                {
                    if !out.isEmpty { out[out.count - 1].pristine = written == 0 }
                    out.append(Mapping(start: start, end: end, permissions: fields[1], device: fields[3], inode: fields[4]))
                    written = 0
                    continue
                }
                guard fields.count >= 2, let kilobytes = Int(fields[1]), !out.isEmpty else { continue }
                switch fields[0] {
                case "Rss:": out[out.count - 1].resident = kilobytes * 1024
                // Copied-on-write pages; dirty pages of the file itself (one just written) are not ours.
                case "Anonymous:": written += kilobytes
                default: break
                }
            }
            if !out.isEmpty { out[out.count - 1].pristine = written == 0 }
            return out
        }
    }
}

/// When the agent trims its executable: once it has settled after start-up, then after each check-in
/// (at most once every 50 s; faulting a check-in's pages in again costs about a millisecond).
final class TrimSchedule: Sendable {
    private let started: ContinuousClock.Instant
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(started: ContinuousClock.Instant) { self.started = started }

    /// True when a trim is due at `now` (and notes it as done).
    func due(_ now: ContinuousClock.Instant) -> Bool {
        last.withLock { last in
            let due = last.map { now - $0 >= .seconds(50) } ?? (now - started >= .seconds(20))
            if due { last = now }
            return due
        }
    }
}
