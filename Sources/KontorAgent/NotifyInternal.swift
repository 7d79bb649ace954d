import ArgumentParser
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `kontor-agent notify-internal --bus PATH`: what the agent runs as the work account (through
/// `setpriv`, see `SessionBusNotifier`) to show one notice. The notice comes as JSON on stdin; prints the
/// notification ID. Exit 3: no session on that bus; 1: any other failure, with the reason on stderr.
/// Hidden from the help: people never run it.
struct NotifyInternal: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-internal", abstract: "Show one notice on a session bus (run by the agent as the work account).", shouldDisplay: false)
    static let noSessionStatus: Int32 = 3

    @Option(help: "The session bus socket.") var bus: String

    func run() throws {
        // Root would authenticate as root on the bus: this side exists only to talk as the work account.
        guard getuid() != 0, geteuid() != 0 else {
            printError("kontor-agent notify-internal: refusing to run as root; the agent runs it as the work account")
            throw ExitCode(1)
        }
        let notice: DesktopNotice
        do {
            notice = try KontorJSON.decode(DesktopNotice.self, from: Data(Self.readInput(limit: 65_536)))
        } catch {
            printError("kontor-agent notify-internal: stdin is not a notice: \(error)")
            throw ExitCode(1)
        }
        do {
            print(try Self.show(notice, bus: bus, uid: getuid()))
        } catch DBusError.noSession(let why) {
            printError(why)
            throw ExitCode(Self.noSessionStatus)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }

    /// Connects, authenticates as `uid`, asks the notification server what it supports and sends the
    /// notice; returns the server's notification ID.
    static func show(_ notice: DesktopNotice, bus: String, uid: uid_t, timeout: Int = 3) throws -> UInt32 {
        var session = try DBusSession(path: bus, timeout: timeout)
        defer { session.close() }
        try session.authenticate(uid: uid)
        _ = try session.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello")
        let capabilities = (try? capabilitiesOf(&session)) ?? []
        let body = DBusMessage.notifyBody(
            appName: "Kontor", summary: clip(notice.summary, 200), body: bodyText(notice.body, markup: capabilities.contains("body-markup")),
            urgency: min(notice.urgency, 2), expireTimeout: -1)
        let reply = try session.call(
            destination: "org.freedesktop.Notifications", path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
            member: "Notify", signature: "susssasa{sv}i", body: body)
        guard reply.signature == "u" else { throw DBusError.failed("Notify: the reply is \(reply.signature), not u") }
        var reader = try reply.bodyReader()
        return try reader.uint32()
    }

    private static func capabilitiesOf(_ session: inout DBusSession) throws -> [String] {
        let reply = try session.call(
            destination: "org.freedesktop.Notifications", path: "/org/freedesktop/Notifications", interface: "org.freedesktop.Notifications",
            member: "GetCapabilities")
        guard reply.signature == "as" else { return [] }
        var reader = try reply.bodyReader()
        return try reader.strings()
    }

    /// The body as the server shows it: where it reads markup, `&`, `<` and `>` are escaped, so text from
    /// an admin (a lock's reason) shows as written and never becomes a link or formatting.
    static func bodyText(_ text: String, markup: Bool) -> String {
        let clipped = clip(text, 1000)
        guard markup else { return clipped }
        var out = ""
        for c in clipped {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    static func clip(_ text: String, _ limit: Int) -> String { text.count <= limit ? text : String(text.prefix(limit - 1)) + "…" }

    private static func readInput(limit: Int) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            let n = read(0, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            data += buffer[0..<n]
        }
        return data
    }
}
