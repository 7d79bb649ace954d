"""Checks and waiting, shared by the system test's steps."""

import time

from rootfs import Failure


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait_for(what, probe, timeout=60, interval=0.5):
    """Polls probe() until it returns something truthy; the value, or a Failure naming what."""
    deadline = time.time() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.time() > deadline:
            raise Failure(f"{what}: not within {timeout} s")
        time.sleep(interval)
