import Foundation
import HTTPTypes
import HummingbirdTesting
import KontorCore
import NIOCore
import Testing

@testable import KontorServer

extension TestClientProtocol {
    /// A SCIM call with a directory token and an `application/scim+json` body.
    func scim(_ method: HTTPRequest.Method, _ path: String, token: String?, json: String? = nil, headers extra: HTTPFields = [:]) async throws
        -> TestResponse
    {
        var headers = extra
        if json != nil { headers[.contentType] = "application/scim+json" }
        return try await api(method, "/scim/v2" + path, token: token, json: json, headers: headers)
    }
}

extension TestResponse {
    var json: JSONValue { JSONValue(parsing: String(buffer: body)) ?? .null }
}

/// A user body as Entra ID sends it on create.
private func entraUser(_ userName: String, email: String, active: Bool = true) -> String {
    #"""
    {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
     "externalId": "\#(userName)", "userName": "\#(userName)", "active": \#(active),
     "emails": [{"primary": true, "type": "work", "value": "\#(email)"}],
     "name": {"formatted": "Ada Lovelace", "familyName": "Lovelace", "givenName": "Ada"},
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Lab"}}
    """#
}

private func patchBody(_ operations: String) -> String {
    #"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": \#(operations)}"#
}

@Suite("SCIM API: provisioning persons and groups from a directory")
struct SCIMAPITests {
    @Test("only a directory token gets in, and a directory token gets nowhere else; refusals are SCIM errors")
    func roles() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let anonymous = try await client.scim(.get, "/Users", token: nil)
            #expect(anonymous.status == .unauthorized && anonymous.json["status"] == .string("401"))
            #expect(anonymous.headers[.contentType]?.hasPrefix("application/scim+json") == true)
            let wrong = try await client.scim(.get, "/Users", token: admin)
            #expect(wrong.status == .forbidden && wrong.json["detail"]?.string?.contains("directory role") == true)
            #expect(try await client.scim(.get, "/Users", token: directory).status == .ok)
            #expect(try await client.api(.get, "/api/v1/persons", token: directory).status == .forbidden)
            #expect(try await client.api(.get, "/api/v1/oncall/techs.ics", token: directory).status == .unauthorized)
            let unknown = try await client.scim(.get, "/Bulk", token: directory)
            #expect(unknown.status == .notFound && unknown.json["schemas"] == .array([.string(SCIMError.schema)]))
            #expect(try await client.scim(.post, "/ServiceProviderConfig", token: directory, json: "{}").status == .methodNotAllowed)
        }
    }

    @Test("create as Entra ID does, find by userName and externalId, PATCH, with ETags; every change audited as the directory token")
    func lifecycle() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let created = try await client.scim(.post, "/Users", token: directory, json: entraUser("ada@corp.example", email: "ada@example.org"))
            #expect(created.status == .created, "\(String(buffer: created.body))")
            let id = try #require(created.json["id"]?.string)
            #expect(created.headers[.location]?.hasSuffix("/scim/v2/Users/\(id)") == true)
            #expect(created.json["displayName"] == .string("Ada Lovelace") && created.json["active"] == .bool(true))
            let person = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self).person
            #expect(person.displayName == "Ada Lovelace" && person.status == .active)

            let again = try await client.scim(.post, "/Users", token: directory, json: entraUser("ADA@corp.example", email: "other@example.org"))
            #expect(again.status == .conflict && again.json["scimType"] == .string("uniqueness"))

            for query in [#"userName eq "ada@corp.example""#, #"externalId eq "ada@corp.example""#] {
                let found = try await client.scim(
                    .get, "/Users?filter=" + query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!, token: directory)
                #expect(found.json["totalResults"] == .int(1) && found.json["Resources"]?.array?.first?["id"] == .string(id), "\(query)")
            }
            let plus = try await client.scim(.get, "/Users?filter=userName+eq+%22ada%40corp.example%22", token: directory)
            #expect(plus.json["totalResults"] == .int(1), "a form-encoded space (+) is a space")
            let none = try await client.scim(.get, "/Users?filter=userName%20eq%20%22nobody%22", token: directory)
            #expect(none.json["totalResults"] == .int(0) && none.json["Resources"] == .array([]))
            let badFilter = try await client.scim(.get, "/Users?filter=userName%20eq", token: directory)
            #expect(badFilter.status == .badRequest && badFilter.json["scimType"] == .string("invalidFilter"))

            let etag = try #require(created.headers[.eTag])
            #expect(try await client.scim(.get, "/Users/\(id)", token: directory, headers: [.ifNoneMatch: etag]).status == .notModified)
            let rename = patchBody(
                #"[{"op": "Replace", "path": "displayName", "value": "Ada King"}, {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+49 30 1234"}]"#
            )
            let patched = try await client.scim(.patch, "/Users/\(id)", token: directory, json: rename, headers: [.ifMatch: etag])
            #expect(patched.status == .ok && patched.json["displayName"] == .string("Ada King"))
            #expect(patched.headers[.eTag] != etag)
            let stale = try await client.scim(.patch, "/Users/\(id)", token: directory, json: rename, headers: [.ifMatch: etag])
            #expect(stale.status == .preconditionFailed)
            let shown = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self).person
            #expect(shown.displayName == "Ada King" && shown.phone == "+49 30 1234" && shown.id == person.id)

            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).body)
            #expect(audit.contains("person.created") && audit.contains("person.updated") && audit.contains("token:test-directory (automation)"))
        }
    }

    @Test("active false starts an offboarding with the notice period from the settings, never a wipe now; true in the notice period cancels it")
    func deactivate() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            #expect(try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"offboardingNoticeDays": 0}"#).status == .badRequest)
            #expect(try await client.api(.patch, "/api/v1/settings", token: admin, json: #"{"offboardingNoticeDays": 30}"#).status == .ok)
            let id = try #require(
                try await client.scim(.post, "/Users", token: directory, json: entraUser("ada", email: "ada@example.org")).json["id"]?.string)
            let off = try await client.scim(
                .patch, "/Users/\(id)", token: directory, json: patchBody(#"[{"op": "Replace", "path": "active", "value": "False"}]"#))
            #expect(off.status == .ok && off.json["active"] == .bool(false))
            let detail = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
            #expect(detail.person.status == .offboarding)
            #expect(detail.offboarding?.wipeAt == harness.clock.now.addingTimeInterval(30 * 86_400))
            harness.clock.advance(29 * 86_400)
            try await harness.services.offboarding.tick()
            #expect(try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self).offboarding?.wipesIssuedAt == nil)

            let on = try await client.scim(.patch, "/Users/\(id)", token: directory, json: patchBody(#"[{"op": "replace", "value": {"active": true}}]"#))
            #expect(on.status == .ok && on.json["active"] == .bool(true))
            let back = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
            #expect(back.person.status == .active && back.offboarding == nil && back.person.id == detail.person.id)
            let audit = String(buffer: try await client.api(.get, "/api/v1/audit?target=ada@example.org", token: admin).body)
            #expect(audit.contains("person.offboarding") && audit.contains("person.offboarding-cancelled"))
        }
    }

    @Test("DELETE offboards with notice and the ID is gone for SCIM; the person and their history stay")
    func delete() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let id = try #require(
                try await client.scim(.post, "/Users", token: directory, json: entraUser("bo", email: "bo@example.org")).json["id"]?.string)
            #expect(try await client.scim(.delete, "/Users/\(id)", token: directory).status == .noContent)
            #expect(try await client.scim(.get, "/Users/\(id)", token: directory).status == .notFound)
            #expect(try await client.scim(.delete, "/Users/\(id)", token: directory).status == .notFound)
            let detail = try await client.api(.get, "/api/v1/persons/bo@example.org", token: admin).decode(PersonDetail.self)
            #expect(detail.person.status == .offboarding && detail.offboarding?.wipeAt == harness.clock.now.addingTimeInterval(14 * 86_400))
            #expect(try await client.scim(.get, "/Users", token: directory).json["totalResults"] == .int(0))
        }
    }

    @Test("reactivating someone who left is a rehire: three times gives four person IDs linked in order, one SCIM ID, a valid audit chain")
    func rehires() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let id = try #require(
                try await client.scim(.post, "/Users", token: directory, json: entraUser("ada", email: "ada@example.org")).json["id"]?.string)
            var personIds = [try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self).person.id]
            for _ in 1...3 {
                _ = try await client.scim(.patch, "/Users/\(id)", token: directory, json: patchBody(#"[{"op": "replace", "path": "active", "value": false}]"#))
                harness.clock.advance(15 * 86_400)
                try await harness.services.offboarding.tick()
                #expect(try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self).person.status == .offboarded)
                let back = try await client.scim(
                    .patch, "/Users/\(id)", token: directory, json: patchBody(#"[{"op": "replace", "path": "active", "value": true}]"#))
                #expect(back.status == .ok && back.json["active"] == .bool(true) && back.json["id"] == .string(id))
                let person = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
                #expect(person.person.previousId == personIds.last && person.person.status == .active)
                personIds.append(person.person.id)
            }
            #expect(Set(personIds).count == 4)
            let chain = try await client.api(.get, "/api/v1/persons/ada@example.org", token: admin).decode(PersonDetail.self)
            #expect(chain.previousIds == [personIds[2], personIds[1], personIds[0]])
            #expect(String(buffer: try await client.api(.get, "/api/v1/audit/verify", token: admin).body).contains(#""ok":true"#))
        }
    }

    @Test("a person an admin added is found by email and adopted; POST of the same email links it instead of failing")
    func adoption() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            let created = try await client.api(.post, "/api/v1/persons", token: admin, json: #"{"email": "cy@example.org", "displayName": "Cy"}"#)
            let personId = try created.decode(Person.self).id
            let found = try await client.scim(.get, "/Users?filter=userName%20eq%20%22CY@example.org%22", token: directory)
            #expect(found.json["Resources"]?.array?.first?["id"] == .string(personId))
            let linked = try await client.scim(.post, "/Users", token: directory, json: entraUser("cy@corp.example", email: "cy@example.org"))
            #expect(linked.status == .created)
            #expect(try await client.api(.get, "/api/v1/persons", token: admin).decode([Person].self).count == 1)
            #expect(try await client.scim(.get, "/Users", token: directory).json["totalResults"] == .int(1))
            let twice = try await client.scim(.post, "/Users", token: directory, json: entraUser("cy2@corp.example", email: "cy@example.org"))
            #expect(twice.status == .conflict)
        }
    }

    @Test("groups: a directory group maps to a Kontor group; members added and removed as Entra ID sends them; DELETE takes the group away")
    func groups() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        let admin = try await harness.token(.admin)
        try await harness.test { client async throws in
            var ids: [String] = []
            for name in ["ada", "bo", "cy"] {
                ids.append(
                    try #require(
                        try await client.scim(.post, "/Users", token: directory, json: entraUser(name, email: "\(name)@example.org")).json["id"]?.string))
            }
            let body =
                #"{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Lehrkräfte Grundschule", "members": [{"value": "\#(ids[0])"}]}"#
            let created = try await client.scim(.post, "/Groups", token: directory, json: body)
            #expect(created.status == .created)
            let gid = try #require(created.json["id"]?.string)
            func groupsOf(_ name: String) async throws -> [String] {
                try await client.api(.get, "/api/v1/persons/\(name)@example.org", token: admin).decode(PersonDetail.self).person.groups
            }
            #expect(try await groupsOf("ada") == ["Lehrkraefte-Grundschule"])
            let add = patchBody(#"[{"op": "Add", "path": "members", "value": [{"value": "\#(ids[1])"}, {"value": "\#(ids[2])"}]}]"#)
            #expect(try await client.scim(.patch, "/Groups/\(gid)", token: directory, json: add).status == .ok)
            let remove = patchBody(#"[{"op": "Remove", "path": "members", "value": [{"value": "\#(ids[0])"}]}]"#)
            let after = try await client.scim(.patch, "/Groups/\(gid)", token: directory, json: remove)
            #expect(after.json["members"]?.array?.compactMap { $0["value"]?.string }.sorted() == [ids[1], ids[2]].sorted())
            #expect(try await groupsOf("ada") == [])
            #expect(try await groupsOf("bo") == ["Lehrkraefte-Grundschule"])
            let user = try await client.scim(.get, "/Users/\(ids[1])", token: directory)
            #expect(user.json["groups"]?.array?.first?["value"] == .string(gid))
            let unknown = patchBody(#"[{"op": "Add", "path": "members", "value": [{"value": "nobody"}]}]"#)
            let refused = try await client.scim(.patch, "/Groups/\(gid)", token: directory, json: unknown)
            #expect(refused.status == .badRequest && refused.json["detail"]?.string?.contains("no user nobody") == true)
            let twin = try await client.scim(.post, "/Groups", token: directory, json: #"{"displayName": "Lehrkräfte  Grundschule"}"#)
            #expect(twin.status == .conflict)
            let listed = try await client.scim(.get, "/Groups?excludedAttributes=members", token: directory)
            #expect(listed.json["Resources"]?.array?.first?["members"] == nil && listed.json["totalResults"] == .int(1))
            #expect(try await client.scim(.delete, "/Groups/\(gid)", token: directory).status == .noContent)
            #expect(try await groupsOf("bo") == [])
            #expect(try await groupsOf("cy") == [])
            #expect(try await client.scim(.get, "/Groups/\(gid)", token: directory).status == .notFound)
        }
    }

    @Test("bad bodies are refused in SCIM's form naming what is wrong, never with a 500")
    func badInput() async throws {
        let harness = try await Harness()
        let directory = try await harness.token(.directory)
        try await harness.test { client async throws in
            let cases: [(HTTPRequest.Method, String, String, String)] = [
                (.post, "/Users", "not json", "the body must be a JSON object"), (.post, "/Users", "[]", "the body must be a JSON object"),
                (.post, "/Users", #"{"userName": "x\u0000"}"#, "NUL"), (.post, "/Users", #"{"userName": "x"}"#, "emails"),
                (.post, "/Groups", #"{"displayName": ""}"#, "displayName"), (.patch, "/Users/nope", patchBody("[]"), "no user nope"),
                (.post, "/Users/.search", #"{"filter": 5}"#, "filter: expected a string"), (.get, "/Users?count=many", "", "count"),
                (.get, "/Users?attributes=%24%24", "", "attributes"),
            ]
            for (method, path, body, detail) in cases {
                let response = try await client.scim(method, path, token: directory, json: method == .get ? nil : body)
                #expect((400..<500).contains(Int(response.status.code)), "\(path) \(body): \(response.status)")
                #expect(response.json["detail"]?.string?.contains(detail) == true, "\(path) \(body): \(String(buffer: response.body))")
            }
            let page = try await client.scim(.post, "/Users/.search", token: directory, json: #"{"startIndex": 1, "count": 0}"#)
            #expect(page.status == .ok && page.json["itemsPerPage"] == .int(0))
        }
    }
}
