import CKontorLinux
import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's per-directory file encryption (fscrypt, v2 policies: AES-256-XTS for contents, AES-256-CTS
/// for names) on the file system that holds the work container. Only the directories given a policy are
/// encrypted; the rest of the disk (the person's own files) is not touched. The key lives in the kernel
/// while the container is unlocked; once it is removed (and, for a wipe, its only copy destroyed) the
/// container's names and contents are ciphertext that no key on the system opens: a cryptographic erase.
enum FSCrypt {
    /// A raw v2 key: 64 random bytes.
    static let keySize = 64

    /// The kernel's name for a key: 16 bytes it derives from the key itself.
    struct KeyIdentifier: Hashable, Sendable, CustomStringConvertible {
        let bytes: [UInt8]

        init?(_ bytes: [UInt8]) {
            guard bytes.count == 16 else { return nil }
            self.bytes = bytes
        }

        init?(hex: String) {
            guard let bytes = Bytes.fromHex(hex), bytes.count == 16 else { return nil }
            self.bytes = bytes
        }

        var hex: String { Bytes.hex(bytes) }
        var description: String { hex }
    }

    /// Whether the file system of a directory can hold an encrypted container, and if not, why.
    enum Capability: Equatable, Sendable {
        case available
        case unavailable(String)
    }

    /// What removing a key did.
    enum Removal: Equatable, Sendable {
        /// Gone: every file under it is ciphertext now.
        case removed
        /// Gone from the keyring, but files still open keep it in use until they are closed.
        case filesBusy
        /// This user's claim is gone; another user added the same key too.
        case otherUsers
    }

    static let ext4Magic: Int64 = 0xEF53
    static let f2fsMagic: Int64 = 0xF2F5_2010

    /// Whether the directory `fd` (named `path` in messages) can be encrypted: an ext4 or F2FS file system
    /// with the encrypt feature and a kernel with fscrypt. Never changes anything.
    static func capability(of fd: Int32, path: String) -> Capability {
        let type = kontor_fs_type(fd)
        guard type == ext4Magic || type == f2fsMagic else {
            return .unavailable("\(path) is on a file system without per-directory encryption (type 0x\(String(type, radix: 16))); fscrypt needs ext4 or F2FS")
        }
        var identifier = [UInt8](repeating: 0, count: 16)
        var version: Int32 = 0
        if kontor_fscrypt_policy(fd, &identifier, &version) == 0 { return .available }
        switch errno {
        case ENODATA: return .available
        case EOPNOTSUPP:
            return .unavailable(
                "the file system of \(path) has the encrypt feature off; an administrator enables it with tune2fs -O encrypt on its device (see docs/wipe.md)")
        case ENOTTY: return .unavailable("this kernel cannot encrypt directories (no fscrypt)")
        default: return .unavailable("\(path): cannot read its encryption policy: \(String(cString: strerror(errno)))")
        }
    }

    /// A new random key.
    static func newKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<keySize).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// Puts `raw` into the kernel for the file system of `fd`; returns the key's identifier.
    static func addKey(_ raw: [UInt8], on fd: Int32) throws -> KeyIdentifier {
        guard raw.count == keySize else { throw AgentError("an fscrypt key has \(keySize) bytes, not \(raw.count)") }
        var identifier = [UInt8](repeating: 0, count: 16)
        let result = raw.withUnsafeBufferPointer { kontor_fscrypt_add_key(fd, $0.baseAddress, UInt32($0.count), &identifier) }
        guard result == 0 else { throw AgentError("cannot add the container key to the kernel: \(String(cString: strerror(errno)))") }
        return KeyIdentifier(identifier)!
    }

    /// Encrypts the empty directory `fd` with the key `identifier` (already added): everything created in
    /// it from now on is encrypted.
    static func setPolicy(on fd: Int32, _ identifier: KeyIdentifier) throws {
        guard kontor_fscrypt_set_policy(fd, identifier.bytes) == 0 else {
            let reason = errno == ENOTEMPTY ? "the folder is not empty" : String(cString: strerror(errno))
            throw AgentError("cannot encrypt the container folder: \(reason)")
        }
    }

    /// The key identifier of an encrypted directory `fd`; nil when it is not encrypted.
    static func policy(of fd: Int32) throws -> KeyIdentifier? {
        var identifier = [UInt8](repeating: 0, count: 16)
        var version: Int32 = 0
        guard kontor_fscrypt_policy(fd, &identifier, &version) == 0 else {
            if errno == ENODATA || errno == EOPNOTSUPP || errno == ENOTTY { return nil }
            throw AgentError("cannot read the encryption policy: \(String(cString: strerror(errno)))")
        }
        guard version == 2 else { throw AgentError("the folder is encrypted with a v\(version) policy, which the agent does not use") }
        return KeyIdentifier(identifier)
    }

    /// Takes the key `identifier` out of the kernel (the file system of `fd`).
    static func removeKey(_ identifier: KeyIdentifier, on fd: Int32) throws -> Removal {
        var status: UInt32 = 0
        guard kontor_fscrypt_remove_key(fd, identifier.bytes, &status) == 0 else {
            // Not there (never added since boot, or removed already): the goal is reached.
            if errno == ENOKEY { return .removed }
            throw AgentError("cannot remove the container key from the kernel: \(String(cString: strerror(errno)))")
        }
        if status & 0x2 != 0 { return .otherUsers }
        if status & 0x1 != 0 { return .filesBusy }
        return .removed
    }

    /// Whether the kernel holds the key `identifier` for the file system of `fd`; nil when it cannot tell.
    static func keyPresent(_ identifier: KeyIdentifier, on fd: Int32) -> Bool? {
        var status: UInt32 = 0
        guard kontor_fscrypt_key_status(fd, identifier.bytes, &status) == 0 else { return nil }
        return status == 2
    }
}
