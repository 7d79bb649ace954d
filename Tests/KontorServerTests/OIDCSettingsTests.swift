import Foundation
import KontorCore
import Testing

@testable import KontorServer

@Suite("Single sign-on settings")
struct OIDCSettingsTests {
    static func secretFile(mode: Int) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("oidc-secret-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("s3cret\nignored\n".utf8), attributes: [.posixPermissions: mode])
        return path
    }

    @Test("a YAML file sets the provider, the roles by group (highest wins) and reads the secret from its file")
    func fromYAML() throws {
        let secret = try Self.secretFile(mode: 0o600)
        var config = ServerConfig()
        try config.apply(
            yaml: """
                oidcIssuer: https://keycloak.example.org/realms/school
                oidcClientId: kontor-console
                oidcClientSecretFile: \(secret)
                oidcCliClientId: kontorctl
                oidcRoles:
                  - /it/admins=admin
                  - helpdesk=operator
                """, file: "server.yaml")
        try config.validate()
        let oidc = try #require(try config.oidc())
        #expect(oidc.clientSecret == "s3cret" && oidc.cliClientId == "kontorctl" && oidc.scopes == ["openid", "profile", "email"])
        #expect(oidc.role(for: ["helpdesk", "/it/admins"]) == .admin)
        #expect(oidc.role(for: ["helpdesk"]) == .operator)
        #expect(oidc.role(for: ["staff"]) == nil)
        #expect(try ServerConfig().oidc() == nil, "no issuer: API tokens only")
    }

    @Test(
        "bad settings are refused naming the setting",
        arguments: [
            ("oidcIssuer: http://login.example.org", "oidcIssuer"), ("oidcIssuer: not a url", "oidcIssuer"),
            ("oidcRoles: [staff=directory]", "oidcRoles"), ("oidcRoles: [nobody]", "oidcRoles"), ("oidcSessionLifetime: 10", "oidcSessionLifetime"),
            ("oidcClientSecretFile: /nonexistent/secret", "oidcClientSecretFile"),
        ])
    func refused(yaml: String, named: String) throws {
        var config = ServerConfig()
        #expect {
            try config.apply(yaml: yaml, file: "server.yaml")
        } throws: { error in
            "\(error)".contains(named)
        }
    }

    @Test("a secret file others may read is refused, and an issuer without a client or roles does not start")
    func incomplete() throws {
        var config = ServerConfig()
        #expect(throws: ConfigError.self) { try config.apply(yaml: "oidcClientSecretFile: \(try Self.secretFile(mode: 0o644))", file: "f") }
        try config.apply(yaml: "oidcIssuer: http://127.0.0.1:9000", file: "f")
        #expect(throws: ConfigError.self) { try config.validate() }
        try config.apply(yaml: "oidcClientId: kontor-console", file: "f")
        #expect(throws: ConfigError.self) { try config.validate() }
        try config.apply(yaml: "oidcRoles: [kontor-admins=admin]", file: "f")
        try config.validate()
    }
}
