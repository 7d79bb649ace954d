#!/usr/bin/env python3
"""Runs the independent SCIM compliance checker `scim2-tester` (PyPI, with the `scim2-client` it drives)
against a running Kontor and prints each result as JSON lines: {"status", "title", "resource", "reason"}.
Exit 0 when it ran (whatever the results: the caller judges them), 2 when it could not run.

    scim_check.py --url http://127.0.0.1:8080/scim/v2 --token kat_...
    scim_check.py ... --markdown     a table for docs/directory.md instead
"""
import argparse
import collections
import json
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    http = httpx2.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client)
    rows = []
    for r in results:
        rows.append({
            "status": r.status.name,
            "title": r.title,
            "resource": getattr(r, "resource_type", None) or "",
            "reason": (r.reason or "").replace("\n", " ")[:400],
        })
    if args.markdown:
        counts = collections.Counter(row["status"] for row in rows)
        print("| result | checks |\n|---|---|")
        for status in Status:
            if counts[status.name]:
                print(f"| {status.name} | {counts[status.name]} |")
        bad = [row for row in rows if row["status"] in ("ERROR", "CRITICAL", "DEVIATION")]
        if bad:
            print("\n| check | resource | result | reason |\n|---|---|---|---|")
            for row in bad:
                print(f"| {row['title']} | {row['resource']} | {row['status']} | {row['reason']} |")
        return 0
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # the checker could not run at all: say why
        print(f"scim_check: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(2)
