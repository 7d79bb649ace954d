import Foundation
import KontorCore
import Testing

/// kontorctl and the agent run without privileges (an admin's account, or the agent under its unit, which
/// holds no CAP_NET_ADMIN): their HTTP client must not ask the kernel for anything that needs one.
@Suite("The HTTP client without privileges")
struct UnprivilegedClientTests {
    @Test(
        "kontorctl as an unprivileged user talks to the server (no socket option that needs CAP_NET_ADMIN, such as SO_DEBUG)",
        .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root to switch to another user"))
    func unprivilegedKontorctl() async throws {
        let server = try ServerProcess()
        try await server.start()
        defer { server.stop() }
        let token = try await server.adminToken(role: .auditor)
        let run = try await runCommand(
            "/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", Binaries.path("kontorctl"), "--server", server.url, "--token", token, "whoami"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("token e2e (auditor, break-glass)"))
    }
}
