import Foundation
import KontorCore

// The errors both backends report, worded once: a backend only decides which of its constraint failures
// is which (its dialect). Package-internal: for the store modules only.
extension StoreError {
    package static func unknownDevice(_ id: String) -> StoreError { .notFound("device \(id)") }
    package static func unknownPerson(_ id: String?) -> StoreError { .notFound("person \(id ?? "")") }
    package static func unknownAPIToken(_ id: String) -> StoreError { .notFound("API token \(id)") }
    package static func unknownTable(_ name: String) -> StoreError { .notFound("table \(name)") }
    /// A receipt names a device, or a command, that does not exist.
    package static func unknownDeviceOrCommand(_ receipt: StoredReceipt) -> StoreError {
        .notFound("device \(receipt.deviceId) or command \(receipt.commandId ?? "-")")
    }
    package static func termsExist(_ version: String) -> StoreError {
        .conflict("usage terms \(version) are published; a published version never changes, publish a new one")
    }
    package static func unknownTermsOrDevice(_ r: StoredTermsResponse) -> StoreError { .notFound("usage terms \(r.version) or device \(r.deviceId)") }
    package static func emailTaken(_ email: String) -> StoreError { .conflict("a person with email \(email) exists") }
    package static func apiTokenExists(_ id: String) -> StoreError { .conflict("API token \(id) exists") }
    package static func commandExists(_ id: String) -> StoreError { .conflict("command \(id) exists") }
    package static func consoleSessionExists(_ id: String) -> StoreError { .conflict("console session \(id) exists") }
    package static func personSessionExists(_ id: String) -> StoreError { .conflict("person session \(id) exists") }
    package static func pendingSignInExists(_ id: String) -> StoreError { .conflict("sign-in \(id) exists") }
    /// The device's ID or key is enrolled already.
    package static let deviceEnrolled = StoreError.conflict("device id or key already enrolled")
}
