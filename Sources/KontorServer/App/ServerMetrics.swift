import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging
import Metrics
import NIOSSL
import Prometheus
import ServiceLifecycle

/// Counters the server keeps besides Hummingbird's per-route request metrics. Created once, fixed labels.
public struct ServerMetrics: Sendable {
    enum Outcome: String {
        case ok, refused
        case rateLimited = "rate_limited"
        case unchanged, policy
    }

    private let enrollOK = Counter(label: "kontor_enrollments_total", dimensions: [("result", "ok")])
    private let enrollRefused = Counter(label: "kontor_enrollments_total", dimensions: [("result", "refused")])
    private let enrollLimited = Counter(label: "kontor_enrollments_total", dimensions: [("result", "rate_limited")])
    private let checkinUnchanged = Counter(label: "kontor_checkins_total", dimensions: [("result", "unchanged")])
    private let checkinPolicy = Counter(label: "kontor_checkins_total", dimensions: [("result", "policy")])
    private let checkinRefused = Counter(label: "kontor_checkins_total", dimensions: [("result", "refused")])

    func enrollments(_ outcome: Outcome) {
        switch outcome {
        case .ok: enrollOK.increment()
        case .rateLimited: enrollLimited.increment()
        default: enrollRefused.increment()
        }
    }

    func checkins(_ outcome: Outcome) {
        switch outcome {
        case .unchanged: checkinUnchanged.increment()
        case .policy: checkinPolicy.increment()
        default: checkinRefused.increment()
        }
    }
}
