import Foundation
import KontorClient
import KontorCore
import Testing

@testable import KontorAgent

@Suite("The agent without full Foundation")
struct FootprintTests {
    @Test("agent.yaml: comments, quotes, flow and block lists read as YAML reads them")
    func yamlSubset() throws {
        let text = """
            ---
            # a comment
            logLevel: debug   # trailing comment
            server: "https://kontor.example.org/#x"
            caFile: '/etc/kontor/it''s.pem'
            workRoots:
              - /srv/work
              # between items
              - "/data/work"
            empty:
            list: [a, "b, c", 'd']

            """
        let entries = try AgentYAML.parse(text)
        #expect(
            entries == [
                .init(key: "logLevel", line: 3, value: .scalar("debug")),
                .init(key: "server", line: 4, value: .scalar("https://kontor.example.org/#x")),
                .init(key: "caFile", line: 5, value: .scalar("/etc/kontor/it's.pem")),
                .init(key: "workRoots", line: 6, value: .list(["/srv/work", "/data/work"])),
                .init(key: "empty", line: 10, value: .scalar("")),
                .init(key: "list", line: 11, value: .list(["a", "b, c", "d"])),
            ])
    }

    @Test(
        "agent.yaml: what it does not take is refused with the line",
        arguments: [
            ("a: 1\n  b: 2\n", 2), ("- x\n", 1), ("a: &anchor 1\n", 1), ("a: [1, 2\n", 1), ("a: \"open\n", 1), ("a:\tb\n", 1), ("a: 1\na: 2\n", 2),
            ("just text\n", 1), ("a: |\n", 1), ("a:b\n", 1),
        ])
    func yamlRefused(text: String, line: Int) {
        do {
            _ = try AgentYAML.parse(text)
            Issue.record("accepted: \(text)")
        } catch let error as AgentYAML.SyntaxError {
            #expect(error.line == line, "\(text): \(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("a block list in agent.yaml sets workRoots as the flow list does")
    func blockWorkRoots() throws {
        let paths = scratchRoot()
        try AtomicFile.write(Data("workRoots:\n  - /srv/work\n  - /data/work\nlogLevel: debug\n".utf8), to: paths.configFile)
        let config = try AgentConfig.load(paths.configFile)
        #expect(config.workRoots == ["/srv/work", "/data/work"])
        #expect(config.logLevel == "debug")
        try AtomicFile.write(Data("logLevel: debug\n  nested: 1\n".utf8), to: paths.configFile)
        #expect(throws: AgentFileError.self) { try AgentConfig.load(paths.configFile) }
        do { _ = try AgentConfig.load(paths.configFile) } catch { #expect("\(error)".contains("agent.yaml:2: not valid YAML")) }
    }

    @Test("subprocesses: stdout, stderr and the exit status come back, also when both pipes fill")
    func spawn() throws {
        let (status, out, err) = try Command.spawn("/bin/sh", ["-c", "head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2; echo done; exit 3"])
        #expect(status == 3)
        #expect(out.count == 200_005)
        #expect(err.count == 200_000)
        #expect(try Command.spawn("/bin/sh", ["-c", "kill -TERM $$"]).0 == 128 + 15)
        #expect(throws: AgentError.self) { try Command.spawn("/nonexistent/tool", []) }
    }

    @Test(
        "the parent folder of a path, as NSString's deletingLastPathComponent documents it",
        arguments: [("/a/b/c", "/a/b"), ("/a/b/", "/a"), ("/a", "/"), ("/", "/"), ("a/b", "a"), ("a", ""), ("/a//b", "/a"), ("", "")])
    func parent(path: String, expected: String) {
        #expect(AtomicFile.parent(of: path) == expected)
    }

    @Test("percent-encoding of path segments and query values matches Foundation's")
    func percentEncoding() {
        for text in ["alice@example.org", "a/b?c#d&e=f+g", "Zoë Müller", "100% sure; (yes)!", "~-._*'$,:@", "\u{202E}x"] {
            var path = CharacterSet.urlPathAllowed
            path.remove(charactersIn: "/?#")
            var query = CharacterSet.urlQueryAllowed
            query.remove(charactersIn: "&=+?#")
            #expect(AdminClient.segment(text) == text.addingPercentEncoding(withAllowedCharacters: path))
            #expect(AdminClient.queryValue(text) == text.addingPercentEncoding(withAllowedCharacters: query))
        }
    }

    @Test("trimming the executable drops only pristine read-only pages of its own file")
    func trimmable() {
        let smaps = """
            55d0000000-55d0100000 r--p 00000000 fe:00 42 /usr/bin/kontor-agent
            Rss:                 400 kB
            Anonymous:             0 kB
            Private_Dirty:         0 kB
            55d0100000-55d0200000 r-xp 00100000 fe:00 42 /usr/bin/kontor-agent
            Rss:                 800 kB
            Anonymous:             0 kB
            Private_Dirty:       800 kB
            55d0200000-55d0210000 r--p 00200000 fe:00 42 /usr/bin/kontor-agent
            Rss:                  64 kB
            Anonymous:            64 kB
            Private_Dirty:        64 kB
            55d0210000-55d0211000 r--p 00210000 fe:00 42 /usr/bin/kontor-agent
            Rss:                   0 kB
            Anonymous:             0 kB
            55d0211000-55d0220000 rw-p 00211000 fe:00 42 /usr/bin/kontor-agent
            Rss:                  64 kB
            Anonymous:             0 kB
            Private_Dirty:         0 kB
            7f00000000-7f00100000 r-xp 00000000 fe:00 7 /usr/lib/x86_64-linux-gnu/libc.so.6
            Rss:                 900 kB
            Anonymous:             0 kB
            Private_Dirty:         0 kB
            """
        let picked = AgentProcess.trimmable(smaps, image: 0x55d000_1000)
        #expect(picked.map(\.start) == [0x55d000_0000, 0x55d010_0000])
        #expect(AgentProcess.trimmable(smaps, image: 0x1000).isEmpty)
    }

    @Test("trimming the test process itself gives back its executable's resident pages and it runs on")
    func trimForReal() throws {
        func residentOfImage() throws -> Int {
            let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
            return AgentProcess.trimmable(smaps, image: UInt(bitPattern: #dsohandle)).reduce(0) { $0 + $1.resident }
        }
        let before = try residentOfImage()
        #expect(before > 0)
        #expect(AgentProcess.trimExecutable() >= before / 2)
        #expect(try residentOfImage() < before)
        // Code dropped from the process comes back from the page cache.
        #expect(QuietHoursPolicy(timeZone: "Europe/Berlin").zoneName(deviceZone: nil) == "Europe/Berlin")
    }

    @Test("trims are due once the agent settles, then at most every 50 s")
    func trimSchedule() {
        let start = ContinuousClock.now
        let schedule = TrimSchedule(started: start)
        #expect(!schedule.due(start + .seconds(5)))
        #expect(schedule.due(start + .seconds(21)))
        #expect(!schedule.due(start + .seconds(60)))
        #expect(schedule.due(start + .seconds(72)))
    }
}
