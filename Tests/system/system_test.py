#!/usr/bin/env python3
"""The agent as a real system service, under a booted systemd (docs/agent.md, "The system test").

A Debian bookworm container (rootfs.py) boots with systemd-nspawn; a throwaway kontor-server runs on
the host, which the container reaches on the shared loopback. Inside, everything goes as an operator
would do it, through apt, dpkg, systemctl, journalctl and loginctl: install the previous .deb, enroll,
the path unit starts the service, its hardening, its journal, the work account, a process of the work
account's own systemd user manager frozen in quiet hours and thawed after, a forbidden program ended,
an upgrade to the new .deb that keeps the enrollment, the edited agent.yaml and a pending event, a wipe
whose receipt reaches the server, the service stopped for good, and remove and purge leaving nothing
behind. Then kontor-server runs under the container's systemd from its own unit, and
`systemd-analyze security` scores both units.

  Tests/system/system_test.py --bin "$(swift build --show-bin-path)" --deb dist/kontor-agent_*.deb
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rootfs import Failure, Skip, nspawn_problem, rootfs_tarball  # noqa: E402
import steps  # noqa: E402


def say(text):
    print(f"==> {text}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder with kontor-server and kontorctl (swift build --show-bin-path)")
    parser.add_argument("--deb", required=True, help="the kontor-agent package to test (Agent/build-deb.sh)")
    parser.add_argument("--cache", default=os.environ.get("KONTOR_SYSTEM_TEST_CACHE", "/var/cache/kontor-system-test"),
                        help="where the root file system is cached (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the container's files and logs for a look afterwards")
    args = parser.parse_args()

    problem = nspawn_problem()
    if problem:
        print(f"SKIPPED: the system test needs a container that boots systemd: {problem}")
        return 0
    started = time.time()
    work = tempfile.mkdtemp(prefix="kontor-system-")
    tarball, built = rootfs_tarball(args.cache, say)
    say(f"root file system: {tarball}" + (f" (built in {built:.0f} s)" if built else " (cached)"))
    checks = steps.Checks()
    test = None
    try:
        test = steps.SystemTest(args.bin, os.path.abspath(args.deb), work, tarball, checks, say)
        test.run()
    except Skip as skip:
        print(f"SKIPPED: systemd-nspawn cannot boot a container on this machine: {skip}")
        return 0
    except Failure as failure:
        checks.failed += 1
        print(f"FAIL: {failure}", file=sys.stderr)
        if test:
            test.dump_logs()
    except Exception:
        checks.failed += 1
        traceback.print_exc()
        if test:
            test.dump_logs()
    finally:
        if test:
            test.stop()
        if args.keep or checks.failed:
            print(f"the container's files and logs are in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    say(f"the system test took {time.time() - started:.0f} s (root file system: {'built' if built else 'cached'})")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
