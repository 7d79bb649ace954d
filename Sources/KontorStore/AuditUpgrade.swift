import Foundation
import KontorCore

/// Carries a format-1 audit chain (values hashed) over to format 2 (salted commitments hashed, values
/// erasable), page by page: first the old chain is checked as it is — a chain that does not verify is left
/// alone, so an upgrade never launders tampering — then every entry is re-chained with fresh salts and its
/// old hash kept as `legacyHash`. The store appends `audit.format-upgraded` with the old head afterwards, so
/// the new chain vouches for the old one.
package struct AuditUpgrade {
    /// Entries per page read and written.
    package static let page = 1000

    /// Checks the old chain page by page, as it is.
    package struct LegacyCheck {
        private var cursor = AuditChainCursor()
        private var count = 0
        private var leftAlone = false

        package init() {}

        /// The sequence number to read the next page after.
        package var after: Int { cursor.seq }

        /// Takes the next page (empty at the end); false when there is no need to read more.
        package mutating func feed(_ entries: [AuditEntry]) -> Bool {
            guard !entries.isEmpty else { return false }
            for e in entries {
                // A format-2 entry: either the upgrade happened (nothing to do) or format-1 entries follow one (a
                // chain someone edited); and a format-1 chain that does not verify: left alone in every case.
                if e.commitments != nil || cursor.check(e) != nil {
                    leftAlone = true
                    return false
                }
                count += 1
            }
            return true
        }

        /// The old chain's head and length when it is to be upgraded.
        package var result: (head: String, entries: Int)? { leftAlone || count == 0 ? nil : (cursor.head, count) }
    }

    /// The format-2 forms of `entries` (format 1, in sequence order), chained after `previousHash`.
    package static func upgrade(_ entries: [AuditEntry], after previousHash: String) -> [AuditEntry] {
        var previous = previousHash
        return entries.map { e in
            let upgraded = AuditChain.upgraded(e, previousHash: previous)
            previous = upgraded.hash
            return upgraded
        }
    }
}
