import KontorCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The archive of retained work data a wipe makes before it destroys the container key, as the journal
/// records it: what the profile asked for, the packed file, and whether the server confirmed it.
public struct WipeArchive: Codable, Sendable, Equatable {
    /// The profile's `retention` when the wipe began.
    public var retention: RetentionPolicy
    /// How long a `required` archive may hold the wipe.
    public var deadline: Date
    /// The packed age file (in the agent's state folder) and what is in it.
    public var summary: ArchiveSummary?
    public var spool: String?
    /// What the packer left out (symlinks, other mounts, paths the boundary refused).
    public var leftOut: [String] = []
    /// The server confirmed size and SHA-256.
    public var uploaded = false
    /// Why there is no archive, when there is none.
    public var failed: String?

    var isRequired: Bool { retention.mode != "bestEffort" }
    /// Packed, not yet confirmed, not given up.
    var awaitingUpload: Bool { summary != nil && !uploaded && failed == nil }
}

extension Wiper {
    /// What the journal records about retention when a wipe begins: nothing without a `retention` section;
    /// a note that nothing was archived for a wipe that cannot reach the server (the offline dead-man switch,
    /// a revoked device).
    static func archivePlan(_ retention: RetentionPolicy?, trigger: String, startedAt: Date) -> WipeArchive? {
        guard let retention else { return nil }
        let minutes = retention.timeoutMinutes ?? RetentionPolicy.defaultTimeoutMinutes
        var plan = WipeArchive(retention: retention, deadline: startedAt.addingTimeInterval(TimeInterval(minutes) * 60))
        switch trigger {
        case "offline": plan.failed = "an offline wipe (the dead-man switch) archives nothing: the device could not reach the server"
        case "revoked": plan.failed = "the server revoked this device, so it takes no archive from it"
        default: break
        }
        return plan
    }

    static func spoolFile(_ paths: AgentPaths) -> String { paths.stateDir + "/archive.age" }

    /// Packs the retained paths into the encrypted spool file. The paths pass the same boundary as the wipe's
    /// (inside the work home or a work root, not another account's); any failure is noted and the wipe goes on.
    func pack(_ journal: inout WipeJournal, _ account: WorkAccount?) {
        guard var archive = journal.archive, archive.failed == nil, archive.summary == nil else { return }
        defer { journal.archive = archive }
        guard let account else {
            archive.failed = "there is no work container to archive"
            return
        }
        // The key must be in the kernel to read the encrypted home (after a reboot it may not be yet).
        try? ContainerCrypto.ensureUnlocked((try? accounts.record())??.encryption, home: account.home, paths: paths)
        let otherHomes = accounts.allAccounts().filter { $0.uid != account.uid }.map(\.home)
        var folders: [(name: String, dir: OpenedDirectory)] = []
        let wanted = archive.retention.paths
        // A path inside another listed one is in the archive once, with the outer one.
        for path in wanted where !wanted.contains(where: { WorkBoundary.isBelow(path, $0) }) {
            if let problem = WipePlanner.problem(with: path, account: account, rules: rules, otherHomes: otherHomes) {
                archive.leftOut.append("\(path): \(problem)")
                continue
            }
            do {
                guard let dir = try open(path, account) else { continue }
                if !folders.contains(where: { $0.name == String(path.dropFirst()) }) { folders.append((String(path.dropFirst()), dir)) }
            } catch {
                archive.leftOut.append("\(error)")
            }
        }
        do {
            let recipients = try archive.retention.recipients.map { try AgeRecipient($0) }
            let packed = try ArchivePacker.pack(folders, owner: account.uid, recipients: recipients, to: Self.spoolFile(paths))
            archive.leftOut = Array((archive.leftOut + packed.leftOut).prefix(ArchivePacker.namedLeftOut + 1))
            archive.summary = ArchiveSummary(
                id: IdentifierGenerator.uuidV7(now: clock.now()), sha256: packed.sha256, size: packed.size, files: packed.files,
                leftOut: archive.leftOut.isEmpty ? nil : archive.leftOut.map { String($0.prefix(250)) })
            archive.spool = Self.spoolFile(paths)
        } catch {
            archive.failed = "the archive could not be made: \(error)"
        }
    }

    /// Whether the wipe must wait for the archive's upload before it destroys the key. Past the deadline
    /// it gives up and notes why.
    func mustWaitForUpload(_ journal: inout WipeJournal) -> Bool {
        guard var archive = journal.archive, archive.awaitingUpload else { return false }
        if clock.now() < archive.deadline { return true }
        let minutes = archive.retention.timeoutMinutes ?? RetentionPolicy.defaultTimeoutMinutes
        archive.failed = "the server did not confirm the archive within \(minutes) minutes (retention.timeoutMinutes); the wipe went ahead"
        journal.archive = archive
        return false
    }

    /// The spool file goes once the archive is confirmed or given up (it is ciphertext, but no longer needed).
    func dropSpool(_ journal: WipeJournal) {
        if let spool = journal.archive?.spool { unlink(spool) }
    }
}
