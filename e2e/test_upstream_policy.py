"""SSRF and redirects (issue 14, item 2), end to end against real `tally serve` processes.

A server started without TALLY_ALLOW_PRIVATE_UPSTREAMS refuses base URLs that are or resolve to loopback, link-local,
private, shared, unique-local, unspecified or multicast addresses, in every spelling (`2130706433`, `0x7f.1`,
`[::ffff:127.0.0.1]`, `localhost.`…), when a connection is saved (422 upstream_not_allowed on `base_url`) and again
when it is called (validation, the sync and the gateway), so a connection saved while allowed, or a name that has
come to resolve elsewhere, reaches nothing. With the opt-in it works. Redirects are never followed where a key is
sent, and a validation error quotes at most 200 characters of the provider's JSON message, never a raw body.
"""
import json
import socket
import tempfile
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AccountsTally, api_token, assert_error, bearer, signed_in

CONNECTIONS = "/api/v1/provider-connections"
MARKER = "INTERNAL-ONLY-" + uuid.uuid4().hex  # text of an "internal service" that must never be echoed back
ALLOW = "TALLY_ALLOW_PRIVATE_UPSTREAMS"


class Upstream:
    """A hostile or internal HTTP service on 127.0.0.1 whose answer is set per test (`behave`); records requests."""

    def __init__(self):
        self.requests = []
        self.behaviour = "ok"
        self.redirect_to = None
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                upstream.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body, phrase = upstream.answer(self.path)
                self.send_response(status, phrase)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path):
        b = self.behaviour
        if b == "ok":
            return 200, {"Content-Type": "application/json"}, b'{"object":"list","data":[]}', None
        if b == "redirect":
            return 302, {"Location": self.redirect_to + path, "Content-Type": "text/plain"}, b"moved", None
        if b == "html":
            page = f"<html><body><h1>{MARKER}</h1>{'<p>internal detail</p>' * 50}</body></html>".encode()
            return 500, {"Content-Type": "text/html"}, page, MARKER
        if b == "huge-json":
            message = "x" * 5000 + MARKER
            return 500, {"Content-Type": "application/json"}, json.dumps(
                {"error": {"message": message, "type": "server_error"}}).encode(), None
        if b == "huge-body":
            return 500, {"Content-Type": "application/octet-stream"}, (MARKER.encode() + b"\0" * 1024) * 3000, None
        raise AssertionError(b)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def thief():
    """Where a redirect points: it must never be called."""
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def tally():
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                    "TALLY_SYNC_INTERVAL": "off"})
        yield t
        t.stop_all()


def key(kind="good"):
    return f"sk-proj-{kind}-" + uuid.uuid4().hex


def loopback_hostname():
    """This machine's own name, when it resolves to loopback without any change to system files."""
    name = socket.gethostname()
    try:
        addresses = {a[4][0] for a in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    except socket.gaierror:
        return None
    return name if addresses and all(a.startswith("127.") or a == "::1" for a in addresses) else None


def refused_bases(port):
    bases = [
        f"http://127.0.0.1:{port}", f"http://127.8.9.10:{port}", "http://169.254.169.254", "http://[fe80::1]",
        "http://10.0.0.7", "http://172.16.5.4:8080", "http://192.168.1.1", "http://100.64.0.1",
        f"http://[::1]:{port}", f"http://[::ffff:127.0.0.1]:{port}", f"http://[::ffff:7f00:1]:{port}",
        "http://[::ffff:169.254.169.254]", "http://[fd00::1]", "http://[fc00::1]",
        f"http://0.0.0.0:{port}", f"http://[::]:{port}", f"http://0:{port}", "http://224.0.0.1", "http://[ff02::1]",
        f"http://2130706433:{port}", f"http://0x7f.1:{port}", f"http://0x7f000001:{port}", f"http://0177.0.0.1:{port}",
        f"http://127.1:{port}", "http://0xa9fea9fe", "http://169.254.43518",
        f"http://localhost:{port}", f"http://LocalHost.:{port}", f"http://tally.localhost:{port}", f"http://127.0.0.1.:{port}",
        f"https://127.0.0.1:{port}", "http://[64:ff9b::a9fe:a9fe]",
    ]
    name = loopback_hostname()
    if name:
        bases.append(f"http://{name}:{port}")
    return bases


def check_refusal(r, base):
    error = assert_error(r, 422, "upstream_not_allowed")
    assert error["details"] and error["details"][0]["field"] == "base_url", error
    assert "TALLY_ALLOW_PRIVATE_UPSTREAMS" in error["message"], error
    return error


# ---------------------------------------------------------------------------------------------------------------
# On save

def test_private_base_urls_are_refused_on_save_in_every_spelling(tally, upstream):
    server = tally.serve(**{ALLOW: None})
    owner = signed_in(server)
    for base in refused_bases(upstream.port):
        for validate in (False, True):
            r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "internal", "api_key": key(),
                                                     "base_url": base, "validate": validate})
            check_refusal(r, base)
    assert owner.api("GET", CONNECTIONS).json()["data"] == [], "a refused connection was saved"
    assert upstream.requests == [], "a refused base_url was called"

    # PATCH: an existing connection cannot be moved onto a private address either.
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "public", "api_key": key(), "validate": False})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    for base in (f"http://127.0.0.1:{upstream.port}", "http://169.254.169.254", f"http://0x7f.1:{upstream.port}"):
        r = owner.api("PATCH", f"{CONNECTIONS}/{cid}", json={"base_url": base, "api_key": key(), "validate": False})
        check_refusal(r, base)
    assert owner.api("GET", f"{CONNECTIONS}/{cid}").json()["base_url"] is None
    assert upstream.requests == []


def test_other_schemes_and_credentials_are_refused(tally):
    server = tally.serve(**{ALLOW: None})
    owner = signed_in(server)
    for base in ("file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.com", "http://user:pass@example.com",
                 "http://example.com@127.0.0.1", "http://"):
        r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "api_key": key(), "base_url": base, "validate": False})
        assert r.status_code in (400, 422), (base, r.text)
        assert assert_error(r, r.status_code)["details"][0]["field"] == "base_url", (base, r.text)


def test_the_opt_in_allows_what_it_names_and_nothing_else(tally, upstream):
    """TALLY_ALLOW_PRIVATE_UPSTREAMS=127.0.0.0/8 (what the other tests run with): the stand-in is validated and
    called. Naming a host (`localhost`) allows that name, not the addresses it stands for."""
    server = tally.serve(**{ALLOW: "127.0.0.0/8"})
    owner = signed_in(server)
    for base in (upstream.url, f"http://2130706433:{upstream.port}", f"http://127.1:{upstream.port}"):
        r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": f"ok {base}", "api_key": key(), "base_url": base})
        assert r.status_code == 201 and r.json()["validated"] is True, (base, r.text)
    assert len(upstream.requests) == 3 and all(p == "/v1/models" for _, p, _ in upstream.requests), upstream.requests
    for base in ("http://169.254.169.254", "http://10.1.2.3", f"http://[::1]:{upstream.port}"):
        check_refusal(owner.api("POST", CONNECTIONS, json={"provider": "openai", "api_key": key(), "base_url": base,
                                                           "validate": False}), base)
    server.stop()

    upstream.requests.clear()
    server = tally.serve(**{ALLOW: "localhost"})
    owner = signed_in(server)
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "by name", "api_key": key(),
                                             "base_url": f"http://localhost:{upstream.port}"})
    assert r.status_code == 201 and r.json()["validated"] is True, r.text
    assert upstream.requests[-1][2]["host"] == f"localhost:{upstream.port}"
    check_refusal(owner.api("POST", CONNECTIONS, json={"provider": "openai", "api_key": key(), "base_url": upstream.url,
                                                       "validate": False}), upstream.url)


def test_a_malformed_opt_in_stops_start_up_naming_the_item(tally):
    server = tally.serve(wait=False, **{ALLOW: "10.0.0.0/8,not a host"})
    server.proc.wait(timeout=30)
    assert server.proc.returncode != 0
    logs = tally.logs()
    assert "TALLY_ALLOW_PRIVATE_UPSTREAMS" in logs and "not a host" in logs, logs[-500:]


# ---------------------------------------------------------------------------------------------------------------
# At connect time

def test_calls_are_checked_again_when_made(tally, upstream):
    """Connections saved while the opt-in allowed loopback, then a server without it: the test endpoint, the sync and
    the gateway all refuse to call them (the address is checked at each call, not only when saved), and the upstream
    never sees a request. The same check stops a host name that resolves to a public address when saved and to an
    internal one later (DNS rebinding): what is judged is the address connected to."""
    server = tally.serve()
    owner = signed_in(server)
    api_key, admin_key = key(), "sk-admin-" + uuid.uuid4().hex
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "was allowed", "api_key": api_key,
                                             "admin_key": admin_key, "base_url": upstream.url, "validate": False})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    gateway_token = api_token(owner, project="app", scopes=("gateway",))
    server.stop()

    strict = tally.serve(**{ALLOW: None})
    owner = signed_in(strict)
    tested = owner.api("POST", f"{CONNECTIONS}/{cid}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is False and "loopback" in tested.json()["error"], tested.text
    assert "TALLY_ALLOW_PRIVATE_UPSTREAMS" in tested.json()["error"]

    run = owner.api("POST", f"{CONNECTIONS}/{cid}/sync", json={}, timeout=60)
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "failed" and "upstream_not_allowed" in run.json()["error"], run.text

    g = requests.post(strict.url + "/gateway/openai/v1/chat/completions", headers=bearer(gateway_token),
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert g.status_code == 422, g.text
    err = g.json()["error"]
    assert err["code"] == "upstream_not_allowed" and "loopback" in err["message"], err
    assert g.headers.get("x-should-retry") == "false"

    assert upstream.requests == [], "a call went to a refused upstream"
    for secret in (api_key, admin_key):
        assert secret not in tested.text + run.text + g.text + tally.logs()


# ---------------------------------------------------------------------------------------------------------------
# Redirects

def test_no_redirect_is_followed_where_a_key_is_sent(tally, upstream, thief):
    upstream.behaviour, upstream.redirect_to = "redirect", thief.url
    server = tally.serve()
    owner = signed_in(server)
    api_key, admin_key = key(), "sk-admin-" + uuid.uuid4().hex

    # Validation: the 302 is the answer, and the key stays with the base_url.
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "redirecting", "api_key": api_key,
                                             "base_url": upstream.url})
    error = assert_error(r, 422, "provider_rejected_key")
    assert "302" in error["message"] and "redirect" in error["message"], error

    # The sync: a failed run, no retry towards the redirect.
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "redirecting", "api_key": api_key,
                                             "admin_key": admin_key, "base_url": upstream.url, "validate": False})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    run = owner.api("POST", f"{CONNECTIONS}/{cid}/sync", json={}, timeout=60).json()
    assert run["status"] == "failed" and "redirect" in run["error"], run

    # The gateway: the client gets the 302 itself; Tally does not go where it points.
    token = api_token(owner, project="app", scopes=("gateway",))
    g = requests.post(server.url + "/gateway/openai/v1/chat/completions", headers=bearer(token), allow_redirects=False,
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    assert g.status_code == 302, g.text

    assert len(upstream.requests) >= 3
    assert thief.requests == [], f"a redirect was followed: {thief.requests}"


# ---------------------------------------------------------------------------------------------------------------
# What validation quotes

@pytest.mark.parametrize("behaviour", ["html", "huge-json", "huge-body"])
def test_validation_quotes_at_most_200_characters_and_never_a_raw_body(tally, upstream, behaviour):
    upstream.behaviour = behaviour
    server = tally.serve()
    owner = signed_in(server)
    r = owner.api("POST", CONNECTIONS, json={"provider": "openai", "name": "internal", "api_key": key(),
                                             "base_url": upstream.url}, timeout=60)
    error = assert_error(r, 422, "provider_rejected_key")
    prefix = "openai answered 500: "
    assert error["message"].startswith(prefix), error
    quoted = error["message"][len(prefix):]
    assert 0 < len(quoted) <= 200, (len(quoted), quoted[:300])
    assert MARKER not in r.text and "<html" not in r.text and "internal detail" not in r.text, r.text[:500]
    if behaviour == "huge-json":
        assert quoted.startswith("server_error: xxxx"), quoted
    else:
        assert quoted == "Internal Server Error", quoted
