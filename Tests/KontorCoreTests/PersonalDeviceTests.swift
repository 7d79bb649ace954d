import Foundation
import KontorCore
import Testing

@Suite("Personal devices: what stays inside the work container")
struct PersonalDeviceTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func profile(posture: PosturePolicy? = nil, offline: OfflinePolicy? = nil) -> Profile {
        var p = Profile(name: "p")
        p.posture = posture
        p.offline = offline
        return p
    }

    @Test("posture requirements and an offline wipe reach beyond the container; a posture field that requires nothing does not")
    func fieldsBeyondContainer() {
        let all = profile(posture: PosturePolicy(requireDiskEncryption: true, maxUpdateAgeDays: 7), offline: OfflinePolicy(lockAfter: 24, wipeAfter: 30))
        #expect(
            PersonalDevice.fieldsBeyondContainer(all, offlineWipeAllowed: false) == [
                "posture.requireDiskEncryption", "posture.maxUpdateAgeDays", "offline.wipeAfter",
            ])
        #expect(PersonalDevice.fieldsBeyondContainer(all, offlineWipeAllowed: true) == ["posture.requireDiskEncryption", "posture.maxUpdateAgeDays"])
        #expect(PersonalDevice.fieldsBeyondContainer(profile(posture: PosturePolicy(requireDiskEncryption: false)), offlineWipeAllowed: false).isEmpty)
        #expect(PersonalDevice.fieldsBeyondContainer(profile(offline: OfflinePolicy(lockAfter: 24)), offlineWipeAllowed: false).isEmpty)
    }

    @Test("restricting a merged policy marks it personal, drops what reaches beyond and lists it, and keeps the rest")
    func restrict() {
        var policy = EffectivePolicy(
            checkinInterval: 60, offline: OfflinePolicy(lockAfter: 24, wipeAfter: 30), origins: ["offline.wipeAfter": "a", "apps.mode": "b"])
        policy.posture = PosturePolicy(requireDiskEncryption: true)
        let restricted = PersonalDevice.restrict(policy, offlineWipe: "no usage terms allow it")
        #expect(restricted.ownership == .personal)
        #expect(restricted.posture == nil)
        #expect(restricted.offline == OfflinePolicy(lockAfter: 24, wipeAfter: nil))
        #expect(restricted.notApplied == ["posture.requireDiskEncryption: personal device", "offline.wipeAfter: personal device, no usage terms allow it"])
        #expect(restricted.origins == ["apps.mode": "b"])
        let allowed = PersonalDevice.restrict(policy, offlineWipe: nil)
        #expect(allowed.offline?.wipeAfter == 30)
        // What is left out is provenance: it does not change the hash, the ownership does.
        var listedOnly = restricted
        listedOnly.notApplied = nil
        #expect(listedOnly.canonicalHash == restricted.canonicalHash)
        listedOnly.ownership = nil
        #expect(listedOnly.canonicalHash != restricted.canonicalHash)
    }

    @Test("an offline wipe needs terms that allow it and the person's acceptance of them")
    func offlineWipeRefusal() {
        let allowing = UsageTerms(
            version: "byod-1", text: "t", undertaking: nil, graceSeconds: 0, publishedAt: t0, publishedBy: nil, allowsOfflineWipeOnPersonalDevices: true)
        let plain = UsageTerms(version: "v1", text: "t", undertaking: nil, graceSeconds: 0, publishedAt: t0, publishedBy: nil)
        #expect(PersonalDevice.offlineWipeRefusal(terms: nil, decision: nil) == "no usage terms allow it")
        #expect(PersonalDevice.offlineWipeRefusal(terms: plain, decision: .accepted) == "usage terms v1 do not allow it")
        #expect(PersonalDevice.offlineWipeRefusal(terms: allowing, decision: .declined) == "usage terms byod-1 not accepted")
        #expect(PersonalDevice.offlineWipeRefusal(terms: allowing, decision: nil) == "usage terms byod-1 not accepted")
        #expect(PersonalDevice.offlineWipeRefusal(terms: allowing, decision: .accepted) == nil)
    }

    @Test("JSON from before ownership reads as company")
    func olderJSON() throws {
        let token = #"{"id":"t","maxUses":1,"uses":0,"expiresAt":"2027-01-01T00:00:00Z","createdAt":"2026-01-01T00:00:00Z"}"#
        #expect(try KontorJSON.decode(EnrollmentToken.self, from: Data(token.utf8)).ownership == .company)
    }
}
