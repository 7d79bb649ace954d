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

        func validate() throws {
            guard Role(rawValue: role) != nil else { throw ValidationError("--role must be directory, feed, auditor, operator or admin, not \"\(role)\"") }
        }

        func run() async throws {
            do {
                let config = try options.load()
                let token = try await withOpenedStore(config, logger: Logger(label: "kontor-server")) { opened in
                    let service = APITokenService(store: opened.store, clock: .system)
                    let (created, secret) = try await service.create(name: name, role: Role(rawValue: role)!)
                    try await AuditService(store: opened.store, clock: .system).record(
                        "system:kontor-server admin-token create", "api-token.created", target: created.id,
                        detail: ["name": created.name, "role": created.role.rawValue])
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
