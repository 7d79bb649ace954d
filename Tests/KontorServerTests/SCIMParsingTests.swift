import Foundation
import KontorCore
import Testing

@testable import KontorServer

private let core = SCIMDiscovery.coreSchemas

private func json(_ text: String) -> JSONValue { JSONValue(parsing: text)! }

private func filter(_ text: String) throws -> SCIMFilter { try SCIMFilterParser.filter(text, coreSchemas: core) }

private let ada = json(
    #"""
    {"id": "U1", "userName": "Ada@Example.org", "externalId": "E-1", "active": true, "displayName": "Ada Lovelace",
     "emails": [{"value": "ada@example.org", "type": "work"}, {"value": "ada@home.example", "type": "home"}],
     "meta": {"lastModified": "2026-11-30T10:00:00Z"},
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Lab"}}
    """#)

@Suite("SCIM: filters, PATCH and what a user or group body must hold")
struct SCIMParsingTests {
    @Test(
        "filters match as RFC 7644 §3.4.2.2 says (case-insensitive names, operators and values, caseExact id/externalId, precedence, value paths)",
        arguments: [
            (#"userName eq "ada@example.org""#, true), (#"USERNAME EQ "ADA@EXAMPLE.ORG""#, true), (#"externalId eq "e-1""#, false),
            (#"externalId eq "E-1""#, true), (#"id eq "u1""#, false), (#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ada""#, true),
            (#"emails[type eq "work" and value co "example.org"]"#, true), (#"emails[type eq "other"]"#, false), (#"emails.value ew ".example""#, true),
            (#"active eq true and not (displayName eq "x")"#, true), (#"active eq false or displayName pr"#, true),
            (#"active eq false or displayName eq "x" and id eq "U1""#, false), (#"(active eq false or displayName eq "x") or id eq "U1""#, true),
            (#"meta.lastModified gt "2026-11-01T00:00:00Z""#, true), (#"phoneNumbers pr"#, false), (#"title ne "boss""#, true),
            (#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "lab""#, true),
        ])
    func matches(text: String, expected: Bool) throws {
        #expect(try filter(text).matches(ada) == expected, "\(text)")
    }

    @Test(
        "a malformed filter is refused saying what is wrong",
        arguments: [
            (#"userName eq"#, "expected a value after userName eq"), (#"userName equals "x""#, "unknown operator \"equals\""),
            (#"userName eq "x" and"#, "expected an attribute name at the end"), (#"(userName eq "x""#, "expected ) to close ("),
            (#"emails[type eq "work""#, "expected ] to close emails["), (#"userName eq "open"#, "a string is not closed"),
            (#"userName eq x"#, "strings are in double quotes"), (#"1abc eq "x""#, "is not an attribute path"),
            (#"userName eq "x" )"#, "unexpected ) after the filter"),
        ])
    func refusals(text: String, message: String) {
        #expect {
            try filter(text)
        } throws: { error in
            (error as? SCIMFilterParser.Failure)?.message.contains(message) == true
        }
    }

    @Test("a filter nested beyond 32 levels or longer than 4 KiB is refused, not followed")
    func limits() {
        let deep = String(repeating: "(", count: 40) + #"id eq "x""# + String(repeating: ")", count: 40)
        #expect(throws: SCIMFilterParser.Failure.self) { try filter(deep) }
        #expect(throws: SCIMFilterParser.Failure.self) { try filter(#"id eq ""# + String(repeating: "a", count: 5000) + #"""#) }
    }

    private func patch(_ resource: JSONValue, _ operations: String) throws -> JSONValue {
        let body = json(#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": \#(operations)}"#)
        return try SCIMPatch(coreSchemas: core).apply(try SCIMPatch.operations(body), to: resource)
    }

    @Test("Entra ID's PATCH forms: capitalised ops, string booleans, a filtered path that creates its element, remove with a value")
    func entra() throws {
        let user = json(#"{"userName": "ada", "active": true, "emails": [{"value": "ada@example.org", "primary": true}]}"#)
        let off = try patch(user, #"[{"op": "Replace", "path": "active", "value": "False"}]"#)
        #expect(try SCIMUserInput(off).active == false)
        let phone = try patch(user, #"[{"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+49 30 1234"}]"#)
        #expect(phone["phoneNumbers"] == json(#"[{"type": "work", "value": "+49 30 1234"}]"#))
        let mail = try patch(user, #"[{"op": "Replace", "path": "emails[primary eq true].value", "value": "ada.king@example.org"}]"#)
        #expect(try SCIMUserInput(mail).email == "ada.king@example.org")

        let group = json(#"{"displayName": "Techs", "members": [{"value": "U1"}, {"value": "U2"}, {"value": "U3"}]}"#)
        let fewer = try patch(group, #"[{"op": "Remove", "path": "members", "value": [{"value": "U2"}]}]"#)
        #expect(try SCIMGroupInput(fewer).members == ["U1", "U3"])
        let filtered = try patch(group, #"[{"op": "remove", "path": "members[value eq \"U1\"]"}]"#)
        #expect(try SCIMGroupInput(filtered).members == ["U2", "U3"])
        let more = try patch(group, #"[{"op": "Add", "path": "members", "value": [{"value": "U4"}, {"value": "U1"}]}]"#)
        #expect(try SCIMGroupInput(more).members == ["U1", "U2", "U3", "U4"])
    }

    @Test("Okta's and Keycloak's forms: a path-less replace with an object, dotted and URN-qualified keys, a whole extension")
    func pathless() throws {
        let user = json(#"{"userName": "ada", "displayName": "Ada", "emails": [{"value": "ada@example.org"}]}"#)
        let patched = try patch(
            user,
            #"""
            [{"op": "replace", "value": {"active": false, "name.givenName": "Ada", "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Ada King",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Lab"}}}]
            """#)
        let input = try SCIMUserInput(patched)
        #expect(input.active == false && input.displayName == "Ada King")
        #expect(patched["name"]?["givenName"] == .string("Ada"))
        #expect(patched["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]?["department"] == .string("Lab"))
    }

    @Test("PATCH refusals name the operation and what is wrong")
    func patchRefusals() {
        let user = json(#"{"userName": "ada"}"#)
        func refused(_ operations: String, _ type: String, _ detail: String) {
            #expect(throws: SCIMError.self) { try patch(user, operations) }
            do {
                _ = try patch(user, operations)
            } catch let error as SCIMError {
                #expect(error.scimType == type && error.detail.contains(detail), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        refused(#"[{"op": "move", "path": "x"}]"#, "invalidSyntax", "Operations[0].op: expected add, replace or remove")
        refused(#"[{"op": "remove"}]"#, "noTarget", "Operations[0]: remove needs a path")
        refused(#"[{"op": "add", "path": "emails[type eq", "value": 1}]"#, "invalidPath", "Operations[0]: path:")
        refused(#"[{"op": "add", "path": "displayName"}]"#, "invalidValue", "add needs a value")
        refused(#"[{"op": "replace", "path": "emails[type co \"w\"].value", "value": "x"}]"#, "noTarget", "no value matches")
        refused("[]", "invalidSyntax", "Operations: expected a list")
        #expect(throws: SCIMError.self) { try SCIMPatch.operations(json(#"{"Operations": [{"op": "add"}]}"#)) }
    }

    @Test("a user needs a userName and a work email; the name falls back to name parts, then the userName; bad values are named")
    func userInput() throws {
        let minimal = try SCIMUserInput(json(#"{"userName": "ada@example.org"}"#))
        #expect(minimal.email == "ada@example.org" && minimal.displayName == "ada@example.org" && minimal.active)
        let parts = try SCIMUserInput(json(#"{"userName": "ada", "name": {"givenName": "Ada", "familyName": "King"}, "emails": [{"value": "a@example.org"}]}"#))
        #expect(parts.displayName == "Ada King")
        let chosen = try SCIMUserInput(
            json(
                #"{"userName": "ada", "emails": [{"value": "home@example.org", "type": "home"}, {"value": "work@example.org", "type": "work"}], "active": "true"}"#
            ))
        #expect(chosen.email == "work@example.org")
        let cases: [(String, String)] = [
            (#"{"emails": [{"value": "a@example.org"}]}"#, "userName: required"),
            (#"{"userName": "ada"}"#, "emails: a user needs a work email address"),
            (#"{"userName": "ada", "emails": [{"value": "not-mail"}]}"#, "emails: \"not-mail\" is not an email address"),
            (#"{"userName": "ada@example.org", "active": "maybe"}"#, "active: expected true or false"),
            (#"{"userName": "ada@example.org", "phoneNumbers": [{"value": "call me"}]}"#, "phoneNumbers: \"call me\" is not a phone number"),
            (#"{"userName": "ada@example.org", "displayName": "A\u202Eb"}"#, "displayName:"),
            (#"{"userName": "ada@example.org", "externalId": 7}"#, "externalId: expected a string"),
        ]
        for (body, message) in cases {
            do {
                _ = try SCIMUserInput(json(body))
                Issue.record("\(body) was taken")
            } catch let error as SCIMError {
                #expect(error.detail.contains(message) && error.scimType == "invalidValue", "\(body): \(error.detail)")
            }
        }
    }

    @Test(
        "a directory's group name becomes a Kontor group name (umlauts spelled out, other runs a dash, at most 64)",
        arguments: [
            ("Lehrkräfte Grundschule", "Lehrkraefte-Grundschule"), ("techs", "techs"), ("Büro / Verwaltung", "Buero-Verwaltung"),
            ("  ***  ", "fallback"), ("日本", "fallback"), (String(repeating: "a", count: 80), String(repeating: "a", count: 64)),
            ("Straße 12.B_x", "Strasse-12.B_x"),
        ])
    func kontorName(displayName: String, expected: String) {
        #expect(SCIMGroupInput.kontorName(displayName, fallback: "fallback") == expected)
    }
}
