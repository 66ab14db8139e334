"""The gateway as a safe proxy (issue 14, items 1, 3, 10, 12a, 12b), end to end against a real `tally serve`.

The gateway answers on Tally's origin, where browsers hold a session, and forwards to a base_url an organization
admin chose. So an upstream may be hostile (standins/hostile.py: it records what it got and answers with cookies,
redirects and HTML). These tests hold that:
- a signed-in browser's cookie and CSRF token, and proxy/browser headers, never reach an upstream, while the headers
  the official SDKs send do;
- upstream headers that act on the browser never come back, and every gateway answer (Tally's own included) is
  sandboxed (`Content-Security-Policy: sandbox; default-src 'none'`, `X-Content-Type-Options: nosniff`);
- only inference endpoints are forwarded unless an admin sets the connection's `gateway_endpoints` to `all`, and
  dot or empty path segments (also percent-encoded) answer 400 without reaching the upstream;
- a stream with a huge event is relayed whole, in bounded time, with its usage recorded;
- JSON bodies held whole across calls in flight are capped (TALLY_GATEWAY_BUFFER_MB): past it, 503 in the provider's
  format."""
import http.client
import json
import tempfile
import threading
import time
import uuid
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
import requests
from google import genai

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AccountsTally, Browser, bearer
from standins.hostile import HOSTILE_HEADERS, USAGE, HostileUpstream

GUARDS = {"content-security-policy": "sandbox; default-src 'none'", "x-content-type-options": "nosniff"}
NEVER_UPSTREAM = ("cookie", "x-csrf-token", "origin", "referer", "forwarded", "x-forwarded-for", "x-forwarded-host",
                  "x-forwarded-proto", "proxy-authorization", "proxy-connection", "x-tally-token", "x-tally-feature")
DROPPED_ANSWER_HEADERS = ("set-cookie", "set-cookie2", "clear-site-data", "refresh", "location", "alt-svc",
                          "strict-transport-security", "content-security-policy-report-only",
                          "access-control-allow-origin", "access-control-allow-credentials", "nel", "report-to",
                          "reporting-endpoints")


@pytest.fixture(scope="module")
def tally_site():
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off", "TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
                                    "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        admin = t.token("ops", "admin")
        server = t.serve()
        yield t, server, admin
        t.stop_all()


class Site:
    """One test's view: an admin token, a project with a gateway token, connections to one hostile upstream."""

    def __init__(self, tally, server, admin, upstream):
        self.tally, self.server, self.admin, self.upstream = tally, server, admin, upstream
        self.project = "sec-" + uuid.uuid4().hex[:8]
        assert self.api("POST", "/api/v1/projects", json={"name": self.project}).status_code == 201
        r = self.api("POST", "/api/v1/tokens", json={"name": "gw", "project": self.project, "scopes": ["gateway"]})
        assert r.status_code == 201, r.text
        self.token = r.json()["secret"]
        self.connections = {}
        for provider in ("openai", "anthropic", "google"):
            name = f"{provider}-{uuid.uuid4().hex[:8]}"
            r = self.api("POST", "/api/v1/provider-connections", json={
                "provider": provider, "name": name, "api_key": f"real-{provider}-key-0123456789",
                "base_url": upstream.url, "validate": False})
            assert r.status_code == 201, r.text
            self.connections[provider] = r.json()

    def api(self, method, path, token=None, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, self.server.url + path, headers=bearer(token or self.admin), **kw)

    def pick(self, provider):
        return {"X-Tally-Connection": self.connections[provider]["name"]}

    def url(self, provider, rest):
        return f"{self.server.url}/gateway/{provider}/{rest}"

    def raw(self, method, target, headers=None, body=None):
        """A request with its path exactly as written (requests and the SDKs would resolve `..`)."""
        c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            c.request(method, target, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def events(self, n, timeout=8.0):
        deadline = time.monotonic() + timeout
        while True:
            data = self.api("GET", "/api/v1/events", params={"project": self.project, "limit": 50}).json()["data"]
            if len(data) >= n or time.monotonic() > deadline:
                assert len(data) == n, data
                return data
            time.sleep(0.1)


@pytest.fixture
def site(tally_site):
    upstream = HostileUpstream()
    tally, server, admin = tally_site
    yield Site(tally, server, admin, upstream)
    upstream.close()


def assert_guarded(headers, where):
    headers = {k.lower(): v for k, v in headers.items()}
    for k, v in GUARDS.items():
        assert headers.get(k) == v, (where, k, headers.get(k))


# ---------------------------------------------------------------------------------------------------------------
# Item 1: what goes upstream

def test_a_signed_in_browser_following_a_gateway_link_sends_no_session_upstream(site):
    """The attack: a Google-form link (`?key=` is a plain GET) to a connection whose base_url the attacker controls.
    The victim's browser is signed in; its cookie and CSRF token must not reach the upstream."""
    victim = Browser(site.server).sign_in()
    assert victim.session_cookie
    link = f"/gateway/google/v1beta/models?key={site.token}"
    r = victim.get(link, headers={
        "X-Tally-Connection": site.connections["google"]["name"], "X-CSRF-Token": victim.csrf,
        "Origin": "https://evil.example", "Referer": "https://evil.example/mail", "Forwarded": "for=10.0.0.1",
        "X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "tally.internal", "X-Forwarded-Proto": "https",
        "Proxy-Authorization": "Basic c2VjcmV0", "Proxy-Connection": "keep-alive"})
    assert r.status_code == 200, r.text
    (rec,) = site.upstream.wait_for(1)
    assert rec.target == "/v1beta/models", rec.target  # Tally's token left the query
    for name in NEVER_UPSTREAM:
        assert name not in rec.headers, (name, rec.headers)
    sent = json.dumps(rec.raw_headers)
    assert victim.session_cookie not in sent and victim.csrf not in sent and site.token not in sent
    assert rec.headers["x-goog-api-key"] == "real-google-key-0123456789"
    # The session still works: nothing the upstream answered replaced it.
    assert victim.me()["user"]["email"] == ADMIN_EMAIL


def test_the_sdks_own_headers_reach_the_upstream_and_browser_headers_do_not(site):
    """The official SDKs, each with browser and proxy headers added: the provider headers they send arrive, the
    others do not; the key upstream is the connection's, never the Tally token."""
    extra = {"Cookie": "tally_session=stolen", "X-CSRF-Token": "csrf-secret", "Origin": "https://evil.example",
             "Referer": "https://evil.example/", "X-Forwarded-For": "10.0.0.9", "Forwarded": "for=10.0.0.9"}
    oa = openai.OpenAI(api_key=site.token, base_url=site.url("openai", "v1"), max_retries=0, organization="org-abc",
                       project="proj_abc", default_headers={**extra, **site.pick("openai")})
    done = oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                      extra_headers={"Idempotency-Key": "idem-1"})
    assert done.usage.prompt_tokens == USAGE["prompt_tokens"]
    an = anthropic.Anthropic(api_key=site.token, base_url=site.url("anthropic", "").rstrip("/"), max_retries=0,
                             default_headers={**extra, **site.pick("anthropic"), "anthropic-beta": "tools-2024-05-16"})
    site.upstream.answer = lambda rec: (200, [("Content-Type", "application/json")], json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1}}).encode())
    an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    site.upstream.answer = lambda rec: (200, [("Content-Type", "application/json")], json.dumps({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
        "modelVersion": "gemini-2.5-flash"}).encode())
    gc = genai.Client(api_key=site.token, http_options={
        "base_url": site.url("google", "").rstrip("/"), "headers": {**extra, **site.pick("google"),
                                                                   "x-goog-user-project": "billing-project"},
        "retry_options": {"attempts": 1}, "httpx_client": httpx2.Client(timeout=30)})
    gc.models.generate_content(model="gemini-2.5-flash", contents="hi")

    o, a, g = site.upstream.wait_for(3)
    for rec in (o, a, g):
        for name in NEVER_UPSTREAM:
            assert name not in rec.headers, (rec, name)
        assert site.token not in json.dumps(rec.raw_headers), rec
        assert "csrf-secret" not in json.dumps(rec.raw_headers) and "stolen" not in json.dumps(rec.raw_headers)
        assert rec.headers.get("content-type", "").startswith("application/json"), rec.headers
        assert rec.headers.get("user-agent"), rec.headers
    assert o.headers["authorization"] == "Bearer real-openai-key-0123456789"
    assert (o.headers["openai-organization"], o.headers["openai-project"], o.headers["idempotency-key"]) == (
        "org-abc", "proj_abc", "idem-1")
    assert o.headers["x-stainless-lang"] == "python" and "x-stainless-package-version" in o.headers
    assert a.headers["x-api-key"] == "real-anthropic-key-0123456789" and "authorization" not in a.headers
    assert a.headers["anthropic-version"] and a.headers["anthropic-beta"] == "tools-2024-05-16"
    assert g.headers["x-goog-api-key"] == "real-google-key-0123456789"
    assert "google-genai-sdk" in g.headers["x-goog-api-client"] and g.headers["x-goog-user-project"] == "billing-project"


def test_pass_through_keeps_the_apps_own_key_and_nothing_else(site):
    r = requests.post(site.url("openai", "v1/chat/completions"), timeout=30, json={
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, headers={
        "Authorization": "Bearer sk-apps-own-key-000", "X-Tally-Token": site.token, "Cookie": "tally_session=s",
        "X-CSRF-Token": "c", **site.pick("openai")})
    assert r.status_code == 200, r.text
    (rec,) = site.upstream.wait_for(1)
    assert rec.headers["authorization"] == "Bearer sk-apps-own-key-000"
    for name in NEVER_UPSTREAM:
        assert name not in rec.headers, name


# ---------------------------------------------------------------------------------------------------------------
# Item 3: what comes back

def test_upstream_headers_that_act_on_the_browser_are_dropped_and_answers_are_sandboxed(site):
    victim = Browser(site.server).sign_in()
    before = victim.session_cookie
    site.upstream.answer = lambda rec: (200, [("Content-Type", "text/html; charset=utf-8")] + HOSTILE_HEADERS,
                                        b"<html><script>fetch('/api/v1/tokens',{method:'POST'})</script></html>")
    r = victim.get(f"/gateway/google/v1beta/models?key={site.token}", headers=site.pick("google"))
    assert r.status_code == 200
    for name in DROPPED_ANSWER_HEADERS:
        assert name not in {k.lower() for k in r.headers}, (name, dict(r.headers))
    assert_guarded(r.headers, "upstream answer")
    # Tally's own page policies, not the upstream's, hold on its origin.
    assert r.headers.get("x-frame-options") == "DENY" and r.headers.get("referrer-policy") == "same-origin", dict(r.headers)
    assert r.headers["x-request-id"] == "req_hostile"  # the provider's own headers still pass
    assert victim.session_cookie == before and victim.http.cookies.get("tally_csrf") != "planted"
    assert victim.me()["user"]["email"] == ADMIN_EMAIL

    # An SDK is unaffected by the guards.
    site.upstream.answer = site.upstream.default_answer
    oa = openai.OpenAI(api_key=site.token, base_url=site.url("openai", "v1"), max_retries=0,
                       default_headers=site.pick("openai"))
    raw = oa.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert raw.parse().choices[0].message.content == "hi"
    assert "set-cookie" not in raw.headers and raw.headers["content-security-policy"] == GUARDS["content-security-policy"]


def test_tallys_own_gateway_answers_are_sandboxed_too(site):
    answers = [
        requests.get(site.url("openai", "v1/models"), headers=bearer("tly_not_a_token"), timeout=30),    # 401
        requests.delete(site.url("openai", "v1/files/file-1"), headers={**bearer(site.token), **site.pick("openai")},
                        timeout=30),                                                                      # 403
        requests.get(site.url("anthropic", "v1//models"), headers={"x-api-key": site.token}, timeout=30),  # 400
    ]
    assert [r.status_code for r in answers] == [401, 403, 400], [(r.status_code, r.text) for r in answers]
    for r in answers:
        assert_guarded(r.headers, r.url)
        assert r.headers["content-type"] == "application/json"


# ---------------------------------------------------------------------------------------------------------------
# Item 10: which endpoints

def test_only_inference_endpoints_are_forwarded_by_default(site):
    h = {**bearer(site.token), **site.pick("openai")}
    r = requests.delete(site.url("openai", "v1/files/file-abc"), headers=h, timeout=30)
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "endpoint_not_allowed" and "gateway_endpoints" in err["message"], err
    r = requests.post(site.url("anthropic", "v1/messages/batches"), json={"requests": []}, timeout=30,
                      headers={"x-api-key": site.token, **site.pick("anthropic")})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", r.text
    r = requests.post(site.url("google", "v1beta/files"), data=b"x", timeout=30,
                      headers={"x-goog-api-key": site.token, **site.pick("google")})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED", r.text
    r = requests.delete(site.url("openai", "v1/models/ft:gpt-4o:acme"), headers=h, timeout=30)
    assert r.status_code == 403, r.text  # listing models is inference; deleting one is not
    assert site.upstream.requests == []

    # Inference still goes through.
    r = requests.post(site.url("openai", "v1/chat/completions"), headers=h, timeout=30,
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    assert [x.target for x in site.upstream.wait_for(1)] == ["/v1/chat/completions"]


def test_an_admin_can_open_every_endpoint_of_a_connection(site):
    conn = site.connections["openai"]
    assert conn["gateway_endpoints"] == "inference"
    r = site.api("PATCH", f"/api/v1/provider-connections/{conn['id']}", json={"gateway_endpoints": "everything"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"][0]["field"] == "gateway_endpoints", r.text
    # Not an admin: a token with the gateway scope only.
    r = site.api("PATCH", f"/api/v1/provider-connections/{conn['id']}", token=site.token, json={"gateway_endpoints": "all"})
    assert r.status_code in (401, 403), r.text
    r = site.api("PATCH", f"/api/v1/provider-connections/{conn['id']}", json={"gateway_endpoints": "all"})
    assert r.status_code == 200 and r.json()["gateway_endpoints"] == "all", r.text
    assert site.api("GET", f"/api/v1/provider-connections/{conn['id']}").json()["gateway_endpoints"] == "all"
    audit = site.api("GET", "/api/v1/audit", params={"limit": 5}).json()["data"]
    assert any(a["action"] == "connection.update" and a["detail"].get("gateway_endpoints") == "all" for a in audit), audit

    site.upstream.answer = lambda rec: (200, [("Content-Type", "application/json")], b'{"id":"file-abc","deleted":true}')
    r = requests.delete(site.url("openai", "v1/files/file-abc"), headers={**bearer(site.token), **site.pick("openai")},
                        timeout=30)
    assert r.status_code == 200 and r.json()["deleted"] is True, r.text
    (rec,) = site.upstream.wait_for(1)
    assert (rec.method, rec.target) == ("DELETE", "/v1/files/file-abc")
    # Other connections keep the default; a new one may be created open.
    r = site.api("POST", "/api/v1/provider-connections", json={
        "provider": "anthropic", "name": "open-" + uuid.uuid4().hex[:6], "api_key": "real-anthropic-key-0123456789",
        "base_url": site.upstream.url, "validate": False, "gateway_endpoints": "all"})
    assert r.status_code == 201 and r.json()["gateway_endpoints"] == "all", r.text
    assert site.connections["anthropic"]["gateway_endpoints"] == "inference"


@pytest.mark.parametrize("provider,path", [
    ("openai", "v1/../v1/files"),
    ("openai", "v1/chat/../../../api/v1/tokens"),
    ("openai", "v1/%2e%2e/files"),
    ("openai", "v1/chat/%2E%2E/%2e%2e/files"),
    ("openai", "v1/./chat/completions"),
    ("openai", "v1//chat/completions"),
    ("openai", "v1/files%2Ffile-1"),
    ("anthropic", "v1/messages/%2e%2e/files"),
    ("google", "v1beta/models/%252e%252e/files"),
])
def test_dot_and_empty_path_segments_answer_400(site, provider, path):
    key = {"openai": "Authorization", "anthropic": "x-api-key", "google": "x-goog-api-key"}[provider]
    value = f"Bearer {site.token}" if provider == "openai" else site.token
    status, headers, body = site.raw("POST", f"/gateway/{provider}/{path}", body=b'{"model":"m"}',
                                     headers={key: value, "Content-Type": "application/json", **site.pick(provider)})
    assert status == 400, (status, body[:300])
    error = json.loads(body)["error"]
    assert "path" in error["message"], error
    assert headers["content-security-policy"] == GUARDS["content-security-policy"]
    # Nothing reached the upstream: a later allowed call through the same connection arrives there as the first.
    models = {"openai": "v1/models", "anthropic": "v1/models", "google": "v1beta/models"}[provider]
    status, _, body = site.raw("GET", f"/gateway/{provider}/{models}", headers={key: value, **site.pick(provider)})
    assert status == 200, (status, body[:300])
    first = site.upstream.wait_for(1)[0]
    assert (first.method, first.target.split("?")[0]) == ("GET", "/" + models), site.upstream.requests
    assert len(site.upstream.requests) == 1, site.upstream.requests


def test_an_encoded_endpoint_path_is_forwarded_and_metered_as_the_plain_one(site):
    """`chat/c%6Fmpletions` passed the endpoint check (decoded) but was read as an unknown call (raw): forwarded,
    answered by the upstream as chat/completions, and recorded with no model, no tokens and no cost. The gateway now
    forwards the path it checked (decoded, encoded again only where it must be), so it reads what it forwards."""
    status, _, body = site.raw("POST", "/gateway/openai/v1/chat/c%6Fmpletions",
                               body=json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}).encode(),
                               headers={"Authorization": f"Bearer {site.token}", "Content-Type": "application/json",
                                        **site.pick("openai")})
    assert status == 200, body[:300]
    (rec,) = site.upstream.wait_for(1)
    assert rec.target == "/v1/chat/completions", rec.target
    (ev,) = site.events(1)
    assert (ev["model"], ev["input_tokens"], ev["output_tokens"]) == ("gpt-4o-mini-2024-07-18", 7, 2), ev
    # At gpt-4o-mini's list price ($0.15 input, $0.60 output per 1M; openai.com/api/pricing, read 2026-11-23):
    # 7 × 0.15 = $0.00000105 and 2 × 0.60 = $0.0000012.
    assert ev["cost_usd"] is not None and Decimal(ev["cost_usd"]) == Decimal("0.00000225"), ev


# ---------------------------------------------------------------------------------------------------------------
# Item 12a: huge streams

def test_a_stream_with_a_huge_event_is_relayed_whole_in_bounded_time(site):
    """A 24 MiB SSE event (one line), then the usage chunk Tally asked for: the client gets the event byte for byte
    and not the usage chunk it did not ask for, quickly (the old filter searched the whole held event again on every
    piece: minutes), and the event is recorded with the usage."""
    big = b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,' \
          b'"delta":{"content":"' + b"z" * (24 << 20) + b'"},"finish_reason":null}]}\n\n'
    usage = b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[],' \
            b'"usage":' + json.dumps(USAGE).encode() + b'}\n\n'
    stop = b'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,' \
           b'"delta":{},"finish_reason":"stop"}]}\n\n'

    def stream():
        for i in range(0, len(big), 16 << 10):
            yield big[i:i + (16 << 10)]
        yield stop
        yield usage
        yield b"data: [DONE]\n\n"

    site.upstream.answer = lambda rec: (200, [("Content-Type", "text/event-stream")], stream())
    t0 = time.monotonic()
    r = requests.post(site.url("openai", "v1/chat/completions"), timeout=120, stream=True,
                      headers={**bearer(site.token), **site.pick("openai")},
                      json={"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    got = b"".join(r.iter_content(1 << 20))
    elapsed = time.monotonic() - t0
    assert got == big + stop + b"data: [DONE]\n\n", (len(got), got[-300:])
    assert elapsed < 30, f"{elapsed:.1f}s to relay 24 MiB"
    (rec,) = site.upstream.wait_for(1)
    assert json.loads(rec.body)["stream_options"] == {"include_usage": True}
    (ev,) = site.events(1)
    assert (ev["input_tokens"], ev["output_tokens"], ev["status"], ev["streamed"]) == (7, 2, "success", True), ev


def test_a_huge_line_in_an_anthropic_stream_does_not_hurt_the_call(site):
    """Anthropic's stream is not filtered, only read: a 16 MiB line is skipped by the usage reader, the client gets
    every byte, the usage events around it are read."""
    start = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":' \
            b'"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":11,' \
            b'"output_tokens":1}}}\n\n'
    huge = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":' \
           b'"text_delta","text":"' + b"q" * (16 << 20) + b'"}}\n\n'
    end = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":' \
          b'{"output_tokens":5}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'

    def stream():
        yield start
        for i in range(0, len(huge), 32 << 10):
            yield huge[i:i + (32 << 10)]
        yield end

    site.upstream.answer = lambda rec: (200, [("Content-Type", "text/event-stream")], stream())
    r = requests.post(site.url("anthropic", "v1/messages"), timeout=120, stream=True,
                      headers={"x-api-key": site.token, "anthropic-version": "2023-06-01", **site.pick("anthropic")},
                      json={"model": "claude-sonnet-4-5", "max_tokens": 5, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]})
    got = b"".join(r.iter_content(1 << 20))
    assert got == start + huge + end
    (ev,) = site.events(1)
    assert (ev["input_tokens"], ev["output_tokens"], ev["finish_reason"]) == (11, 5, "end_turn"), ev


# ---------------------------------------------------------------------------------------------------------------
# Item 12b: the shared cap on bodies held whole

def test_json_bodies_held_across_calls_are_capped_with_a_503_in_the_providers_format(tally_site):
    tally, _, admin = tally_site
    server = tally.serve(TALLY_GATEWAY_BUFFER_MB="1")
    upstream = HostileUpstream()
    try:
        s = Site(tally, server, admin, upstream)
        upstream.first_byte_delay = 2.0  # the first call holds its body while the upstream thinks
        prompt = "w" * (700 << 10)
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
        h = {**bearer(s.token), **s.pick("openai")}
        first = {}
        t = threading.Thread(target=lambda: first.update(r=requests.post(s.url("openai", "v1/chat/completions"),
                                                                          json=body, headers=h, timeout=60)))
        t.start()
        upstream.wait_for(1)
        r = requests.post(s.url("openai", "v1/chat/completions"), json=body, headers=h, timeout=60)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "gateway_busy", r.text
        assert r.headers["x-should-retry"] == "true" and r.headers["retry-after"] == "1"
        assert_guarded(r.headers, "503")
        ra = requests.post(s.url("anthropic", "v1/messages"), timeout=60, json=body,
                           headers={"x-api-key": s.token, **s.pick("anthropic")})
        assert ra.status_code == 503 and ra.json()["error"]["type"] == "overloaded_error", ra.text
        t.join(30)
        assert first["r"].status_code == 200, first["r"].text
        assert len(upstream.requests) == 1
        # The first call is over: its share is back, the same call now passes.
        upstream.first_byte_delay = 0
        r = requests.post(s.url("openai", "v1/chat/completions"), json=body, headers=h, timeout=60)
        assert r.status_code == 200, r.text
        # One call alone larger than the whole budget is refused the same way, never half-forwarded.
        r = requests.post(s.url("openai", "v1/chat/completions"), headers=h, timeout=60,
                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "v" * (1200 << 10)}]})
        assert r.status_code == 503, r.text
        assert len(upstream.requests) == 2
        # A JSON answer larger than the budget is still relayed whole; only its usage goes unread.
        vectors = {"object": "list", "model": "text-embedding-3-small", "data": [
            {"object": "embedding", "index": i, "embedding": [0.125] * 4096} for i in range(48)],
            "usage": {"prompt_tokens": 5, "total_tokens": 5}}
        answer = json.dumps(vectors).encode()
        assert len(answer) > (1 << 20)
        upstream.answer = lambda rec: (200, [("Content-Type", "application/json")], answer)
        r = requests.post(s.url("openai", "v1/embeddings"), headers=h, timeout=60,
                          json={"model": "text-embedding-3-small", "input": "hi"})
        assert r.status_code == 200 and r.content == answer
        events = s.events(2)  # the two chat calls share the stand-in's x-request-id, hence one event id
        embedding = [e for e in events if e["operation"] == "embedding"]
        assert len(embedding) == 1 and embedding[0]["input_tokens"] == 0 and embedding[0]["status"] == "success", events
    finally:
        upstream.close()
        server.stop()
