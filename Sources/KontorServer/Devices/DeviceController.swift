import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import Logging

/// The device API: enrollment (a token plus proof of possession of the new key), the signed check-in,
/// and wipe receipts. Check-ins and receipts pass ``DeviceAuthMiddleware`` first, so their handlers get a
/// verified device; every answer is signed with the server key.
struct DeviceController {
    let services: Services
    /// One for all held check-ins: what a parked wait keeps is this reference.
    let finisher: HeldCheckinFinisher

    init(services: Services) {
        self.services = services
        self.finisher = HeldCheckinFinisher(checkins: services.checkins, signer: services.signer)
    }

    var bodyLimit: Int { min(services.config.maxBodyBytes, 256 * 1024) }

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        let p = "/api/v1"
        router.group(RouterPath(p)).on(.post, p, "enroll", table: table, use: enroll)
        let metrics = services.metrics
        router.group(RouterPath(p))
            .add(
                middleware: DeviceAuthMiddleware(
                    authenticator: services.deviceAuth, signer: services.signer, bodyLimit: bodyLimit, refused: { metrics.checkins(.refused) })
            )
            .group(context: DeviceRequestContext.self)
            .on(.post, p, "checkin", table: table, use: checkIn)
        router.group(RouterPath(p))
            .add(middleware: DeviceAuthMiddleware(authenticator: services.deviceAuth, signer: services.signer, bodyLimit: bodyLimit, allowRevoked: true))
            .group(context: DeviceRequestContext.self)
            .on(.post, p, "receipts", table: table, use: receipt)
    }

    @Sendable func enroll(_ request: Request, context: KontorRequestContext) async throws -> Response {
        let client = services.clientAddress(request, context)
        if let wait = await services.enrollLimiter.admit(client, now: services.clock.now()) {
            services.metrics.enrollments(.rateLimited)
            throw APIError(.tooManyRequests, .rateLimited, "too many enrollment attempts; retry in \(wait) s", headers: [.retryAfter: String(wait)])
        }
        let body = try await request.collectBody(limit: bodyLimit)
        let input = try request.decodeJSON(EnrollRequest.self, from: body)
        guard let publicKey = DeviceKeys.publicKey(base64: input.publicKey) else {
            throw APIError.invalid("publicKey: expected a 32-byte Ed25519 public key in base64")
        }
        if let problem = input.facts.validationError() { throw APIError.invalid(problem) }
        if let terms = input.acceptedTermsVersion, !(1...64).contains(terms.count) || VisibleText.firstHidden(in: terms) != nil {
            throw APIError.invalid("acceptedTermsVersion: must be 1 to 64 characters, none of them control or invisible")
        }
        let message = try await services.deviceAuth.verifyPossession(request, body: body, publicKey: publicKey)
        do {
            let response = try await services.enrollDevice(input, publicKey: publicKey)
            services.metrics.enrollments(.ok)
            context.logger.notice("device enrolled", metadata: ["device.id": "\(response.deviceId)", "device.predecessor": "\(response.predecessorId ?? "-")"])
            return try services.signer.signedJSON(response, status: .created, answering: message)
        } catch {
            services.metrics.enrollments(.refused)
            throw error
        }
    }

    @Sendable func checkIn(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let input = try request.decodeJSON(CheckinRequest.self, from: context.body)
        let (device, message) = (context.device, context.verified.message)
        let begun = try await services.checkins.begin(device: device, request: input, connection: context.connection, logger: context.logger)
        guard let ticket = begun.ticket else { return try services.signer.signed(begun.answer, answering: message) }
        let finisher = self.finisher
        guard let slot = context.heldCheckin else {
            return try await finisher.finish(begun, device: device, message: message, after: await services.longPolls.wait(ticket))
        }
        // Held by the connection's task, with nothing of this chain on its stack (HeldCheckinSlot); the
        // closure keeps only what the reply needs.
        slot.park(ticket) { outcome in try await finisher.finish(begun, device: device, message: message, after: outcome) }
        return Response(status: .accepted)
    }

    /// A signed wipe receipt; a revoked device may still send one.
    @Sendable func receipt(_ request: Request, context: DeviceRequestContext) async throws -> Response {
        let signed = try request.decodeJSON(SignedReceipt.self, from: context.body)
        let confirmation = try await services.recordReceipt(signed, deviceId: context.device.id)
        if !confirmation.duplicate {
            context.logger.notice("wipe receipt recorded", metadata: ["receipt.id": "\(confirmation.receiptId)"])
        }
        return try services.signer.signedJSON(confirmation, answering: context.verified.message)
    }
}

/// Builds the signed reply of a held check-in once its wait is over; a class, so what a parked wait keeps
/// is a reference, not copies of the services.
final class HeldCheckinFinisher: Sendable {
    let checkins: CheckinService
    let signer: ResponseSigner

    init(checkins: CheckinService, signer: ResponseSigner) {
        self.checkins = checkins
        self.signer = signer
    }

    func finish(_ begun: CheckinService.Begun, device: AuthenticatedDevice, message: SignatureMessage, after outcome: LongPolls.Outcome) async throws
        -> Response
    {
        try signer.signed(try await checkins.finish(begun, device: device, after: outcome), answering: message)
    }
}

extension ResponseSigner {
    /// The signed answer to a check-in.
    func signed(_ outcome: CheckinService.Outcome, answering message: SignatureMessage) throws -> Response {
        switch outcome {
        case .unchanged(let hash, let interval, let longPoll):
            return try signedUnchanged(hash: hash, interval: interval, longPoll: longPoll, answering: message)
        case .reply(let reply):
            return try signedJSON(reply, answering: message)
        }
    }
}
