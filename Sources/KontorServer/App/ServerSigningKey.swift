import Crypto
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import Metrics

#if canImport(Glibc)
#endif

/// The server's Ed25519 response-signing key, kept in the data directory with mode 0600.
public struct ServerSigningKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }
    public var keyID: String { DeviceKeys.keyID(for: publicKey) }

    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    /// The setting under which a shared store records the public key of the fleet's server key.
    static let sharedSettingKey = "server.publicKey"

    /// Loads `dataDir/server-signing.key`, creating it (0600, written atomically) on first start.
    public static func loadOrCreate(dataDir: String) throws -> ServerSigningKey {
        let path = (dataDir as NSString).appendingPathComponent("server-signing.key")
        if let data = FileManager.default.contents(atPath: path) {
            guard let raw = Data(base64Encoded: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
            else { throw ConfigError("\(path): not a Kontor signing key; restore it from backup (agents pinned its public key)") }
            return ServerSigningKey(privateKey: key)
        }
        let key = Curve25519.Signing.PrivateKey()
        try SecureFile.write(Data((key.rawRepresentation.base64EncodedString() + "\n").utf8), to: path)
        return ServerSigningKey(privateKey: key)
    }
}
