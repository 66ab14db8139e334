"""Fixtures that run real `tally serve` processes on SQLite files or fresh PostgreSQL databases."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

BIN = os.path.abspath(os.environ.get("TALLY_BIN", ".build/debug/tally"))
PG_URL = os.environ.get("TALLY_TEST_POSTGRES_URL")

# Every stand-in upstream listens on loopback, which Tally refuses to call unless the operator allows it (issue 14):
# servers and CLI runs started by the tests allow 127.0.0.0/8. A test starts one without it with
# `serve(TALLY_ALLOW_PRIVATE_UPSTREAMS=None)` (AccountsTally) or `Tally(..., allow_loopback=False)`.
LOOPBACK_ALLOWANCE = {"TALLY_ALLOW_PRIVATE_UPSTREAMS": "127.0.0.0/8"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres_url():
    """A new, empty database on the test PostgreSQL server."""
    parts = urllib.parse.urlsplit(PG_URL)
    name = "tally_e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", "-q", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                    "-d", "tally", "-c", f"CREATE DATABASE {name}"], check=True)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


class Tally:
    """One data location (a SQLite dir or a PostgreSQL URL), its CLI, and any servers started on it."""

    def __init__(self, data_dir, database_url=None, allow_loopback=True):
        self.data_dir = data_dir
        self.database_url = database_url
        self.servers = []
        self.base_env = dict(os.environ, **(LOOPBACK_ALLOWANCE if allow_loopback else {}))
        if not allow_loopback:
            self.base_env.pop("TALLY_ALLOW_PRIVATE_UPSTREAMS", None)

    def store_args(self):
        args = ["--data-dir", self.data_dir]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def cli(self, *args, check=True):
        r = subprocess.run([BIN, *args, *self.store_args()], capture_output=True, text=True, timeout=60,
                           env=self.base_env)
        if check and r.returncode != 0:
            raise AssertionError(f"tally {' '.join(args)} failed: {r.stderr}")
        return r

    def token(self, project="web", scopes="ingest,read"):
        self.cli("projects", "create", project, check=False)
        out = self.cli("tokens", "create", "--project", project, "--scopes", scopes).stdout
        return out.strip()

    def serve(self, wait=True):
        port = free_port()
        log = open(os.path.join(self.data_dir, f"serve-{port}.log"), "w")
        proc = subprocess.Popen([BIN, "serve", "--port", str(port), *self.store_args()], stdout=log, stderr=log,
                                env=self.base_env)
        server = Server(proc, port)
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self):
        for s in self.servers:
            s.stop()


class Server:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tally serve exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError("tally serve did not become ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sqlite_tally():
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d)
        yield t
        t.stop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def any_tally(request):
    if request.param == "postgres" and not PG_URL:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d, fresh_postgres_url() if request.param == "postgres" else None)
        yield t
        t.stop_all()


def event(event_id, **fields):
    e = {"id": event_id, "timestamp": "2026-11-20T10:15:00Z", "provider": "openai", "model": "gpt-4o",
         "input_tokens": 100, "output_tokens": 10}
    e.update(fields)
    return e


def wait_until(condition, timeout=10.0, what="the condition", interval=0.05):
    """Polls `condition()` until it returns something truthy, and returns that; past `timeout` seconds fails naming
    `what` and the last value seen. For waiting on a state the test can observe, never for time to pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def all_event_ids(server, token):
    r = requests.get(server.url + "/api/v1/events/export?format=ndjson",
                     headers={"Authorization": f"Bearer {token}"}, timeout=60)
    r.raise_for_status()
    import json
    return [json.loads(line)["id"] for line in r.text.splitlines() if line]


# ---------------------------------------------------------------------------------------------------------------
# Accounts, sessions and the vault (issue 5): servers started with environment variables, a browser that keeps
# cookies and fills forms with their _csrf, a real SMTP server, and the providers' list-models stand-ins.

import base64  # noqa: E402
import email  # noqa: E402
import email.policy  # noqa: E402
import html.parser  # noqa: E402
import threading  # noqa: E402

from standins.provider_models import provider_standins  # noqa: E402,F401  (a fixture)

ADMIN_EMAIL = "owner@example.test"
ADMIN_PASSWORD = "owner-password-0123"
ACCOUNT_ENV = ("TALLY_ADMIN_EMAIL", "TALLY_ADMIN_PASSWORD", "TALLY_MASTER_KEY", "TALLY_MASTER_KEY_FILE",
               "TALLY_SMTP_URL", "TALLY_PUBLIC_URL")


def new_master_key():
    """A master key as Tally reads it: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()


class AccountsTally(Tally):
    """A Tally whose servers and CLI get environment variables (admin account, master key, SMTP, public URL).

    `env` is the base environment of every server; `serve(**env)` adds to it (a value of None removes a variable).
    Variables of the developer's own shell that would change accounts or the vault are never inherited."""

    def __init__(self, data_dir, database_url=None, env=None):
        super().__init__(data_dir, database_url)
        self.env = dict(env or {})

    def environment(self, overrides):
        full = {k: v for k, v in os.environ.items() if k not in ACCOUNT_ENV}
        for k, v in {**LOOPBACK_ALLOWANCE, **self.env, **overrides}.items():
            if v is None:
                full.pop(k, None)
            else:
                full[k] = v
        return full

    def serve(self, wait=True, **env):
        port = free_port()
        log_path = os.path.join(self.data_dir, f"serve-{port}.log")
        log = open(log_path, "w")
        proc = subprocess.Popen([BIN, "serve", "--port", str(port), *self.store_args()], stdout=log, stderr=log,
                                env=self.environment(env))
        server = Server(proc, port)
        server.log_path = log_path
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def cli_env(self, *args, check=True, **env):
        r = subprocess.run([BIN, *args, *self.store_args()], capture_output=True, text=True, timeout=60,
                           env=self.environment(env))
        if check and r.returncode != 0:
            raise AssertionError(f"tally {' '.join(args)} failed: {r.stderr}")
        return r

    def logs(self):
        """Everything every server of this Tally has logged so far."""
        text = ""
        for s in self.servers:
            with open(s.log_path, errors="replace") as f:
                text += f.read()
        return text


def tally_cli(tally, *args, stdin=None, timeout=120):
    """`tally ARGS --data-dir …` (and the database URL) with its exit status, stdout and stderr; never raises on
    failure, and feeds `stdin` (text) when given. An AccountsTally's command gets its servers' environment."""
    env = tally.environment({}) if isinstance(tally, AccountsTally) else tally.base_env
    return subprocess.run([BIN, *args, *tally.store_args()], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _accounts_tally(kind, data_dir, env):
    if kind == "postgres":
        if not PG_URL:
            pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
        # Only the embedded SQLite mode makes its own master key; PostgreSQL replicas must share one.
        return AccountsTally(data_dir, fresh_postgres_url(), dict(env, TALLY_MASTER_KEY=new_master_key()))
    return AccountsTally(data_dir, None, env)


@pytest.fixture
def fresh_sqlite_site():
    """A SQLite Tally with no user yet (first run goes through /setup)."""
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("sqlite", d, {})
        yield t
        t.stop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_site(request):
    """A Tally with no user yet, on SQLite and on PostgreSQL."""
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally(request.param, d, {})
        yield t
        t.stop_all()


@pytest.fixture
def sqlite_site():
    """A SQLite Tally whose servers create the owner ADMIN_EMAIL unattended."""
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("sqlite", d, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t
        t.stop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def site(request):
    """Like sqlite_site, on SQLite and on PostgreSQL."""
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally(request.param, d,
                            {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t
        t.stop_all()


class _Forms(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._form = None

    _select = None  # the name of the <select> being read, until its first or selected <option> gives its value

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                          "fields": {}, "types": {}}
            self.forms.append(self._form)
        elif tag == "option" and self._form is not None and self._select:
            fields = self._form["fields"]
            if self._select not in fields or "selected" in a:
                fields[self._select] = a.get("value") or ""
        elif tag in ("input", "textarea", "select") and self._form is not None and a.get("name"):
            if (a.get("type") or "").lower() in ("submit", "button", "reset", "image"):
                return
            if tag == "select":
                self._select = a["name"]
            else:
                self._form["fields"].setdefault(a["name"], a.get("value") or "")
            self._form["types"][a["name"]] = (a.get("type") or tag).lower()

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def html_forms(text):
    """The forms of an HTML page: [{"action", "method", "fields": {name: value}, "types": {name: type}}]."""
    p = _Forms()
    p.feed(text)
    p.close()
    return p.forms


def set_cookies(response):
    """Every Set-Cookie header of a response, unjoined: [(name, value, {attribute-lower: value-or-True})]."""
    out = []
    for raw in response.raw.headers.getlist("Set-Cookie"):
        first, *attrs = [part.strip() for part in raw.split(";")]
        name, _, value = first.partition("=")
        parsed = {}
        for attr in attrs:
            k, eq, v = attr.partition("=")
            parsed[k.strip().lower()] = v.strip() if eq else True
        out.append((name, value, parsed))
    return out


def location_path(response):
    return urllib.parse.urlsplit(response.headers.get("Location", "")).path


def assert_error(response, status, code=None):
    """The response is `status` with the error envelope (and `code`, when given)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


class Browser:
    """One person's browser against one server: cookies, forms filled with their _csrf, and JSON API calls
    authenticated by the session cookie (with X-CSRF-Token on anything but GET/HEAD). Redirects are never followed."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()
        self.csrf = None  # the session's CSRF token, from GET /api/v1/me

    def at(self, server):
        """The same cookies and CSRF token, talking to another replica."""
        other = Browser(server)
        other.http.cookies.update(self.http.cookies)
        other.csrf = self.csrf
        return other

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        r = self.http.request(method, self.server.url + path, allow_redirects=False, **kw)
        # Browsers send `Secure` cookies (Tally sets them when TALLY_PUBLIC_URL is https) to http://127.0.0.1 too,
        # a secure context; requests would keep them for https only.
        for cookie in self.http.cookies:
            cookie.secure = False
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_form(self, path, fields, **kw):
        return self.request("POST", path, data=fields, **kw)

    def form(self, path, want=("password",)):
        """GET a page and return (response, fields of its form that has the `want` fields)."""
        r = self.get(path)
        assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
        forms = html_forms(r.text)
        assert forms, f"GET {path} has no form"
        best = max(forms, key=lambda f: sum(name in f["fields"] for name in want))
        return r, dict(best["fields"])

    def fill(self, path, headers=None, **fields):
        """GET the form at `path`, fill in `fields`, POST it back with the _csrf the page carried."""
        _, form = self.form(path, want=tuple(fields))
        assert "_csrf" in form, f"the form at {path} has no _csrf field: {form}"
        form.update(fields)
        return self.post_form(path, form, headers=headers)

    def login(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, headers=None):
        return self.fill("/login", headers=headers, email=email, password=password)

    def sign_in(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
        r = self.login(email, password)
        assert r.status_code == 303 and location_path(r) == "/", f"login: {r.status_code} {r.text[:300]}"
        self.me()
        return self

    def me(self):
        r = self.get("/api/v1/me")
        assert r.status_code == 200, f"GET /api/v1/me: {r.status_code} {r.text[:300]}"
        body = r.json()
        self.csrf = body["csrf_token"]
        return body

    @property
    def session_cookie(self):
        return self.http.cookies.get("tally_session")

    def api(self, method, path, json=None, csrf=True, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if csrf and method not in ("GET", "HEAD") and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.request(method, path, json=json, headers=headers, **kw)

    def logout(self):
        return self.post_form("/logout", {"_csrf": self.csrf})


def signed_in(server, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    return Browser(server).sign_in(email, password)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def api_token(browser, project="web", scopes=("admin",), name="tests"):
    """Create (if needed) the project and an API token through the JSON API; return its secret."""
    r = browser.api("POST", "/api/v1/projects", json={"name": project})
    assert r.status_code in (201, 409), f"POST /api/v1/projects: {r.status_code} {r.text[:300]}"
    r = browser.api("POST", "/api/v1/tokens", json={"name": name, "project": project, "scopes": list(scopes)})
    assert r.status_code == 201, f"POST /api/v1/tokens: {r.status_code} {r.text[:300]}"
    return r.json()["secret"]


class MailSink:
    """What a real SMTP server (aiosmtpd, in this process) received."""

    def __init__(self, port):
        self.port = port
        self.messages = []  # {"mail_from", "rcpt_tos", "message": email.message.EmailMessage, "text"}
        self._cond = threading.Condition()

    def url(self, sender="tally@example.test"):
        return f"smtp://127.0.0.1:{self.port}?from={sender}"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
        with self._cond:
            self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                                  "message": message, "text": "\n".join(parts)})
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count=1, timeout=20):
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)


@pytest.fixture
def smtp_sink():
    """A real SMTP server on 127.0.0.1 collecting every message; `smtp_sink.url()` is a TALLY_SMTP_URL."""
    from aiosmtpd.controller import Controller
    sink = MailSink(free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()
from webdriver import driver  # noqa: E402,F401  (a fixture: headless chromium for the dashboard tests)
from standins.usage_reports import usage_report_standins  # noqa: E402,F401  (a fixture: the providers' usage and cost report stand-ins)
from standins.upstreams import upstream_standins  # noqa: E402,F401  (a fixture: the gateway's stand-in upstreams)


# -- a skipped test fails the run where everything it needs is provided -------------------------------------------

def pytest_sessionfinish(session, exitstatus):
    """scripts/test starts PostgreSQL and installs every package, so there nothing may skip: a skip there means a test
    silently stopped testing (TALLY_E2E_FORBID_SKIPS=1). Run by hand without PostgreSQL, the skips stay skips."""
    if os.environ.get("TALLY_E2E_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped where nothing may skip (TALLY_E2E_FORBID_SKIPS=1):",
                            red=True)
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reporter.write_line(f"  {report.nodeid}: {reason}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
