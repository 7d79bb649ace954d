"""The Debian bookworm root file system the system test boots, and the container it boots in.

The root file system is made once with mmdebstrap from the mirror apt uses and cached outside the
repository (default /var/cache/kontor-system-test), keyed by its package list: a new list makes a new
tarball, a missing tarball is made again. Each run unpacks a fresh copy and boots it with
systemd-nspawn; commands run inside with nsenter into every namespace of the container's systemd.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import time

# What the container needs: systemd as PID 1 with logind (user sessions) and D-Bus, the account tools
# the agent runs (passwd), procps for the test, time zones, and the libraries the agent and the debug
# kontor-server link to (the Swift runtime of the latter is bound in from the toolchain).
PACKAGES = sorted([
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "passwd", "login", "procps", "ca-certificates", "tzdata",
    "libsqlite3-0", "zlib1g", "libstdc++6",
])
SUITE = "bookworm"


class Skip(Exception):
    """The container cannot boot on this machine (not a failure of Kontor)."""


class Failure(Exception):
    pass


def debian_mirror():
    """The Debian mirror apt uses here (deb822 .sources or one-line .list), for the bookworm suite."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        text = open(path).read()
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1)
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            for line in open(path):
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
                if m and "security" not in m.group(1):
                    return m.group(1)
    return "http://deb.debian.org/debian"


def rootfs_tarball(cache_dir, log):
    """The cached root file system for PACKAGES, made now when missing. Returns (path, seconds spent)."""
    key = hashlib.sha256((SUITE + "\n" + "\n".join(PACKAGES)).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"{SUITE}-{key}.tar")
    if os.path.exists(path):
        return path, 0.0
    os.makedirs(cache_dir, exist_ok=True)
    mirror = debian_mirror()
    log(f"building the root file system ({SUITE}, {len(PACKAGES)} packages) from {mirror} into {path}")
    started = time.time()
    partial = path[: -len(".tar")] + ".partial.tar"   # mmdebstrap writes the format its name ends with
    run = subprocess.run(["mmdebstrap", "--variant=apt", "--include=" + ",".join(PACKAGES), SUITE, partial, mirror],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise Failure(f"mmdebstrap failed ({run.returncode}):\n{run.stderr[-3000:]}")
    os.rename(partial, path)
    return path, time.time() - started


def nspawn_problem():
    """Why systemd-nspawn cannot run here at all, or None."""
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (Debian package systemd-container)"
    if shutil.which("nsenter") is None:
        return "nsenter is not installed (util-linux)"
    if not os.path.isdir("/sys/fs/cgroup"):
        return "no cgroup file system at /sys/fs/cgroup"
    return None


class Container:
    """A booted copy of the root file system. `run` executes a command inside, as root."""

    def __init__(self, tarball, work, binds=()):
        self.root = os.path.join(work, "root")
        self.console = os.path.join(work, "console.log")
        self.tarball = tarball
        self.binds = list(binds)
        self.nspawn = None
        self.pid = None

    def unpack(self):
        os.makedirs(self.root)
        subprocess.run(["tar", "-xf", self.tarball, "-C", self.root], check=True)
        # A fresh machine ID per copy, made by systemd at boot.
        open(os.path.join(self.root, "etc/machine-id"), "w").close()
        with open(os.path.join(self.root, "etc/hostname"), "w") as f:
            f.write("kontor-system-test\n")

    def boot(self, timeout=90):
        args = ["systemd-nspawn", "--register=no", "--keep-unit", "--boot", "--directory", self.root,
                "--machine", "kontor-system-test", "--console=pipe", "--quiet"]
        for bind in self.binds:
            args += ["--bind-ro", bind]
        self.nspawn = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(self.console, "wb"), stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while self.pid is None:
            if self.nspawn.poll() is not None:
                raise Skip(f"systemd-nspawn exited with {self.nspawn.returncode} before the container's systemd ran:\n"
                           + open(self.console, errors="replace").read()[-2000:])
            if time.time() > deadline:
                raise Failure("the container's systemd did not start")
            self.pid = self._container_init()
            time.sleep(0.1)
        # PID 1 exists before nspawn has set up its root and run systemd in it: ask until systemd answers.
        state = ""
        while state not in ("running", "degraded") and time.time() < deadline:
            state = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=timeout).stdout.strip()
            if state not in ("running", "degraded"):
                time.sleep(0.2)
        if state not in ("running", "degraded"):
            raise Failure(f"the container's systemd reached {state!r}, not running:\n" + self.run("systemctl", "--failed", check=False).stdout)
        return state

    def _container_init(self):
        """The host PID of the container's PID 1: the process whose PID in its own namespace is 1,
        below systemd-nspawn."""
        for status in glob.glob("/proc/[0-9]*/status"):
            try:
                text = open(status).read()
            except OSError:
                continue
            nspid = re.search(r"^NSpid:\s+(.+)$", text, re.M)
            ppid = re.search(r"^PPid:\s+(\d+)$", text, re.M)
            name = re.search(r"^Name:\s+(\S+)$", text, re.M)
            if nspid and nspid.group(1).split()[-1] == "1" and len(nspid.group(1).split()) > 1 and ppid and name and name.group(1) == "systemd":
                if int(ppid.group(1)) == self.nspawn.pid or self._descends(int(ppid.group(1))):
                    return int(status.split("/")[2])
        return None

    def _descends(self, pid):
        while pid > 1:
            if pid == self.nspawn.pid:
                return True
            try:
                pid = int(re.search(r"^PPid:\s+(\d+)$", open(f"/proc/{pid}/status").read(), re.M).group(1))
            except (OSError, AttributeError):
                return False
        return False

    def run(self, *args, check=True, timeout=120, input=None, env=None):
        """Runs a command inside the container (every namespace of its PID 1, its root and working directory)."""
        command = ["nsenter", "-t", str(self.pid), "-a", "-r", "-w", "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                   "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", *(env or []), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise Failure(f"in the container: {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def path(self, inside):
        """A path inside the container, seen from the host."""
        return os.path.join(self.root, inside.lstrip("/"))

    def poweroff(self, timeout=60):
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        if self.pid is not None:
            self.run("systemctl", "poweroff", "--no-block", check=False)
        try:
            self.nspawn.wait(timeout)
        except subprocess.TimeoutExpired:
            # Ending nspawn alone would leave the container's processes behind: end its PID 1 (and with
            # it the PID namespace) first.
            if self.pid is not None:
                os.kill(self.pid, 9)
            self.nspawn.kill()
            self.nspawn.wait()
