"""The other side of the agent's desktop notices, written with dbus-fast (PyPI), an implementation
independent of the agent's own D-Bus code.

  notification_server.py serve --address unix:path=BUS --out FILE [--markup] [--hang]
      A notification server (org.freedesktop.Notifications: Notify, GetServerInformation,
      GetCapabilities, CloseNotification) on that bus. Each Notify is appended to FILE as one JSON line
      with what arrived and the sender's Unix UID, asked of the bus (GetConnectionUnixUser). Prints
      "ready" once it owns the name. --markup advertises body-markup; --hang never answers Notify.

  notification_server.py marshal
      Reads a JSON list of notices ({serial, summary, body, urgency, expire}) on stdin and prints, one
      per line, the hex of dbus-fast's Notify method call for each, then of Hello (serial 1).
"""

import argparse
import asyncio
import json
import sys

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


def notify_call(serial, summary, body, urgency, expire):
    return Message(
        destination=NAME, path=PATH, interface=NAME, member="Notify", signature="susssasa{sv}i",
        body=["Kontor", 0, "", summary, body, [], {"urgency": Variant("y", urgency)}, expire], serial=serial)


def marshal():
    for case in json.load(sys.stdin):
        message = notify_call(case["serial"], case["summary"], case["body"], case["urgency"], case["expire"])
        print(message._marshall(False).hex())
    hello = Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus", member="Hello", serial=1)
    print(hello._marshall(False).hex())


async def serve(address, out, markup, hang):
    bus = await MessageBus(bus_address=address).connect()
    counter = {"id": 0}

    async def notify(message):
        reply = await bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus", interface="org.freedesktop.DBus",
            member="GetConnectionUnixUser", signature="s", body=[message.sender]))
        app, replaces, icon, summary, body, actions, hints, expire = message.body
        counter["id"] += 1
        record = {
            "id": counter["id"], "uid": reply.body[0], "signature": message.signature, "app": app, "replaces": replaces, "icon": icon,
            "summary": summary, "body": body, "actions": actions, "hints": {k: v.value for k, v in hints.items()},
            "hintTypes": {k: v.signature for k, v in hints.items()}, "expire": expire,
        }
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if not hang:
            bus.send(Message.new_method_return(message, "u", [counter["id"]]))

    def handler(message):
        if message.message_type != MessageType.METHOD_CALL or message.interface != NAME:
            return None
        if message.member == "GetServerInformation":
            return Message.new_method_return(message, "ssss", ["kontor-test", "kontor", "1", "1.2"])
        if message.member == "GetCapabilities":
            return Message.new_method_return(message, "as", [["body", "body-markup"] if markup else ["body"]])
        if message.member == "CloseNotification":
            return Message.new_method_return(message)
        if message.member == "Notify":
            asyncio.ensure_future(notify(message))
            return True
        return None

    bus.add_message_handler(handler)
    await bus.request_name(NAME)
    print("ready", flush=True)
    await asyncio.Future()


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--address", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--markup", action="store_true")
    s.add_argument("--hang", action="store_true")
    sub.add_parser("marshal")
    args = parser.parse_args()
    if args.command == "marshal":
        marshal()
    else:
        asyncio.run(serve(args.address, args.out, args.markup, args.hang))


if __name__ == "__main__":
    main()
