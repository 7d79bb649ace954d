import Crypto
import Foundation
import KontorCore

/// What a device's requests do beyond one service: each writes its audit entry and moves what follows
/// from it (an offboarding) in one place.
extension Services {
    /// Enrolls a device whose request proved possession of `publicKey`, and records it in the audit log.
    func enrollDevice(_ input: EnrollRequest, publicKey: Curve25519.Signing.PublicKey) async throws -> EnrollResponse {
        let response = try await enrollment.enroll(input, publicKey: publicKey)
        try await audit.record(
            "device:\(response.deviceId)", "device.enrolled", target: response.deviceId,
            detail: ["hostname": input.facts.hostname, "predecessor": response.predecessorId ?? "", "acceptedTerms": input.acceptedTermsVersion ?? ""])
        return response
    }

    /// Records the signed receipt of a wipe the device did, and moves its person's offboarding on.
    func recordReceipt(_ signed: SignedReceipt, deviceId: String) async throws -> ReceiptConfirmation {
        guard let device = try await directory.storedDevice(id: deviceId) else { throw KontorError.notFound("no device \(deviceId)") }
        let confirmation = try await receipts.record(signed, from: device)
        if let personId = device.personId { try await offboarding.tick(personId: personId) }
        return confirmation
    }
}
