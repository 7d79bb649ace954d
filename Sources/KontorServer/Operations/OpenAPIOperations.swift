import Foundation
import KontorCore

// The table of every operation the server registers (a test keeps the two equal). Refusals implied by
// access, body and path are added when rendered (APIOperation.implied); list here only successes and
// refusals with codes of their own.
extension OpenAPIDocument {
    static let operations: [APIOperation] =
        operationsAndDevices + directory + policy + commandsAndAudit + onCall + terms + personsImport + archives + erasure + reports + personExports + retention
        + approvals + auth

    private static func ref(_ name: String) -> String { ##"{"$ref": "#/components/schemas/\##(name)"}"## }
    private static func list(_ name: String) -> String { ##"{"type": "array", "items": {"$ref": "#/components/schemas/\##(name)"}}"## }

    private static let operationsAndDevices: [APIOperation] = [
        APIOperation("get", "/healthz", "Liveness", access: .anyone, responses: [200: .described("The process is up")]),
        APIOperation("get", "/readyz", "Readiness: the store answers", access: .anyone, responses: [200: .described("Ready"), 503: .shared(.notReady)]),
        APIOperation("get", "/metrics", "Prometheus metrics", access: .anyone, responses: [200: .media("Prometheus text format", type: "text/plain")]),
        APIOperation("get", "/api/v1/openapi.json", "This document", access: .anyone, responses: [200: .described("OpenAPI 3.1")]),
        APIOperation(
            "post", "/api/v1/enroll", "Enroll a device with a one-time token; signed with the key being enrolled (proof of possession)", access: .device,
            body: ref("EnrollRequest"),
            responses: [
                201: .json(
                    "Enrolled",
                    schema:
                        ##"{"type": "object", "required": ["deviceId", "keyId", "serverPublicKey", "serverKeyId", "checkinInterval"], "properties": {"deviceId": {"type": "string"}, "keyId": {"type": "string"}, "serverPublicKey": {"type": "string"}, "serverKeyId": {"type": "string"}, "checkinInterval": {"type": "integer"}, "predecessorId": {"type": "string"}}}"##
                ),
                401: .refusal(
                    "enroll_token_invalid: not a valid enrollment token; or a signature refusal (signature_missing, signature_malformed, signature_invalid, signature_expired, nonce_replayed, unknown_key: not signed by the key being enrolled)"
                ),
                403: .refusal("enroll_token_expired, enroll_token_used_up or enroll_token_revoked"),
                409: .refusal(
                    "machine_enrolled: the machine is enrolled as a device this token may not replace (another owner, a wipe in progress, an offboarding); conflict: the key is already enrolled"
                ),
                429: .shared(.tooManyRequests),
            ]),
        APIOperation(
            "post", "/api/v1/checkin",
            "Signed check-in; answers unchanged or the effective policy, and pending commands. Validated whole before anything is written", access: .device,
            body: ref("CheckinRequest"),
            example:
                ##"{"appliedPolicyHash": "sha256:0000", "status": {"state": "ok"}, "facts": {"hostname": "laptop-7", "osRelease": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0-18-amd64", "machineIdHash": "abc123", "agentVersion": "0.1.0"}, "compliance": {"quiet": false, "containerAccount": "work-ada", "containerState": "active", "violations": [{"executable": "/usr/bin/game", "pid": 4242, "action": "reported", "at": "2027-01-15T08:00:00Z"}]}, "events": [{"at": "2027-01-15T08:00:00Z", "kind": "quiet.end", "detail": "working hours"}], "acks": [{"id": "018f3c1e-0000-7000-8000-000000000000", "state": "succeeded", "at": "2027-01-15T08:00:00Z"}]}"##,
            responses: [
                200: .json(
                    "Signed reply",
                    schema:
                        ##"{"type": "object", "required": ["result", "nextCheckin", "policyHash", "commands"], "properties": {"result": {"type": "string", "enum": ["unchanged", "policy"]}, "nextCheckin": {"type": "integer"}, "policyHash": {"type": "string"}, "policy": {"$ref": "#/components/schemas/EffectivePolicy"}, "commands": {"type": "array", "items": {"type": "object", "required": ["id", "type", "issuedAt"], "properties": {"id": {"type": "string"}, "type": {"type": "string", "enum": ["wipe", "lock", "unlock", "sync"]}, "issuedAt": {"type": "string", "format": "date-time"}, "reason": {"type": "string", "description": "The admin's reason, for lock only: shown to the person in the work session"}}}}, "longPoll": {"type": "boolean"}}}"##
                )
            ]),
        APIOperation(
            "post", "/api/v1/receipts",
            "A signed wipe receipt; recorded once (a resend is confirmed as a duplicate), completes the wipe command, revokes the device (except after an offline wipe) and goes into the audit log. A revoked device may send it.",
            access: .device, body: ref("SignedReceipt"),
            responses: [
                200: .json(
                    "Signed confirmation",
                    schema:
                        ##"{"type": "object", "required": ["receiptId", "duplicate", "revoked"], "properties": {"receiptId": {"type": "string"}, "duplicate": {"type": "boolean"}, "revoked": {"type": "boolean"}}}"##
                ),
                400: .refusal(
                    "signature_invalid: the receipt's own signature does not verify with the device key, or its payload is not a wipe receipt; invalid_request: it names another device, a command that is not this device's wipe, or is too large; digest_mismatch"
                ),
                409: .refusal("conflict: the device is revoked and its wipe confirmed; no further receipts are taken"),
            ]),
    ]

    private static let directory: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/me", "The calling token", access: .token(.auditor),
            responses: [
                200: .json(
                    "Name, role and token ID",
                    schema:
                        ##"{"type": "object", "properties": {"name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"}, "tokenId": {"type": "string"}}}"##
                )
            ]),
        APIOperation(
            "get", "/api/v1/api-tokens", "List API tokens (admin)", access: .token(.admin), responses: [200: .json("Tokens", schema: list("APIToken"))]),
        APIOperation(
            "post", "/api/v1/api-tokens", "Create an API token (admin); the token is shown once", access: .token(.admin),
            body:
                ##"{"type": "object", "required": ["name", "role"], "properties": {"name": {"type": "string"}, "role": {"$ref": "#/components/schemas/Role"}}}"##,
            example: ##"{"name": "backup-reader", "role": "auditor"}"##,
            responses: [
                201: .json(
                    "Created",
                    schema: ##"{"type": "object", "properties": {"token": {"type": "string"}, "apiToken": {"$ref": "#/components/schemas/APIToken"}}}"##),
                202: .json(
                    "Waits for a second person (approvals.tokenCreate is 2): the request, with the token's secret, which works once approved",
                    schema: ref("Approval")),
                409: .refusal("conflict: a token of that name already waits for approval"),
            ]),
        APIOperation(
            "delete", "/api/v1/api-tokens/{id}", "Revoke an API token (admin)", access: .token(.admin),
            responses: [200: .json("Revoked", schema: ref("APIToken"))]),
        APIOperation("get", "/api/v1/persons", "The staff directory", access: .token(.auditor), responses: [200: .json("Persons", schema: list("Person"))]),
        APIOperation(
            "post", "/api/v1/persons", "Add a person (operator)", access: .token(.operator),
            body:
                ##"{"type": "object", "required": ["email", "displayName"], "properties": {"email": {"type": "string", "format": "email"}, "displayName": {"type": "string", "minLength": 1, "maxLength": 200}, "groups": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}}, "phone": {"type": "string", "maxLength": 32, "description": "A work phone number (digits, spaces, + - / ( )), for who is on call"}}}"##,
            example: ##"{"email": "grace@example.org", "displayName": "Grace Hopper", "groups": ["techs"], "phone": "+49 30 1234-567"}"##,
            responses: [201: .json("Created", schema: ref("Person")), 409: .refusal("conflict: a person with this email exists")]),
        APIOperation(
            "get", "/api/v1/persons/export", "The whole directory as CSV", access: .token(.auditor), responses: [200: .media("CSV", type: "text/csv")]),
        APIOperation(
            "get", "/api/v1/persons/{person}",
            "A person (by ID or email) with their devices, their active devices by ownership (devicesByOwnership: company, personal), their offboarding and each device's wipe progress",
            access: .token(.auditor), responses: [200: .described("Person and devices")]),
        APIOperation(
            "get", "/api/v1/devices", "Devices, optionally of one person and of one ownership", access: .token(.auditor),
            query: [
                APIOperation.Query(name: "person", schema: ##"{"type": "string"}"##, description: "A person's ID or email"),
                APIOperation.Query(
                    name: "ownership", schema: ##"{"type": "string", "enum": ["company", "personal"]}"##, description: "Only company or only personal devices"),
            ],
            responses: [
                200: .json("Devices", schema: list("Device")), 400: .refusal("invalid_request: ownership is neither company nor personal"),
                404: .refusal("not_found: no such person"),
            ]),
        APIOperation("get", "/api/v1/devices/{id}", "One device", access: .token(.auditor), responses: [200: .json("Device", schema: ref("Device"))]),
        APIOperation(
            "post", "/api/v1/devices/{id}/revoke",
            "Revoke a device's identity without a wipe receipt (a device that never comes back); its key is refused from then on with device_revoked (operator)",
            access: .token(.operator),
            body: ##"{"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 500}}}"##,
            example: ##"{"reason": "stolen from the van, police report 2027-114"}"##, responses: [200: .json("The revoked device", schema: ref("Device"))]),
        APIOperation(
            "get", "/api/v1/devices/{id}/policy", "A device's effective policy, where each field comes from, and whether the device applied it",
            access: .token(.auditor), responses: [200: .described("Effective policy")]),
        APIOperation(
            "get", "/api/v1/devices/{id}/events", "What the device reported: quiet-hours transitions, overrides, violations (newest first)",
            access: .token(.auditor), responses: [200: .described("Events")]),
        APIOperation("get", "/api/v1/enroll-tokens", "Enrollment tokens with their state", access: .token(.auditor), responses: [200: .described("Tokens")]),
        APIOperation(
            "post", "/api/v1/enroll-tokens", "Create an enrollment token (operator); shown once with the agent command", access: .token(.operator),
            body:
                ##"{"type": "object", "properties": {"person": {"type": "string", "description": "ID or email"}, "group": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}, "uses": {"type": "integer", "minimum": 1, "maximum": 10000}, "expiresIn": {"type": "integer", "minimum": 60, "maximum": 31622400, "description": "seconds"}, "ownership": {"type": "string", "enum": ["company", "personal"], "description": "Whom the devices enrolled with it belong to (default company)"}}}"##,
            example: ##"{"person": "ada@example.org", "uses": 1, "expiresIn": 86400, "ownership": "personal"}"##,
            responses: [
                201: .json(
                    "Created",
                    schema:
                        ##"{"type": "object", "required": ["token", "enrollmentToken", "agentCommand"], "properties": {"token": {"type": "string"}, "enrollmentToken": {"$ref": "#/components/schemas/EnrollmentToken"}, "agentCommand": {"type": "string"}}}"##
                ),
                409: .refusal("conflict: the person is being offboarded or offboarded; no new devices can be enrolled for them"),
            ]),
        APIOperation(
            "delete", "/api/v1/enroll-tokens/{id}", "Revoke an enrollment token (operator)", access: .token(.operator),
            responses: [200: .json("Revoked", schema: ref("EnrollmentToken"))]),
    ]

    private static let policy: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/profiles",
            "The latest revision of every profile, with its assignments; held is true (with the issues) for a profile stored under older rules that breaks today's work/private boundary and is not delivered until fixed",
            access: .token(.auditor), responses: [200: .described("Profiles: name, revision, description, createdAt, createdBy, assignedTo, held, issues")]),
        APIOperation(
            "post", "/api/v1/profiles", "Validate a profile (YAML source), show which devices change, and store it as a new revision unless dryRun (admin)",
            access: .token(.admin),
            body:
                ##"{"type": "object", "required": ["source"], "properties": {"source": {"type": "string", "description": "The profile YAML"}, "dryRun": {"type": "boolean"}}}"##,
            example: ##"{"source": "name: office-default\ncheckinInterval: 300\n", "dryRun": true}"##,
            responses: [
                200: .described(
                    "Dry run: the validated profile, devicesChanged (how many devices would change) and changes (at most 1,000 of them, with the fields)"),
                201: .described("Stored revision, devicesChanged and changes (at most 1,000 listed)"),
                422: .refusal("invalid_request: the profile is assigned to personal devices and a field reaches beyond the work container (named)"),
            ]),
        APIOperation(
            "get", "/api/v1/profiles/{name}", "A profile's latest (or ?revision=N) revision with its YAML source", access: .token(.auditor),
            query: [
                APIOperation.Query(name: "revision", schema: ##"{"type": "integer", "minimum": 1}"##, description: "A revision number; the latest when absent")
            ],
            responses: [200: .described("Revision"), 404: .refusal("not_found: no such profile, or no such revision of it")]),
        APIOperation(
            "get", "/api/v1/profiles/{name}/history", "Every revision of a profile", access: .token(.auditor), responses: [200: .described("Revisions")]),
        APIOperation(
            "post", "/api/v1/profiles/{name}/rollback", "Store a new revision with the content of an earlier one (admin)", access: .token(.admin),
            body: ##"{"type": "object", "required": ["revision"], "properties": {"revision": {"type": "integer", "minimum": 1}}}"##,
            example: ##"{"revision": 1}"##,
            responses: [201: .described("New revision"), 404: .refusal("not_found: no such profile, or no such revision of it")]),
        APIOperation(
            "get", "/api/v1/assignments", "Which profile applies by default, to company or personal devices, to which group, to which device",
            access: .token(.auditor),
            responses: [200: .described("Assignments")]),
        APIOperation(
            "put", "/api/v1/assignments", "Assign a profile (admin)", access: .token(.admin),
            body:
                ##"{"type": "object", "required": ["profile", "scope"], "properties": {"profile": {"type": "string"}, "scope": {"type": "string", "enum": ["default", "ownership", "group", "device"]}, "target": {"type": "string", "description": "company or personal (ownership), the group name or device ID; none for default"}}}"##,
            example: ##"{"profile": "office-default", "scope": "group", "target": "techs"}"##,
            responses: [
                200: .described("Assigned"),
                422: .refusal("invalid_request: assigned to personal devices, the profile holds a field that reaches beyond the work container (named)"),
            ]),
        APIOperation(
            "delete", "/api/v1/assignments", "Remove an assignment (admin)", access: .token(.admin),
            query: [
                APIOperation.Query(
                    name: "scope", schema: ##"{"type": "string", "enum": ["default", "ownership", "group", "device"]}"##, required: true,
                    description: "default, ownership, group or device"),
                APIOperation.Query(
                    name: "target", schema: ##"{"type": "string"}"##,
                    description: "company or personal (ownership), the group name or device ID; none for default"),
            ],
            responses: [200: .described("Removed"), 404: .refusal("not_found: nothing is assigned there")]),
        APIOperation("get", "/api/v1/settings", "Server settings", access: .token(.auditor), responses: [200: .json("Settings", schema: ref("Settings"))]),
        APIOperation(
            "patch", "/api/v1/settings", "Change settings (admin)", access: .token(.admin), body: ref("Settings"),
            example: ##"{"checkinInterval": 120, "retention": {"eventsDays": 180}}"##,
            responses: [200: .json("Settings", schema: ref("Settings"))]),
    ]

    private static let commandsAndAudit: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/devices/{id}/commands", "A device's commands, newest first", access: .token(.auditor),
            responses: [200: .json("Commands", schema: list("Command"))]),
        APIOperation(
            "post", "/api/v1/devices/{id}/commands", "Queue wipe, lock, unlock or sync for an active device (operator); a wipe needs a reason",
            access: .token(.operator),
            body:
                ##"{"type": "object", "required": ["type"], "properties": {"type": {"type": "string", "enum": ["wipe", "lock", "unlock", "sync"]}, "reason": {"type": "string", "maxLength": 500, "description": "3 to 500 characters; required for a wipe"}, "expiresIn": {"type": "integer", "minimum": 60, "maximum": 31622400, "description": "seconds until an unacknowledged command expires; default: sync 1 day, lock and unlock 30 days, wipe never"}}}"##,
            example: ##"{"type": "wipe", "reason": "laptop lost on the train", "expiresIn": 604800}"##,
            responses: [
                201: .json("Queued", schema: ref("Command")),
                202: .json("A wipe that waits for a second person (approvals.wipe is 2): the request", schema: ref("Approval")),
                409: .refusal("conflict: the device is revoked or replaced, or already has an open wipe or a wipe waiting for approval"),
            ]),
        APIOperation(
            "get", "/api/v1/devices/{id}/receipts", "A device's signed wipe receipts as received", access: .token(.auditor),
            responses: [200: .described("Receipts")]),
        APIOperation("get", "/api/v1/commands/{id}", "One command", access: .token(.auditor), responses: [200: .json("Command", schema: ref("Command"))]),
        APIOperation(
            "post", "/api/v1/commands/{id}/cancel", "Cancel a queued or delivered command (operator)", access: .token(.operator),
            body: ##"{"type": "object", "properties": {"reason": {"type": "string"}}}"##, example: ##"{"reason": "found the laptop"}"##,
            responses: [200: .json("Cancelled", schema: ref("Command")), 409: .refusal("conflict: only queued or delivered commands can be cancelled")]),
        APIOperation(
            "post", "/api/v1/persons/{person}/offboard",
            "Offboard a person (operator): optional restricted phase now (an operator may only use the configured offboardingProfile; any stored profile needs an admin), a wipe for every device at the date (now when absent); devices are revoked as receipts arrive, then the seat is freed",
            access: .token(.operator),
            body:
                ##"{"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}, "restrictNow": {"type": "boolean"}, "profile": {"type": "string"}, "reason": {"type": "string", "maxLength": 500}}}"##,
            example: ##"{"at": "2027-01-31T17:00:00Z", "reason": "contract ends"}"##,
            responses: [
                202: .described(
                    "The person with devices, offboarding and per-device progress; or, when approvals.offboard is 2, the request waiting for a second person (an Approval, status pending-approval)"
                ),
                403: .refusal("forbidden: the role is below operator, or an operator named a profile other than the configured offboardingProfile"),
                409: .refusal(
                    "conflict: the person is already offboarded, the wipes of this offboarding went out, or an offboarding of them waits for approval"),
            ]),
        APIOperation(
            "get", "/api/v1/audit", "The audit log, in order; filter by since (ISO 8601) and target (an ID, email or name)", access: .token(.auditor),
            query: [
                APIOperation.Query(name: "since", schema: ##"{"type": "string", "format": "date-time"}"##, description: "Entries at or after this instant"),
                APIOperation.Query(name: "target", schema: ##"{"type": "string"}"##, description: "An ID, email or name"),
            ],
            responses: [200: .described("Entries with seq, at, actor, action, target, detail, previousHash, hash")]),
        APIOperation(
            "get", "/api/v1/audit/verify", "Check the hash chain: the first edited, inserted or deleted entry, and the head hash", access: .token(.auditor),
            responses: [200: .described("Verification result")]),
        APIOperation(
            "post", "/api/v1/audit/verify",
            "Check the hash chain and signed checkpoints kept outside the database: each checkpoint's signature against the server key, and that its entry still has the signed hash (a rewrite that recomputed every hash fails here)",
            access: .token(.auditor),
            body:
                ##"{"type": "object", "required": ["checkpoints"], "properties": {"checkpoints": {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/AuditCheckpoint"}}}}"##,
            responses: [200: .described("Verification result with one result per checkpoint (checkpoints[].ok, checkpoints[].problem)")]),
        APIOperation(
            "post", "/api/v1/audit/checkpoints",
            "Sign a checkpoint of the audit log's head now (admin); written to the configured sinks, returned, and recorded as audit.checkpoint",
            access: .token(.admin),
            responses: [
                201: .json(
                    "The checkpoint and each sink's outcome",
                    schema:
                        ##"{"type": "object", "properties": {"checkpoint": {"$ref": "#/components/schemas/AuditCheckpoint"}, "sinks": {"type": "array", "items": {"type": "object", "properties": {"sink": {"type": "string"}, "ok": {"type": "boolean"}, "error": {"type": "string"}}}}}}"##
                ),
                409: .refusal("conflict: the chain does not verify"),
            ]),
        APIOperation(
            "get", "/api/v1/audit/export", "The whole audit log as JSON lines, for the data-protection officer", access: .token(.auditor),
            responses: [200: .media("JSON lines", type: "application/x-ndjson")]),
    ]

    private static let onCall: [APIOperation] = [
        APIOperation(
            "get", "/api/v1/oncall", "Who is on call (exempt from quiet hours) at an instant, with their work phone; and the group's quiet hours then",
            access: .token(.auditor),
            query: [
                APIOperation.Query(name: "group", schema: ##"{"type": "string"}"##, description: "Only persons of this group (evaluated with its profile)"),
                APIOperation.Query(name: "at", schema: ##"{"type": "string", "format": "date-time"}"##, description: "The instant (default: now)"),
            ],
            responses: [
                200: .json("Who is on call", schema: ref("OnCallAnswer")),
                404: .refusal("not_found: no person is in the group and no profile is assigned to it"),
            ]),
        APIOperation(
            "get", "/api/v1/oncall/{group}.ics",
            "The group's on-call calendar (iCalendar, RFC 5545): quiet periods and who is on call, by default a week back and eight weeks ahead, in UTC. Any role but directory may read it; a token of the feed role reads nothing else",
            access: .token(.feed),
            query: [
                APIOperation.Query(
                    name: "token", schema: ##"{"type": "string"}"##,
                    description: "The API token, for calendar apps that cannot send an Authorization header (prefer a feed-role token)"),
                APIOperation.Query(
                    name: "from", schema: ##"{"type": "string", "format": "date-time"}"##, description: "Where the calendar starts (default: a week ago)"),
                APIOperation.Query(
                    name: "days", schema: ##"{"type": "integer", "minimum": 1, "maximum": 366}"##, description: "How many days it covers (default 63)"),
            ],
            responses: [
                200: .media("The calendar", type: "text/calendar"), 404: .refusal("not_found: no person is in the group and no profile is assigned to it"),
            ]),
    ]
}
