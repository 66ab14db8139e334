"""Issue 14 (item 4 and parts of 11) against a real `tally serve`: the pages' security headers and their CSP hash,
TALLY_METRICS_TOKEN, Secure cookies from an https TALLY_PUBLIC_URL, private files in a data directory that already
existed, no secrets in a debug log, and scripts/check-attributes seeing the helpers that write attributes unescaped."""
import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import clock
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BIN, AccountsTally, Browser, api_token, bearer, free_port, signed_in

ROOT = Path(__file__).resolve().parents[1]
OWNER = {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD}
METRICS_TOKEN = "metrics-" + "0123456789abcdef" * 2


@pytest.fixture
def tally_dir():
    with tempfile.TemporaryDirectory() as d:
        yield d


def serve(data_dir, **env):
    t = AccountsTally(data_dir, None, dict(OWNER))
    return t, t.serve(**env)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- headers ---------------------------------------------------------------------------------------------------------

def test_pages_carry_the_security_headers_and_the_csp_allows_the_inline_script_by_hash(tally_dir):
    t, server = serve(tally_dir)
    try:
        b = signed_in(server)
        for path in ["/login", "/", "/events", "/settings/providers", "/events/no-such-event", "/settings/nothing"]:
            r = (b.get(path) if path != "/login" else requests.get(server.url + path, timeout=30))
            csp = r.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self' 'sha256-" in csp, f"{path}: {csp!r}"
            assert "unsafe-inline" not in csp, path
            assert r.headers.get("X-Content-Type-Options") == "nosniff", path
            assert r.headers.get("Referrer-Policy") == "same-origin", path
        page = b.get("/")
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
        assert len(inline) == 1, inline
        digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
        assert f"'sha256-{digest}'" in page.headers["Content-Security-Policy"]
        assert not re.search(r"\son[a-z]+=", page.text), "an inline event handler the CSP would block"
        redirect = requests.get(server.url + "/usage", allow_redirects=False, timeout=30)
        assert redirect.status_code == 303 and "frame-ancestors 'none'" in redirect.headers["Content-Security-Policy"]
    finally:
        t.stop_all()


HOSTILE = 'x"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\''


def test_in_a_browser_hostile_ids_and_names_stay_text_inline_scripts_are_refused_and_the_switcher_works(driver, tally_dir):
    t, server = serve(tally_dir)
    try:
        owner = signed_in(server)
        token = api_token(owner, scopes=("ingest", "read"))
        now = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        r = requests.post(server.url + "/api/v1/events", headers=bearer(token), timeout=30, json=[
            {"id": HOSTILE, "timestamp": now, "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1, "output_tokens": 1}])
        assert r.status_code == 200, r.text
        r = owner.api("POST", "/api/v1/organizations", json={"name": HOSTILE})
        assert r.status_code == 201, r.text
        hostile_org = r.json()["id"]

        driver.get(server.url + "/login")
        driver.wait_css("input[name=email]").send_keys(ADMIN_EMAIL)
        driver.css("input[name=password]").send_keys(ADMIN_PASSWORD)
        driver.css("form button[type=submit]").click()
        driver.wait_path("/")

        driver.get(server.url + "/events/" + urllib.parse.quote(HOSTILE, safe=""))
        driver.wait_css("h1")
        assert HOSTILE in driver.title, driver.title
        assert driver.execute_script("return window.__xss") is None, "the event id ran as markup"
        # The policy at work: an inline script put into the page is refused.
        ran = driver.execute_script(
            "const s = document.createElement('script'); s.textContent = 'window.__inline = 1';"
            "document.head.appendChild(s); return window.__inline")
        assert ran is None, "an inline script ran: no Content-Security-Policy"
        assert any("Content Security Policy" in m for m in driver.js_errors()), driver.console()

        # The organization switcher (its handler is in tally.js now) switches, and the hostile name stays text.
        driver.get(server.url + "/")
        Select(driver.wait_css("select[name=organization_id]")).select_by_value(hostile_org)
        session = driver.requests_session()
        driver.wait_for(lambda d: session.get(server.url + "/api/v1/me", timeout=10).json()["organization"]["id"] == hostile_org,
                        message="the switch to the second organization")
        driver.get(server.url + "/")
        driver.wait_css("select[name=organization_id]")
        assert driver.execute_script("return window.__xss") is None, "the organization name ran as markup"
        assert not [m for m in driver.js_errors() if "Content Security Policy" in m], driver.console()
    finally:
        t.stop_all()


def test_viewers_and_members_get_no_provider_settings_page_like_the_api(tally_dir):
    t, server = serve(tally_dir)
    try:
        owner = signed_in(server)
        r = owner.api("POST", "/api/v1/provider-connections", json={"name": "only-admins-see-this", "provider": "openai",
                                                                    "api_key": "sk-test-0123456789abcdef", "validate": False})
        assert r.status_code == 201, r.text
        for role in ("viewer", "member"):
            r = owner.api("POST", "/api/v1/invites", json={"email": f"{role}@example.test", "role": role})
            assert r.status_code == 201, r.text
            person = Browser(server)
            path = urllib.parse.urlsplit(r.json()["url"]).path
            assert person.fill(path, name=f"A {role}", password=f"{role}-password-0123").status_code == 303
            person.me()
            assert person.get("/api/v1/provider-connections").status_code == 403
            page = person.get("/settings/providers")
            assert page.status_code == 403 and "only-admins-see-this" not in page.text, (role, page.status_code)
            assert location_of(person.get("/settings")) == "/settings/projects"
        assert "only-admins-see-this" in owner.get("/settings/providers").text
    finally:
        t.stop_all()


def location_of(response):
    return urllib.parse.urlsplit(response.headers.get("Location", "")).path


# -- /metrics --------------------------------------------------------------------------------------------------------

def test_metrics_need_the_token_when_one_is_set(tally_dir):
    t, server = serve(tally_dir, TALLY_METRICS_TOKEN=METRICS_TOKEN)
    try:
        r = requests.get(server.url + "/metrics", timeout=30)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(server.url + "/metrics", headers=bearer(METRICS_TOKEN[:-1] + "x"), timeout=30).status_code == 401
        ok = requests.get(server.url + "/metrics", headers=bearer(METRICS_TOKEN), timeout=30)
        assert ok.status_code == 200 and ok.headers["Content-Type"].startswith("text/plain"), ok.text[:200]
        assert METRICS_TOKEN not in t.logs()
    finally:
        t.stop_all()
    # Unset: open as before.
    t, server = serve(tally_dir)
    try:
        assert requests.get(server.url + "/metrics", timeout=30).status_code == 200
    finally:
        t.stop_all()


def test_a_short_metrics_token_stops_start_up_without_echoing_it(tally_dir):
    t = AccountsTally(tally_dir, None, dict(OWNER))
    r = subprocess.run([BIN, "serve", "--port", str(free_port()), "--data-dir", tally_dir], capture_output=True, text=True, timeout=20,
                       env=t.environment({"TALLY_METRICS_TOKEN": "tooshort"}))
    assert r.returncode == 1 and "TALLY_METRICS_TOKEN" in r.stderr, r.stderr
    assert "tooshort" not in r.stderr + r.stdout


# -- live streams ---------------------------------------------------------------------------------------------------

def test_live_streams_are_capped_per_session_and_end_at_sign_out(tally_dir):
    t, server = serve(tally_dir)
    try:
        b = signed_in(server)
        streams = [b.get("/events/live", stream=True) for _ in range(4)]
        assert all(s.status_code == 200 for s in streams), [s.status_code for s in streams]
        fifth = b.get("/events/live", stream=True)
        assert fifth.status_code == 429, f"the fifth stream of a session answered {fifth.status_code}"
        assert fifth.json()["error"]["code"] == "too_many_streams", fifth.text[:300]
        other = signed_in(server).get("/events/live", stream=True)
        assert other.status_code == 200, "another session has its own four"
        other.close()

        started = time.monotonic()
        assert b.logout().status_code == 303
        for s in streams:
            s.raw.read()  # to the end: the server ends each stream at its next poll (streams last 2 minutes otherwise)
            s.close()
        assert time.monotonic() - started < 15
    finally:
        t.stop_all()


# -- cookies ---------------------------------------------------------------------------------------------------------

def test_cookies_are_secure_when_the_public_url_is_https(tally_dir):
    t, server = serve(tally_dir, TALLY_PUBLIC_URL="https://tally.example.test")
    try:
        b = Browser(server)
        page = b.get("/login")
        assert "Secure" in page.headers.get("Set-Cookie", ""), page.headers.get("Set-Cookie")
        # requests keeps Secure cookies for https only: hand the pre-login CSRF cookie over by hand.
        csrf_cookie = re.search(r"tally_csrf=([^;]+)", page.headers["Set-Cookie"]).group(1)
        csrf_field = re.search(r'name="_csrf" value="([^"]+)"', page.text).group(1)
        r = requests.post(server.url + "/login", data={"_csrf": csrf_field, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                          cookies={"tally_csrf": csrf_cookie}, allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text[:300]
        session = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("tally_session=")]
        assert session and "; Secure" in session[0] and "HttpOnly" in session[0], session
    finally:
        t.stop_all()


# -- the data directory ----------------------------------------------------------------------------------------------

def test_files_in_an_existing_data_directory_are_private(tally_dir):
    data = os.path.join(tally_dir, "data")
    os.mkdir(data)
    os.chmod(data, 0o755)
    t = AccountsTally(data, None, dict(OWNER))
    try:
        server = t.serve()
        # Write something, so the WAL exists too.
        b = signed_in(server)
        api_token(b)
        for name in ["tally.sqlite", "tally.sqlite-wal", "tally.sqlite-shm", "master.key"]:
            path = os.path.join(data, name)
            if name != "tally.sqlite-shm" or os.path.exists(path):
                assert mode(path) == 0o600, f"{name} is {oct(mode(path))}"
        assert "data directory" in t.logs() and "chmod 700" in t.logs(), t.logs()[-2000:]
    finally:
        t.stop_all()


# -- the debug log ---------------------------------------------------------------------------------------------------

def test_a_debug_log_holds_no_invite_secret_and_no_key_parameter(tally_dir, smtp_sink):
    t, server = serve(tally_dir, TALLY_LOG_LEVEL="debug", TALLY_SMTP_URL=smtp_sink.url())
    try:
        owner = signed_in(server)
        r = owner.api("POST", "/api/v1/invites", json={"email": "newcomer@example.test", "role": "viewer"})
        assert r.status_code == 201 and r.json()["mailed"] is True, r.text
        url = r.json()["url"]
        assert url in smtp_sink.wait_for(1)[0]["text"], "the invite went out by mail (and its sending was logged)"
        secret = urllib.parse.urlsplit(url).path.rsplit("/", 1)[1]
        invitee = Browser(server)
        assert invitee.get(urllib.parse.urlsplit(url).path).status_code == 200
        accepted = invitee.fill(urllib.parse.urlsplit(url).path, name="New Comer", password="newcomer-password-0123")
        assert accepted.status_code == 303, accepted.text[:300]

        token = api_token(owner, scopes=("gateway",), name="gateway")
        gemini = requests.post(f"{server.url}/gateway/google/v1beta/models/gemini-2.5-flash:generateContent?key={token}",
                               json={"contents": [{"parts": [{"text": "hi"}]}]}, timeout=30)
        assert gemini.status_code >= 400  # no Google connection: refused, but only after the request was logged
        requests.get(f"{server.url}/usage?preset=7d&key={token}&token={token}", allow_redirects=False, timeout=30)

        log = t.logs()
        assert "/gateway/google/" in log and "/invites/" in log and "SMTP" in log, "the debug log should show these requests"
        for name, value in [("invite secret", secret), ("gateway token", token), ("session cookie", owner.session_cookie),
                            ("the password", ADMIN_PASSWORD)]:
            assert value not in log, f"the {name} is in the debug log"
    finally:
        t.stop_all()


# -- scripts/check-attributes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("line,problem", [
    ('.title(name)', "writes attributes unescaped"),
    ('.description(text)', "writes attributes unescaped"),
    ('.attribute(named: "onchange", value: "this.form.submit()")', "inline event handler"),
    ('.class("badge " + kind)', "not escaped"),
    ('.name(field)', "not escaped"),
    ('.raw("<b>\\(name)</b>")', "interpolation not wrapped"),
])
def test_check_attributes_sees_every_unescaped_attribute_path(line, problem):
    with tempfile.TemporaryDirectory() as d:
        # The pages live in TallyWeb; the server keeps its page plumbing in TallyServer/Web: the check scans both.
        for folder in (("TallyWeb",), ("TallyServer", "Web")):
            shutil.copytree(ROOT.joinpath("Sources", *folder), Path(d).joinpath("Sources", *folder))
        (Path(d) / "scripts").mkdir()
        shutil.copy(ROOT / "scripts" / "check-attributes", Path(d) / "scripts" / "check-attributes")
        clean = subprocess.run([sys.executable, str(Path(d) / "scripts" / "check-attributes")], capture_output=True, text=True)
        assert clean.returncode == 0, clean.stdout
        with open(Path(d) / "Sources" / "TallyWeb" / "Injected.swift", "w") as f:
            f.write("import Plot\nlet injected: Node<HTML.BodyContext> = .div(%s)\n" % line)
        r = subprocess.run([sys.executable, str(Path(d) / "scripts" / "check-attributes")], capture_output=True, text=True)
        assert r.returncode == 1 and "Injected.swift:2" in r.stdout and problem in r.stdout, r.stdout
