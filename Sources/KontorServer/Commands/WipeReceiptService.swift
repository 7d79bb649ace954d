import Foundation
import KontorCore
import KontorStore
import Logging
import ServiceLifecycle

/// Records signed wipe receipts: checks the signature against the device's key, stores the receipt once,
/// completes the wipe command, revokes the device and puts the receipt in the audit log.
struct WipeReceiptService: Sendable {
    let store: any ReceiptStore & CommandStore & DeviceStore & ArchiveStore
    let clock: WallClock
    let audit: AuditService
    let commands: CommandService
    /// Told when a receipt revokes its device.
    let devices: DeviceCache

    static let triggers: Set<String> = ["command", "offline", "revoked"]

    /// The receipts a device sent, as stored.
    func receipts(deviceId: String) async throws -> [StoredReceipt] { try await store.receipts(deviceId: deviceId) }

    func record(_ signed: SignedReceipt, from device: Device) async throws -> ReceiptConfirmation {
        guard let key = DeviceKeys.publicKey(base64: device.publicKey) else { throw KontorError.invalid("device \(device.id) has no usable key") }
        guard signed.payload.utf8.count <= 64 * 1024 else { throw KontorError.invalid("payload: at most 64 KiB") }
        guard let receipt = signed.verified(by: key) else {
            throw KontorError(.invalid, .signatureInvalid, "receipt: the signature does not verify with the device key, or the payload is not a wipe receipt")
        }
        guard receipt.deviceId == device.id else { throw KontorError.invalid("receipt.deviceId: \(receipt.deviceId) is not the signing device \(device.id)") }
        guard IdentifierGenerator.isWellFormed(receipt.id) else { throw KontorError.invalid("receipt.id: not a receipt ID") }
        guard Self.triggers.contains(receipt.trigger) else { throw KontorError.invalid("receipt.trigger: expected command, offline or revoked") }
        if let commandId = receipt.commandId {
            guard IdentifierGenerator.isWellFormed(commandId) else { throw KontorError.invalid("receipt.commandId: not a command ID") }
            guard let command = try await store.command(id: commandId), command.deviceId == device.id, command.type == .wipe else {
                throw KontorError.invalid("receipt.commandId: \(commandId) is not a wipe of this device")
            }
        }
        if receipt.removed.count > 200 || receipt.refused.count > 200 { throw KontorError.invalid("receipt: at most 200 paths") }
        if let method = receipt.method, !["cryptoErase+delete", "delete"].contains(method) {
            throw KontorError.invalid("receipt.method: expected cryptoErase+delete or delete")
        }
        if let note = receipt.methodNote, note.utf8.count > 1024 { throw KontorError.invalid("receipt.methodNote: longer than 1024 bytes") }
        try Self.checkArchive(receipt)
        if try await store.receipt(id: receipt.id) == nil, device.status != .active, device.wipeConfirmedAt != nil {
            throw KontorError.conflict("device \(device.id) is revoked and its wipe is confirmed; no further receipts are taken")
        }
        let now = clock.now()
        // A wipe the device did because it was told it is revoked (a replaced device whose wipe was
        // ordered) names no command; it completes the device's open wipe all the same.
        var commandId = receipt.commandId
        if commandId == nil, receipt.trigger == "revoked" {
            commandId = try await store.commands(deviceId: device.id).first { $0.type == .wipe && !$0.state.isFinal }?.id
        }
        let stored = StoredReceipt(id: receipt.id, deviceId: device.id, commandId: commandId, trigger: receipt.trigger, receivedAt: now, signed: signed)
        // The dead-man switch wipes a device that is still enrolled; every other wipe ends its identity.
        let revokes = receipt.trigger != "offline"
        let isNew = try await store.recordReceipt(stored, revoke: revokes)
        if revokes { devices.invalidate(deviceId: device.id) }
        if isNew {
            // The receipt is kept as signed; what the audit log copies from it is made visible (paths are the device's to name).
            let visible = { (text: String) in VisibleText.escaped(text) }
            try await audit.record(
                "device:\(device.id)", "device.wipe-receipt", target: device.id,
                detail: [
                    "receipt": receipt.id, "trigger": receipt.trigger, "command": receipt.commandId ?? "", "account": visible(receipt.account ?? ""),
                    "accountRemoved": String(receipt.accountRemoved), "paths": receipt.removed.map { visible($0.path) }.joined(separator: " "),
                    "files": String(receipt.totalFiles), "bytes": String(receipt.totalBytes), "refused": receipt.refused.map(visible).joined(separator: "; "),
                    "startedAt": ISO8601.string(from: receipt.startedAt), "finishedAt": ISO8601.string(from: receipt.finishedAt),
                    "method": receipt.method ?? "delete (agent before crypto-erase)", "methodNote": visible(receipt.methodNote ?? ""),
                    "payloadDigest": signed.digest, "signature": signed.signature,
                    "archive": try await archiveDetail(receipt.archive, device: device), "archiveFailed": visible(receipt.archiveFailed ?? ""),
                ])
        }
        let after = try await store.device(id: device.id)
        if isNew, let after, after.status != .active { try await commands.closeAll(deviceId: device.id) }
        let confirmation = ReceiptConfirmation(receiptId: receipt.id, duplicate: !isNew, revoked: after?.status != .active)
        return confirmation
    }

    /// The archive fields of a receipt, checked for form.
    static func checkArchive(_ receipt: WipeReceipt) throws {
        if let archive = receipt.archive {
            guard IdentifierGenerator.isWellFormed(archive.id) else { throw KontorError.invalid("receipt.archive.id: not an archive ID") }
            guard Bytes.fromHex(archive.sha256)?.count == 32 else { throw KontorError.invalid("receipt.archive.sha256: expected 64 hex digits") }
            guard archive.size >= 0, archive.files >= 0 else { throw KontorError.invalid("receipt.archive: size and files must not be negative") }
            if let leftOut = archive.leftOut, leftOut.count > 60 || leftOut.contains(where: { $0.utf8.count > 1024 }) {
                throw KontorError.invalid("receipt.archive.leftOut: at most 60 entries of at most 1024 bytes")
            }
        }
        if let failed = receipt.archiveFailed, failed.utf8.count > 1024 { throw KontorError.invalid("receipt.archiveFailed: longer than 1024 bytes") }
    }

    /// The receipt's archive as the audit log records it: its ID, digest and whether the server holds it
    /// complete with that digest (a receipt is kept as signed either way; this says whether it agrees).
    private func archiveDetail(_ archive: ArchiveSummary?, device: Device) async throws -> String {
        guard let archive else { return "" }
        let held = try await store.archive(id: archive.id)
        let agrees = held.map { $0.deviceId == device.id && $0.state == .complete && $0.sha256 == archive.sha256 && $0.size == archive.size } ?? false
        return
            "\(archive.id) sha256:\(archive.sha256) \(archive.size) bytes, \(archive.files) files (\(agrees ? "held by the server" : "NOT held by the server as described"))"
    }
}
