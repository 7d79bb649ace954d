/// Archives of retained work data: the device's signed upload and the admin API.
extension OpenAPIDocument {
    static let archiveRecord =
        ##"{"type": "object", "required": ["id", "deviceId", "size", "sha256", "files", "received", "state", "createdAt", "legalHold"], "properties": {"id": {"type": "string"}, "deviceId": {"type": "string"}, "personId": {"type": "string"}, "receiptId": {"type": "string"}, "size": {"type": "integer"}, "sha256": {"type": "string"}, "files": {"type": "integer"}, "received": {"type": "integer"}, "state": {"type": "string", "enum": ["uploading", "complete", "purged"]}, "createdAt": {"type": "string", "format": "date-time"}, "completedAt": {"type": "string", "format": "date-time"}, "retainUntil": {"type": "string", "format": "date-time"}, "legalHold": {"type": "boolean"}, "purgedAt": {"type": "string", "format": "date-time"}}}"##
    static let uploadState =
        ##"{"type": "object", "required": ["id", "received", "chunkSize", "state"], "properties": {"id": {"type": "string"}, "received": {"type": "integer", "description": "Bytes stored; the upload continues here"}, "chunkSize": {"type": "integer"}, "state": {"type": "string", "enum": ["uploading", "complete", "purged"]}}}"##
    static let reasonBody = ##"{"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 500}}}"##

    static let archives: [APIOperation] = [
        APIOperation(
            "post", "/api/v1/device/archives",
            "Announce an archive of retained work data (age-encrypted; the server never sees plaintext) before the wipe destroys the container key; sent again with the same values it answers how far the upload got",
            access: .device,
            body:
                ##"{"type": "object", "required": ["id", "size", "sha256", "files", "retainDays"], "properties": {"id": {"type": "string", "description": "A UUID the device chose"}, "receiptId": {"type": "string"}, "size": {"type": "integer", "minimum": 0}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "files": {"type": "integer", "minimum": 0}, "retainDays": {"type": "integer", "minimum": 1, "maximum": 4000}}}"##,
            example:
                ##"{"id": "018f3c1e-0000-7000-8000-0000000000a1", "size": 0, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "files": 0, "retainDays": 3650}"##,
            responses: [
                200: .json("Signed upload state", schema: uploadState),
                409: .refusal("conflict: an archive with this ID exists with other values"),
            ]),
        APIOperation(
            "post", "/api/v1/device/archives/chunk",
            "The next bytes of an announced archive (base64, at most chunkSize), at the offset where the upload stands; a chunk sent again changes nothing",
            access: .device,
            body:
                ##"{"type": "object", "required": ["id", "offset", "data"], "properties": {"id": {"type": "string"}, "offset": {"type": "integer", "minimum": 0}, "data": {"type": "string", "contentEncoding": "base64"}}}"##,
            example: ##"{"id": "018f3c1e-0000-7000-8000-0000000000a2", "offset": 0, "data": "YWJj"}"##,
            responses: [
                200: .json("Signed upload state", schema: uploadState),
                404: .refusal("not_found: no such archive of this device"),
                409: .refusal("conflict: the upload continues at another offset, or the archive is not uploading"),
            ]),
        APIOperation(
            "post", "/api/v1/device/archives/complete",
            "The end of an upload: the server checks the size and the SHA-256 of the stored bytes, keeps the archive until its retention ends, and writes archive.received to the audit log",
            access: .device, body: ##"{"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}"##,
            example: ##"{"id": "018f3c1e-0000-7000-8000-0000000000a3"}"##,
            responses: [
                200: .json("Signed upload state", schema: uploadState),
                404: .refusal("not_found: no such archive of this device"),
                409: .refusal("conflict: bytes are missing, or they hash to another SHA-256 than announced"),
            ]),
        APIOperation(
            "get", "/api/v1/archives", "Archives of retained work data, newest first", access: .token(.auditor),
            query: [APIOperation.Query(name: "device", schema: ##"{"type": "string"}"##, description: "Only this device's")],
            responses: [200: .json("Archives", schema: ##"{"type": "array", "items": \##(archiveRecord)}"##)]),
        APIOperation(
            "post", "/api/v1/archives/purge-due", "Purge every archive whose retention is over and that no legal hold keeps (the server also does it hourly)",
            access: .token(.admin), responses: [200: .described("The IDs purged")]),
        APIOperation(
            "get", "/api/v1/archives/{id}", "One archive's record", access: .token(.auditor), responses: [200: .json("The archive", schema: archiveRecord)]),
        APIOperation(
            "get", "/api/v1/archives/{id}/content",
            "The archive's age file (admin; audited as archive.downloaded). Only the organisation's age identities decrypt it: kontorctl archives get ID --identity FILE",
            access: .token(.admin),
            responses: [
                200: .media("The age file", type: "application/octet-stream"),
                409: .refusal("conflict: the archive is not complete (uploading or purged)"),
            ]),
        APIOperation(
            "post", "/api/v1/archives/{id}/hold", "Put an archive on legal hold (admin, with a reason): it is not purged until released",
            access: .token(.admin), body: reasonBody, example: ##"{"reason": "tax audit 2027 (Finanzamt letter of 2027-03-01)"}"##,
            responses: [200: .json("The archive", schema: archiveRecord), 409: .refusal("conflict: the archive is purged")]),
        APIOperation(
            "post", "/api/v1/archives/{id}/release", "Release a legal hold (admin): the archive is purged when its retention is over",
            access: .token(.admin), responses: [200: .json("The archive", schema: archiveRecord), 409: .refusal("conflict: the archive is purged")]),
        APIOperation(
            "post", "/api/v1/archives/{id}/purge",
            "Purge an archive now (admin, with a reason): its file is deleted, its record kept; refused while on legal hold",
            access: .token(.admin), body: reasonBody, example: ##"{"reason": "the person's data-erasure request after the retention review"}"##,
            responses: [200: .json("The archive", schema: archiveRecord), 409: .refusal("conflict: the archive is on legal hold, or purged already")]),
    ]
}
