import ArgumentParser
import Foundation
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

struct AdminTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-token", abstract: "Create API tokens directly in the data directory (the bootstrap path).",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new API token, and only the token, on stdout.")

        @OptionGroup var options: ConfigOptions
        @Option(help: "A name that says who or what uses the token.") var name: String
        @Option(help: "directory (uses only SCIM), feed (reads only the on-call calendar), auditor, operator or admin.") var role: String
        @Option(help: "Why the token exists: break-glass (for when single sign-on is down; the default here) or automation.")
        var purpose: String = TokenPurpose.breakGlass.rawValue
        @Option(help: "The person who answers for the token (their sign-in subject or e-mail): two tokens of one owner count as one person for approvals.")
        var owner: String?

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("--role must be directory, feed, auditor, operator or admin, not \"\(role)\"") }
            guard TokenPurpose(rawValue: purpose) != nil else { throw ValidationError("--purpose must be break-glass or automation, not \"\(purpose)\"") }
        }

        func run() async throws {
            do {
                let config = try options.load()
                let token = try await withOpenedStore(config, logger: Logger(label: "kontor-server")) { opened in
                    let service = APITokenService(store: opened.store, clock: .system)
                    let (created, secret) = try await service.create(
                        name: name, role: Role(rawValue: role)!, purpose: TokenPurpose(rawValue: purpose)!, owner: owner, ownerName: owner)
                    var detail = ["name": created.name, "role": created.role.rawValue, "purpose": created.purpose.rawValue]
                    if let owner { detail["owner"] = owner }
                    try await AuditService(store: opened.store, clock: .system).record(
                        "system:kontor-server admin-token create", "api-token.created", target: created.id, detail: detail)
                    return secret
                }
                print(token)
            } catch let error as ConfigError {
                throw fail(error.description)
            } catch let error as APIError {
                throw fail(error.message)
            } catch let error as KontorError {
                throw fail(error.message)
            }
        }
    }
}
