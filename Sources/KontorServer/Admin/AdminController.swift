import Foundation
import HTTPTypes
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Synchronization

/// The admin API: thin handlers that decode, call one service method and encode.
struct AdminController {
    let services: Services

    func register(on router: Router<KontorRequestContext>, table: RouteTable) {
        let p = "/api/v1"
        let api = router.group(RouterPath(p)).add(middleware: AdminAuthMiddleware(tokens: services.tokens))
            .group(context: AdminRequestContext.self)
        let limit = services.config.maxBodyBytes

        api.on(.get, p, "me", table: table) { _, context in
            try jsonResponse(["name": context.principal.name, "role": context.principal.role.rawValue, "tokenId": context.principal.tokenId])
        }

        // API tokens: admin only.
        api.on(.get, p, "api-tokens", table: table) { _, context in
            try context.require(.admin)
            return try jsonResponse(try await services.tokens.list())
        }
        api.on(.post, p, "api-tokens", table: table) { request, context in
            try context.require(.admin)
            struct Input: Decodable { var name: String; var role: Role }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let (token, secret) = try await services.tokens.create(name: input.name, role: input.role)
            context.logger.notice("API token created", metadata: ["token.id": "\(token.id)", "token.role": "\(token.role.rawValue)"])
            try await services.audit.record(AuditService.actor(context.principal), "api-token.created", target: token.id, detail: ["name": token.name, "role": token.role.rawValue])
            struct Output: Encodable { var token: String; var apiToken: APIToken }
            return try jsonResponse(Output(token: secret, apiToken: token), status: .created)
        }
        api.on(.delete, p, "api-tokens/{id}", table: table) { _, context in
            try context.require(.admin)
            let token = try await services.tokens.revoke(id: try context.parameters.require("id"))
            context.logger.notice("API token revoked", metadata: ["token.id": "\(token.id)"])
            try await services.audit.record(AuditService.actor(context.principal), "api-token.revoked", target: token.id, detail: ["name": token.name])
            return try jsonResponse(token)
        }

        // Persons.
        api.on(.get, p, "persons", table: table) { _, _ in try jsonResponse(try await services.directory.persons()) }
        api.on(.post, p, "persons", table: table) { request, context in
            try context.require(.operator)
            let person = try await services.createPerson(try await request.decodeJSON(DirectoryService.NewPerson.self, limit: limit), by: context.principal)
            return try jsonResponse(person, status: .created)
        }
        api.on(.get, p, "persons/export", table: table) { _, _ in
            let csv = try await services.personsCSV()
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"kontor-persons.csv\""],
                body: .init(byteBuffer: ByteBuffer(string: csv)))
        }
        api.on(.get, p, "persons/{person}", table: table) { _, context in
            let person = try await services.directory.person(try context.parameters.require("person"))
            return try jsonResponse(try await services.directory.personDetail(person.id))
        }

        // Devices.
        api.on(.get, p, "devices", table: table) { request, _ in
            try jsonResponse(try await services.directory.devices(person: try request.queryParameter("person")))
        }
        api.on(.get, p, "devices/{id}", table: table) { _, context in
            try jsonResponse(try await services.directory.device(try context.parameters.require("id")))
        }

        // Enrollment tokens.
        api.on(.get, p, "enroll-tokens", table: table) { _, context in
            let now = services.clock.now()
            struct Output: Encodable { var token: EnrollmentToken; var state: EnrollmentTokenState }
            return try jsonResponse(try await services.store.enrollmentTokens().map { Output(token: $0, state: $0.state(at: now)) })
        }
        api.on(.post, p, "enroll-tokens", table: table) { request, context in
            try context.require(.operator)
            let input = try await request.decodeJSON(EnrollmentService.CreateTokenRequest.self, limit: limit)
            let created = try await services.createEnrollmentToken(input, by: context.principal)
            context.logger.notice("enrollment token created", metadata: ["enrollToken.id": "\(created.enrollmentToken.id)"])
            return try jsonResponse(created, status: .created)
        }
        api.on(.delete, p, "enroll-tokens/{id}", table: table) { _, context in
            try context.require(.operator)
            let token = try await services.revokeEnrollmentToken(id: try context.parameters.require("id"), by: context.principal)
            return try jsonResponse(token)
        }

        // Profiles and assignments.
        api.on(.get, p, "profiles", table: table) { _, _ in try jsonResponse(try await services.policies.listing()) }
        api.on(.post, p, "profiles", table: table) { request, context in
            try context.require(.admin)
            struct Input: Decodable { var source: String; var dryRun: Bool? }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let result = try await services.policies.apply(source: input.source, dryRun: input.dryRun ?? false, by: context.principal.name)
            if let revision = result.revision {
                context.logger.notice("profile applied", metadata: ["profile": "\(result.profile.name)", "revision": "\(revision)"])
                try await services.audit.record(
                    AuditService.actor(context.principal), "profile.applied", target: result.profile.name,
                    detail: ["revision": String(revision), "devicesChanged": String(result.devicesChanged)])
            }
            return try jsonResponse(result, status: result.dryRun ? .ok : .created)
        }
        api.on(.get, p, "profiles/{name}", table: table) { request, context in
            let name = try context.parameters.require("name")
            let revisions = try await services.store.profileRevisions(name: name)
            var wanted: Int?
            if let text = try request.queryParameter("revision") {
                guard let number = Int(text), number >= 1 else { throw APIError.invalid("revision: expected a revision number (1, 2, …), found \"\(text)\"") }
                wanted = number
            }
            guard let revision = wanted.map({ w in revisions.first { $0.revision == w } }) ?? revisions.last else {
                throw APIError.notFound("no profile \(name)\(wanted.map { " revision \($0)" } ?? "")")
            }
            return try jsonResponse(revision)
        }
        api.on(.get, p, "profiles/{name}/history", table: table) { _, context in
            let name = try context.parameters.require("name")
            let revisions = try await services.store.profileRevisions(name: name)
            guard !revisions.isEmpty else { throw APIError.notFound("no profile \(name)") }
            struct Entry: Encodable { var revision: Int; var createdAt: Date; var createdBy: String? }
            return try jsonResponse(revisions.map { Entry(revision: $0.revision, createdAt: $0.createdAt, createdBy: $0.createdBy) })
        }
        api.on(.post, p, "profiles/{name}/rollback", table: table) { request, context in
            try context.require(.admin)
            struct Input: Decodable { var revision: Int }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let result = try await services.policies.rollback(name: try context.parameters.require("name"), to: input.revision, by: context.principal.name)
            try await services.audit.record(
                AuditService.actor(context.principal), "profile.rolled-back", target: result.profile.name,
                detail: ["to": String(input.revision), "revision": String(result.revision ?? 0)])
            return try jsonResponse(result, status: .created)
        }
        api.on(.get, p, "assignments", table: table) { _, _ in try jsonResponse(try await services.store.assignments()) }
        api.on(.put, p, "assignments", table: table) { request, context in
            try context.require(.admin)
            struct Input: Decodable { var profile: String; var scope: String; var target: String? }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let assignment = try await services.policies.assign(profile: input.profile, scope: input.scope, target: input.target, by: context.principal.name)
            try await services.audit.record(
                AuditService.actor(context.principal), "profile.assigned", target: assignment.profile, detail: ["scope": assignment.scope, "target": assignment.target])
            return try jsonResponse(assignment)
        }
        api.on(.delete, p, "assignments", table: table) { request, context in
            try context.require(.admin)
            let (scope, target) = (try request.queryParameter("scope") ?? "", try request.queryParameter("target"))
            try await services.policies.unassign(scope: scope, target: target)
            try await services.audit.record(
                AuditService.actor(context.principal), "profile.unassigned", target: nil, detail: ["scope": scope, "target": target ?? ""])
            return try jsonResponse(["status": "unassigned"])
        }
        api.on(.post, p, "devices/{id}/revoke", table: table) { request, context in
            try context.require(.operator)
            struct Input: Decodable { var reason: String }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let reason = input.reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (3...500).contains(reason.count) else { throw APIError.invalid("reason: say in 3 to 500 characters why") }
            let id = try context.parameters.require("id")
            guard try await services.revokeDevice(id: id) else { throw APIError.notFound("no device \(id)") }
            let revoked = try await services.directory.device(id)
            try await services.audit.record(
                AuditService.actor(context.principal), "device.revoked", target: id, detail: ["reason": reason, "wipeConfirmed": String(revoked.wipeConfirmedAt != nil)])
            if let personId = revoked.personId { try await services.offboarding.tick(personId: personId) }
            context.logger.notice("device revoked", metadata: ["device.id": "\(id)"])
            return try jsonResponse(try await services.directory.device(id))
        }
        api.on(.get, p, "devices/{id}/policy", table: table) { _, context in
            let device = try await services.directory.device(try context.parameters.require("id"))
            let policy = try await services.policies.effectivePolicy(for: device)
            struct Output: Encodable { var deviceId: String; var policyHash: String; var applied: Bool; var policy: EffectivePolicy }
            return try jsonResponse(Output(deviceId: device.id, policyHash: policy.canonicalHash, applied: device.appliedPolicyHash == policy.canonicalHash, policy: policy))
        }
        api.on(.get, p, "devices/{id}/events", table: table) { _, context in
            let device = try await services.directory.device(try context.parameters.require("id"))
            return try jsonResponse(try await services.store.events(deviceId: device.id, limit: 200))
        }

        // Commands.
        api.on(.post, p, "devices/{id}/commands", table: table) { request, context in
            try context.require(.operator)
            struct Input: Decodable { var type: CommandType; var reason: String?; var expiresIn: Int? }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let command = try await services.issueCommand(
                deviceId: try context.parameters.require("id"), type: input.type, reason: input.reason, expiresIn: input.expiresIn, by: context.principal)
            context.logger.notice("command queued", metadata: ["device.id": "\(command.deviceId)", "command.id": "\(command.id)", "command.type": "\(command.type.rawValue)"])
            return try jsonResponse(command, status: .created)
        }
        api.on(.get, p, "devices/{id}/commands", table: table) { _, context in
            let device = try await services.directory.device(try context.parameters.require("id"))
            return try jsonResponse(try await services.store.commands(deviceId: device.id))
        }
        api.on(.get, p, "devices/{id}/receipts", table: table) { _, context in
            let device = try await services.directory.device(try context.parameters.require("id"))
            return try jsonResponse(try await services.store.receipts(deviceId: device.id))
        }
        api.on(.get, p, "commands/{id}", table: table) { _, context in
            try jsonResponse(try await services.commands.command(try context.parameters.require("id")))
        }
        api.on(.post, p, "commands/{id}/cancel", table: table) { request, context in
            try context.require(.operator)
            struct Input: Decodable { var reason: String? }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            let command = try await services.cancelCommand(id: try context.parameters.require("id"), reason: input.reason, by: context.principal)
            return try jsonResponse(command)
        }

        // Offboarding.
        api.on(.post, p, "persons/{person}/offboard", table: table) { request, context in
            try context.require(.operator)
            let input = try await request.decodeJSON(OffboardingService.Request.self, limit: limit)
            let person = try await services.directory.person(try context.parameters.require("person"))
            let offboarding = try await services.startOffboarding(person, input, by: context.principal)
            context.logger.notice("offboarding started", metadata: ["person.id": "\(person.id)", "wipeAt": "\(ISO8601.string(from: offboarding.wipeAt))"])
            return try jsonResponse(try await services.directory.personDetail(person.id), status: .accepted)
        }

        // The audit log.
        api.on(.get, p, "audit", table: table) { request, _ in
            var since: Date?
            if let text = try request.queryParameter("since") {
                guard let parsed = ISO8601.date(from: text) else { throw APIError.invalid("since: expected an ISO 8601 instant, found \"\(text)\"") }
                since = parsed
            }
            return try jsonResponse(try await services.store.auditEntries(since: since, target: try request.queryParameter("target")))
        }
        api.on(.get, p, "audit/verify", table: table) { _, _ in try jsonResponse(try await services.audit.verify()) }
        // The chain, and signed checkpoints kept outside the database (which catch a rewrite that recomputed every hash).
        api.on(.post, p, "audit/verify", table: table) { request, _ in
            struct Input: Decodable { var checkpoints: [AuditCheckpoint] }
            let input = try await request.decodeJSON(Input.self, limit: limit)
            return try jsonResponse(try await services.verifyAudit(checkpoints: input.checkpoints))
        }
        api.on(.post, p, "audit/checkpoints", table: table) { _, context in
            try context.require(.admin)
            return try jsonResponse(try await services.signAuditCheckpoint(by: context.principal), status: .created)
        }
        api.on(.get, p, "audit/export", table: table) { _, _ in
            var lines = ""
            let encoder = KontorJSON.makeEncoder()
            for entry in try await services.store.auditEntries(since: nil, target: nil) {
                lines += String(decoding: try encoder.encode(entry), as: UTF8.self) + "\n"
            }
            return Response(
                status: .ok, headers: [.contentType: "application/x-ndjson", .contentDisposition: "attachment; filename=\"kontor-audit.jsonl\""],
                body: .init(byteBuffer: ByteBuffer(string: lines)))
        }

        // Settings.
        api.on(.get, p, "settings", table: table) { _, _ in
            try jsonResponse(Settings(checkinInterval: try await services.policies.checkinInterval()))
        }
        api.on(.patch, p, "settings", table: table) { request, context in
            try context.require(.admin)
            let input = try await request.decodeJSON(Settings.self, limit: limit)
            if let interval = input.checkinInterval {
                guard (10...86_400).contains(interval) else { throw APIError.invalid("checkinInterval: expected 10 to 86400 seconds, found \(interval)") }
                try await services.policies.setCheckinInterval(interval)
                try await services.audit.record(AuditService.actor(context.principal), "settings.changed", target: "checkinInterval", detail: ["value": String(interval)])
            }
            return try jsonResponse(Settings(checkinInterval: try await services.policies.checkinInterval()))
        }
    }
}
