import Foundation
import Glibc
import KontorTestSupport
import Testing

@testable import KontorAgent

private func open(_ path: String, _ flags: Int32 = O_RDONLY | O_DIRECTORY) throws -> Int32 {
    let fd = Glibc.open(path, flags | O_CLOEXEC)
    guard fd >= 0 else { throw AgentError("\(path): \(String(cString: strerror(errno)))") }
    return fd
}

private func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite("fscrypt on a real loop-mounted ext4: what a cryptographic erase leaves", .serialized, .enabled(if: LoopExt4.usable, "needs root and loop mounts"))
struct FSCryptTests {
    @Test("markers in an encrypted folder never reach the disk image in the clear; in a plain folder they do, even after the file is deleted")
    func markersInTheImage() throws {
        let fs = try LoopExt4(encrypt: true)
        defer { fs.unmount() }
        let root = fs.mountPoint.path
        let rootFD = try open(root)
        #expect(FSCrypt.capability(of: rootFD, path: root) == .available)

        let secret = "KONTOR-MARKER-ENCRYPTED-\(UUID().uuidString)"
        let secretName = "payroll-\(UUID().uuidString).txt"
        let plain = "KONTOR-MARKER-PLAIN-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/work", withIntermediateDirectories: false)
        let workFD = try open(root + "/work")
        let key = FSCrypt.newKey()
        let identifier = try FSCrypt.addKey(key, on: rootFD)
        try FSCrypt.setPolicy(on: workFD, identifier)
        #expect(try FSCrypt.policy(of: workFD) == identifier)
        close(workFD)
        #expect(FSCrypt.keyPresent(identifier, on: rootFD) == true)
        try write(String(repeating: secret + "\n", count: 200), to: root + "/work/" + secretName)
        try FileManager.default.createDirectory(atPath: root + "/personal", withIntermediateDirectories: false)
        let personalFD = try open(root + "/personal")
        #expect(try FSCrypt.policy(of: personalFD) == nil, "the folder beside the container is not encrypted")
        close(personalFD)
        try write(String(repeating: plain + "\n", count: 200), to: root + "/personal/deleted.txt")
        sync()
        try FileManager.default.removeItem(atPath: root + "/personal/deleted.txt")
        #expect(try FSCrypt.removeKey(identifier, on: rootFD) == .removed)
        close(rootFD)

        let raw = try fs.rawImage()
        #expect(raw.range(of: Data(plain.utf8)) != nil, "a deleted plain file stays in the image: why deleting is not erasing")
        #expect(raw.range(of: Data(secret.utf8)) == nil, "the encrypted contents are in the image in the clear")
        #expect(raw.range(of: Data(secretName.utf8)) == nil, "the encrypted name is in the image in the clear")
    }

    @Test("once the key is removed, names and contents cannot be read; the same key opens them again, another key does not")
    func keyRemoval() throws {
        let fs = try LoopExt4(encrypt: true)
        defer { fs.unmount() }
        let root = fs.mountPoint.path
        let rootFD = try open(root)
        defer { close(rootFD) }
        try FileManager.default.createDirectory(atPath: root + "/work", withIntermediateDirectories: false)
        let key = FSCrypt.newKey()
        let identifier = try FSCrypt.addKey(key, on: rootFD)
        let workFD = try open(root + "/work")
        try FSCrypt.setPolicy(on: workFD, identifier)
        close(workFD)
        try FileManager.default.createDirectory(atPath: root + "/work/Documents", withIntermediateDirectories: false)
        try write("contract draft", to: root + "/work/Documents/contract.txt")

        #expect(try FSCrypt.removeKey(identifier, on: rootFD) == .removed)
        #expect(FSCrypt.keyPresent(identifier, on: rootFD) == false)
        let listed = try FileManager.default.contentsOfDirectory(atPath: root + "/work")
        #expect(listed.count == 1 && listed != ["Documents"], "the name is shown as ciphertext: \(listed)")
        #expect(Glibc.open(root + "/work/Documents/contract.txt", O_RDONLY) == -1)
        let other = try FSCrypt.addKey(FSCrypt.newKey(), on: rootFD)
        #expect(other != identifier, "another key has another identifier and opens nothing")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/work") == listed)

        #expect(try FSCrypt.addKey(key, on: rootFD) == identifier)
        #expect(try String(contentsOfFile: root + "/work/Documents/contract.txt", encoding: .utf8) == "contract draft")
        let notEmpty = try open(root + "/work/Documents")
        defer { close(notEmpty) }
        #expect(throws: AgentError.self) { try FSCrypt.setPolicy(on: notEmpty, other) }
    }

    @Test("an ext4 without the encrypt feature, and a tmpfs, say why they cannot hold an encrypted container")
    func unavailable() throws {
        let fs = try LoopExt4(encrypt: false)
        defer { fs.unmount() }
        let fd = try open(fs.mountPoint.path)
        defer { close(fd) }
        guard case .unavailable(let why) = FSCrypt.capability(of: fd, path: "/home") else {
            Issue.record("an ext4 without the encrypt feature was taken")
            return
        }
        #expect(why.contains("tune2fs -O encrypt"), "\(why)")
        let shm = try open("/dev/shm")
        defer { close(shm) }
        if case .unavailable(let why) = FSCrypt.capability(of: shm, path: "/dev/shm") {
            #expect(why.contains("needs ext4 or F2FS"), "\(why)")
        } else {
            Issue.record("tmpfs was taken")
        }
        #expect(throws: AgentError.self) { try FSCrypt.addKey([1, 2, 3], on: fd) }
    }
}
