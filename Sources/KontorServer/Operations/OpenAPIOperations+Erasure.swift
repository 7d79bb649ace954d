/// Erasure of a person on request (GDPR Art. 17).
extension OpenAPIDocument {
    static let pseudonymised =
        ##"{"type": "object", "required": ["personId", "pseudonym", "devices", "events", "auditEntries", "scimUser"], "properties": {"personId": {"type": "string"}, "pseudonym": {"type": "string", "description": "erased- and 12 hex digits of a keyed HMAC of the person ID: the person's new name, email (PSEUDONYM@erased.invalid) and device hostnames (PSEUDONYM-N)"}, "devices": {"type": "integer"}, "events": {"type": "integer", "description": "Device events deleted"}, "auditEntries": {"type": "integer", "description": "Audit entries with values erased (the chain still verifies)"}, "scimUser": {"type": "boolean"}}}"##

    static let erasure: [APIOperation] = [
        APIOperation(
            "post", "/api/v1/persons/{person}/erase",
            "Erase a person on request (admin; GDPR Art. 17) once none of their devices is active: email, name, phone, device hostnames and SCIM user name become a keyed pseudonym, device events and last reports are deleted, every audit value naming them is erased while the audit chain still verifies; wipe receipts and answers to the usage terms stay as signed",
            access: .token(.admin), body: reasonBody, example: ##"{"reason": "erasure request of 2026-11-30, ticket 4711"}"##,
            responses: [
                200: .json("What was pseudonymised, deleted and erased", schema: pseudonymised),
                404: .refusal("not_found: no such person"),
                409: .refusal("conflict: the person still has active devices (offboard first), or was erased already"),
            ])
    ]
}
