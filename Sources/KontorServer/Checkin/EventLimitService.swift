import Logging
import ServiceLifecycle

/// Writes the audit entry of every device that went over its event limits once its hour is over (the
/// device may never check in again to trigger it), and on shutdown what has been counted so far.
struct EventLimitService: Service {
    let reports: CheckinReports
    let logger: Logger
    var period: Duration = .seconds(60)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                await closeEndedHours()
            }
        }
        await write(reports.budget.drain())
    }

    /// Writes the audit entries of the hours that are over.
    func closeEndedHours() async {
        await write(reports.budget.closeEndedHours(now: Int(reports.clock.now().timeIntervalSince1970)))
    }

    private func write(_ overflows: [DeviceEventBudget.Overflow]) async {
        for overflow in overflows {
            do {
                try await reports.recordOverflow(overflow)
            } catch {
                logger.error(
                    "could not record a device's events over the limits",
                    metadata: ["device.id": "\(overflow.deviceId)", "error": "\(String(reflecting: error))"])
            }
        }
    }
}
