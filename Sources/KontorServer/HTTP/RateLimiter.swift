import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// A token bucket per client address: `perMinute` requests a minute, bursts up to the same number.
actor RateLimiter {
    private let perMinute: Int
    private var buckets: [String: (tokens: Double, at: Date)] = [:]

    init(perMinute: Int) { self.perMinute = perMinute }

    /// Seconds to wait before retrying, or nil when the request may go ahead.
    func admit(_ client: String, now: Date) -> Int? {
        guard perMinute > 0 else { return nil }
        let rate = Double(perMinute) / 60
        var bucket = buckets[client] ?? (Double(perMinute), now)
        bucket.tokens = min(Double(perMinute), bucket.tokens + now.timeIntervalSince(bucket.at) * rate)
        bucket.at = now
        if buckets.count > 100_000 { buckets = buckets.filter { now.timeIntervalSince($0.value.at) < 120 } }
        guard bucket.tokens >= 1 else {
            buckets[client] = bucket
            return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
        }
        bucket.tokens -= 1
        buckets[client] = bucket
        return nil
    }
}
