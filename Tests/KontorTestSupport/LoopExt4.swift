import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a loop file system could not be made, mounted or unmounted.
public struct LoopError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A small ext4 file system in a file, loop-mounted in a temporary folder (root only).
public final class LoopExt4 {
    public let folder: URL
    public let image: URL
    public let mountPoint: URL
    private var mounted = false

    /// Whether this machine lets the tests make one: root, mkfs.ext4 and a loop mount.
    public static let usable: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/sbin/mkfs.ext4") else { return false }
        guard let probe = try? LoopExt4(encrypt: true) else { return false }
        probe.unmount()
        return true
    }()

    /// Makes the file system and mounts it at `at` (a new folder beside the image when nil).
    public init(encrypt: Bool, megabytes: Int = 32, at: String? = nil) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("kontor-fscrypt-\(UUID().uuidString)")
        image = folder.appendingPathComponent("fs.img")
        mountPoint = at.map { URL(fileURLWithPath: $0) } ?? folder.appendingPathComponent("mnt")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: image.path, contents: nil) else { throw LoopError("cannot create \(image.path)") }
        try FileHandle(forWritingTo: image).truncate(atOffset: UInt64(megabytes) << 20)
        try Self.run("/sbin/mkfs.ext4", ["-q", "-F"] + (encrypt ? ["-O", "encrypt"] : []) + [image.path])
        try Self.run("/bin/mount", ["-o", "loop", image.path, mountPoint.path])
        mounted = true
    }

    public func unmount() {
        guard mounted else { return }
        try? Self.run("/bin/umount", ["--lazy", mountPoint.path])
        mounted = false
        try? FileManager.default.removeItem(at: folder)
    }

    deinit { unmount() }

    /// Unmounts (so every block is in the image) and returns the raw image, then mounts again.
    public func rawImage() throws -> Data {
        try Self.run("/bin/umount", [mountPoint.path])
        let data = try Data(contentsOf: image)
        try Self.run("/bin/mount", ["-o", "loop", image.path, mountPoint.path])
        return data
    }

    public static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitForExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw LoopError("\(tool) \(arguments.joined(separator: " ")): \(message)")
        }
    }
}
