/// People signing in through the organisation's OpenID provider from kontorctl (the console's sign-in is HTML).
extension OpenAPIDocument {
    static let auth: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/auth/oidc", "The OpenID provider and kontorctl's client, for the device authorization grant (kontorctl login)", access: .anyone,
            responses: [
                200: .json(
                    "The provider's issuer (its discovery document is below it), kontorctl's client ID and the scopes to ask for",
                    schema:
                        ##"{"type": "object", "required": ["issuer", "clientId", "scopes"], "properties": {"issuer": {"type": "string"}, "clientId": {"type": "string"}, "scopes": {"type": "array", "items": {"type": "string"}}}}"##
                ),
                404: .refusal("sign_in_not_configured: no provider (oidcIssuer) or no kontorctl client (oidcCliClientId) is configured"),
            ]),
        APIOperation(
            "post", "/api/v1/auth/oidc/session",
            "Open a kontorctl session for an ID token the provider issued to kontorctl's client; each ID token opens one session; audited as api.session-opened",
            access: .anyone, body: ##"{"type": "object", "required": ["idToken"], "properties": {"idToken": {"type": "string", "maxLength": 16384}}}"##,
            example: ##"{"idToken": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJpc3MiOiIuLi4ifQ.c2ln"}"##,
            responses: [
                201: .json(
                    "The session: a bearer (kps_…) for the admin API until expiresAt, and who it is",
                    schema:
                        ##"{"type": "object", "required": ["token", "expiresAt", "subject", "name", "role"], "properties": {"token": {"type": "string"}, "expiresAt": {"type": "string", "format": "date-time"}, "subject": {"type": "string"}, "name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"}}}"##
                ),
                401: .refusal("id_token_refused: the signature, issuer, audience, expiry or form of the ID token is wrong; the message says which"),
                403: .refusal("id_token_refused: the token has opened a session already, or none of the person's groups has a Kontor role"),
                404: .refusal("sign_in_not_configured: no provider or kontorctl client is configured"),
                429: .shared(.tooManyRequests),
                502: .refusal("provider_unavailable: the provider's discovery document or keys could not be fetched"),
            ]),
        APIOperation(
            "delete", "/api/v1/auth/session", "End the caller's own kontorctl session (kontorctl logout); audited as api.session-ended",
            access: .token(.auditor),
            responses: [
                200: .json("Ended", schema: ##"{"type": "object", "properties": {"status": {"type": "string"}}}"##),
                404: .refusal("sign_in_not_configured: no provider is configured"),
                409: .refusal("conflict: the caller is an API token (revoke it instead)"),
            ]),
    ]
}
