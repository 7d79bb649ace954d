import Foundation
import Logging
import Synchronization
import Testing

@testable import KontorAgent

@Suite struct JournalLogTests {
    /// Collects what the handler writes.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    func logger(_ lines: Lines) -> Logger {
        var logger = Logger(label: "test") { _ in JournalLogHandler(write: { lines.append($0) }) }
        logger.logLevel = .debug
        return logger
    }

    @Test func levelsBecomeSyslogPriorities() {
        let lines = Lines()
        let log = logger(lines)
        log.debug("d")
        log.info("i")
        log.notice("n")
        log.warning("w")
        log.error("e")
        log.critical("c")
        #expect(lines.all == ["<7>d\n", "<6>i\n", "<5>n\n", "<4>w\n", "<3>e\n", "<2>c\n"])
    }

    @Test func oneEventIsOneLineWithoutTimeStampOrEscapes() {
        let lines = Lines()
        logger(lines).warning("check-in failed", metadata: ["reason": "bad\nline \u{1b}[31mred", "a": "1"])
        #expect(lines.all == ["<4>check-in failed a=1 reason=bad\\x0Aline \\x1B[31mred\n"])
    }

    @Test func theJournalIsRecognisedOnlyOnStandardError() {
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        #expect(JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino + 1)"]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: [:]))
    }
}
