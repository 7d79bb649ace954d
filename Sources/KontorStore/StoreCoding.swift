import Foundation
import KontorCore

// How both backends store values: dates as seconds since 1970 (exact, sortable, the same in SQLite and
// PostgreSQL) and documents as JSON text. Package-internal: for the store modules only.

package func seconds(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
package func date(_ value: Double?) -> Date? { value.map { Date(timeIntervalSince1970: $0) } }

package func encodeJSON<T: Encodable>(_ value: T?) throws -> String? {
    guard let value else { return nil }
    return String(decoding: try KontorJSON.encode(value), as: UTF8.self)
}

package func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T? {
    guard let text else { return nil }
    return try KontorJSON.decode(type, from: Data(text.utf8))
}
