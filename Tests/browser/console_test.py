#!/usr/bin/env python3
"""The admin console in a real browser: headless Chromium (Debian's chromium + chromium-driver) drives a
throwaway kontor-server, a real kontor-agent enrolls and carries out a wipe, and every main page is
screenshotted. Run by scripts/test:

    .venv/bin/python Tests/browser/console_test.py --bin "$(swift build --show-bin-path)"
"""
import argparse
import os
import socket
import json
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTNAME = "browser-test-laptop"  # written to the agent root's /etc/hostname, so the agent reports it
TIMEOUT = 10


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Console:
    """The browser plus the few moves every step makes."""

    def __init__(self, url, shots):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # --disable-dev-shm-usage: containers often have a 64 MB /dev/shm, too small for Chromium.
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
            options.add_argument(flag)
        # An explicit driver path: selenium-manager is never asked to download anything.
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.url, self.shots = url, shots

    def wait(self, condition, what, timeout=TIMEOUT):
        return WebDriverWait(self.driver, timeout).until(condition, message=f"not found within {timeout} s: {what}")

    def find(self, css):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)), css)

    def absent(self, css):
        return not self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css, contains, what=None):
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), contains), what or f"{css} containing {contains!r}")

    def follow(self, css):
        """Clicks a link or submit button and waits until the next page has loaded."""
        element = self.wait(EC.element_to_be_clickable((By.CSS_SELECTOR, css)), f"clickable {css}")
        element.click()

        def left(_):
            # The old page's element is gone once the browser navigated. While the page is being
            # replaced, Chromium may answer with another error than "stale": that counts as gone too.
            try:
                element.is_enabled()
                return False
            except WebDriverException:
                return True

        self.wait(left, f"a new page after clicking {css}")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", f"page load after {css}")

    def go(self, path):
        self.driver.get(self.url + path)

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(self.shots, name))


# --- the server and the agent ------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_provider(work):
    """The Authlib provider of Tests/Interop (an independent OpenID provider), with Ada (admins) and Eve (no mapped group)."""
    port = free_port()
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Interop", "oidc_provider.py")
    log = open(os.path.join(work, "provider.log"), "wb")
    provider = subprocess.Popen([sys.executable, "-W", "ignore", script, str(port), "ES256"], stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, AUTHLIB_INSECURE_TRANSPORT="1"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/.well-known/openid-configuration", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    for sub, user in (("ada", {"name": "Ada Lovelace", "groups": ["kontor-admins"]}), ("eve", {"name": "Eve Example", "groups": ["staff"]})):
        provider_call(url, "PUT", f"/test/users/{sub}", user)
    return provider, url


def provider_call(url, method, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        check(answer.status < 300, f"{method} {path} at the provider answered {answer.status}")


def start_server(bin_dir, data, log_path, provider_url):
    port = free_port()
    log = open(log_path, "wb")
    secret = os.path.join(data, "oidc-secret")
    with open(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("browser-s3cret\n")
    provider_call(provider_url, "PUT", "/test/clients/kontor-console",
                  {"secret": "browser-s3cret", "redirect_uris": [f"http://127.0.0.1:{port}/console/oidc/callback"]})
    env = dict(os.environ, KONTOR_OIDC_ISSUER=provider_url, KONTOR_OIDC_CLIENT_ID="kontor-console", KONTOR_OIDC_CLIENT_SECRET_FILE=secret,
               KONTOR_OIDC_ROLES="kontor-admins=admin")
    server = subprocess.Popen([os.path.join(bin_dir, "kontor-server"), "serve", "--host", "127.0.0.1", "--port", str(port),
                               "--data-dir", data], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 20
    while time.time() < deadline:
        check(server.poll() is None, f"kontor-server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            pass
        time.sleep(0.2)
    raise Failure(f"GET {url}/healthz did not answer 200 within 20 s")


def create_token(bin_dir, data, role):
    run = subprocess.run([os.path.join(bin_dir, "kontor-server"), "admin-token", "create", "--name", f"browser-test-{role}",
                          "--role", role, "--data-dir", data], capture_output=True, text=True)
    check(run.returncode == 0 and run.stdout.strip(), f"admin-token create --role {role} failed:\n{run.stdout}{run.stderr}")
    return run.stdout.strip().splitlines()[-1]


def agent(bin_dir, *args):
    return subprocess.run([os.path.join(bin_dir, "kontor-agent"), *args], capture_output=True, text=True, timeout=120)


def agent_ok(bin_dir, *args):
    run = agent(bin_dir, *args)
    check(run.returncode == 0, f"kontor-agent {' '.join(args)} exited {run.returncode}:\n{run.stdout}{run.stderr}")


# --- the steps ---------------------------------------------------------------------------------

def sign_in(c, token, first=False):
    c.go("/")
    c.find("#token")
    if first:
        check("/console/sign-in" in c.driver.current_url, f"/ did not lead to /console/sign-in but to {c.driver.current_url}")
        c.shot("01-sign-in.png")
    c.find("#token").send_keys(token)
    c.follow("#sign-in-submit")
    c.text("h1", "Dashboard", "the dashboard (h1 containing 'Dashboard') after signing in")


def create_enroll_token(c, shots=True):
    c.follow("#nav-enroll-tokens")
    c.find("#create-enroll-token")
    if shots:
        c.shot("03-enroll-tokens-empty.png")
    c.follow("#create-enroll-token-submit")
    secret = c.find("#enroll-token-secret").text.strip()
    check(secret.startswith("ket_"), f"#enroll-token-secret is {secret!r}, not a ket_ token")
    check(secret in c.find("#agent-command").text, "#agent-command does not contain the token")
    if shots:
        c.shot("04-enroll-token-created.png")
    return secret


def enroll_agent(bin_dir, url, secret, root, hostname=HOSTNAME):
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write(hostname + "\n")
    agent_ok(bin_dir, "enroll", "--server", url, "--token", secret, "--root", root)
    agent_ok(bin_dir, "run", "--once", "--root", root)


def open_device(c):
    c.follow("#nav-devices")
    c.find("#devices")
    rows = c.driver.find_elements(By.CSS_SELECTOR, "#devices tr[data-device-id]")
    check(len(rows) == 1, f"#devices has {len(rows)} rows tr[data-device-id], expected 1")
    link = rows[0].find_element(By.CSS_SELECTOR, "a.device-link")
    check(link.text.strip() == HOSTNAME, f"a.device-link reads {link.text!r}, expected the agent's hostname {HOSTNAME!r}")
    c.shot("05-devices.png")
    c.follow("#devices tr[data-device-id] a.device-link")
    check(c.find("#device-state").text.strip(), "#device-state is empty")
    c.shot("06-device.png")
    return c.driver.current_url


def wipe_command_state(c):
    return c.find('#commands tr[data-command-type="wipe"] td.command-state').text.strip()


def queue_wipe(c):
    c.find("#wipe-form")
    c.find("#wipe-confirm").send_keys(c.find("#device-hostname").text.strip())
    c.find("#wipe-reason").send_keys("browser test: laptop returned")
    c.follow("#wipe-submit")
    c.text(".flash", "Wipe", "a .flash message containing 'Wipe'")
    check(wipe_command_state(c) == "queued", f"the wipe command is {wipe_command_state(c)!r}, expected 'queued'")
    c.shot("07-wipe-queued.png")


def let_agent_wipe(c, bin_dir, root, device_url):
    for _ in range(3):
        if agent(bin_dir, "run", "--once", "--root", root).returncode != 0:
            break  # revoked after the wipe: expected
    deadline = time.time() + 10
    while True:
        c.driver.get(device_url)  # a GET, never a re-POST of the wipe form
        c.find("#device-state")
        if not c.absent("#wipe-confirmed"):
            break
        check(time.time() < deadline, "#wipe-confirmed did not appear within 10 s: no signed wipe receipt")
        time.sleep(0.5)
    check(wipe_command_state(c) == "succeeded", f"the wipe command is {wipe_command_state(c)!r}, expected 'succeeded'")
    # This test's agent root cannot encrypt: the receipt says the wipe could only delete, and why.
    c.text("#wipe-method", "deletion only", "the erase method from the signed receipt in #wipe-method")
    c.shot("08-wipe-confirmed.png")


def visit_pages(c):
    c.follow("#nav-persons")
    c.find("#person-email").send_keys("ada@example.org")
    c.find("#person-name").send_keys("Ada Lovelace")
    c.follow("#create-person-submit")
    c.text(".flash", "Ada Lovelace", "a .flash message naming the person just added")
    c.follow("#nav-persons")
    c.text("#persons", "ada@example.org", "the new person in #persons")
    c.shot("09-persons.png")
    c.follow("#nav-profiles")
    c.shot("10-profiles.png")
    c.follow("#nav-audit")
    c.find("#verify-chain").click()
    c.text("#verify-result", "intact", "#verify-result containing 'intact' after clicking #verify-chain")
    c.shot("11-audit.png")
    c.follow("#nav-dashboard")
    c.text("h1", "Dashboard")
    c.shot("12-dashboard-after.png")
    c.driver.set_window_size(390, 844)
    c.driver.refresh()
    c.text("h1", "Dashboard")
    c.shot("13-dashboard-phone.png")
    c.driver.set_window_size(1280, 900)


def terms_page(c, bin_dir, url, token, work):
    """Usage terms published with kontorctl show on the console's Terms page, with the answers so far."""
    path = os.path.join(work, "terms.md")
    with open(path, "w") as f:
        f.write("Work stays on the work account.\n")
    run = subprocess.run([os.path.join(bin_dir, "kontorctl"), "--server", url, "--token", token, "terms", "publish", "2026-12", "--file", path],
                         capture_output=True, text=True, timeout=30)
    check(run.returncode == 0, f"kontorctl terms publish: {run.stdout}{run.stderr}")
    c.follow("#nav-terms")
    c.text("#terms-versions", "2026-12", "the published version in #terms-versions")
    c.text("#terms-counts", "0 accepted, 0 declined", "#terms-counts for a version nobody answered yet")
    c.shot("14-terms.png")


def import_persons(c, root):
    """A staff list chosen as a file on the Persons page: read into the form, a preview of each change, then the import."""
    c.follow("#nav-persons")
    path = os.path.join(root, "staff.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write("email,name,groups\nada@example.org,Ada Lovelace,techs\nbo@example.org,Bo Builder,office\n")
    c.find("#import-file").send_keys(path)
    c.text("#import-file-status", "staff.csv: 2 rows read", "#import-file-status after choosing the file")
    check("bo@example.org" in c.find("#import-csv").get_attribute("value"), "the chosen file is in #import-csv")
    c.follow("#import-preview")
    c.text("#import-summary", "1 to add, 1 to change", "#import-summary of the preview")
    c.text("#import-added", "Bo Builder", "the person to add in #import-added")
    c.text("#import-updated", "ada@example.org: groups", "the change to Ada in #import-updated")
    c.shot("15-import-preview.png")
    c.follow("#import-confirm-submit")
    c.text(".flash", "Imported: 1 added, 1 changed", "the .flash after the import")
    c.text("#persons", "bo@example.org", "the imported person in #persons")


def sign_out(c):
    c.follow("#sign-out")
    c.find("#token")
    c.go("/console/devices")
    c.find("#token")
    check(c.absent("#devices"), "/console/devices shows the device table after signing out")


def single_sign_on(c):
    """Ada signs in through the provider's own page and is named in the audit log; Eve, in no mapped group, is not let in."""
    c.go("/console/sign-in")
    c.shot("15-sign-in-choice.png")
    c.follow("#sign-in-oidc")
    c.find("#sub").send_keys("ada")
    c.follow("#signin")
    c.text("h1", "Dashboard", "the dashboard after signing in through the provider")
    c.text(".who", "Ada Lovelace", "the signed-in person's name in the header")
    c.follow("#nav-audit")
    c.text("#audit", "person:Ada Lovelace <ada>", "Ada named in the audit log")
    c.shot("16-audit-person.png")
    sign_out(c)
    c.follow("#sign-in-oidc")
    c.find("#sub").send_keys("eve")
    c.follow("#signin")
    c.text("#no-role", "Eve Example", "the no-role page for a person without a mapped group")
    c.shot("17-no-role.png")
    c.go("/console/devices")
    c.find("#token")


def second_device(c, bin_dir, url, root):
    """An active device, so that the auditor's missing wipe form means something."""
    secret = create_enroll_token(c, shots=False)
    enroll_agent(bin_dir, url, secret, root, hostname="browser-test-desktop")
    c.follow("#nav-devices")
    link = c.wait(EC.element_to_be_clickable((By.LINK_TEXT, "browser-test-desktop")), "a link to browser-test-desktop in #devices")
    link.click()
    c.find("#wipe-form")  # an admin sees it
    return c.driver.current_url


def auditor_view(c, token, device_url):
    sign_in(c, token)
    c.driver.get(device_url)
    c.text("#device-state", "active", "the second device, active")
    check(c.absent("#wipe-form"), "an auditor sees #wipe-form on an active device's page")
    c.shot("14-auditor-device.png")
    c.follow("#nav-enroll-tokens")
    check(c.absent("#create-enroll-token"), "an auditor sees the #create-enroll-token form")
    sign_out(c)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="folder with kontor-server and kontor-agent (swift build --show-bin-path)")
    parser.add_argument("--screenshots", default="artifacts/console-screenshots")
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    bin_dir, shots = os.path.abspath(args.bin), os.path.abspath(args.screenshots)
    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="kontor-browser-")
    data, root, log = os.path.join(work, "data"), os.path.join(work, "agent-root"), os.path.join(work, "server.log")
    os.makedirs(shots, exist_ok=True)
    for stale in ("failure.png", "failure.html"):  # from an earlier failed run
        if os.path.exists(os.path.join(shots, stale)):
            os.remove(os.path.join(shots, stale))
    os.makedirs(data, mode=0o700, exist_ok=True)

    server = provider = c = None
    try:
        provider, provider_url = start_provider(work)
        server, url = start_server(bin_dir, data, log, provider_url)
        admin, auditor = create_token(bin_dir, data, "admin"), create_token(bin_dir, data, "auditor")
        c = Console(url, shots)
        sign_in(c, admin, first=True)
        c.shot("02-dashboard.png")
        secret = create_enroll_token(c)
        enroll_agent(bin_dir, url, secret, root)
        device_url = open_device(c)
        queue_wipe(c)
        let_agent_wipe(c, bin_dir, root, device_url)
        visit_pages(c)
        terms_page(c, bin_dir, url, admin, work)
        import_persons(c, work)
        active_url = second_device(c, bin_dir, url, os.path.join(work, "agent-root-2"))
        sign_out(c)
        auditor_view(c, auditor, active_url)
        single_sign_on(c)
        print(f"ok: console signed in, enrolled {HOSTNAME}, wiped it with a signed receipt, checked the auditor's view, signed in "
              f"through an OpenID provider; "
              f"screenshots in {shots}")
        return 0
    except Exception as error:
        if isinstance(error, (Failure, TimeoutException)):
            steps = [frame.name for frame in traceback.extract_tb(error.__traceback__)
                     if frame.filename == __file__ and frame.name not in vars(Console) and frame.name != "main"]
            print(f"FAILED in {' > '.join(steps)}: {getattr(error, 'msg', None) or error}", file=sys.stderr)
        else:
            traceback.print_exc()
        if c:
            try:
                print(f"at {c.driver.current_url}", file=sys.stderr)
                c.shot("failure.png")
                with open(os.path.join(shots, "failure.html"), "w") as f:
                    f.write(c.driver.page_source)
                print(f"failure.png and failure.html are in {shots}", file=sys.stderr)
            except Exception as shot_error:
                print(f"(no failure screenshot: {shot_error})", file=sys.stderr)
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                print("--- kontor-server log (tail) ---\n" + "".join(f.readlines()[-40:]), file=sys.stderr)
        return 1
    finally:
        if provider:
            provider.kill()
            provider.wait()
        if c:
            c.driver.quit()
        if server:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    sys.exit(main())
