import ArgumentParser
import Foundation
import Hummingbird
import KontorCore
import KontorStore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `kontor-server`: runs the server and bootstraps its first admin token.
public struct KontorServerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kontor-server",
        abstract: "Kontor device-policy server.",
        subcommands: [Serve.self, AdminTokenCommand.self, MigrateStoreCommand.self],
        defaultSubcommand: Serve.self)

    public init() {}
}

/// Options shared by every subcommand that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (default: $KONTOR_CONFIG, else /etc/kontor/server.yaml if it exists).")
    var config: String?

    @Option(name: .customLong("data-dir"), help: "Directory for the server key and, unless --database says otherwise, the SQLite database.")
    var dataDir: String?

    @Option(help: "The store: sqlite:PATH or postgres://user[:password]@host[:port]/database[?sslmode=...] (default: SQLite in the data directory).")
    var database: String?

    /// File, then environment, then the flags given here.
    func load(applying flags: (inout ServerConfig) throws -> Void = { _ in }) throws -> ServerConfig {
        var result = ServerConfig()
        let environment = ProcessInfo.processInfo.environment
        let file =
            config ?? environment["KONTOR_CONFIG"] ?? (FileManager.default.fileExists(atPath: "/etc/kontor/server.yaml") ? "/etc/kontor/server.yaml" : nil)
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw ConfigError("\(file): cannot read the configuration file") }
            try result.apply(yaml: String(decoding: data, as: UTF8.self), file: file)
        }
        try result.apply(environment: environment)
        if let dataDir { result.dataDir = dataDir }
        if let database { try result.set("database", database, source: "--database") }
        try flags(&result)
        try result.validate()
        return result
    }
}

/// A configuration or argument problem: one line on stderr, exit 2.
func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("kontor-server: \(message)\n".utf8))
    return ExitCode(2)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server (SQLite in the data directory unless --database names PostgreSQL).")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Address to listen on.") var host: String?
    @Option(help: "Port to listen on.") var port: Int?
    @Option(name: .customLong("tls-certificate"), help: "PEM certificate chain; serves HTTPS with --tls-key.") var tlsCertificate: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-certificate.") var tlsKey: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?

    func run() async throws {
        let config: ServerConfig
        do {
            config = try options.load { c in
                if let host { try c.set("host", host, source: "--host") }
                if let port { try c.set("port", String(port), source: "--port") }
                if let tlsCertificate { try c.set("tlsCertificate", tlsCertificate, source: "--tls-certificate") }
                if let tlsKey { try c.set("tlsKey", tlsKey, source: "--tls-key") }
                if let logLevel { try c.set("logLevel", logLevel, source: "--log-level") }
            }
        } catch let error as ConfigError {
            throw fail(error.description)
        }
        // The executable's entry point is the one place that bootstraps logging and metrics.
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "kontor")
        logger.logLevel = level
        // Connections are limited below the open-file limit; use all the administrator allows.
        let openFiles = OpenFileLimit.raiseToHardLimit()

        do {
            try await withOpenedStore(config, logger: logger) { opened in
                try await serve(opened, config: config, registry: registry, logger: logger, openFiles: openFiles)
            }
        } catch let error as ConfigError {
            throw fail(error.description)
        }
    }

    /// Serves on the opened store until a signal stops the server.
    private func serve(_ given: OpenedStore, config: ServerConfig, registry: PrometheusCollectorRegistry, logger: Logger, openFiles: Int) async throws {
        var opened = given
        let endServing = try await opened.beginServing(now: Date())
        let services = opened.services(config: config, registry: registry)
        let app = try buildApplication(config: config, services: services, logger: logger, extraServices: opened.services)
        if try await opened.store.apiTokens().isEmpty {
            logger.notice(
                "no API token yet; create the first one with: kontor-server admin-token create --name admin --role admin --data-dir \(config.dataDir)")
        }
        for held in try await services.policies.listing() where held.held {
            logger.warning(
                "profile held back: it breaks today's rules and is not delivered until a fixed revision is applied (kontorctl profiles lint)",
                metadata: ["profile": "\(held.name)", "revision": "\(held.revision)", "issues": "\((held.issues ?? []).joined(separator: "; "))"])
        }
        logger.notice(
            "kontor-server starting",
            metadata: ["address": "\(config.advertisedURL)", "dataDir": "\(config.dataDir)", "database": "\(opened.description)", "openFiles": "\(openFiles)"])
        // A service group shuts down in reverse order: the held long polls end first, so the HTTP server
        // does not wait up to a minute for them to time out.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: LongPollShutdownService(longPolls: services.longPolls))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        do {
            try await endServing()
        } catch {
            logger.error(
                "could not record where the replay window ends; the next start refuses signatures made before it",
                metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
