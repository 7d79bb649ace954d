import Foundation
import Glibc
import KontorCore

/// Single sign-on through an OpenID Connect provider (Entra ID, Keycloak, Google, a school's own). Set in the
/// server's configuration file, not at run time: whoever can change the provider can become any admin, so that
/// takes access to the server itself.
public struct OIDCSettings: Sendable, Equatable {
    /// The issuer URL exactly as the provider's discovery document and ID tokens give it.
    public var issuer: String
    /// The console's (confidential) client.
    public var clientId: String
    public var clientSecret: String?
    /// kontorctl's (public) client for the device authorization grant; nil: `kontorctl login` is off.
    public var cliClientId: String?
    /// The ID-token claim holding the person's groups (`groups`; `roles` for Entra ID app roles).
    public var groupsClaim: String
    /// Group → role; a person gets the highest role any of their groups maps to, and no access without one.
    public var roles: [String: Role]
    public var scopes: [String]
    /// How long a kontorctl session lasts before kontorctl must show a fresh ID token (from its refresh token).
    public var apiSessionLifetime: TimeInterval

    public init(
        issuer: String, clientId: String, clientSecret: String?, cliClientId: String?, groupsClaim: String, roles: [String: Role], scopes: [String],
        apiSessionLifetime: TimeInterval
    ) {
        self.issuer = issuer
        self.clientId = clientId
        self.clientSecret = clientSecret
        self.cliClientId = cliClientId
        self.groupsClaim = groupsClaim
        self.roles = roles
        self.scopes = scopes
        self.apiSessionLifetime = apiSessionLifetime
    }

    /// The role `groups` give, or nil when none of them is mapped.
    public func role(for groups: [String]) -> Role? { groups.compactMap { roles[$0] }.max() }
}

extension ServerConfig {
    /// The `oidc*` settings; read by ``settings``.
    static let oidcSettings: [(key: String, apply: SettingsTable<ServerConfig>.Apply)] = [
        (
            "oidcIssuer",
            { config, value in
                guard let text = value.optional else {
                    config.oidcIssuer = nil
                    return
                }
                guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
                    url.query == nil, url.fragment == nil
                else { throw value.error("expected the provider's issuer URL (https://login.example.org/realms/school), found \"\(text)\"") }
                guard scheme == "https" || (scheme == "http" && ["127.0.0.1", "localhost", "::1"].contains(host)) else {
                    throw value.error("the issuer must be an https:// URL (plain http only for a provider on this machine), found \"\(text)\"")
                }
                config.oidcIssuer = text
            }
        ),
        ("oidcClientId", { $0.oidcClientId = $1.optional }),
        (
            "oidcClientSecretFile",
            { config, value in
                guard let path = value.optional else {
                    config.oidcClientSecret = nil
                    return
                }
                config.oidcClientSecret = try ServerConfig.readSecret(path, value)
            }
        ),
        ("oidcCliClientId", { $0.oidcCliClientId = $1.optional }),
        ("oidcGroupsClaim", { $0.oidcGroupsClaim = $1.text.isEmpty ? "groups" : $1.text }),
        (
            "oidcRoles",
            { config, value in
                var roles: [String: Role] = [:]
                for item in value.text.split(separator: ",") {
                    let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard parts.count == 2, !parts[0].isEmpty, let role = Role(rawValue: parts[1]), role.usesAdminAPI else {
                        throw value.error("expected GROUP=ROLE items with the role auditor, operator or admin, found \"\(item)\"")
                    }
                    roles[parts[0]] = role
                }
                config.oidcRoles = roles
            }
        ),
        ("oidcScopes", { $0.oidcScopes = $1.text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) }),
        ("oidcSessionLifetime", { $0.oidcSessionLifetime = try $1.int(300...86_400) }),
    ]

    /// The provider settings, or nil when no issuer is set (sign-in with API tokens only). Throws when they are
    /// incomplete.
    public func oidc() throws -> OIDCSettings? {
        guard let issuer = oidcIssuer else { return nil }
        guard let clientId = oidcClientId else { throw ConfigError("oidcIssuer is set, so oidcClientId must be too") }
        guard !oidcRoles.isEmpty else {
            throw ConfigError("oidcIssuer is set, so oidcRoles must map at least one group to a role (e.g. kontor-admins=admin)")
        }
        guard oidcScopes.contains("openid") else { throw ConfigError("oidcScopes must include openid") }
        return OIDCSettings(
            issuer: issuer, clientId: clientId, clientSecret: oidcClientSecret, cliClientId: oidcCliClientId, groupsClaim: oidcGroupsClaim,
            roles: oidcRoles, scopes: oidcScopes, apiSessionLifetime: TimeInterval(oidcSessionLifetime))
    }

    /// A secret's first line from a file only its owner (and group) may read.
    static func readSecret(_ path: String, _ value: SettingText) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw value.error("\(path): cannot read (\(String(cString: strerror(errno))))") }
        guard info.st_mode & 0o007 == 0 else { throw value.error("\(path): others may read it (chmod 600 or 640)") }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw value.error("\(path): cannot read it as text")
        }
        let secret = text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !secret.isEmpty else { throw value.error("\(path): the file is empty") }
        return secret
    }
}
