/// Retention: running it now (its settings are part of /api/v1/settings).
extension OpenAPIDocument {
    static let retention: [APIOperation] = [
        APIOperation(
            "post", "/api/v1/retention/run",
            "Delete now what the retention settings no longer allow to be kept (device events, spent enrollment tokens, expired console sessions and nonces) and list the persons due for pseudonymisation; audited as retention.run (the server also runs it hourly)",
            access: .token(.admin),
            responses: [200: .json("What the run deleted", schema: ##"{"$ref": "#/components/schemas/RetentionRun"}"##)])
    ]
}
