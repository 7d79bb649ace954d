import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// What one retention run deleted, and who is due for pseudonymisation.
public struct RetentionRun: Codable, Sendable, Equatable {
    public var ranAt: Date
    /// Device events older than `retention.eventsDays`.
    public var events: Int
    /// Enrollment tokens spent (expired, revoked or used up) more than 30 days ago.
    public var enrollmentTokens: Int
    /// Console sessions past their end or idle too long.
    public var consoleSessions: Int
    /// Replay nonces past their window.
    public var nonces: Int
    /// Offboarded persons whose offboarding completed more than `retention.pseudonymiseAfterMonths` ago, by ID.
    public var pseudonymisationDue: [String]
    /// Of those, how many this run pseudonymised (the others were already, or still have an active device).
    public var pseudonymised = 0

    /// Rows deleted and persons pseudonymised, all kinds together.
    var deleted: Int { events + enrollmentTokens + consoleSessions + nonces + pseudonymised }

    /// The audit entry's detail: a count per kind.
    var auditDetail: [String: String] {
        [
            "events": String(events), "enrollmentTokens": String(enrollmentTokens), "consoleSessions": String(consoleSessions),
            "nonces": String(nonces), "pseudonymisationDue": String(pseudonymisationDue.count), "pseudonymised": String(pseudonymised),
        ]
    }
}

/// Deletes what Kontor no longer needs (GDPR Art. 5(1)(e)), in batches of `batchSize` rows per transaction so
/// check-ins never wait behind one long write; audits each run that deleted anything once, with its counts.
public struct RetentionService: Sendable {
    let store: any RetentionStore & SettingsStore & ReplayNonceStore & ConsoleSessionStore
    let clock: WallClock
    let audit: AuditService
    /// How long an unused console session lives (the server's `consoleIdleTimeout`).
    let consoleIdleTimeout: TimeInterval
    /// Pseudonymises offboarded persons whose time is up, as an erasure on request would (nil: reports only).
    var erasure: ErasureService?
    var batchSize = 1000

    /// Who the audit log names for a run.
    static let actor = "system:retention"
    /// How long a spent enrollment token stays listed after it could last be used.
    static let spentTokenGrace: TimeInterval = 30 * 86_400

    /// The settings now, with defaults.
    func settings() async throws -> RetentionSettings { try await RetentionSettings.load(from: store) }

    /// One run at the settings now. `requestedBy` (an admin) makes it audited even when it deleted nothing.
    func run(requestedBy: String? = nil) async throws -> RetentionRun {
        let now = clock.now()
        let limits = try await settings()
        let eventsBefore = now - TimeInterval(limits.eventsDays ?? 365) * 86_400
        let events = try await drain { try await store.deleteEvents(before: eventsBefore, limit: $0) }
        let tokens = try await drain { try await store.deleteSpentEnrollmentTokens(before: now - Self.spentTokenGrace, limit: $0) }
        let sessions = try await store.deleteExpiredConsoleSessions(now: now, idleBefore: now - consoleIdleTimeout)
        let nonces = try await store.purgeNonces(before: now.timeIntervalSince1970)
        let due = try await store.personsOffboarded(before: Self.monthsBefore(now, limits.pseudonymiseAfterMonths ?? 24))
        var run = RetentionRun(
            ranAt: now, events: events, enrollmentTokens: tokens, consoleSessions: sessions, nonces: nonces, pseudonymisationDue: due)
        run.pseudonymised = try await pseudonymise(due, months: limits.pseudonymiseAfterMonths ?? 24)
        if run.deleted > 0 || requestedBy != nil {
            var detail = run.auditDetail
            if let requestedBy { detail["requestedBy"] = requestedBy }
            try await audit.record(Self.actor, "retention.run", target: nil, detail: detail)
        }
        return run
    }

    /// Pseudonymises each due person not pseudonymised yet; one whose erasure is refused (a device still
    /// active) is left for a later run.
    private func pseudonymise(_ due: [String], months: Int) async throws -> Int {
        guard let erasure else { return 0 }
        var done = 0
        for id in due {
            guard let person = try await erasure.store.person(id: id), !ErasureService.isErased(person) else { continue }
            do {
                _ = try await erasure.erase(
                    person, reason: "retention: offboarded more than \(months) months ago", actor: Self.actor, action: "person.pseudonymised")
                done += 1
            } catch let error as KontorError where error.kind == .conflict {
                continue
            }
        }
        return done
    }

    /// Calls `batch` with the batch size until it deletes fewer than that; each call is its own transaction,
    /// and other tasks get the store in between. Returns the total.
    private func drain(_ batch: (Int) async throws -> Int) async throws -> Int {
        var total = 0
        while true {
            let n = try await batch(batchSize)
            total += n
            guard n >= batchSize else { return total }
            await Task.yield()
        }
    }

    /// The instant `months` calendar months before `now` (UTC), so "24 months" means the same day two years back.
    static func monthsBefore(_ now: Date, _ months: Int) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(byAdding: .month, value: -months, to: now) ?? now - TimeInterval(months) * 30 * 86_400
    }
}

/// Runs retention at start and then every `period`, unless `retention.enabled` is false. `sleep` is injected
/// so tests count the runs instead of waiting for them.
struct RetentionSchedulerService: Service {
    let retention: RetentionService
    let period: Duration
    let logger: Logger
    var sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await runOnce()
                try await sleep(period)
            }
        }
    }

    /// One scheduled run; a failure is logged and the next period tries again.
    func runOnce() async {
        do {
            guard try await retention.settings().enabled != false else { return }
            let run = try await retention.run()
            if run.deleted > 0 {
                logger.notice(
                    "retention run deleted old data",
                    metadata: run.auditDetail.reduce(into: Logger.Metadata()) { $0["retention.\($1.key)"] = "\($1.value)" })
            }
        } catch {
            logger.error("retention run failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
