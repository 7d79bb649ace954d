#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// When to check in next. Pure: the randomness is passed in, so tests pin it.
public struct PollSchedule: Sendable, Equatable {
    /// ±10 % around the interval between successful check-ins: a fleet started at once spreads out, and a
    /// policy change still reaches every online device within 1.1 intervals.
    public var jitter = 0.1
    /// ±20 % around each wait after a failure, so a fleet that lost its server does not come back in lockstep.
    public var backoffJitter = 0.2
    /// First retry after a failure, in seconds; doubles with each further failure.
    public var backoffBase: Double = 5
    /// The longest wait after failures, in seconds.
    public var backoffCap: Double = 900

    public init() {}

    /// Seconds to wait after a cycle. `failures` counts consecutive failed cycles (0 after a success);
    /// `retryAfter` is what the server asked for, honoured as a minimum; `unit` is a random number in [0, 1).
    public func delay(interval: Int, failures: Int, retryAfter: Int?, unit: Double) -> Double {
        let base: Double
        if failures == 0 {
            base = Double(max(interval, 1))
        } else {
            let exponent = min(failures - 1, 30)
            base = min(backoffCap, backoffBase * Double(1 << exponent))
        }
        let spread = failures == 0 ? jitter : backoffJitter
        let factor = 1 - spread + 2 * spread * min(max(unit, 0), 0.999_999)
        let jittered = base * factor
        guard let retryAfter else { return jittered }
        return max(jittered, Double(retryAfter))
    }
}
