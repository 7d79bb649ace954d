import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// The device API: enrollment (token plus proof of key possession) and signed check-in.
struct DeviceController {
    let services: Services

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        let p = "/api/v1"
        let api = router.group(RouterPath(p))
        let deviceLimit = min(services.config.maxBodyBytes, 256 * 1024)

        api.on(.post, p, "enroll", table: table) { request, context in
            let client = services.clientAddress(request, context)
            if let wait = await services.enrollLimiter.admit(client, now: services.clock.now()) {
                services.metrics.enrollments(.rateLimited)
                throw APIError(.tooManyRequests, .rateLimited, "too many enrollment attempts; retry in \(wait) s", headers: [.retryAfter: String(wait)])
            }
            let body = try await request.collectBody(limit: deviceLimit)
            let input = try request.decodeJSON(EnrollRequest.self, from: body)
            guard let publicKey = DeviceKeys.publicKey(base64: input.publicKey) else {
                throw APIError.invalid("publicKey: expected a 32-byte Ed25519 public key in base64")
            }
            if let problem = input.facts.validationError() { throw APIError.invalid(problem) }
            if let terms = input.acceptedTermsVersion, !(1...64).contains(terms.count) || VisibleText.firstHidden(in: terms) != nil {
                throw APIError.invalid("acceptedTermsVersion: must be 1 to 64 characters, none of them control or invisible")
            }
            // Proof of possession: the request is signed with the key being enrolled.
            let message = DeviceAuthenticator.signatureMessage(request)
            do {
                let verified = try HTTPMessageSignatures.verify(message, label: DeviceAPI.signatureLabel, required: DeviceAPI.requiredRequestComponents) { keyID in
                    guard keyID == DeviceKeys.keyID(for: publicKey) else { throw HTTPSignatureError.unknownKey(keyID) }
                    return publicKey
                }
                try await services.deviceAuth.checkFreshness(verified, keyId: DeviceKeys.keyID(for: publicKey))
                try ContentDigest.verify(message.fields["content-digest"], body: body)
            } catch let error as HTTPSignatureError {
                throw DeviceAuthenticator.map(error)
            }
            do {
                let response = try await services.enrollment.enroll(input, publicKey: publicKey)
                services.metrics.enrollments(.ok)
                try await services.audit.record(
                    "device:\(response.deviceId)", "device.enrolled", target: response.deviceId,
                    detail: ["hostname": input.facts.hostname, "predecessor": response.predecessorId ?? "", "acceptedTerms": input.acceptedTermsVersion ?? ""])
                context.logger.notice("device enrolled", metadata: ["device.id": "\(response.deviceId)", "device.predecessor": "\(response.predecessorId ?? "-")"])
                return try services.signer.signedJSON(response, status: .created, answering: message)
            } catch let error as APIError {
                services.metrics.enrollments(.refused)
                throw error
            }
        }

        api.on(.post, p, "checkin", table: table) { request, context in
            let body = try await request.collectBody(limit: deviceLimit)
            let (device, _, message): (AuthenticatedDevice, VerifiedSignature, SignatureMessage)
            do {
                (device, _, message) = try await services.deviceAuth.authenticate(request, body: body)
            } catch let refusal as DeviceRefusal {
                services.metrics.checkins(.refused)
                return try services.signer.signedError(refusal)
            } catch {
                services.metrics.checkins(.refused)
                throw error
            }
            // Everything is checked before anything is written: a refused check-in writes nothing.
            var input = try request.decodeJSON(CheckinRequest.self, from: body)
            try services.checkinReports.validate(input)
            // Identifiers with control characters are refused; free text is kept with them made visible.
            if let problem = input.characterProblem() { throw APIError.invalid(problem) }
            input = input.sanitized()
            var current = try await services.policies.policyHash(for: device)
            var hash = current.hash
            try await services.checkinReports.record(input, deviceId: device.id, logger: context.logger)
            var commands = try await services.commands.deliver(to: device.id)
            let record = CheckinRecord(
                deviceId: device.id, at: services.clock.now(), appliedPolicyHash: input.appliedPolicyHash, status: input.status, facts: input.facts,
                compliance: input.compliance)
            await services.recorder.record(record, changed: services.devices.noteCheckin(keyId: device.keyId, record))
            var unchanged = input.appliedPolicyHash == hash
            services.metrics.checkins(unchanged ? .unchanged : .policy)
            // Long poll: nothing to say yet, so hold the request until a command is queued for the device
            // (or the profiles change), at most `longPollMax` seconds.
            var longPoll = false
            if let wait = input.wait, wait > 0, services.config.longPollMax > 0 {
                longPoll = true
                if unchanged, commands.isEmpty {
                    let ticket = services.longPolls.register(device.id)
                    commands = try await services.commands.deliver(to: device.id)
                    if commands.isEmpty {
                        let outcome = await services.longPolls.wait(ticket, deviceId: device.id, timeout: .seconds(min(wait, services.config.longPollMax)))
                        if outcome == .superseded {
                            // A newer long poll of this device is held now. This one answers without asking
                            // to come straight back, so two holders of one key cannot chase each other.
                            longPoll = false
                        } else {
                            commands = try await services.commands.deliver(to: device.id)
                            current = try await services.policies.policyHash(for: device)
                            hash = current.hash
                            unchanged = input.appliedPolicyHash == hash
                        }
                    } else {
                        services.longPolls.cancel(ticket, deviceId: device.id)
                    }
                }
            }
            if unchanged, commands.isEmpty {
                return try services.signer.signedUnchanged(hash: hash, interval: current.interval, longPoll: longPoll, answering: message)
            }
            var reply = CheckinResponse(
                result: "unchanged", nextCheckin: current.interval, policyHash: hash, policy: nil, commands: commands, longPoll: longPoll ? true : nil)
            if !unchanged {
                var full = current.policy
                if full == nil { full = try await services.policies.effectivePolicy(for: device) }
                if let full {
                    reply = CheckinResponse(
                        result: "policy", nextCheckin: full.checkinInterval, policyHash: full.canonicalHash, policy: full, commands: commands,
                        longPoll: longPoll ? true : nil)
                }
            }
            return try services.signer.signedJSON(reply, answering: message)
        }

        // A signed wipe receipt; a revoked device may still send one.
        api.on(.post, p, "receipts", table: table) { request, context in
            let body = try await request.collectBody(limit: deviceLimit)
            let (authenticated, _, message) = try await services.deviceAuth.authenticate(request, body: body, allowRevoked: true)
            let signed = try request.decodeJSON(SignedReceipt.self, from: body)
            guard let device = try await services.store.device(id: authenticated.id) else { throw APIError.notFound("no device \(authenticated.id)") }
            let confirmation = try await services.receipts.record(signed, from: device)
            if !confirmation.duplicate {
                context.logger.notice("wipe receipt recorded", metadata: ["device.id": "\(device.id)", "receipt.id": "\(confirmation.receiptId)"])
            }
            if let personId = device.personId { try await services.offboarding.tick(personId: personId) }
            return try services.signer.signedJSON(confirmation, answering: message)
        }
    }
}
