/// A person's access request (GDPR Art. 15): everything Kontor holds about them.
extension OpenAPIDocument {
    /// The document's outline; docs/person-export.schema.json (JSON Schema 2020-12) describes every field.
    static let personExport =
        ##"{"type": "object", "description": "The full shape is docs/person-export.schema.json", "required": ["format", "generatedAt", "kontorVersion", "person", "rehire", "scimUsers", "devices", "enrollmentTokens", "consentRecords", "termsResponses", "auditEntries", "tables"], "properties": {"format": {"type": "string", "const": "kontor-person-export/1"}, "generatedAt": {"type": "string", "format": "date-time"}, "kontorVersion": {"type": "string"}, "person": {"type": "object"}, "rehire": {"type": "object"}, "scimUsers": {"type": "array"}, "devices": {"type": "array"}, "enrollmentTokens": {"type": "array"}, "consentRecords": {"type": "array"}, "termsResponses": {"type": "array"}, "offboarding": {"type": "object"}, "auditEntries": {"type": "array"}, "tables": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}, "description": "For each store table that holds data about persons or devices, the rows included"}}}"##

    static let personExports: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/persons/{person}/export",
            "Everything Kontor holds about a person (by ID or email), for an access request under GDPR Art. 15: directory and SCIM records, devices with facts, reports, events, policies, commands, verified wipe receipts, archive records, enrollment tokens, consent and terms answers, offboarding and the audit entries that name them (admin; audited as person.exported)",
            access: .token(.admin), responses: [200: .json("The export", schema: personExport)]),
        APIOperation(
            "get", "/api/v1/persons/{person}/export.html",
            "The same export as a page people read, one section per kind of data (admin; audited as person.exported)",
            access: .token(.admin), responses: [200: .media("The page", type: "text/html")]),
    ]
}
