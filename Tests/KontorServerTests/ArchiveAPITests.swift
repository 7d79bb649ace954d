import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

/// An enrolled device's key and ID, for signed uploads.
private func enrolledDevice(_ harness: Harness, _ client: any TestClientProtocol, admin: String) async throws -> (Curve25519.Signing.PrivateKey, String) {
    _ = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "ada@example.org", "displayName": "Ada"}"#)
    let token = try await client.enrollToken(admin, json: #"{"person": "ada@example.org"}"#)
    let (key, response) = try await client.enroll(token: token, at: harness.clock.now)
    return (key, try response.decode(EnrollResponse.self).deviceId)
}

private func upload(
    _ client: any TestClientProtocol, _ harness: Harness, key: Curve25519.Signing.PrivateKey, _ path: String, _ value: some Encodable
) async throws -> TestResponse {
    try await client.signed("/api/v1/device/archives" + path, body: try KontorJSON.encode(value), key: key, at: harness.clock.now)
}

@Suite("Archives of retained work data: signed, resumable upload; admins fetch, hold and purge")
struct ArchiveAPITests {
    @Test("a 300 KiB archive arrives in chunks, survives a lost answer and a wrong offset, is checked by SHA-256, and is fetched byte for byte")
    func resumableUpload() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        let auditor = try await harness.token(.auditor)
        let bytes = (0..<300 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        let sha = Bytes.sha256Hex(Data(bytes))
        let id = IdentifierGenerator.uuidV7(now: harness.clock.now)
        try await harness.test { client async throws in
            let (key, deviceId) = try await enrolledDevice(harness, client, admin: admin)
            let announcement = ArchiveAnnouncement(id: id, receiptId: nil, size: Int64(bytes.count), sha256: sha, files: 7, retainDays: 3650)
            let started = try await upload(client, harness, key: key, "", announcement)
            #expect(started.status == .ok)
            let state = try started.decode(ArchiveUploadState.self)
            #expect(state.received == 0 && state.chunkSize == ArchiveService.chunkSize)
            var other = announcement
            other.size += 1
            #expect(try await upload(client, harness, key: key, "", other).status == .conflict)

            func send(_ offset: Int) async throws -> TestResponse {
                let end = min(offset + state.chunkSize, bytes.count)
                return try await upload(
                    client, harness, key: key, "/chunk", ArchiveChunk(id: id, offset: Int64(offset), data: Data(bytes[offset..<end]).base64EncodedString()))
            }
            #expect(try await send(0).decode(ArchiveUploadState.self).received == Int64(state.chunkSize))
            #expect(try await send(0).decode(ArchiveUploadState.self).received == Int64(state.chunkSize), "a chunk sent again changes nothing")
            let gap = try await send(2 * state.chunkSize)
            #expect(gap.status == .conflict && gap.errorMessage?.contains("continues at \(state.chunkSize)") == true)
            let early = try await upload(client, harness, key: key, "/complete", ArchiveCompletion(id: id))
            #expect(early.status == .conflict)
            #expect(try await send(state.chunkSize).status == .ok)
            #expect(try await send(2 * state.chunkSize).decode(ArchiveUploadState.self).received == Int64(bytes.count))
            let resumed = try await upload(client, harness, key: key, "", announcement).decode(ArchiveUploadState.self)
            #expect(resumed.received == Int64(bytes.count), "announcing again tells how far the upload got")
            let done = try await upload(client, harness, key: key, "/complete", ArchiveCompletion(id: id))
            let finished = try done.decode(ArchiveUploadState.self)
            #expect(done.status == .ok && finished.state == .complete)

            let record = try await client.api(.get, "/api/v1/archives/\(id)", token: auditor).decode(ArchiveRecord.self)
            #expect(record.deviceId == deviceId && record.files == 7 && record.state == .complete)
            #expect(record.retainUntil == harness.clock.now.addingTimeInterval(3650 * 86_400))
            #expect(try await client.api(.get, "/api/v1/archives/\(id)/content", token: auditor).status == .forbidden)
            let fetched = try await client.api(.get, "/api/v1/archives/\(id)/content", token: admin)
            #expect(fetched.status == .ok && Array(fetched.body.readableBytesView) == bytes)
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=\(id)", token: admin).body)
            for action in ["archive.started", "archive.received", "archive.downloaded"] { #expect(audit.contains(action), "\(action)") }
        }
    }

    @Test("bytes that do not hash to the announced SHA-256 are not kept; bad announcements are refused naming the field")
    func mismatch() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let (key, _) = try await enrolledDevice(harness, client, admin: admin)
            let id = IdentifierGenerator.uuidV7(now: harness.clock.now)
            let wrong = ArchiveAnnouncement(id: id, receiptId: nil, size: 3, sha256: String(repeating: "0", count: 64), files: 1, retainDays: 1)
            #expect(try await upload(client, harness, key: key, "", wrong).status == .ok)
            #expect(try await upload(client, harness, key: key, "/chunk", ArchiveChunk(id: id, offset: 0, data: "YWJj")).status == .ok)
            let refused = try await upload(client, harness, key: key, "/complete", ArchiveCompletion(id: id))
            #expect(refused.status == .conflict && refused.errorMessage?.contains("hash to ba7816bf") == true)
            #expect(try await client.api(.get, "/api/v1/archives/\(id)", token: admin).decode(ArchiveRecord.self).state == .uploading)
            let cases: [(ArchiveAnnouncement, String)] = [
                (ArchiveAnnouncement(id: "not-a-uuid", receiptId: nil, size: 1, sha256: wrong.sha256, files: 1, retainDays: 1), "id:"),
                (ArchiveAnnouncement(id: id, receiptId: nil, size: -1, sha256: wrong.sha256, files: 1, retainDays: 1), "size:"),
                (ArchiveAnnouncement(id: id, receiptId: nil, size: 1, sha256: "XYZ", files: 1, retainDays: 1), "sha256:"),
                (ArchiveAnnouncement(id: id, receiptId: nil, size: 1, sha256: wrong.sha256, files: 1, retainDays: 0), "retainDays:"),
            ]
            for (body, field) in cases {
                let response = try await upload(client, harness, key: key, "", body)
                #expect(response.status == .badRequest && response.errorMessage?.hasPrefix(field) == true, "\(field) \(response.errorMessage ?? "")")
            }
            let past = try await upload(client, harness, key: key, "/chunk", ArchiveChunk(id: id, offset: Int64.max, data: "YQ=="))
            #expect(past.status == .badRequest, "an offset past the size is refused, not trapped")
        }
    }

    @Test("a legal hold keeps an archive past its retention; released, it is purged (file gone, record kept, audited)")
    func retention() async throws {
        let harness = try await Harness()
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let (key, _) = try await enrolledDevice(harness, client, admin: admin)
            var ids: [String] = []
            for _ in 0..<2 {
                let id = IdentifierGenerator.uuidV7(now: harness.clock.now)
                let abc = ArchiveAnnouncement(
                    id: id, receiptId: nil, size: 3, sha256: Bytes.sha256Hex(Data("abc".utf8)), files: 1, retainDays: 30)
                _ = try await upload(client, harness, key: key, "", abc)
                _ = try await upload(client, harness, key: key, "/chunk", ArchiveChunk(id: id, offset: 0, data: "YWJj"))
                #expect(try await upload(client, harness, key: key, "/complete", ArchiveCompletion(id: id)).status == .ok)
                ids.append(id)
            }
            #expect(try await client.api(.post, "/api/v1/archives/\(ids[0])/hold", token: admin, json: "{}").status == .badRequest)
            let held = try await client.api(.post, "/api/v1/archives/\(ids[0])/hold", token: admin, json: #"{"reason": "tax audit 2027"}"#)
            let heldRecord = try held.decode(ArchiveRecord.self)
            #expect(held.status == .ok && heldRecord.legalHold)
            harness.clock.advance(29 * 86_400)
            #expect(try await harness.services.archives.purgeDue().isEmpty)
            harness.clock.advance(2 * 86_400)
            #expect(try await harness.services.archives.purgeDue() == [ids[1]])
            #expect(!FileManager.default.fileExists(atPath: harness.services.archives.finalPath(ids[1])))
            #expect(FileManager.default.fileExists(atPath: harness.services.archives.finalPath(ids[0])), "the held archive stays")
            let refused = try await client.api(.post, "/api/v1/archives/\(ids[0])/purge", token: admin, json: #"{"reason": "cleanup"}"#)
            #expect(refused.status == .conflict && refused.errorMessage?.contains("legal hold") == true)
            #expect(try await client.api(.post, "/api/v1/archives/\(ids[0])/release", token: admin).status == .ok)
            let purged = try await client.api(.post, "/api/v1/archives/purge-due", token: admin)
            #expect(String(buffer: purged.body).contains(ids[0]))
            let record = try await client.api(.get, "/api/v1/archives/\(ids[0])", token: admin).decode(ArchiveRecord.self)
            #expect(record.state == .purged && record.purgedAt != nil)
            #expect(try await client.api(.get, "/api/v1/archives/\(ids[0])/content", token: admin).status == .conflict)
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=\(ids[0])", token: admin).body)
            for action in ["archive.held", "archive.released", "archive.purged"] { #expect(audit.contains(action), "\(action)") }
            #expect(String(buffer: try await client.api(.get, "/api/v1/audit/verify", token: admin).body).contains(#""ok":true"#))
        }
    }
}
