"""The steps of the system test (system_test.py runs them in order)."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from employee import LOGIN, EmployeeSteps
from rootfs import Container
from steps_common import check, wait_for

PERSON = "ada@example.org"
ACCOUNT = "work-ada"
UNIT = "kontor-agent.service"
# Where neither the package nor the agent may leave anything, and what the test itself changes there:
# the comparison before install / after purge looks at every other file of the container.
VOLATILE = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/var/log", "/var/cache", "/var/lib/apt",
            "/var/lib/dpkg", "/var/lib/systemd", "/var/lib/dbus"]
# The account databases' backup copies, which useradd/userdel (not the agent) write on every change.
ACCOUNT_DATABASES = ["passwd", "group", "shadow", "gshadow", "subuid", "subgid"]
ACCOUNT_BACKUPS = {"/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-"}

PROFILE = """apiVersion: kontor/v1
kind: Profile
name: system-test
checkinInterval: 10
container:
  accountPattern: work-{localpart}
apps:
  mode: enforce
  allow:
    - package: systemd     # the work account's own user manager and (sd-pam)
    - package: dash
    - package: coreutils
"""
QUIET = """quietHours:
  timeZone: UTC
  weekly: {monday: [all], tuesday: [all], wednesday: [all], thursday: [all], friday: [all], saturday: [all], sunday: [all]}
"""
TICKER = "while :; do date +%s.%N > $HOME/tick; sleep 0.2; done"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print(f"ok: {what}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HostServer:
    """kontor-server on the host with its own data directory; kontorctl against it."""

    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.data = os.path.join(work, "server-data")
        self.log = os.path.join(work, "server.log")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.token = None

    def start(self):
        self.process = subprocess.Popen([os.path.join(self.bin, "kontor-server"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--data-dir", self.data], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        wait_for(f"GET {self.url}/healthz", self._healthy, timeout=30, interval=0.2)
        if self.token is None:
            run = subprocess.run([os.path.join(self.bin, "kontor-server"), "admin-token", "create", "--name", "system-test", "--role", "admin",
                                  "--data-dir", self.data], capture_output=True, text=True)
            check(run.returncode == 0, f"admin-token create failed:\n{run.stdout}{run.stderr}")
            self.token = run.stdout.strip().splitlines()[-1]

    def _healthy(self):
        check(self.process.poll() is None, f"kontor-server exited with {self.process.returncode} (log: {self.log})")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def ctl(self, *args, json_output=False):
        env = dict(os.environ, KONTOR_SERVER=self.url, KONTOR_TOKEN=self.token)
        run = subprocess.run([os.path.join(self.bin, "kontorctl"), *args, *(["--json"] if json_output else [])],
                             capture_output=True, text=True, env=env, timeout=60)
        check(run.returncode == 0, f"kontorctl {' '.join(args)} exited {run.returncode}:\n{run.stdout}{run.stderr}")
        return json.loads(run.stdout) if json_output else run.stdout

    def apply(self, profile, work):
        path = os.path.join(work, "system-test.yaml")
        with open(path, "w") as f:
            f.write(profile)
        self.ctl("profiles", "apply", path)


def previous_package(deb, work):
    """The "previous" version: the same package with a lower version (X~previous sorts before X), so the
    upgrade replaces every file and runs every maintainer script of both versions."""
    unpacked = os.path.join(work, "previous")
    subprocess.run(["dpkg-deb", "-R", deb, unpacked], check=True)
    control = os.path.join(unpacked, "DEBIAN", "control")
    text = open(control).read()
    version = re.search(r"^Version: (.+)$", text, re.M).group(1)
    with open(control, "w") as f:
        f.write(text.replace(f"Version: {version}", f"Version: {version}~previous"))
    out = os.path.join(work, f"kontor-agent_{version}~previous.deb")
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", unpacked, out], check=True, capture_output=True)
    return out, version


class SystemTest(EmployeeSteps):
    def __init__(self, bin_dir, deb, work, tarball, checks, say):
        self.bin = bin_dir
        self.deb = deb
        self.work = work
        self.checks = checks
        self.say = say
        self.server = HostServer(bin_dir, work)
        # The debug kontor-server links the Swift runtime from the toolchain: the container sees it read-only.
        swift_lib = swift_runtime_dir(os.path.join(bin_dir, "kontor-server"))
        self.container = Container(tarball, work, binds=[swift_lib] if swift_lib else [])
        self.device = None
        self.account = ACCOUNT

    def ok(self, what):
        self.checks.ok(what)

    def sh(self, script, check=True, timeout=120):
        return self.container.run("sh", "-c", script, check=check, timeout=timeout)

    def run(self):
        c = self.container
        c.unpack()
        started = time.time()
        state = c.boot()
        self.ok(f"the container booted systemd ({state}) in {time.time() - started:.1f} s")
        self.local_users()
        self.before = self.snapshot()
        self.previous, version = previous_package(self.deb, self.work)
        self.install_idle(self.previous)
        self.server.start()
        self.enroll()
        self.hardening()
        self.posture()
        self.work_account()
        self.quiet_hours()
        self.allowlist()
        self.terms(PROFILE)
        self.upgrade(version)
        self.journal()
        self.wipe()
        self.remove_and_purge()
        self.server_unit()
        self.security_scores()

    # --- install, enroll ------------------------------------------------------------------------

    def install_idle(self, deb):
        shutil.copy(deb, self.container.path("/root/"))
        shutil.copy(self.deb, self.container.path("/root/"))
        run = self.container.run("apt-get", "install", "-y", "/root/" + os.path.basename(deb), env=["DEBIAN_FRONTEND=noninteractive"])
        check("kontor-agent" in run.stdout, f"apt-get install printed no kontor-agent:\n{run.stdout}")
        self.ok(f"apt-get install ./{os.path.basename(deb)}")
        enabled = self.systemctl("is-enabled", UNIT, "kontor-agent.path", check=False).stdout.split()
        check(enabled == ["enabled", "enabled"], f"is-enabled kontor-agent.service kontor-agent.path: {enabled}")
        check(self.systemctl("is-active", "kontor-agent.path", check=False).stdout.strip() == "active", "kontor-agent.path is not active")
        self.expect_inactive("before enrollment")
        self.ok("installed but idle: both units enabled, the path unit waits, the service is inactive (not enrolled)")

    def enroll(self):
        s = self.server
        s.ctl("persons", "create", "--email", PERSON, "--name", "Ada Lovelace")
        s.apply(PROFILE, self.work)
        s.ctl("profiles", "assign", "system-test", "--default")
        token = s.ctl("enroll-tokens", "create", "--person", PERSON, json_output=True)["token"]
        self.container.run("kontor-agent", "enroll", "--server", s.url, "--token", token, "--user", LOGIN)
        self.device = json.load(open(self.container.path("/var/lib/kontor/agent/identity.json")))["deviceId"]
        wait_for("kontor-agent.service active after enrollment", lambda: self.active(), timeout=30)
        status = self.systemctl("status", UNIT, check=False).stdout
        check("active (running)" in status, f"systemctl status {UNIT}:\n{status}")
        self.ok(f"kontor-agent enroll: the path unit started the service (device {self.device})")
        wait_for("the server sees the device check in", lambda: s.ctl("devices", "show", self.device, json_output=True).get("lastSeen"), timeout=60)
        self.ok("the device checks in with the server on the host")

    def hardening(self):
        props = self.show(UNIT, "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
                          "ProtectKernelModules", "RestrictNamespaces", "MemoryDenyWriteExecute", "CapabilityBoundingSet", "SystemCallFilter",
                          "MainPID")
        check(props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict" and props["PrivateTmp"] == "yes",
              f"the unit's hardening is not in force: {props}")
        pid = props["MainPID"]
        status = self.sh(f"cat /proc/{pid}/status").stdout
        check(re.search(r"^NoNewPrivs:\s+1$", status, re.M), f"the agent (pid {pid}) runs without no_new_privs")
        mounts = [line.split() for line in self.sh(f"cat /proc/{pid}/mountinfo").stdout.splitlines()]
        options = {m[4]: m[5].split(",") for m in mounts}   # the last mount of a point wins
        check("ro" in options.get("/", []) and "ro" in options.get("/usr", options["/"]), f"the agent sees / or /usr writable: {options.get('/')}")
        check("rw" in options.get("/var/lib/kontor", []), f"the agent cannot write its state: /var/lib/kontor {options.get('/var/lib/kontor')}")
        self.ok("systemctl show: the unit's hardening is in force on the running agent (no_new_privs, / read-only but its state, private /tmp)")

    def posture(self):
        """The posture read for real in the container: what `kontor-agent status` shows the employee is what
        the server shows the admin, and each finding matches what the container really is."""
        def measured():
            device = self.server.ctl("devices", "show", self.device, json_output=True)
            found = (device.get("facts") or {}).get("posture") or {}
            return found if (found.get("unitHardening") or {}).get("exposure") is not None else None
        on_server = wait_for("the unit's hardening score measured by the service and sent", measured, timeout=90)
        local = self.agent_status().get("posture") or {}
        for key in ("diskEncryption", "secureBoot"):
            check(local.get(key, {}).get("state") == on_server[key]["state"], f"{key}: status says {local.get(key)}, the server {on_server[key]}")
        # No firmware variables in the container: not UEFI, or unknown when /sys/firmware/efi exists but is hidden.
        efi = os.path.isdir("/sys/firmware/efi")
        check(on_server["secureBoot"]["state"] in (["enabled", "disabled", "setupMode", "unknown"] if efi else ["notUEFI"]),
              f"secureBoot {on_server['secureBoot']} on a host with{'' if efi else 'out'} /sys/firmware/efi")
        # The container's root is a directory on the host's disk, not a dm-crypt device.
        check(on_server["diskEncryption"]["state"] in ("notEncrypted", "unknown") and on_server["diskEncryption"].get("detail"),
              f"diskEncryption {on_server['diskEncryption']}")
        out = self.container.run("systemd-analyze", "security", "--no-pager", UNIT, check=False).stdout
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
        check(m and abs(float(m.group(1)) - on_server["unitHardening"]["exposure"]) < 0.05,
              f"unit hardening {on_server['unitHardening']} against systemd-analyze {m.group(1) if m else out}")
        updates = on_server.get("updates") or {}
        check("rebootRequired" in updates, f"updates {updates}")
        self.ok(f"posture read in the container: disk {on_server['diskEncryption']['state']}, Secure Boot {on_server['secureBoot']['state']}, "
                f"unit exposure {on_server['unitHardening']['exposure']}; the same in status and on the server")

    # --- the work container ------------------------------------------------------------------------

    def work_account(self):
        entry = wait_for(f"the work account {ACCOUNT}", lambda: self.sh(f"getent passwd {ACCOUNT}", check=False).stdout.strip(), timeout=60)
        uid = int(entry.split(":")[2])
        check(70000 <= uid <= 70999, f"{ACCOUNT} has UID {uid}, outside workAccountIDs 70000-70999")
        self.uid = uid
        self.ok(f"the work account exists: {entry}")
        # A real login session of the work account: its own systemd user manager (lingering), and a
        # process started by it.
        self.container.run("loginctl", "enable-linger", ACCOUNT)
        wait_for(f"user@{uid}.service", lambda: self.systemctl("is-active", f"user@{uid}.service", check=False).stdout.strip() == "active", timeout=30)
        self.user_run("kontor-ticker", "sh", "-c", TICKER)
        tick = self.container.path(f"/home/{ACCOUNT}/tick")
        wait_for("the ticker writes", lambda: os.path.exists(tick), timeout=20)
        pid = self.user_main_pid("kontor-ticker")
        cgroup = self.sh(f"cat /proc/{pid}/cgroup").stdout
        check(f"user-{uid}.slice/user@{uid}.service" in cgroup, f"the ticker is not in the work account's user manager:\n{cgroup}")
        self.ok(f"a process of the work account runs in its systemd user manager (user@{uid}.service)")

    def user_run(self, unit, *command):
        self.container.run("setpriv", f"--reuid={ACCOUNT}", f"--regid={ACCOUNT}", "--init-groups", "env", f"HOME=/home/{ACCOUNT}",
                           f"XDG_RUNTIME_DIR=/run/user/{self.uid}", "systemd-run", "--user", "--quiet", f"--unit={unit}", "--", *command)

    def user_main_pid(self, unit):
        run = self.container.run("setpriv", f"--reuid={ACCOUNT}", f"--regid={ACCOUNT}", "--init-groups", "env", f"XDG_RUNTIME_DIR=/run/user/{self.uid}",
                                 "systemctl", "--user", "show", "-P", "MainPID", unit)
        return int(run.stdout.strip())

    def ticking(self, seconds=2.0):
        """Whether the work account's ticker wrote within `seconds`."""
        path = self.container.path(f"/home/{ACCOUNT}/tick")
        first = open(path).read()
        time.sleep(seconds)
        return open(path).read() != first

    def quiet_hours(self):
        self.server.apply(PROFILE + QUIET, self.work)
        wait_for("the server reports the container frozen",
                 lambda: (self.server.ctl("devices", "show", self.device, json_output=True).get("compliance") or {}).get("containerState") == "frozen",
                 timeout=60)
        check(not self.ticking(), "quiet hours are in force, but the work account's process still runs")
        # systemd refuses to freeze units on this hybrid hierarchy: the agent freezes the user manager's
        # cgroup v2 directory itself, in place (docs/agent.md, "Freezing").
        unit = f"/sys/fs/cgroup/unified/user.slice/user-{self.uid}.slice/user@{self.uid}.service"
        events = self.sh(f"cat {unit}/cgroup.events").stdout
        check("frozen 1" in events, f"user@{self.uid}.service is not frozen in place ({unit}/cgroup.events: {events!r})")
        self.ok(f"quiet hours (from the server's profile): the work account's process stops; user@{self.uid}.service is frozen in place")
        self.server.apply(PROFILE, self.work)
        wait_for("the work account's process runs again after quiet hours", lambda: self.ticking(1.0), timeout=60)
        check("frozen 0" in self.sh(f"cat {unit}/cgroup.events").stdout, f"user@{self.uid}.service is still frozen")
        self.ok("quiet hours over: the process is thawed and runs again")

    def allowlist(self):
        self.forbidden("forbidden-1")
        path = f"/home/{ACCOUNT}/forbidden-1"
        wait_for(f"{path} ended", lambda: not self.sh(f"pgrep -u {ACCOUNT} -f {path}", check=False).stdout.strip(), timeout=30)
        check(self.ticking(1.0), "the allowed ticker was ended too")
        wait_for("the violation at the server", lambda: path in self.server.ctl("devices", "show", self.device), timeout=60)
        self.ok(f"a forbidden program ({path}) is ended, allowed ones run on, and the violation reaches the server")

    def forbidden(self, name):
        """A copy of sleep in the work home: on no allowlist rule."""
        self.container.run("setpriv", f"--reuid={ACCOUNT}", f"--regid={ACCOUNT}", "--init-groups", "cp", "/usr/bin/sleep", f"/home/{ACCOUNT}/{name}")
        self.user_run(name, f"/home/{ACCOUNT}/{name}", "1000")

    # --- the upgrade ----------------------------------------------------------------------------------

    def upgrade(self, version):
        """From the previous version to the new one: the enrollment and the edited conffile stay, the
        daemon restarts on the new binary, and an event that is still pending (the server is down) is
        sent afterwards."""
        config = self.container.path("/etc/kontor/agent.yaml")
        edited = open(config).read() + "maxBackoff: 10   # edited by the system test\n"
        with open(config, "w") as f:
            f.write(edited)
        self.server.stop()
        wait_for("a failed check-in while the server is down",
                 lambda: "check-in failed" in self.container.run("journalctl", "-u", UNIT, "--no-pager", "-o", "cat", "-p", "warning").stdout, timeout=40)
        self.forbidden("forbidden-2")
        wait_for("the violation pending while the server is down", lambda: "report app.violation" in self.agent_status()["pendingActions"], timeout=40)
        before = self.show(UNIT, "MainPID")["MainPID"]
        run = self.container.run("apt-get", "install", "-y", "/root/" + os.path.basename(self.deb), env=["DEBIAN_FRONTEND=noninteractive"])
        check(f"kontor-agent ({version})" in run.stdout or version in run.stdout, f"apt-get did not upgrade to {version}:\n{run.stdout}")
        installed = self.sh("dpkg-query -W -f '${Version}' kontor-agent").stdout
        check(installed == version, f"dpkg shows kontor-agent {installed}, not {version}")
        check(open(config).read() == edited, "the upgrade did not keep the edited /etc/kontor/agent.yaml")
        identity = json.load(open(self.container.path("/var/lib/kontor/agent/identity.json")))
        check(identity["deviceId"] == self.device, f"the upgrade changed the device ID: {identity['deviceId']}")
        after = wait_for("the service running again", lambda: self.active() and self.show(UNIT, "MainPID")["MainPID"], timeout=30)
        check(after != before, f"the daemon was not restarted by the upgrade (MainPID {before} before and after)")
        # Right after the start the PID may still be systemd's child before its exec.
        exe = lambda: self.sh(f"readlink /proc/{after}/exe", check=False).stdout.strip()  # noqa: E731
        wait_for("the restarted daemon running the installed /usr/bin/kontor-agent (not a deleted file)", lambda: exe() == "/usr/bin/kontor-agent", timeout=10)
        self.ok(f"upgrade to {version}: enrollment and the edited agent.yaml kept, the daemon restarted on the new binary (pid {before} -> {after})")
        self.server.start()
        wait_for("the event that was pending during the upgrade at the server",
                 lambda: f"/home/{ACCOUNT}/forbidden-2" in self.server.ctl("devices", "show", self.device), timeout=60)
        self.ok("the event that was pending across the upgrade reached the server")

    def agent_status(self):
        return json.loads(self.container.run("kontor-agent", "status", "--json").stdout)

    # --- the journal ----------------------------------------------------------------------------------

    def journal(self):
        lines = [json.loads(line) for line in self.container.run("journalctl", "-u", UNIT, "-o", "json", "--no-pager").stdout.splitlines() if line]
        messages = [(int(e.get("PRIORITY", "-1")), str(e.get("MESSAGE", ""))) for e in lines if e.get("_PID") and e.get("_COMM", "").startswith("kontor")]
        check(messages, "journalctl -u kontor-agent has no line from the agent")
        check(not any("\x1b" in m for _, m in messages), "the agent's journal has ANSI escapes")
        noise = [m for _, m in messages if "Failed to set thread priority" in m]
        check(not noise, f"{len(noise)} lines of libdispatch's 'Failed to set thread priority' (CAP_SYS_NICE in the unit)")
        check(not any(re.match(r"^\d{4}-\d\d-\d\dT", m) for _, m in messages), "the agent's lines carry their own time stamp (journald has one)")
        checked_in = [p for p, m in messages if m.startswith("checked in")]
        failed = [p for p, m in messages if m.startswith("check-in failed")]
        check(checked_in and set(checked_in) == {6}, f"'checked in' lines have priorities {set(checked_in)}, expected 6 (info)")
        check(failed and set(failed) == {4}, f"'check-in failed' lines have priorities {set(failed)}, expected 4 (warning)")
        warnings = self.container.run("journalctl", "-u", UNIT, "-p", "warning", "--no-pager", "-o", "cat").stdout
        check("check-in failed" in warnings and "checked in" not in warnings, f"journalctl -p warning:\n{warnings}")
        errors = self.container.run("journalctl", "-u", UNIT, "-p", "err", "--no-pager", "-o", "cat").stdout
        check("check-in failed" not in errors, f"journalctl -p err shows warnings:\n{errors}")
        self.ok(f"journalctl -u kontor-agent: {len(messages)} readable lines (no ANSI, no own time stamp), info at 6, warnings at 4, -p err/-p warning filter them")

    # --- the wipe, remove, purge ----------------------------------------------------------------------

    def wipe(self):
        self.server.ctl("wipe", self.device, "--reason", "system test")
        wait_for("the wipe's receipt at the server",
                 lambda: any(c["type"] == "wipe" and c["state"] == "succeeded" for c in self.server.ctl("commands", "list", self.device, json_output=True)),
                 timeout=90)
        self.ok("kontorctl wipe: the agent wiped the work container and the server has its receipt")
        wait_for("kontor-agent.service stopped after the wipe", lambda: not self.active(), timeout=30)
        check(self.sh(f"getent passwd {ACCOUNT}", check=False).returncode != 0, f"{ACCOUNT} still exists after the wipe")
        check(not os.path.exists(self.container.path(f"/home/{ACCOUNT}")), f"/home/{ACCOUNT} still exists after the wipe")
        result = self.show(UNIT, "Result", "NRestarts")
        check(result["Result"] == "success", f"the service ended with {result}")
        time.sleep(12)   # longer than RestartSec: a restart would have happened by now
        check(not self.active(), "the service started again after the wipe")
        self.systemctl("restart", "kontor-agent.path")
        time.sleep(1)
        check(not self.active(), "restarting kontor-agent.path started the service again after the wipe")
        self.ok(f"after the wipe the service stopped ({result}) and stays stopped; {ACCOUNT} and its home are gone")

    def remove_and_purge(self):
        self.container.run("dpkg", "-r", "kontor-agent")
        for path in ["/usr/bin/kontor-agent", "/lib/systemd/system/kontor-agent.service", "/lib/systemd/system/kontor-agent.path"]:
            check(not os.path.lexists(self.container.path(path)), f"dpkg -r left {path}")
        check(os.path.exists(self.container.path("/etc/kontor/agent.yaml")), "dpkg -r removed the conffile (only --purge may)")
        # As dh_installsystemd does: the removed units stay masked until purge (or a reinstallation).
        states = self.systemctl("is-enabled", UNIT, "kontor-agent.path", check=False).stdout.split()
        check(states == ["masked", "masked"], f"after dpkg -r the units are {states}, expected masked until purge")
        self.ok("dpkg -r: binary and units gone (masked until purge), agent.yaml kept until purge")
        self.container.run("dpkg", "--purge", "kontor-agent")
        after = self.snapshot()
        copies = {"/root/" + os.path.basename(self.deb), "/root/" + os.path.basename(self.previous)}
        new = sorted(set(after["files"]) - set(self.before["files"]) - ACCOUNT_BACKUPS - copies)
        check(not new, "dpkg --purge left these behind:\n" + "\n".join(new))
        gone = sorted(set(self.before["files"]) - set(after["files"]))
        check(not gone, "these files of the system are gone after install and purge:\n" + "\n".join(gone))
        for db in ACCOUNT_DATABASES:
            check(after[db] == self.before[db], f"/etc/{db} differs after purge:\n{self.before[db]}\n---\n{after[db]}")
        self.ok("dpkg --purge: every file, account and group is as before the install")

    def snapshot(self):
        prune = " -o ".join(f"-path {p}" for p in VOLATILE)
        files = self.sh(f"find / -xdev \\( {prune} \\) -prune -o -print").stdout.splitlines()
        snap = {"files": files}
        for db in ACCOUNT_DATABASES:
            path = self.container.path(f"/etc/{db}")
            snap[db] = open(path).read() if os.path.exists(path) else None
        return snap

    # --- kontor-server under the container's systemd -------------------------------------------------

    def server_unit(self):
        """Server/kontor-server.service as shipped, with the (debug) binary in /usr/local/bin and the
        Swift runtime it links from the toolchain's folder, bound read-only into the container."""
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        c = self.container
        shutil.copy(os.path.join(self.bin, "kontor-server"), c.path("/usr/local/bin/kontor-server"))
        shutil.copy(os.path.join(repo, "Server", "kontor-server.service"), c.path("/etc/systemd/system/kontor-server.service"))
        port = free_port()
        os.makedirs(c.path("/etc/kontor"), exist_ok=True)
        config = open(os.path.join(repo, "Server", "server.yaml")).read().replace("port: 8080", f"port: {port}")
        with open(c.path("/etc/kontor/server.yaml"), "w") as f:
            f.write(config)
        c.run("useradd", "--system", "--home-dir", "/var/lib/kontor", "--no-create-home", "--shell", "/usr/sbin/nologin", "kontor")
        self.systemctl("daemon-reload")
        self.systemctl("enable", "--now", "kontor-server.service")
        url = f"http://127.0.0.1:{port}"
        wait_for("kontor-server.service answering /healthz", lambda: self.healthy(url), timeout=60)
        token = c.run("runuser", "-u", "kontor", "--", "/usr/local/bin/kontor-server", "admin-token", "create", "--name", "unit-test", "--role", "admin",
                      "--config", "/etc/kontor/server.yaml").stdout.strip().splitlines()[-1]
        key = open(c.path("/var/lib/kontor/server-signing.key"), "rb").read() if os.path.exists(c.path("/var/lib/kontor/server-signing.key")) else None
        self.systemctl("restart", "kontor-server.service")
        wait_for("kontor-server.service answering after the restart", lambda: self.healthy(url), timeout=60)
        env = dict(os.environ, KONTOR_SERVER=url, KONTOR_TOKEN=token)
        whoami = subprocess.run([os.path.join(self.bin, "kontorctl"), "whoami"], capture_output=True, text=True, env=env, timeout=30)
        check(whoami.returncode == 0 and "unit-test" in whoami.stdout, f"the token made before the restart does not work after it:\n{whoami.stdout}{whoami.stderr}")
        if key is not None:
            check(open(c.path("/var/lib/kontor/server-signing.key"), "rb").read() == key, "the server key changed across the restart")
        owner = self.sh("stat -c '%U %a' /var/lib/kontor").stdout.strip()
        check(owner == "kontor 700", f"/var/lib/kontor is {owner}, expected kontor 700 (StateDirectory)")
        user = self.sh(f"ps -o user= -p {self.show('kontor-server.service', 'MainPID')['MainPID']}").stdout.strip()
        check(user == "kontor", f"kontor-server runs as {user!r}, not kontor")
        self.ok(f"kontor-server.service runs under systemd as kontor, keeps its data (/var/lib/kontor, {owner}) across a restart")

    def healthy(self, url):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def security_scores(self):
        """`systemd-analyze security` of both units, printed (docs/agent.md records them)."""
        scores = {}
        for unit in [UNIT, "kontor-server.service"]:
            if unit == UNIT:
                # The agent was purged: score its unit as shipped, from the package.
                shutil.copy(os.path.join(self.work, "previous", "lib", "systemd", "system", UNIT), self.container.path("/etc/systemd/system/" + UNIT))
                self.systemctl("daemon-reload")
            out = self.container.run("systemd-analyze", "security", "--no-pager", unit, check=False).stdout
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", out)
            check(m, f"systemd-analyze security {unit} printed no score:\n{out}")
            scores[unit] = f"{m.group(1)} {m.group(2)}"
            with open(os.path.join(self.work, f"security-{unit}.txt"), "w") as f:
                f.write(out)
            print(f"systemd-analyze security {unit}: what is left open", flush=True)
            print("\n".join(line for line in out.splitlines() if line.startswith("✗") or "Overall" in line), flush=True)
        self.ok("systemd-analyze security: " + ", ".join(f"{u} {s}" for u, s in scores.items()))

    # --- systemd helpers ------------------------------------------------------------------------------

    def systemctl(self, *args, check=True):
        return self.container.run("systemctl", "--no-pager", *args, check=check)

    def show(self, unit, *props):
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def active(self):
        return self.systemctl("is-active", UNIT, check=False).stdout.strip() == "active"

    def expect_inactive(self, when):
        state = self.systemctl("is-active", UNIT, check=False).stdout.strip()
        check(state == "inactive", f"{UNIT} is {state} {when}")

    def dump_logs(self):
        if self.container.pid is None:
            return
        for args in [("journalctl", "-u", UNIT, "--no-pager", "-n", "60"), ("systemctl", "--no-pager", "--failed")]:
            print(f"--- {' '.join(args)}", file=sys.stderr)
            print(self.container.run(*args, check=False).stdout, file=sys.stderr)

    def stop(self):
        self.container.poweroff()
        self.server.stop()


def swift_runtime_dir(binary):
    """The folder of the Swift runtime a dynamically linked binary loads (from ldd), or None."""
    run = subprocess.run(["ldd", binary], capture_output=True, text=True)
    for line in run.stdout.splitlines():
        m = re.search(r"libswiftCore\.so => (\S+)/libswiftCore\.so", line)
        if m:
            return os.path.realpath(m.group(1))
    return None
