import Crypto
import Foundation
import Glibc
import KontorCore
import KontorStore
import Logging
import Metrics

#if canImport(Glibc)
#endif

/// Writes secrets: mode 0600 from the first byte, fsync, atomic rename.
enum SecureFile {
    static func write(_ data: Data, to path: String) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigError("\(temp): cannot create (\(String(cString: strerror(errno))))") }
        var ok = data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            unlink(temp)
            throw ConfigError("\(path): cannot write (\(String(cString: strerror(errno))))")
        }
    }
}
