import Foundation

/// When to check in next. Pure: the randomness is passed in, so tests pin it.
public struct PollSchedule: Sendable, Equatable {
    /// ±20 % around the interval, so a fleet restarted at once spreads out instead of polling in lockstep.
    public var jitter = 0.2
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
            base = min(backoffCap, backoffBase * pow(2, Double(exponent)))
        }
        let factor = 1 - jitter + 2 * jitter * min(max(unit, 0), 0.999_999)
        let jittered = base * factor
        guard let retryAfter else { return jittered }
        return max(jittered, Double(retryAfter))
    }
}
