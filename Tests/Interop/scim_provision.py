#!/usr/bin/env python3
"""Provisions Kontor the way a directory does, with the independent SCIM client `scim2-client` (PyPI):
creates a user and a group, changes the user with PATCH, deactivates and reactivates them, and prints
what it saw at each step as one JSON object. Exit 1 on anything the server answered wrongly.

    scim_provision.py --url http://127.0.0.1:8080/scim/v2 --token kat_... --step create|deactivate|reactivate|delete
"""
import argparse
import json
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Email, Group, GroupMember, Name, PatchOp, PatchOperation, PhoneNumber, SearchRequest, User


def client_for(args):
    http = httpx2.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.discover()
    return client


def find(client, user_name):
    found = client.query(User, query_parameters=SearchRequest(filter=f'userName eq "{user_name}"'))
    return found.resources[0] if found.resources else None


def patch(client, user_id, op, path, value):
    operation = PatchOperation(op=op, path=path, value=value)
    return client.modify(User, user_id, PatchOp[User](operations=[operation]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--step", required=True, choices=["create", "deactivate", "reactivate", "delete"])
    args = parser.parse_args()
    client = client_for(args)
    seen = {}
    if args.step == "create":
        user = User(user_name="ada.lovelace@corp.example", external_id="00aa-11bb", display_name="Ada Lovelace",
                    name=Name(given_name="Ada", family_name="Lovelace"), active=True,
                    emails=[Email(value="ada@example.org", type="work", primary=True)])
        created = client.create(user)
        seen["id"] = created.id
        found = find(client, "ADA.LOVELACE@corp.example")
        if found is None or found.id != created.id:
            print("the user is not found by userName (any case)", file=sys.stderr)
            return 1
        changed = patch(client, created.id, "replace", "displayName", "Ada King")
        changed = patch(client, created.id, "add", "phoneNumbers",
                        [PhoneNumber(value="+49 30 1234-567")])
        seen["displayName"] = changed.display_name
        seen["phone"] = changed.phone_numbers[0].value if changed.phone_numbers else None
        group = client.create(Group(display_name="Lehrkräfte Grundschule", members=[GroupMember(value=created.id)]))
        seen["groupId"] = group.id
        again = client.query(User, created.id)
        seen["groups"] = [g.display for g in (again.groups or [])]
    else:
        user = find(client, "ada.lovelace@corp.example")
        if user is None:
            seen["id"] = None
        elif args.step == "delete":
            client.delete(User, user.id)
            seen["id"] = user.id
        else:
            updated = patch(client, user.id, "replace", "active", args.step == "reactivate")
            seen["id"] = updated.id
            seen["active"] = updated.active
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
