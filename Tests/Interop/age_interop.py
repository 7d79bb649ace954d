#!/usr/bin/env python3
"""Checks Kontor's age encryption and tar writer against independent implementations: `pyrage` (PyPI,
Rust's rage) and Python's `tarfile`. Driven by Tests/EndToEndTests/AgeInteropEndToEndTests.swift in two
steps around the Swift side, exchanging files in one folder:

    age_interop.py prepare DIR   reads DIR/kontor.recipient; writes a pyrage identity and recipient, and
                                 files pyrage encrypted to Kontor (pyrage-N.age with pyrage-N.plain)
    age_interop.py check DIR     decrypts what Kontor wrote (kontor-N.age with Kontor's identity,
                                 to-pyrage-N.age with pyrage's) and lists archive.tar.age with tarfile

Prints a JSON summary; exits 1 naming every difference.

Two more steps serve the retention end-to-end test (Tests/EndToEndTests/RetentionEndToEndTests.swift):

    age_interop.py keygen DIR              writes a pyrage identity (DIR/org.identity) and its recipient
                                           (DIR/org.recipient): the organisation's key the agent encrypts to
    age_interop.py extract FILE KEY OUT    decrypts the age FILE with the identity in KEY and extracts the
                                           tar inside into OUT (refusing what the data filter refuses);
                                           prints the regular files' names and SHA-256
"""
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile

import pyrage
from pyrage import x25519

SIZES = [0, 1, 65536, 65537, 200 * 1024]


def read(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read()


def write(folder, name, data):
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def prepare(folder):
    kontor = x25519.Recipient.from_str(read(folder, "kontor.recipient").decode().strip())
    identity = x25519.Identity.generate()
    write(folder, "pyrage.identity", str(identity).encode())
    write(folder, "pyrage.recipient", str(identity.to_public()).encode())
    for size in SIZES:
        plain = os.urandom(size)
        write(folder, f"pyrage-{size}.plain", plain)
        write(folder, f"pyrage-{size}.age", pyrage.encrypt(plain, [kontor]))
    # Several recipients, Kontor's not first: Kontor must find its stanza among others and rage's grease.
    plain = os.urandom(1000)
    write(folder, "pyrage-multi.plain", plain)
    others = [x25519.Identity.generate().to_public() for _ in range(2)]
    write(folder, "pyrage-multi.age", pyrage.encrypt(plain, [others[0], identity.to_public(), kontor, others[1]]))
    return {"prepared": len(SIZES) + 1}


def check_files(folder, problems):
    kontor_identity = x25519.Identity.from_str(read(folder, "kontor.identity").decode().strip())
    pyrage_identity = x25519.Identity.from_str(read(folder, "pyrage.identity").decode().strip())
    checked = 0
    for size in SIZES:
        for name, identity in ((f"kontor-{size}", kontor_identity), (f"to-pyrage-{size}", pyrage_identity)):
            try:
                plain = pyrage.decrypt(read(folder, name + ".age"), [identity])
            except Exception as error:  # pyrage raises its own DecryptError; name the file either way
                problems.append(f"{name}.age: pyrage refused it: {error}")
                continue
            if plain != read(folder, name + ".plain"):
                problems.append(f"{name}.age: pyrage decrypted {len(plain)} bytes that differ from the plaintext")
            checked += 1
    return checked


def check_archive(folder, problems):
    identity = x25519.Identity.from_str(read(folder, "pyrage.identity").decode().strip())
    expected = json.loads(read(folder, "archive.json"))
    tar_bytes = pyrage.decrypt(read(folder, "archive.tar.age"), [identity])
    if tar_bytes != read(folder, "archive.tar"):
        problems.append("the decrypted archive differs from the tar stream Kontor wrote")
    listed = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        members = archive.getmembers()
        for member in members:
            entry = {"name": member.name, "type": "directory" if member.isdir() else "file" if member.isfile() else "other",
                     "mode": member.mode, "mtime": member.mtime, "uid": member.uid, "gid": member.gid, "size": member.size}
            if member.isfile():
                entry["sha256"] = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
            listed.append(entry)
        # The strict "data" filter refuses absolute names, "..", links and device files on extraction. Python
        # before 3.11.4 (Debian 12 has 3.11.2) has no filters: the same checks are made here first.
        with tempfile.TemporaryDirectory() as target:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(target, filter="data")
            else:
                for member in members:
                    parts = member.name.split("/")
                    if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                        problems.append(f"{member.name}: an archive member the data filter would refuse")
                archive.extractall(target, members=[m for m in members if m.isfile() or m.isdir()])
            for item in expected:
                path = os.path.join(target, item["name"])
                if item["type"] == "file" and read(target, item["name"]) != read(folder, item["plain"]):
                    problems.append(f"{item['name']}: extracted contents differ")
                if item["type"] == "directory" and not os.path.isdir(path):
                    problems.append(f"{item['name']}: not extracted as a directory")
    for want, got in zip(expected, listed):
        if want["type"] == "file":
            want = dict(want, sha256=hashlib.sha256(read(folder, want["plain"])).hexdigest())
        for key, value in want.items():
            if key == "plain":
                continue
            if got.get(key) != value:
                problems.append(f"entry {want['name']!r}: {key} is {got.get(key)!r}, expected {value!r}")
    if len(listed) != len(expected):
        problems.append(f"tarfile lists {len(listed)} entries, expected {len(expected)}: {[e['name'] for e in listed]}")
    return listed


def keygen(folder):
    identity = x25519.Identity.generate()
    write(folder, "org.identity", str(identity).encode())
    write(folder, "org.recipient", str(identity.to_public()).encode())
    return {"recipient": str(identity.to_public())}


def extract(file, key, out):
    identity = x25519.Identity.from_str(read(os.path.dirname(key), os.path.basename(key)).decode().strip())
    with open(file, "rb") as f:
        tar_bytes = pyrage.decrypt(f.read(), [identity])
    problems, files = [], {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        members = archive.getmembers()
        for member in members:
            parts = member.name.split("/")
            if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
                problems.append(f"{member.name}: an archive member the data filter would refuse")
            if member.isfile():
                files[member.name] = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
        if hasattr(tarfile, "data_filter"):
            archive.extractall(out, filter="data")
        else:
            archive.extractall(out, members=[m for m in members if m.isfile() or m.isdir()])
    return problems, files


def main(step, folder, *rest):
    if step == "keygen":
        print(json.dumps(keygen(folder)))
        return 0
    if step == "extract":
        problems, files = extract(folder, rest[0], rest[1])
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        print(json.dumps({"files": files}))
        return 0
    if step == "prepare":
        print(json.dumps(prepare(folder)))
        return 0
    problems = []
    checked = check_files(folder, problems)
    listed = check_archive(folder, problems)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(json.dumps({"files": checked, "entries": listed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
