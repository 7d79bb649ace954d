"""The employee's side in the booted container: usage terms that lock the work account until the person
accepts them, as themselves, through the agent's local socket; another local user refused."""

import os

from steps_common import check, wait_for

# The person's own login on the laptop (named at enrollment), and another local user.
LOGIN = "ada"
OTHER = "eve"
TERMS = "2026-12"
TERMS_TEXT = "Work stays on the work account.\nPrivate stays private.\n"


class EmployeeSteps:
    """Mixed into SystemTest (steps.py): uses its container, server, profile and checks."""

    def local_users(self):
        """Made right after boot, before the snapshot: they are the laptop's own users, not the agent's."""
        for user in (LOGIN, OTHER):
            self.container.run("useradd", "--create-home", "--shell", "/bin/sh", user)

    def as_user(self, user, *args):
        return self.container.run("setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "env", f"HOME=/home/{user}", *args, check=False)

    def container_state(self):
        return (self.server.ctl("devices", "show", self.device, json_output=True).get("compliance") or {}).get("containerState")

    def terms(self, profile):
        s = self.server
        path = os.path.join(self.work, "terms.md")
        with open(path, "w") as f:
            f.write(TERMS_TEXT)
        s.ctl("terms", "publish", TERMS, "--file", path, "--grace", "0d")
        s.apply(profile + f'usageTermsVersion: "{TERMS}"\n', self.work)
        wait_for("the server reports the work container locked", lambda: self.container_state() == "locked", timeout=60)
        check(not self.ticking(), "the terms are not accepted, but the work account's process still runs")
        shadow = self.sh(f"passwd --status {self.account}").stdout.split()
        check(len(shadow) > 1 and shadow[1] == "L", f"the work account's password is not locked: {shadow}")
        self.ok(f"usage terms {TERMS} published with a 0-day grace: the work container is locked (logins refused, processes frozen)")

        refused = self.as_user(OTHER, "kontor-agent", "status")
        check(refused.returncode != 0, f"{OTHER} (not the enrolled person) read the agent's status:\n{refused.stdout}")
        check("may not ask the kontor-agent service" in refused.stderr, f"{OTHER} got no clear refusal:\n{refused.stdout}{refused.stderr}")
        shown = self.as_user(LOGIN, "kontor-agent", "terms", "show")
        check(shown.returncode == 0 and "Private stays private." in shown.stdout, f"{LOGIN}: kontor-agent terms show:\n{shown.stdout}{shown.stderr}")
        accepted = self.as_user(LOGIN, "kontor-agent", "terms", "accept", TERMS)
        check(accepted.returncode == 0, f"{LOGIN}: kontor-agent terms accept {TERMS} exited {accepted.returncode}:\n{accepted.stdout}{accepted.stderr}")
        self.ok(f"through the agent's socket, without root: {LOGIN} reads and accepts the terms, {OTHER} is refused")

        wait_for("the work container unlocked after the acceptance", lambda: self.container_state() == "active", timeout=150)
        wait_for("the work account's process runs again", lambda: self.ticking(1.0), timeout=30)
        report = s.ctl("terms", "report", "--version", TERMS, json_output=True)
        answers = report.get("answers", [])
        check(len(answers) == 1 and answers[0]["decision"] == "accepted" and answers[0]["login"] == LOGIN and answers[0]["signatureValid"],
              f"terms report: {answers}")
        s.ctl("audit", "verify")  # exits non-zero when the chain is broken
        self.ok(f"the container unlocks at the next check-in; the report lists {LOGIN}'s signed acceptance; audit verify passes")
