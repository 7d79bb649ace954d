import Foundation
import KontorCore

/// A consent an enrollment recorded: which device, whose, which usage-terms version the agent said was
/// accepted, and when. Written once by ``EnrollmentStore/enroll(_:tokenId:now:)``, never changed.
public struct ConsentRecord: Codable, Sendable, Equatable {
    /// The store's sequence number of the record (its order of writing).
    public var id: Int
    public var deviceId: String
    public var personId: String?
    public var termsVersion: String
    public var acceptedAt: Date

    public init(id: Int, deviceId: String, personId: String?, termsVersion: String, acceptedAt: Date) {
        self.id = id
        self.deviceId = deviceId
        self.personId = personId
        self.termsVersion = termsVersion
        self.acceptedAt = acceptedAt
    }
}

/// The consent records enrollments wrote, read for a person's access request (GDPR Art. 15).
public protocol ConsentRecordStore: Sendable {
    /// The records that name `personId`, or name a device of theirs, oldest first.
    func consentRecords(personId: String) async throws -> [ConsentRecord]
}

extension ConsentRecord: RowDecodable {
    package init(row: some StoreRow) throws {
        self.init(
            id: try row.int("id"), deviceId: try row.string("device_id"), personId: try row.optionalString("person_id"),
            termsVersion: try row.string("terms_version"), acceptedAt: try row.date("accepted_at"))
    }
}
