import Foundation
import GRDB
import KontorStore

/// A GRDB row as the shared record decoders read it (``StoreRow``).
struct SQLiteStoreRow: StoreRow {
    let row: Row

    func string(_ column: String) throws -> String { try row.decode(forColumn: column) }
    func optionalString(_ column: String) throws -> String? { try row.decode(forColumn: column) }
    func double(_ column: String) throws -> Double { try row.decode(forColumn: column) }
    func optionalDouble(_ column: String) throws -> Double? { try row.decode(forColumn: column) }
    func int(_ column: String) throws -> Int { try row.decode(forColumn: column) }
}

extension SQLiteStore {
    /// The record in `row` (``RowDecodable``).
    static func record<T: RowDecodable>(_ row: Row) throws -> T { try T(row: SQLiteStoreRow(row: row)) }
}
