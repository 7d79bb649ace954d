#!/usr/bin/env python3
"""Reads Kontor's on-call feed with the independent `icalendar` package (PyPI) and prints its events as
JSON: what a phone calendar would show. Fails (exit 1) on anything a strict reader should refuse.

    ical_interop.py FILE.ics
"""
import json
import sys
from datetime import datetime, timezone

import icalendar


def main(path):
    raw = open(path, "rb").read()
    problems = []
    if b"\n" in raw.replace(b"\r\n", b""):
        problems.append("a line ends without CRLF")
    for number, line in enumerate(raw.split(b"\r\n"), 1):
        if len(line) > 75:
            problems.append(f"line {number} has {len(line)} octets (RFC 5545 3.1 folds at 75)")
    calendar = icalendar.Calendar.from_ical(raw)
    for key in ("VERSION", "PRODID"):
        if key not in calendar:
            problems.append(f"the calendar has no {key}")
    events = []
    uids = set()
    for event in calendar.walk("VEVENT"):
        for key in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
            if key not in event:
                problems.append(f"an event has no {key}")
        uid = str(event.get("UID"))
        if uid in uids:
            problems.append(f"UID {uid} twice")
        uids.add(uid)
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        if not isinstance(start, datetime) or start.tzinfo is None:
            problems.append(f"{uid}: DTSTART is not a UTC time")
            continue
        if end <= start:
            problems.append(f"{uid}: ends before it starts")
        events.append({
            "uid": uid,
            "summary": str(event.get("SUMMARY")),
            "categories": [str(c) for c in event.get("CATEGORIES").cats] if event.get("CATEGORIES") else [],
            "start": start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": end.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        })
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(json.dumps(events))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
