import Foundation
import KontorCore

extension OpenAPIDocument {
    /// The usage terms: versions, the report, a person's participation, and the two device operations.
    static let terms: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/terms", "Every published version of the usage terms, oldest first", access: .token(.auditor),
            responses: [200: .json("Versions", schema: ##"{"type": "array", "items": {"$ref": "#/components/schemas/UsageTerms"}}"##)]),
        APIOperation(
            "post", "/api/v1/terms",
            "Publish a version of the usage terms (admin). Versions never change; devices whose profiles name it and whose person has not accepted it lock their work container after the grace period",
            access: .token(.admin),
            body:
                ##"{"type": "object", "required": ["version", "text"], "properties": {"version": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "text": {"type": "string"}, "undertaking": {"type": "string"}, "graceSeconds": {"type": "integer", "minimum": 0, "maximum": 31536000}, "allowsOfflineWipeOnPersonalDevices": {"type": "boolean", "description": "Accepting these terms allows an offline wipe on the person's personal devices (default false)"}}}"##,
            example: ##"{"version": "2027-01", "text": "Work stays on the work account.", "graceSeconds": 1209600}"##,
            responses: [
                201: .json("Published", schema: ##"{"$ref": "#/components/schemas/UsageTerms"}"##), 409: .refusal("conflict: the version is published"),
            ]
        ),
        APIOperation(
            "get", "/api/v1/terms/report",
            "Who accepted or declined, when, on which device, with each signed statement, the signature and the device's public key; who has not answered; who does not take part",
            access: .token(.auditor),
            query: [
                APIOperation.Query(name: "version", schema: ##"{"type": "string"}"##, description: "Only this version (default: all)"),
                APIOperation.Query(name: "format", schema: ##"{"type": "string", "enum": ["json", "csv"]}"##, description: "csv for a spreadsheet"),
            ],
            responses: [200: .described("The report (JSON, or CSV with format=csv)"), 404: .refusal("not_found: no such version")]),
        APIOperation(
            "get", "/api/v1/terms/{version}", "One version, with its text and undertaking", access: .token(.auditor),
            responses: [200: .json("The version", schema: ##"{"$ref": "#/components/schemas/UsageTerms"}"##), 404: .refusal("not_found: no such version")]),
        APIOperation(
            "patch", "/api/v1/persons/{person}",
            "Change a person (operator): name, groups (replace, add, remove), work phone (empty removes it), participation. Each change is audited; a group change reaches their devices at the next check-in. Declining to take part revokes their unused enrollment tokens and no new token can be made for them",
            access: .token(.operator),
            body:
                ##"{"type": "object", "properties": {"displayName": {"type": "string", "minLength": 1, "maxLength": 200}, "groups": {"type": "array", "items": {"type": "string"}}, "addGroups": {"type": "array", "items": {"type": "string"}}, "removeGroups": {"type": "array", "items": {"type": "string"}}, "phone": {"type": "string"}, "participation": {"type": "string", "enum": ["taking-part", "declined"]}}}"##,
            example: ##"{"addGroups": ["techs"], "phone": "+49 30 1234-567"}"##,
            responses: [200: .json("The person", schema: ##"{"$ref": "#/components/schemas/Person"}"##)]),
        APIOperation(
            "post", "/api/v1/device/terms", "The text of the usage terms the device's policy names (signed request and reply)", access: .device,
            body: ##"{"type": "object", "required": ["version"], "properties": {"version": {"type": "string"}}}"##, example: ##"{"version": "2026-11"}"##,
            responses: [200: .json("Signed reply", schema: ##"{"$ref": "#/components/schemas/UsageTerms"}"##), 404: .refusal("not_found: no such version")]
        ),
        APIOperation(
            "post", "/api/v1/device/terms/responses",
            "A person's answer to the usage terms, signed with the device key: recorded once (a resend is confirmed as a duplicate) and in the audit log",
            access: .device,
            body:
                ##"{"type": "object", "required": ["payload", "signature"], "properties": {"payload": {"type": "string", "description": "The statement's JSON: type kontor-terms-response/1, id, version, textSha256, undertakingSha256, deviceId, personId, login, decision (accepted|declined), at"}, "signature": {"type": "string", "description": "Ed25519 over the payload's UTF-8 bytes, base64"}}}"##,
            responses: [
                200: .json(
                    "Signed confirmation",
                    schema:
                        ##"{"type": "object", "required": ["id", "decision", "duplicate"], "properties": {"id": {"type": "string"}, "decision": {"type": "string", "enum": ["accepted", "declined"]}, "duplicate": {"type": "boolean"}}}"##
                ),
                400: .refusal(
                    "signature_invalid: the statement's signature does not verify with the device key; invalid_request: it names another device or person, an unpublished version or another text"
                ),
            ]),
    ]

    /// Bringing a staff list into the directory, and people who come back.
    static let personsImport: [APIOperation] = [
        APIOperation(
            "delete", "/api/v1/persons/{person}/offboarding",
            "Cancel an offboarding in its notice period (operator): no wipe has gone out yet; the person is active again and devices the offboarding restricted lose the restricted profile. Audited as person.offboarding-cancelled",
            access: .token(.operator),
            responses: [
                200: .described("The person with devices (no offboarding)"),
                409: .refusal("conflict: the person is not being offboarded, or the wipes went out already (rehire them once the offboarding is complete)"),
            ]),
        APIOperation(
            "post", "/api/v1/persons/{person}/rehire",
            "Someone who left comes back (operator): a new person with a new ID, linked to the offboarded one (previousId); the old ID keeps its history and is never reused. Name, groups and phone are taken over unless the body gives others",
            access: .token(.operator),
            body:
                ##"{"type": "object", "properties": {"displayName": {"type": "string", "minLength": 1, "maxLength": 200}, "groups": {"type": "array", "items": {"type": "string"}}, "addGroups": {"type": "array", "items": {"type": "string"}}, "removeGroups": {"type": "array", "items": {"type": "string"}}, "phone": {"type": "string"}}}"##,
            example: ##"{}"##,
            responses: [
                201: .json("The new person", schema: ##"{"$ref": "#/components/schemas/Person"}"##),
                409: .refusal("conflict: the person is not offboarded, or already came back under a new ID"),
            ]),
        APIOperation(
            "post", "/api/v1/persons/import",
            "Import a staff list (operator): CSV with the columns email, name, groups (separated by ;) and optional phone. Adds and updates, never deletes; lists the active persons the file does not name; every row is checked first (the first bad one is named by line and column) and the changes are written in one transaction; a dry run writes nothing; a second run changes nothing",
            access: .token(.operator),
            body:
                ##"{"type": "object", "required": ["csv"], "properties": {"csv": {"type": "string", "description": "The CSV text (RFC 4180), header first"}, "dryRun": {"type": "boolean"}}}"##,
            example: ##"{"csv": "email,name,groups\nnew@example.org,New Person,techs\n", "dryRun": true}"##,
            responses: [
                200: .json(
                    "What the import does (or would do)",
                    schema:
                        ##"{"type": "object", "required": ["dryRun", "added", "updated", "unchanged", "missing", "offboarded", "devicesAffected"], "properties": {"dryRun": {"type": "boolean"}, "added": {"type": "array", "items": {"type": "object"}}, "updated": {"type": "array", "items": {"type": "object", "properties": {"email": {"type": "string"}, "fields": {"type": "array", "items": {"type": "string"}}}}}, "unchanged": {"type": "integer"}, "missing": {"type": "array", "items": {"type": "string"}}, "offboarded": {"type": "array", "items": {"type": "string"}}, "devicesAffected": {"type": "array", "items": {"type": "string"}}}}"##
                ),
                409: .refusal("conflict: an email was added by someone else meanwhile; nothing was imported"),
            ]),
    ]
}
