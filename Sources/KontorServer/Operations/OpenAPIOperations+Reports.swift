/// The data-protection officer's pack.
extension OpenAPIDocument {
    static let reportQuery: [APIOperation.Query] = [
        APIOperation.Query(name: "from", schema: ##"{"type": "string"}"##, description: "First day (2026-01-01) or instant; default 365 days before `to`"),
        APIOperation.Query(name: "to", schema: ##"{"type": "string"}"##, description: "Last day (included) or instant; default now"),
        APIOperation.Query(
            name: "pseudonymise", schema: ##"{"type": "boolean"}"##, description: "true: persons named by their keyed pseudonym (for a works council)"),
    ]

    static let reports: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/reports/dpo",
            "The data-protection officer's pack for a period (auditor or above; audited as report.dpo): the record of processing from the settings in force, devices by status, compliance, ownership and crypto-erase, wipes with receipt IDs and digests, the usage terms' answers, quiet-hours overrides per month, retention and erasure steps, and the audit log's head signed now",
            access: .token(.auditor), query: reportQuery,
            responses: [
                200: .json(
                    "The report",
                    schema:
                        ##"{"type": "object", "required": ["generatedAt", "from", "to", "pseudonymised", "processing", "devices", "wipes", "terms", "quietOverrides", "retention", "erasures", "auditVerified"]}"##
                ),
                400: .refusal("invalid_request: a malformed day or flag, or from not before to"),
            ]),
        APIOperation(
            "get", "/api/v1/reports/dpo.html",
            "The same report as an HTML page for people, which `kontorctl report dpo` prints to PDF with headless Chromium",
            access: .token(.auditor), query: reportQuery,
            responses: [200: .media("An HTML page", type: "text/html"), 400: .refusal("invalid_request: a malformed day or flag")]),
    ]
}
