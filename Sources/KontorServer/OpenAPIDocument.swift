/// The OpenAPI 3.1 description of the whole HTTP API, served at /api/v1/openapi.json. A test holds it
/// against the routes the server registers, both ways.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "Kontor API",
        "version": "1",
        "description": "Device-policy server. Admin routes take `Authorization: Bearer kat_...` and check the token's role (auditor < operator < admin). Device routes are signed with RFC 9421 HTTP Message Signatures (ed25519) covering @method, @authority, @path, @query and content-digest, with created, nonce and keyid; replies are signed by the server key. Errors are `{\"error\": {\"code\", \"message\"}}`."
      },
      "components": {
        "securitySchemes": {
          "apiToken": {"type": "http", "scheme": "bearer", "description": "An API token, kat_..."},
          "deviceSignature": {"type": "apiKey", "in": "header", "name": "Signature", "description": "RFC 9421 signature by the device key (label kontor), with Signature-Input and Content-Digest."}
        },
        "responses": {
          "Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "schemas": {
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
          "Role": {"type": "string", "enum": ["auditor", "operator", "admin"]},
          "APIToken": {"type": "object", "required": ["id", "name", "role", "createdAt"], "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"}, "createdAt": {"type": "string", "format": "date-time"}, "revokedAt": {"type": "string", "format": "date-time"}, "lastUsedAt": {"type": "string", "format": "date-time"}}},
          "Person": {"type": "object", "required": ["id", "email", "displayName", "groups", "status", "createdAt"], "properties": {"id": {"type": "string"}, "email": {"type": "string", "format": "email"}, "displayName": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}, "status": {"type": "string", "enum": ["active", "offboarding", "offboarded"]}, "createdAt": {"type": "string", "format": "date-time"}}},
          "DeviceFacts": {"type": "object", "required": ["hostname", "osRelease", "kernel", "machineIdHash", "agentVersion"], "properties": {"hostname": {"type": "string"}, "osRelease": {"type": "string"}, "kernel": {"type": "string"}, "machineIdHash": {"type": "string"}, "agentVersion": {"type": "string"}}},
          "AgentReport": {"type": "object", "required": ["state"], "properties": {"state": {"type": "string", "enum": ["ok", "degraded", "error"]}, "message": {"type": "string"}}},
          "Device": {"type": "object", "required": ["id", "status", "keyId", "publicKey", "facts", "enrolledAt"], "properties": {"id": {"type": "string"}, "personId": {"type": "string"}, "group": {"type": "string"}, "status": {"type": "string", "enum": ["active", "replaced", "revoked"]}, "keyId": {"type": "string"}, "publicKey": {"type": "string"}, "facts": {"$ref": "#/components/schemas/DeviceFacts"}, "enrolledAt": {"type": "string", "format": "date-time"}, "lastSeen": {"type": "string", "format": "date-time"}, "appliedPolicyHash": {"type": "string"}, "agentStatus": {"$ref": "#/components/schemas/AgentReport"}, "predecessorId": {"type": "string"}, "successorId": {"type": "string"}, "acceptedTermsVersion": {"type": "string"}, "revokedAt": {"type": "string", "format": "date-time"}}},
          "EnrollmentToken": {"type": "object", "required": ["id", "maxUses", "uses", "expiresAt", "createdAt"], "properties": {"id": {"type": "string"}, "personId": {"type": "string"}, "group": {"type": "string"}, "maxUses": {"type": "integer"}, "uses": {"type": "integer"}, "expiresAt": {"type": "string", "format": "date-time"}, "createdAt": {"type": "string", "format": "date-time"}, "revokedAt": {"type": "string", "format": "date-time"}, "createdBy": {"type": "string"}}},
          "EffectivePolicy": {"type": "object", "required": ["sources", "checkinInterval"], "properties": {"sources": {"type": "array", "items": {"type": "string"}}, "checkinInterval": {"type": "integer"}, "usageTermsVersion": {"type": "string"}}},
          "Settings": {"type": "object", "properties": {"checkinInterval": {"type": "integer", "minimum": 10, "maximum": 86400}}},
          "Command": {"type": "object", "required": ["id", "deviceId", "type", "state", "issuedAt"], "properties": {"id": {"type": "string"}, "deviceId": {"type": "string"}, "type": {"type": "string", "enum": ["wipe", "lock", "unlock", "sync"]}, "state": {"type": "string", "enum": ["queued", "delivered", "acknowledged", "succeeded", "failed", "cancelled", "expired"]}, "reason": {"type": "string"}, "issuedAt": {"type": "string", "format": "date-time"}, "issuedBy": {"type": "string"}, "expiresAt": {"type": "string", "format": "date-time"}, "deliveredAt": {"type": "string", "format": "date-time"}, "acknowledgedAt": {"type": "string", "format": "date-time"}, "completedAt": {"type": "string", "format": "date-time"}, "error": {"type": "string"}, "receiptId": {"type": "string"}}},
          "SignedReceipt": {"type": "object", "required": ["payload", "signature"], "properties": {"payload": {"type": "string", "description": "The wipe receipt as JSON text: id, deviceId, trigger (command, offline, revoked), commandId, account, accountRemoved, processesKilled, removed [{path, files, bytes, existed}], refused, startedAt, finishedAt, agentVersion"}, "signature": {"type": "string", "description": "Ed25519 over the UTF-8 bytes of payload by the device key, base64"}}}
        }
      },
      "paths": {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "The process is up"}}}},
        "/readyz": {"get": {"summary": "Readiness: the store answers", "responses": {"200": {"description": "Ready"}, "503": {"$ref": "#/components/responses/Error"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}}}},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        "/api/v1/enroll": {"post": {
          "summary": "Enroll a device with a one-time token; signed with the key being enrolled (proof of possession)",
          "security": [{"deviceSignature": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["token", "publicKey", "facts"], "properties": {"token": {"type": "string"}, "publicKey": {"type": "string", "description": "32-byte Ed25519 public key, base64"}, "facts": {"$ref": "#/components/schemas/DeviceFacts"}, "acceptedTermsVersion": {"type": "string"}}}}}},
          "responses": {
            "201": {"description": "Enrolled", "content": {"application/json": {"schema": {"type": "object", "required": ["deviceId", "keyId", "serverPublicKey", "serverKeyId", "checkinInterval"], "properties": {"deviceId": {"type": "string"}, "keyId": {"type": "string"}, "serverPublicKey": {"type": "string"}, "serverKeyId": {"type": "string"}, "checkinInterval": {"type": "integer"}, "predecessorId": {"type": "string"}}}}}},
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}
          }}},
        "/api/v1/checkin": {"post": {
          "summary": "Signed check-in; answers unchanged or the effective policy, and pending commands",
          "security": [{"deviceSignature": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"appliedPolicyHash": {"type": "string"}, "status": {"$ref": "#/components/schemas/AgentReport"}, "facts": {"$ref": "#/components/schemas/DeviceFacts"}}}}}},
          "responses": {
            "200": {"description": "Signed reply", "content": {"application/json": {"schema": {"type": "object", "required": ["result", "nextCheckin", "policyHash", "commands"], "properties": {"result": {"type": "string", "enum": ["unchanged", "policy"]}, "nextCheckin": {"type": "integer"}, "policyHash": {"type": "string"}, "policy": {"$ref": "#/components/schemas/EffectivePolicy"}, "commands": {"type": "array", "items": {"type": "object"}}}}}}},
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}
          }}},
        "/api/v1/receipts": {"post": {
          "summary": "A signed wipe receipt; recorded once (a resend is confirmed as a duplicate), completes the wipe command, revokes the device (except after an offline wipe) and goes into the audit log. A revoked device may send it.",
          "security": [{"deviceSignature": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignedReceipt"}}}},
          "responses": {
            "200": {"description": "Signed confirmation", "content": {"application/json": {"schema": {"type": "object", "required": ["receiptId", "duplicate", "revoked"], "properties": {"receiptId": {"type": "string"}, "duplicate": {"type": "boolean"}, "revoked": {"type": "boolean"}}}}}},
            "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}
          }}},
        "/api/v1/devices/{id}/commands": {
          "get": {"summary": "A device's commands, newest first", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Commands", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Command"}}}}}, "404": {"$ref": "#/components/responses/Error"}}},
          "post": {"summary": "Queue wipe, lock, unlock or sync for an active device (operator); a wipe needs a reason", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["wipe", "lock", "unlock", "sync"]}, "reason": {"type": "string"}, "expiresIn": {"type": "integer", "description": "seconds until an undelivered command expires"}}}}}},
            "responses": {"201": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/devices/{id}/receipts": {"get": {"summary": "A device's signed wipe receipts as received", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Receipts"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/commands/{id}": {"get": {"summary": "One command", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Command", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/commands/{id}/cancel": {"post": {"summary": "Cancel a queued or delivered command (operator)", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}}}, "responses": {"200": {"description": "Cancelled", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Command"}}}}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/persons/{person}/offboard": {"post": {"summary": "Offboard a person (operator): optional restricted phase now, a wipe for every device at the date (now when absent); devices are revoked as receipts arrive, then the seat is freed", "security": [{"apiToken": []}], "parameters": [{"name": "person", "in": "path", "required": true, "schema": {"type": "string"}}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "restrictNow": {"type": "boolean"}, "profile": {"type": "string"}, "reason": {"type": "string"}}}}}},
          "responses": {"202": {"description": "The person with devices, offboarding and per-device progress"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/me": {"get": {"summary": "The calling token", "security": [{"apiToken": []}], "responses": {"200": {"description": "Name and role"}, "401": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/api-tokens": {
          "get": {"summary": "List API tokens (admin)", "security": [{"apiToken": []}], "responses": {"200": {"description": "Tokens", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/APIToken"}}}}}, "403": {"$ref": "#/components/responses/Error"}}},
          "post": {"summary": "Create an API token (admin); the token is shown once", "security": [{"apiToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "role"], "properties": {"name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"}}}}}},
            "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "apiToken": {"$ref": "#/components/schemas/APIToken"}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/api-tokens/{id}": {"delete": {"summary": "Revoke an API token (admin)", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Revoked"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/persons": {
          "get": {"summary": "The staff directory", "security": [{"apiToken": []}], "responses": {"200": {"description": "Persons", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}}}}},
          "post": {"summary": "Add a person (operator)", "security": [{"apiToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["email", "displayName"], "properties": {"email": {"type": "string"}, "displayName": {"type": "string"}, "groups": {"type": "array", "items": {"type": "string"}}}}}}},
            "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Person"}}}}, "400": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/persons/export": {"get": {"summary": "The whole directory as CSV", "security": [{"apiToken": []}], "responses": {"200": {"description": "CSV", "content": {"text/csv": {}}}}}},
        "/api/v1/persons/{person}": {"get": {"summary": "A person (by ID or email) with their devices, their offboarding and each device's wipe progress", "security": [{"apiToken": []}], "parameters": [{"name": "person", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Person and devices"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices": {"get": {"summary": "Devices, optionally of one person", "security": [{"apiToken": []}], "parameters": [{"name": "person", "in": "query", "required": false, "schema": {"type": "string"}}], "responses": {"200": {"description": "Devices", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}}}}}}},
        "/api/v1/devices/{id}": {"get": {"summary": "One device", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Device", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Device"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/enroll-tokens": {
          "get": {"summary": "Enrollment tokens with their state", "security": [{"apiToken": []}], "responses": {"200": {"description": "Tokens"}}},
          "post": {"summary": "Create an enrollment token (operator); shown once with the agent command", "security": [{"apiToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"person": {"type": "string"}, "group": {"type": "string"}, "uses": {"type": "integer", "minimum": 1, "maximum": 10000}, "expiresIn": {"type": "integer", "description": "seconds"}}}}}},
            "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"type": "object", "required": ["token", "enrollmentToken", "agentCommand"], "properties": {"token": {"type": "string"}, "enrollmentToken": {"$ref": "#/components/schemas/EnrollmentToken"}, "agentCommand": {"type": "string"}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/enroll-tokens/{id}": {"delete": {"summary": "Revoke an enrollment token (operator)", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Revoked"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/profiles": {
          "get": {"summary": "The latest revision of every profile, with its assignments; held is true (with the issues) for a profile stored under older rules that breaks today's work/private boundary and is not delivered until fixed", "security": [{"apiToken": []}], "responses": {"200": {"description": "Profiles: name, revision, description, createdAt, createdBy, assignedTo, held, issues"}}},
          "post": {"summary": "Validate a profile (YAML source), show which devices change, and store it as a new revision unless dryRun (admin)", "security": [{"apiToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["source"], "properties": {"source": {"type": "string", "description": "The profile YAML"}, "dryRun": {"type": "boolean"}}}}}},
            "responses": {"200": {"description": "Dry run: the validated profile, devicesChanged (how many devices would change) and changes (at most 1,000 of them, with the fields)"}, "201": {"description": "Stored revision, devicesChanged and changes (at most 1,000 listed)"}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/profiles/{name}": {"get": {"summary": "A profile's latest (or ?revision=N) revision with its YAML source", "security": [{"apiToken": []}], "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "revision", "in": "query", "required": false, "schema": {"type": "integer"}}], "responses": {"200": {"description": "Revision"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/profiles/{name}/history": {"get": {"summary": "Every revision of a profile", "security": [{"apiToken": []}], "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Revisions"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/profiles/{name}/rollback": {"post": {"summary": "Store a new revision with the content of an earlier one (admin)", "security": [{"apiToken": []}], "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["revision"], "properties": {"revision": {"type": "integer"}}}}}}, "responses": {"201": {"description": "New revision"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/assignments": {
          "get": {"summary": "Which profile applies by default, to which group, to which device", "security": [{"apiToken": []}], "responses": {"200": {"description": "Assignments"}}},
          "put": {"summary": "Assign a profile (admin)", "security": [{"apiToken": []}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["profile", "scope"], "properties": {"profile": {"type": "string"}, "scope": {"type": "string", "enum": ["default", "group", "device"]}, "target": {"type": "string"}}}}}}, "responses": {"200": {"description": "Assigned"}, "400": {"$ref": "#/components/responses/Error"}}},
          "delete": {"summary": "Remove an assignment (admin)", "security": [{"apiToken": []}], "parameters": [{"name": "scope", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "target", "in": "query", "required": false, "schema": {"type": "string"}}], "responses": {"200": {"description": "Removed"}, "404": {"$ref": "#/components/responses/Error"}}}
        },
        "/api/v1/devices/{id}/revoke": {"post": {"summary": "Revoke a device's identity without a wipe receipt (a device that never comes back); its key is refused from then on with device_revoked (operator)", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}}}}, "responses": {"200": {"description": "The revoked device"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/{id}/policy": {"get": {"summary": "A device's effective policy, where each field comes from, and whether the device applied it", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Effective policy"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/{id}/events": {"get": {"summary": "What the device reported: quiet-hours transitions, overrides, violations (newest first)", "security": [{"apiToken": []}], "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "Events"}, "404": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/audit": {"get": {"summary": "The audit log, in order; filter by since (ISO 8601) and target (an ID, email or name)", "security": [{"apiToken": []}], "parameters": [{"name": "since", "in": "query", "required": false, "schema": {"type": "string", "format": "date-time"}}, {"name": "target", "in": "query", "required": false, "schema": {"type": "string"}}], "responses": {"200": {"description": "Entries with seq, at, actor, action, target, detail, previousHash, hash"}, "400": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/audit/verify": {"get": {"summary": "Check the hash chain: the first edited, inserted or deleted entry, and the head hash", "security": [{"apiToken": []}], "responses": {"200": {"description": "Verification result"}}}},
        "/api/v1/audit/export": {"get": {"summary": "The whole audit log as JSON lines, for the data-protection officer", "security": [{"apiToken": []}], "responses": {"200": {"description": "JSON lines", "content": {"application/x-ndjson": {}}}}}},
        "/api/v1/settings": {
          "get": {"summary": "Server settings", "security": [{"apiToken": []}], "responses": {"200": {"description": "Settings", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Settings"}}}}}},
          "patch": {"summary": "Change settings (admin)", "security": [{"apiToken": []}], "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Settings"}}}}, "responses": {"200": {"description": "Settings"}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}
        }
      }
    }
    """#
}
