import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Metrics
import Synchronization

/// The encoded body and digest of "unchanged" check-in replies, per policy hash and interval.
final class UnchangedReplies: Sendable {
    private let cache = Mutex<[String: (Data, String)]>([:])

    func body(hash: String, interval: Int, longPoll: Bool = false) throws -> (Data, String) {
        let key = "\(interval) \(longPoll) \(hash)"
        if let known = cache.withLock({ $0[key] }) { return known }
        let body = try KontorJSON.encode(
            CheckinResponse(result: "unchanged", nextCheckin: interval, policyHash: hash, policy: nil, commands: [], longPoll: longPoll ? true : nil))
        let entry = (body, ContentDigest.header(for: body))
        cache.withLock {
            // Only a handful of policies are live at once; a flood of old ones is simply forgotten.
            if $0.count >= 4_096 { $0.removeAll(keepingCapacity: true) }
            $0[key] = entry
        }
        return entry
    }
}
