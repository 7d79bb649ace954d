import Foundation
import KontorCore
import KontorStore
import Logging

/// The console's fleet pages — the dashboard's numbers and offline list, the device list — counted,
/// filtered, sorted and paged by the store (``FleetStore``), so a page costs about the same for any size
/// of fleet.
///
/// Before it reads, it writes what this instance's check-in recorder holds that is due or changes what an
/// admin sees (what the flush service writes within 5 s anyway), so counts, filters and rows agree with
/// each other and with a device's own page. A check-in that changed nothing but the time waits for its
/// write (`lastSeenWriteInterval`, 300 s by default): until then the fleet pages show the last-seen time
/// written before, while the device's page shows the latest. Another instance's check-ins show once that
/// instance writes them.
struct FleetService: Sendable {
    let store: any FleetStore
    let recorder: CheckinRecorder
    let expected: ExpectedPolicies
    let clock: WallClock
    let logger: Logger

    /// A device as a fleet page lists it, with its person's email and name.
    struct Entry: Sendable {
        var device: FleetDevice
        var personEmail: String?
        var personName: String?
    }

    /// The dashboard's numbers and its list of the longest silent devices.
    struct Overview: Sendable {
        var counts: FleetCounts
        var offline: [Entry]
        var offlineTotal: Int
    }

    /// One page of the device list.
    struct Page: Sendable {
        var entries: [Entry]
        var total: Int
        /// 1-based, within `1...pages`.
        var page: Int
        var pages: Int
    }

    /// Counts, and the first `listed` active devices not seen for `offlineDays` days, longest silent first.
    func overview(offlineDays: Int, listed: Int = 20) async throws -> Overview {
        try await prepare()
        let now = clock.now()
        let counts = try await store.fleetCounts(now: now)
        let offline = try await store.offlineDevices(seenBefore: now - Double(offlineDays) * 86_400, limit: listed)
        return Overview(counts: counts, offline: offline.rows.map { entry($0, now: now) }, offlineTotal: offline.total)
    }

    /// Page `page` (1-based; clamped to the pages there are) of the devices matching `query`, `query.limit` a page.
    func page(_ query: FleetQuery, page: Int) async throws -> Page {
        try await prepare()
        let now = clock.now()
        let size = max(1, query.limit)
        var asked = query
        asked.limit = size
        asked.offset = (max(1, page) - 1) * size
        var found = try await store.fleetPage(asked, now: now)
        let pages = max(1, (found.total + size - 1) / size)
        let current = min(max(1, page), pages)
        if current != max(1, page) {
            asked.offset = (current - 1) * size
            found = try await store.fleetPage(asked, now: now)
        }
        return Page(entries: found.rows.map { entry($0, now: now) }, total: found.total, page: current, pages: pages)
    }

    /// Writes what is due of this instance's check-ins and brings the expected policies up to date.
    private func prepare() async throws {
        do {
            try await recorder.flush(now: clock.now())
        } catch {
            // The pages still answer from what is written; the flush service tries again.
            logger.warning("could not write pending check-ins before a fleet page", metadata: ["error": "\(String(reflecting: error))"])
        }
        try await expected.ensureCurrent()
    }

    /// The listing entry of a stored row: the posture requirements it fails are worked out at `now`, as
    /// the store did when it filtered.
    private func entry(_ row: FleetRow, now: Date) -> Entry {
        Entry(
            device: FleetDevice(
                summary: row.summary, effectivePolicyHash: row.expected?.hash,
                postureFailures: PostureCompliance.failures(row.expected?.posture, row.summary.posture, now: now)),
            personEmail: row.personEmail, personName: row.personName)
    }
}
