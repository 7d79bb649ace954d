import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KontorCore
import KontorPostgres
import KontorSQLite
import KontorStore
import Logging
import Metrics
import NIOSSL
import Prometheus
import ServiceLifecycle

/// An open store with the server's key, and what a server on it runs besides HTTP.
public struct OpenedStore: Sendable {
    public let store: any KontorStore
    public let key: ServerSigningKey
    /// How instances sharing the store keep each other's memory right (nothing shared with SQLite).
    public var cluster = ClusterEvents()
    public var replay: any ReplayWindow = NonceCache()
    /// What runs beside the HTTP server for it (the cluster's end with PostgreSQL).
    public var services: [any Service] = []
    /// The store as a log line may show it.
    public var description = ""

    init(store: any KontorStore, key: ServerSigningKey) {
        self.store = store
        self.key = key
    }

    /// Called by the server (not by other commands that open the store) before it serves: on a store only
    /// this process writes (SQLite) the replay window takes over from the previous server process. Returns
    /// what to call once the server has answered its last request.
    public mutating func beginServing(now: Date) async throws -> @Sendable () async throws -> Void {
        guard !cluster.isShared else { return {} }
        let window = try await SQLiteReplayWindow.beginServing(store: store, now: Int(now.timeIntervalSince1970))
        replay = window
        return { try await window.endServing() }
    }

    /// The services of a server on this store.
    public func services(config: ServerConfig, registry: PrometheusCollectorRegistry?, clock: WallClock = .system) -> Services {
        Services(config: config, store: store, clock: clock, serverKey: key, registry: registry, cluster: cluster, replay: replay)
    }
}

/// Opens the configured store (SQLite in the data directory unless `database` says otherwise), loads or
/// creates the server key in the data directory (0700), and runs `body` with them; the store stays open
/// while `body` runs (with PostgreSQL its connection pool runs alongside, and stops when `body` returns or
/// throws). With PostgreSQL, the key every instance uses must be the same: the first instance records its
/// public key in the store and the others check theirs.
public func withOpenedStore<T>(_ given: ServerConfig, logger: Logger, _ body: (OpenedStore) async throws -> T) async throws -> T {
    try ensureDataDirectory(given.dataDir)
    let config = try recordedDatabase(given)
    let key = try ServerSigningKey.loadOrCreate(dataDir: config.dataDir)
    guard config.usesPostgres, let url = config.database else {
        var opened = OpenedStore(store: try openSQLite(path: config.sqlitePath), key: key)
        opened.description = config.databaseDescription
        return try await body(opened)
    }
    var connected = false
    do {
        return try await PostgresStore.withStore(url: url, logger: logger) { store in
            connected = true
            try await checkSharedKey(key, store: store, dataDir: config.dataDir)
            var opened = OpenedStore(store: store, key: key)
            opened.description = config.databaseDescription
            opened.cluster = ClusterEvents(channel: store, logger: logger)
            opened.replay = SharedReplayWindow(store: store)
            opened.services = [opened.cluster]
            return try await body(opened)
        }
    } catch let error as PostgresURLError {
        throw ConfigError(error.description)
    } catch let error where !connected && !(error is ConfigError) {
        throw ConfigError("database \(config.databaseDescription): cannot connect or migrate (\(String(reflecting: error)))")
    }
}

/// The data directory remembers the store it was last served with (`database`, 0600: the URL may hold a
/// password), so `kontor-server admin-token create --data-dir DIR` reaches the same store as `serve`.
func recordedDatabase(_ config: ServerConfig) throws -> ServerConfig {
    let path = (config.dataDir as NSString).appendingPathComponent("database")
    var out = config
    if let database = config.database {
        if (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) != database {
            guard FileManager.default.createFile(atPath: path, contents: Data((database + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ConfigError("\(path): cannot record the database")
            }
        }
    } else if let recorded = try? String(contentsOfFile: path, encoding: .utf8) {
        try out.set("database", recorded.trimmingCharacters(in: .whitespacesAndNewlines), source: path)
    }
    return out
}

/// Records the server's public key in a shared store, or refuses to start with a key the fleet does not know.
func checkSharedKey(_ key: ServerSigningKey, store: any SettingsStore, dataDir: String) async throws {
    let mine = key.publicKey.rawRepresentation.base64EncodedString()
    guard let recorded = try await store.setting(ServerSigningKey.sharedSettingKey) else {
        try await store.setSetting(ServerSigningKey.sharedSettingKey, value: mine)
        return
    }
    guard recorded == mine else {
        throw ConfigError(
            "\((dataDir as NSString).appendingPathComponent("server-signing.key")): this instance's signing key is not the one the fleet trusts (recorded in the database by the first instance); copy server-signing.key from that instance (0600) into this data directory"
        )
    }
}

private func ensureDataDirectory(_ dataDir: String) throws {
    var isDirectory: ObjCBool = false
    if !FileManager.default.fileExists(atPath: dataDir, isDirectory: &isDirectory) {
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigError("dataDir \(dataDir): cannot create it (\(error.localizedDescription))")
        }
    } else if !isDirectory.boolValue {
        throw ConfigError("dataDir \(dataDir): exists and is not a directory")
    }
}

/// Opens (creating and migrating) an SQLite file that only the server may read.
public func openSQLite(path: String) throws -> SQLiteStore {
    let store: SQLiteStore
    do {
        store = try SQLiteStore(path: path)
    } catch {
        throw ConfigError("\(path): cannot open the database (\(error))")
    }
    // Only the server reads its database (SQLite creates -wal and -shm with the same mode).
    for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
    }
    return store
}
