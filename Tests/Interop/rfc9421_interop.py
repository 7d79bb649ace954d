#!/usr/bin/env python3
"""Interoperability of Kontor's RFC 9421 signatures with an independent implementation.

Uses the `http-message-signatures` package from PyPI (not Kontor code) in both directions:

  live URL TOKEN   enroll and check in against a running kontor-server with requests signed here,
                   and verify the server's signed replies here; a tampered and a replayed request
                   must be refused.
  verify FILE      verify a request that Kontor signed (JSON written by the Swift test), and check
                   that a tampered copy fails.

Exit 0 and a last line "N passed, 0 failed" when every check holds.
"""
import base64
import hashlib
import json
import secrets
import sys

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, InvalidSignature, MappingKeyResolver, algorithms

REQUEST_COMPONENTS = ("@method", "@authority", "@path", "@query")
REPLY_COMPONENTS = ('"@status"', '"content-digest"', '"signature";key="kontor";req')
passed = 0


def check(condition, what):
    global passed
    if not condition:
        print(f"FAIL: {what}")
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    passed += 1
    print(f"ok: {what}")


def key_id(public_key):
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def signed_post(session, url, body, private_key):
    prepared = requests.Request("POST", url, data=body, headers={"Content-Type": "application/json"}).prepare()
    kid = key_id(private_key.public_key())
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={kid: private_key}),
    )
    signer.sign(prepared, key_id=kid, label="kontor", nonce=secrets.token_urlsafe(16), covered_component_ids=REQUEST_COMPONENTS, body=body)
    return prepared


def verify_reply(response, server_key_id, server_public_key):
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={server_key_id: server_public_key}, private_keys={}),
    )
    return verifier.verify(response, require_components=REPLY_COMPONENTS, body=response.content)


def live(base, token):
    session = requests.Session()
    device_key = Ed25519PrivateKey.generate()
    raw_public = device_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    enroll = json.dumps({
        "token": token,
        "publicKey": base64.b64encode(raw_public).decode(),
        "facts": {"hostname": "python-interop", "osRelease": "interop", "kernel": "0", "machineIdHash": secrets.token_hex(16), "agentVersion": "python"},
    }).encode()
    response = session.send(signed_post(session, base + "/api/v1/enroll", enroll, device_key))
    check(response.status_code == 201, f"kontor-server accepts an enrollment signed by http-message-signatures ({response.status_code} {response.text[:200]})")
    reply = response.json()
    server_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(reply["serverPublicKey"]))
    results = verify_reply(response, reply["serverKeyId"], server_key)
    check(len(results) == 1, "http-message-signatures verifies kontor-server's signed enrollment reply")

    checkin = json.dumps({"status": {"state": "ok"}}).encode()
    request = signed_post(session, base + "/api/v1/checkin", checkin, device_key)
    response = session.send(request)
    check(response.status_code == 200, f"kontor-server accepts a check-in signed by http-message-signatures ({response.status_code} {response.text[:200]})")
    check(len(verify_reply(response, reply["serverKeyId"], server_key)) == 1, "http-message-signatures verifies the signed check-in reply")

    replayed = session.send(request)
    check(replayed.status_code == 401 and replayed.json()["error"]["code"] == "nonce_replayed", "a replayed python-signed request is refused")

    tampered = signed_post(session, base + "/api/v1/checkin", checkin, device_key)
    tampered.body = json.dumps({"status": {"state": "error"}}).encode()
    tampered.headers["Content-Length"] = str(len(tampered.body))
    response = session.send(tampered)
    check(response.status_code == 400 and response.json()["error"]["code"] == "digest_mismatch", "a python-signed request with a changed body is refused")

    other_key = Ed25519PrivateKey.generate()
    try:
        verify_reply(session.send(signed_post(session, base + "/api/v1/checkin", checkin, device_key)), reply["serverKeyId"], other_key.public_key())
        check(False, "a reply does not verify with another key")
    except InvalidSignature:
        check(True, "a reply does not verify with another key")


def verify(path):
    with open(path) as f:
        spec = json.load(f)
    body = base64.b64decode(spec["body"])
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(spec["publicKey"]))
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={spec["keyId"]: public_key}, private_keys={}),
    )

    def prepared(payload):
        request = requests.Request(spec["method"], spec["url"], data=payload).prepare()
        request.headers.clear()
        for name, value in spec["headers"]:
            request.headers[name] = value
        return request

    results = verifier.verify(prepared(body), require_components=REQUEST_COMPONENTS + ('"content-digest"',), body=body, max_age=None)
    check(len(results) == 1 and results[0].parameters.get("nonce"), "http-message-signatures verifies a request signed by Kontor")
    try:
        verifier.verify(prepared(body + b" "), require_components=REQUEST_COMPONENTS, body=body + b" ", max_age=None)
        check(False, "a Kontor-signed request with a changed body fails verification")
    except InvalidSignature:
        check(True, "a Kontor-signed request with a changed body fails verification")
    moved = dict(spec)
    tampered = prepared(body)
    tampered.url = spec["url"].replace("/api/v1/checkin", "/api/v1/enroll")
    try:
        verifier.verify(tampered, body=body, max_age=None)
        check(False, "a Kontor-signed request sent to another path fails verification")
    except InvalidSignature:
        check(True, "a Kontor-signed request sent to another path fails verification")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "live":
        live(sys.argv[2].rstrip("/"), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    else:
        print(__doc__)
        sys.exit(2)
    print(f"{passed} passed, 0 failed")
