import Foundation
import KontorCore

/// What the SCIM service says about itself (RFC 7643 §5–7): the service provider configuration, the two
/// resource types and their schemas. The schemas list exactly the attributes Kontor keeps, so a directory
/// (and a compliance checker) sends only what is stored and reads back what it sent.
enum SCIMDiscovery {
    static let userSchema = "urn:ietf:params:scim:schemas:core:2.0:User"
    static let groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
    static let listSchema = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    static let coreSchemas = [userSchema, groupSchema]
    /// The most resources one page holds.
    static let maxResults = 1000

    static func serviceProviderConfig(base: String) -> JSONValue {
        parse(
            """
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
             "documentationUri": "https://github.com/kontor/kontor/blob/main/docs/directory.md",
             "patch": {"supported": true},
             "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
             "filter": {"supported": true, "maxResults": \(maxResults)},
             "changePassword": {"supported": false},
             "sort": {"supported": false},
             "etag": {"supported": true},
             "authenticationSchemes": [{"type": "oauthbearertoken", "name": "Bearer token",
               "description": "A Kontor API token of the directory role (kontorctl admin-tokens create --role directory)", "primary": true}],
             "meta": {"resourceType": "ServiceProviderConfig", "location": "\(base)/ServiceProviderConfig"}}
            """)
    }

    static func resourceTypes(base: String) -> [JSONValue] {
        [
            parse(
                """
                {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "User", "name": "User", "endpoint": "/Users",
                 "description": "A person in Kontor's staff directory", "schema": "\(userSchema)",
                 "meta": {"resourceType": "ResourceType", "location": "\(base)/ResourceTypes/User"}}
                """),
            parse(
                """
                {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Group", "name": "Group", "endpoint": "/Groups",
                 "description": "A group of persons; its Kontor name is what profiles and on-call exemptions name", "schema": "\(groupSchema)",
                 "meta": {"resourceType": "ResourceType", "location": "\(base)/ResourceTypes/Group"}}
                """),
        ]
    }

    static func schemas(base: String) -> [JSONValue] {
        [
            schema(
                id: userSchema, name: "User", description: "A person in Kontor's staff directory", base: base,
                attributes: [
                    attribute("userName", required: true, uniqueness: "server", description: "The directory's unique name for the user"),
                    attribute(
                        "displayName", required: true,
                        description: "The name shown in Kontor (a user without one takes name.formatted, given and family name, or the userName)"),
                    attribute(
                        "active", type: "boolean", required: true,
                        description: "false starts an offboarding with the notice period; true brings the user back (true when not sent)"),
                    multiValued(
                        "emails", required: true,
                        description:
                            "The work email, Kontor's key for the person (of several, the primary one, else the work one, else the first; a userName that is an email stands in)",
                        sub: [attribute("value", required: true, description: "An email address")]),
                    multiValued(
                        "phoneNumbers", description: "A work phone number, shown to whoever asks who is on call",
                        sub: [attribute("value", required: true, description: "A phone number")]),
                    multiValued(
                        "groups", mutability: "readOnly", description: "The groups the user is in (change them through Groups)",
                        sub: [
                            attribute("value", mutability: "readOnly", description: "The group's id"),
                            reference("$ref", types: ["Group"], mutability: "readOnly"),
                            attribute("display", mutability: "readOnly", description: "The group's displayName"),
                        ]),
                ]),
            schema(
                id: groupSchema, name: "Group", description: "A group of persons", base: base,
                attributes: [
                    attribute("displayName", required: true, description: "The group's name in the directory"),
                    multiValued(
                        "members", description: "The users in the group",
                        sub: [
                            attribute("value", required: true, mutability: "immutable", description: "The user's id"),
                            reference("$ref", types: ["User"], mutability: "immutable"),
                        ]),
                ]),
        ]
    }

    private static func schema(id: String, name: String, description: String, base: String, attributes: [JSONValue]) -> JSONValue {
        .object([
            "schemas": .array([.string("urn:ietf:params:scim:schemas:core:2.0:Schema")]), "id": .string(id), "name": .string(name),
            "description": .string(description), "attributes": .array(attributes),
            "meta": .object(["resourceType": .string("Schema"), "location": .string("\(base)/Schemas/\(id)")]),
        ])
    }

    private static func attribute(
        _ name: String, type: String = "string", required: Bool = false, mutability: String = "readWrite", uniqueness: String = "none",
        description: String
    ) -> JSONValue {
        .object([
            "name": .string(name), "type": .string(type), "multiValued": .bool(false), "description": .string(description), "required": .bool(required),
            "caseExact": .bool(false), "mutability": .string(mutability), "returned": .string("default"), "uniqueness": .string(uniqueness),
        ])
    }

    private static func reference(_ name: String, types: [String], mutability: String) -> JSONValue {
        .object([
            "name": .string(name), "type": .string("reference"), "referenceTypes": .array(types.map { .string($0) }), "multiValued": .bool(false),
            "description": .string("The URI of the resource"), "required": .bool(false), "caseExact": .bool(true), "mutability": .string(mutability),
            "returned": .string("default"), "uniqueness": .string("none"),
        ])
    }

    private static func multiValued(_ name: String, required: Bool = false, mutability: String = "readWrite", description: String, sub: [JSONValue])
        -> JSONValue
    {
        .object([
            "name": .string(name), "type": .string("complex"), "multiValued": .bool(true), "description": .string(description), "required": .bool(required),
            "mutability": .string(mutability), "returned": .string("default"), "uniqueness": .string("none"), "subAttributes": .array(sub),
        ])
    }

    private static func parse(_ text: String) -> JSONValue {
        guard let value = JSONValue(parsing: text) else { preconditionFailure("SCIM discovery document is not JSON: \(text)") }
        return value
    }

    /// A ListResponse of `resources` (the page), with the total before paging.
    static func list(_ resources: [JSONValue], total: Int, startIndex: Int) -> JSONValue {
        .object([
            "schemas": .array([.string(listSchema)]), "totalResults": .int(total), "startIndex": .int(startIndex),
            "itemsPerPage": .int(resources.count), "Resources": .array(resources),
        ])
    }
}
