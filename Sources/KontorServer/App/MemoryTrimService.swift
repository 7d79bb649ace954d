import CKontorLinux
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Gives the memory malloc holds free back to the system every `period`, when there is enough of it.
/// After a restart every online agent reconnects within seconds and the server processes thousands of
/// check-ins at once; once they are held, that working memory is free again, but glibc keeps it in its
/// arenas (the RSS stays at the burst's high-water mark: measured 130 MB of 330 MB after 10,000 held
/// polls ended, docs/benchmarks.md). `malloc_trim` returns the free pages; it walks the arenas, so it
/// runs only when more than `threshold` bytes are free and that figure moved by half of it since the
/// last trim (free chunks stay counted as free after their pages went back).
final class MemoryTrimService: Service, Sendable {
    let period: Duration
    let threshold: Int
    let logger: Logger
    private let trims = Counter(label: "kontor_memory_trims_total")
    private let lastFree = Mutex(0)

    init(period: Duration = .seconds(15), threshold: Int = 32 << 20, logger: Logger) {
        self.period = period
        self.threshold = threshold
        self.logger = logger
    }

    /// Ends at once on a graceful shutdown: the sleep is cancelled, not waited out (SIGTERM must not wait
    /// up to `period` for it).
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.period)
                self.trimIfWorthIt()
            }
        }
    }

    /// Trims when it is worth it (see the type); returns the free bytes it found, or nil when it did not trim.
    @discardableResult
    func trimIfWorthIt() -> Int? {
        let free = Int(kontor_malloc_free_bytes())
        let worth = lastFree.withLock { last in
            guard free > threshold, abs(free - last) > threshold / 2 else { return false }
            last = free
            return true
        }
        guard worth else { return nil }
        let start = ContinuousClock.now
        _ = kontor_malloc_trim()
        trims.increment()
        logger.debug("memory trimmed", metadata: ["free": "\(free)", "took": "\(ContinuousClock.now - start)"])
        return free
    }
}
