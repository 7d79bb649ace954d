/// Four-eyes approvals: the requests the approval settings hold back, and their decision by a second person.
extension OpenAPIDocument {
    static let approvals: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/approvals", "Approval requests, newest first (requests whose time ran out are expired first)", access: .token(.auditor),
            query: [
                APIOperation.Query(
                    name: "state", schema: ##"{"type": "string", "enum": ["pending", "approved", "rejected", "expired"]}"##,
                    description: "Only requests in this state")
            ],
            responses: [200: .json("Approvals", schema: ##"{"type": "array", "items": {"$ref": "#/components/schemas/Approval"}}"##)]),
        APIOperation(
            "get", "/api/v1/approvals/{id}", "One approval request", access: .token(.auditor),
            responses: [200: .json("Approval", schema: ##"{"$ref": "#/components/schemas/Approval"}"##)]),
        APIOperation(
            "post", "/api/v1/approvals/{id}/approve",
            "Approve a request and run it as its requester asked (audited as approval.approved; the action's own entry names the requester and approvedBy). Needs the action's role (wipe, offboard: operator; tokenCreate: admin) and a person other than the requester: a token counts as its owner, a token nobody owns never approves",
            access: .token(.operator),
            responses: [
                200: .json("Approved, with what the action made in result", schema: ##"{"$ref": "#/components/schemas/Approval"}"##),
                403: .refusal(
                    "forbidden: the role is below what the action needs, the caller asked for it themselves (or is a token of theirs), or is a token nobody owns"
                ),
                409: .refusal("conflict: the request was decided already or expired, or what it asks can no longer happen (the device went away)"),
            ]),
        APIOperation(
            "post", "/api/v1/approvals/{id}/reject",
            "Reject a request with a reason; nothing happens (audited as approval.rejected). The same people may reject as may approve",
            access: .token(.operator),
            body: ##"{"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 500}}}"##,
            example: ##"{"reason": "the laptop was found"}"##,
            responses: [
                200: .json("Rejected", schema: ##"{"$ref": "#/components/schemas/Approval"}"##),
                403: .refusal(
                    "forbidden: the role is below what the action needs, the caller asked for it themselves (or is a token of theirs), or is a token nobody owns"
                ),
                409: .refusal("conflict: the request was decided already or expired"),
            ]),
    ]
}
