import Crypto
import Foundation
import KontorCore

#if canImport(Glibc)
    import Glibc
#endif

/// A simulated device: its ID and key, as the real agent keeps them.
struct SimulatedDevice: Sendable {
    var id: String
    var key: Curve25519.Signing.PrivateKey
    /// Derived once: deriving it per request would cost the load generator a scalar multiplication.
    var keyID: String

    init(id: String, key: Curve25519.Signing.PrivateKey) {
        self.id = id
        self.key = key
        self.keyID = DeviceKeys.keyID(for: key.publicKey)
    }
}

/// The enrolled fleet, kept in one file so reruns skip enrollment: one line per device,
/// `<device id> <raw private key, base64>`, 0600.
struct FleetFile {
    let path: String

    func load() throws -> [SimulatedDevice] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var out: [SimulatedDevice] = []
        for (n, line) in text.split(separator: "\n").enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let raw = Data(base64Encoded: String(parts[1])), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw BenchError("\(path):\(n + 1): not a device line (id and base64 key)")
            }
            out.append(SimulatedDevice(id: String(parts[0]), key: key))
        }
        return out
    }

    func append(_ devices: [SimulatedDevice]) throws {
        guard !devices.isEmpty else { return }
        let text = devices.map { "\($0.id) \($0.key.rawRepresentation.base64EncodedString())\n" }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let ok = text.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) == $0.count - 1 }
        guard ok, fsync(fd) == 0 else { throw BenchError("\(path): cannot write") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// CPU time and resident memory of a process, from /proc.
struct ProcessSample {
    var cpuSeconds: Double
    var rssBytes: Int

    static func read(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields after the command: state(0) ... utime(11) stime(12) ... rss(21) in pages.
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]), let rss = Int(fields[21]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, rssBytes: rss * Int(sysconf(Int32(_SC_PAGESIZE))))
    }
}
