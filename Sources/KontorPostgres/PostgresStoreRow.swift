import Foundation
import KontorStore
import PostgresNIO

/// A postgres-nio row as the shared record decoders read it (``StoreRow``).
struct PostgresStoreRow: StoreRow {
    let row: PostgresRandomAccessRow

    func string(_ column: String) throws -> String { try row.get(column) }
    func optionalString(_ column: String) throws -> String? { try row.get(column) }
    func double(_ column: String) throws -> Double { try row.get(column) }
    func optionalDouble(_ column: String) throws -> Double? { try row.get(column) }
    func int(_ column: String) throws -> Int { try row.get(column) }
}

extension PostgresStore {
    /// The record in `row` (``RowDecodable``).
    static func record<T: RowDecodable>(_ row: PostgresRandomAccessRow) throws -> T { try T(row: PostgresStoreRow(row: row)) }
}
