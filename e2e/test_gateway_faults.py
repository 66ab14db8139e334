"""The gateway when things go wrong, end to end: upstream timeouts (connect, first byte, idle between body pieces)
configured by TALLY_GATEWAY_CONNECT_TIMEOUT / _FIRST_BYTE_TIMEOUT / _IDLE_TIMEOUT, an upstream that refuses
connections, graceful shutdown (no event lost, an in-flight stream finishes), large uploads streamed through without
buffering, and the recorder's /metrics.

The official SDKs (max_retries=0, so no retry hides anything) talk to real `tally serve` processes, which forward to the
stand-in upstreams (standins/upstreams.py). Most tests share one server started with short timeouts (connect 1 s,
first byte 0.7 s, idle 1 s); the 64 MiB upload uses one with the default timeouts; the shutdown tests start and restart
their own. Helpers and checks come from test_gateway.py.

Dead upstreams: a socket bound but never listening (connect is refused at once), and a listening socket with backlog 0
whose accept queue is filled with one connection that is never accepted: Linux then drops further SYNs, so connect()
hangs (checked when the fixture starts; the connect-timeout cases are skipped with the reason if it does not hang)."""
import concurrent.futures
import hashlib
import json
import os
import signal
import socket
import struct
import tempfile
import threading
import time
import uuid

import anthropic
import httpx2
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from conftest import AccountsTally, bearer
from standins.upstreams import output_text
from test_gateway import (ANTHROPIC_ANSWERED, ANTHROPIC_MODEL, GEMINI_MODEL, OPENAI_ANSWERED, OPENAI_MODEL,
                          TOKEN_FIELDS, Gateway, by_id, check_event, check_forwarded, tokens)

# The shared server's timeouts, in seconds. The first-byte limit is shorter than the connect limit on purpose: its
# clock starts once the request has been sent, so a connect that hangs must still end as a connect timeout.
CONNECT_TIMEOUT, FIRST_BYTE_TIMEOUT, IDLE_TIMEOUT = 1.0, 0.7, 1.0
SHORT_TIMEOUTS = {"TALLY_GATEWAY_CONNECT_TIMEOUT": "1s", "TALLY_GATEWAY_FIRST_BYTE_TIMEOUT": "700ms",
                  "TALLY_GATEWAY_IDLE_TIMEOUT": "1"}
DEFAULT_TIMEOUTS = dict.fromkeys(SHORT_TIMEOUTS)  # None: not set, whatever the developer's shell has
STALL = 3.0  # how long a faulty upstream goes quiet: well past every limit, so Tally must act before it resumes
SDK_TIMEOUT = 30.0
PROVIDERS = ("openai", "anthropic", "google")
NO_TOKENS = dict.fromkeys(TOKEN_FIELDS, 0)


# ---------------------------------------------------------------------------------------------------------------
# Servers and per-test views

def _start(env):
    d = tempfile.TemporaryDirectory()
    t = AccountsTally(d.name, None, {"TALLY_SYNC_INTERVAL": "off", **env})
    admin = t.token("ops", "admin")
    return d, t, admin, t.serve()


@pytest.fixture(scope="module")
def short_timeouts():
    """One `tally serve` with short timeouts: connect 1 s, first byte 0.7 s, idle 1 s."""
    d, t, admin, server = _start(SHORT_TIMEOUTS)
    yield t, server, admin
    t.stop_all()
    d.cleanup()


@pytest.fixture(scope="module")
def default_timeouts():
    """One `tally serve` with the default timeouts (10 s / 600 s / 600 s)."""
    d, t, admin, server = _start(DEFAULT_TIMEOUTS)
    yield t, server, admin
    t.stop_all()
    d.cleanup()


class FaultGateway(Gateway):
    """test_gateway's Gateway, plus extra connections to dead upstreams and SDK calls with a bounded client timeout."""

    def __init__(self, *a):
        super().__init__(*a)
        self.extra = []  # ids of connections this test added

    def genai(self, key=None, headers=None, timeout=SDK_TIMEOUT):
        return genai.Client(api_key=key or self.token, http_options={
            "base_url": self.base("google"), "headers": headers or {}, "retry_options": {"attempts": 1},
            "timeout": int(timeout * 1000),  # milliseconds; the SDK's own per-request timeout
            "httpx_client": httpx2.Client(event_hooks={"request": [self._hook]}, timeout=timeout)})

    def add_connection(self, provider, base_url, endpoints="inference"):
        """A connection of `provider` to `base_url`, not validated (nothing answers there); returns its name."""
        name = f"{provider}-dead-{uuid.uuid4().hex[:8]}"
        r = self.api("POST", "/api/v1/provider-connections",
                     json={"provider": provider, "name": name, "api_key": self.standins[provider].key,
                           "base_url": base_url, "validate": False, "gateway_endpoints": endpoints})
        assert r.status_code == 201, r.text
        self.extra.append(r.json()["id"])
        return name

    def open_endpoints(self, provider="openai"):
        """Lets the module's `provider` connection forward every endpoint (uploads to /files are not inference)."""
        r = self.api("PATCH", f"/api/v1/provider-connections/{self.connections[provider]['id']}",
                     json={"gateway_endpoints": "all"})
        assert r.status_code == 200, r.text

    def remove_extra(self):
        for cid in self.extra:
            try:
                self.api("DELETE", f"/api/v1/provider-connections/{cid}")
            except requests.ConnectionError:  # the server is gone (a test that crashed it says so itself)
                return

    def call(self, provider, connection=None, stream=False, timeout=SDK_TIMEOUT, content="hello through the gateway"):
        """One small chat call with the provider's SDK (consumed completely when streamed)."""
        headers = {"X-Tally-Connection": connection} if connection else {}
        messages = [{"role": "user", "content": content}]
        if provider == "openai":
            r = self.openai(timeout=timeout).chat.completions.create(model=OPENAI_MODEL, messages=messages,
                                                                     stream=stream, extra_headers=headers)
        elif provider == "anthropic":
            r = self.anthropic(timeout=timeout).messages.create(model=ANTHROPIC_MODEL, max_tokens=50,
                                                                messages=messages, stream=stream,
                                                                extra_headers=headers)
        else:
            models = self.genai(headers=headers, timeout=timeout).models
            if stream:
                return list(models.generate_content_stream(model=GEMINI_MODEL, contents=content))
            return models.generate_content(model=GEMINI_MODEL, contents=content)
        return list(r) if stream else r


def _view(fixture, standins):
    tally, server, admin = fixture
    g = FaultGateway(tally, server, admin, standins)
    g.point_connections()
    return g


@pytest.fixture
def gw(short_timeouts, upstream_standins):
    g = _view(short_timeouts, upstream_standins)
    yield g
    g.remove_extra()


@pytest.fixture
def default_gw(default_timeouts, upstream_standins):
    g = _view(default_timeouts, upstream_standins)
    yield g
    g.remove_extra()


# ---------------------------------------------------------------------------------------------------------------
# Dead upstreams

@pytest.fixture
def refusing_url():
    """An address where connect() is refused at once: a port bound (so no one else takes it) but not listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


class HangingListener:
    """A listener with backlog 0 whose accept queue is full of connections it never accepts: the kernel then drops
    further SYNs, so connect() to it hangs. `hangs` says whether a connect attempt of `probe` seconds timed out."""

    def __init__(self, probe=0.3):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.addr = self.listener.getsockname()
        self.url = f"http://127.0.0.1:{self.addr[1]}"
        self.fillers = []
        self.hangs = False
        for _ in range(16):  # backlog 0 queues one connection on Linux; fill whatever the queue holds
            c = self.try_connect(probe)
            if c is None:
                self.hangs = True
                break
            self.fillers.append(c)

    def try_connect(self, seconds):
        c = socket.socket()
        c.settimeout(seconds)
        try:
            c.connect(self.addr)
            return c
        except (socket.timeout, BlockingIOError):
            c.close()
            return None

    def close(self):
        for c in self.fillers:
            c.close()
        self.listener.close()


@pytest.fixture(scope="module")
def hang_trick_works():
    """Checked once: a connect to a HangingListener hangs for longer than Tally's connect timeout (one SYN
    retransmission included). Skips the tests that need it when this machine's TCP stack answers anyway."""
    h = HangingListener()
    probe = h.try_connect(CONNECT_TIMEOUT + 0.5) if h.hangs else None
    works = h.hangs and probe is None
    if probe is not None:
        probe.close()
    h.close()
    if not works:
        pytest.skip("cannot make a hanging connect here: a full backlog-0 accept queue still completes handshakes")


@pytest.fixture
def hanging_url(hang_trick_works):
    """A base URL whose connect() hangs, new for each test (so no connect attempt of an earlier test is pending)."""
    h = HangingListener()
    assert h.hangs, "the hanging-connect trick stopped working"
    yield h.url
    h.close()


# ---------------------------------------------------------------------------------------------------------------
# Checks

def tally_error(provider, call):
    """Run an SDK call that must fail with an error answer of Tally's: (status, headers, JSON body, seconds)."""
    t0 = time.monotonic()
    try:
        call()
    except (openai.APIStatusError, anthropic.APIStatusError, genai_errors.APIError) as e:
        elapsed = time.monotonic() - t0
        status = e.code if isinstance(e, genai_errors.APIError) else e.status_code
        body = e.details if isinstance(e, genai_errors.APIError) else e.response.json()
        return status, e.response.headers, body, elapsed
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{provider}: expected an error answer from Tally; after {time.monotonic() - t0:.1f}s the SDK "
                    f"raised {type(e).__name__}: {e}")
    pytest.fail(f"{provider}: the call succeeded after {time.monotonic() - t0:.1f}s; expected an error answer from "
                f"Tally")


def check_provider_error_format(provider, status, body, timeout):
    """Tally's own error answer in the provider's format, its message starting "Tally gateway:" (and, for a timeout,
    saying so); returns the message."""
    if provider == "openai":
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
        message = body["error"]["message"]
    elif provider == "anthropic":
        assert body.get("type") == "error" and set(body["error"]) >= {"type", "message"}, body
        if timeout:
            assert body["error"]["type"] == "timeout_error", body
        message = body["error"]["message"]
    else:
        assert set(body) == {"error"} and body["error"]["code"] == status, body
        if timeout:
            assert body["error"]["status"] == "DEADLINE_EXCEEDED", body
        message = body["error"]["message"]
    assert isinstance(message, str) and message.startswith("Tally gateway:"), body
    if timeout:
        said = message.lower()
        assert "timeout" in said or "timed out" in said, f"the message does not say it timed out: {message!r}"
    return message


REQUESTED_MODEL = {"openai": OPENAI_MODEL, "anthropic": ANTHROPIC_MODEL, "google": GEMINI_MODEL}


def check_failed_call_event(gw, provider, http_status, error_type):
    """The one event of a call that got no answer from upstream: an error, no tokens, no first token."""
    (ev,) = gw.events(1)
    summary = {k: ev.get(k) for k in ("provider", "model", "status", "http_status", "error_type")}
    assert (ev["status"], ev["http_status"], ev["error_type"]) == ("error", http_status, error_type), summary
    assert ev["source"] == "gateway" and ev["project"] == gw.project and ev["provider"] == provider, ev
    assert ev["model"] == REQUESTED_MODEL[provider], ev
    assert tokens(ev) == NO_TOKENS and ev["requests"] == 1, ev
    assert ev["time_to_first_token_ms"] is None, ev
    return ev


def server_alive(server):
    try:
        return requests.get(server.url + "/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def crash_line(server):
    """The first line of a server's log that says why it died."""
    with open(server.log_path, errors="replace") as f:
        lines = f.read().splitlines()
    return next((line for line in lines if "Fatal error" in line or "crashed" in line), f"exit {server.proc.poll()}")


def gateway_stream_error(body):
    return isinstance(body, dict) and isinstance(body.get("message"), str) and \
        body["message"].startswith("Tally gateway:")


# ---------------------------------------------------------------------------------------------------------------
# 1. Connecting

@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_timeout_is_a_504_in_the_providers_format_that_says_retry(gw, hanging_url, provider):
    """An upstream whose TCP connect never completes: after TALLY_GATEWAY_CONNECT_TIMEOUT (1 s), not the 10 s default,
    a 504 in the provider's error format with x-should-retry: true; event error_type upstream_connect_timeout (not
    upstream_timeout: the shorter first-byte limit only starts once the request is sent)."""
    name = gw.add_connection(provider, hanging_url)
    status, headers, body, elapsed = tally_error(provider, lambda: gw.call(provider, connection=name, timeout=6))
    assert status == 504, (status, body)
    check_provider_error_format(provider, status, body, timeout=True)
    assert headers.get("x-should-retry") == "true", dict(headers)
    check_failed_call_event(gw, provider, 504, "upstream_connect_timeout")
    assert 0.8 * CONNECT_TIMEOUT <= elapsed < CONNECT_TIMEOUT + 2.5, f"answered after {elapsed:.2f}s"
    for s in gw.standins:
        assert s.recorded() == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connection_refused_is_a_502_in_the_providers_format_that_says_retry(gw, refusing_url, provider):
    """Nothing listening at the connection's base URL: a 502 in the provider's error format with x-should-retry: true
    (within the connect timeout: the HTTP client may retry a refused connect until then); event error_type
    upstream_unreachable, http_status 502."""
    name = gw.add_connection(provider, refusing_url)
    status, headers, body, elapsed = tally_error(provider, lambda: gw.call(provider, connection=name))
    assert status == 502, (status, body)
    check_provider_error_format(provider, status, body, timeout=False)
    assert headers.get("x-should-retry") == "true", dict(headers)
    assert elapsed < CONNECT_TIMEOUT + 2, f"a refused connection took {elapsed:.2f}s to report"
    check_failed_call_event(gw, provider, 502, "upstream_unreachable")


# ---------------------------------------------------------------------------------------------------------------
# 2. Waiting for the response head

@pytest.mark.parametrize("provider,stream", [("openai", True), ("anthropic", False), ("google", False)])
def test_first_byte_timeout_is_a_504_and_cancels_the_upstream_request(gw, provider, stream):
    """The upstream accepts the request but sends no response head for 3 s: after TALLY_GATEWAY_FIRST_BYTE_TIMEOUT
    (0.7 s) the client gets a 504 in its provider's format, the upstream request is cancelled (the stand-in sees the
    connection close before it answered), and the event says upstream_timeout."""
    s = gw.standins[provider]
    s.fault(first_byte_delay=STALL)
    status, headers, body, elapsed = tally_error(provider, lambda: gw.call(provider, stream=stream))
    assert status == 504, (status, body)
    check_provider_error_format(provider, status, body, timeout=True)
    assert headers.get("x-should-retry") == "true", dict(headers)
    assert 0.8 * FIRST_BYTE_TIMEOUT <= elapsed < STALL - 0.5, f"answered after {elapsed:.2f}s"
    rec = s.wait_for_disconnect(timeout=STALL)
    assert rec.headers_sent_at is None and not rec.completed, rec
    check_failed_call_event(gw, provider, 504, "upstream_timeout")


def _own(env, standins):
    d, t, admin, server = _start(env)
    g = FaultGateway(t, server, admin, standins)
    g.point_connections()
    return d, t, g


@pytest.fixture
def own_short_timeouts(upstream_standins):
    """A server of its own with the short timeouts (for a test that might take it down)."""
    d, t, g = _own(SHORT_TIMEOUTS, upstream_standins)
    yield g
    g.remove_extra()
    t.stop_all()
    d.cleanup()


def test_first_byte_clock_starts_once_the_request_body_is_sent(own_short_timeouts):
    """A request body that takes 2.8 s to send (a slow client uploading in pieces 0.35 s apart) is not cut by the
    0.7 s first-byte limit: that limit runs from the end of sending to the response head (like Go's
    ResponseHeaderTimeout), so a slow upload gets its answer, and the server is still up afterwards."""
    gw = own_short_timeouts
    gw.open_endpoints()
    s = gw.standins.openai
    piece = os.urandom(128 * 1024)

    def slowly():
        for i in range(9):
            if i:
                time.sleep(0.35)  # pacing the client, not waiting for a condition
            yield piece

    t0 = time.monotonic()
    try:
        r = requests.post(gw.base("openai") + "/files", data=slowly(), timeout=SDK_TIMEOUT,
                          headers={**bearer(gw.token), "Content-Type": "application/octet-stream"})
    except requests.RequestException as e:
        r = e
    elapsed = time.monotonic() - t0
    assert server_alive(gw.server), "tally serve died: " + crash_line(gw.server)
    assert not isinstance(r, Exception), f"after {elapsed:.2f}s of sending: {type(r).__name__}: {r}"
    assert r.status_code == 200, f"after {elapsed:.2f}s of sending: {r.status_code} {r.text[:300]}"
    (rec,) = s.recorded()
    assert rec.body_complete and rec.body_size == 9 * len(piece), rec
    assert rec.body_sha256 == hashlib.sha256(piece * 9).hexdigest()
    (ev,) = gw.events(1)
    assert (ev["status"], ev["http_status"], ev["error_type"]) == ("success", 200, None), ev


# ---------------------------------------------------------------------------------------------------------------
# 3. An upstream that goes quiet mid-stream

def test_idle_timeout_mid_stream_openai_ends_with_an_error_event(gw):
    """An OpenAI chat stream: two chunks, then the upstream goes quiet for 3 s. After TALLY_GATEWAY_IDLE_TIMEOUT (1 s)
    the client (which already had the 200 and both chunks) gets one final `data: {"error": …}` event with code
    upstream_idle_timeout and the response ends: the SDK raises openai.APIError itself (not a connection error). The
    upstream request is cancelled; the event is an error with http_status 200, streamed, no tokens (OpenAI sends usage
    last)."""
    s = gw.standins.openai
    s.fault(stall_after=2, stall=STALL)
    stream = gw.openai(timeout=SDK_TIMEOUT).chat.completions.create(
        model=OPENAI_MODEL, stream=True, messages=[{"role": "user", "content": "stalls [[usage chunks=4]]"}])
    got = []
    t0 = time.monotonic()
    with pytest.raises(openai.APIError) as e:
        for chunk in stream:
            got.append(chunk)
    elapsed = time.monotonic() - t0
    assert type(e.value) is openai.APIError, (
        f"expected the gateway's SSE error event, the SDK raised {type(e.value).__name__}: {e.value}")
    body = e.value.body
    assert gateway_stream_error(body) and {k: body[k] for k in ("type", "param", "code")} == {
        "type": "timeout", "param": None, "code": "upstream_idle_timeout"}, body
    assert len(got) == 2 and got[0].choices[0].delta.role == "assistant" and got[1].choices[0].delta.content, got
    assert elapsed < STALL, f"the error came after {elapsed:.2f}s, when the upstream had resumed"
    rec = s.wait_for_disconnect(timeout=STALL)
    assert rec.chunks_written == 2 and not rec.completed, rec

    # The same on the wire: the error event is the last thing sent, and the response ends cleanly (no [DONE]).
    s.fault(stall_after=2, stall=STALL)
    r = requests.post(gw.base("openai") + "/chat/completions", headers=bearer(gw.token), stream=True,
                      timeout=SDK_TIMEOUT, json={"model": OPENAI_MODEL, "stream": True,
                                                 "messages": [{"role": "user", "content": "stalls again"}]})
    assert r.status_code == 200
    raw = b"".join(r.iter_content(None))
    events = [ev for ev in raw.decode().split("\n\n") if ev.strip()]
    assert len(events) == 3, events
    assert events[-1].startswith("data: "), events[-1]
    last = json.loads(events[-1][len("data: "):])
    assert set(last) == {"error"} and last["error"]["code"] == "upstream_idle_timeout", last
    assert gateway_stream_error(last["error"]), last

    events = gw.events(2)
    for rec in s.recorded():
        assert rec.finished.wait(STALL) and rec.disconnected and not rec.completed, rec
        ev = check_event(gw, by_id(events, rec), rec, provider="openai", model=OPENAI_ANSWERED, streamed=True,
                         status="error", http_status=200, usage={}, finish_reason=None)
        assert ev["error_type"] == "upstream_idle_timeout", ev


def test_idle_timeout_mid_stream_anthropic_ends_with_an_error_event(gw):
    """An Anthropic message stream: message_start … the first text delta, then the upstream goes quiet for 3 s. After
    the idle timeout Tally writes `event: error` with a timeout_error, so the anthropic SDK raises its APIStatusError;
    the upstream request is cancelled; the event keeps message_start's tokens."""
    s = gw.standins.anthropic
    s.fault(stall_after=4, stall=STALL)  # message_start, content_block_start, ping, the first content_block_delta
    text = []
    t0 = time.monotonic()
    with pytest.raises(anthropic.APIStatusError) as e:
        with gw.anthropic(timeout=SDK_TIMEOUT).messages.stream(
                model=ANTHROPIC_MODEL, max_tokens=100,
                messages=[{"role": "user", "content": "stalls [[usage chunks=4 cached=100]]"}]) as st:
            for piece in st.text_stream:
                text.append(piece)
    elapsed = time.monotonic() - t0
    body = e.value.body
    assert isinstance(body, dict) and body.get("type") == "error", body
    assert body["error"]["type"] == "timeout_error" and gateway_stream_error(body["error"]), body
    assert len(text) == 1 and text[0], text
    assert elapsed < STALL, f"the error came after {elapsed:.2f}s, when the upstream had resumed"
    rec = s.wait_for_disconnect(timeout=STALL)
    assert rec.chunks_written == 4 and not rec.completed, rec
    (ev,) = gw.events(1)
    full = s.expected_usage(rec.body)
    check_event(gw, by_id([ev], rec), rec, provider="anthropic", model=ANTHROPIC_ANSWERED, streamed=True,
                status="error", http_status=200, finish_reason=None,
                usage={"input_tokens": full["input_tokens"], "cached_input_tokens": 100, "output_tokens": 1})
    assert ev["error_type"] == "upstream_idle_timeout", ev


def test_idle_timeout_mid_stream_gemini_cuts_the_connection(gw):
    """A Gemini stream (SSE with the SDK, then the JSON-array stream with plain HTTP): two pieces, then the upstream
    goes quiet. After the idle timeout Tally cuts the connection (no error format exists for these bodies), so the
    client sees an error instead of a clean end; the upstream request is cancelled; the event keeps the usage the last
    piece carried."""
    s = gw.standins.google
    s.fault(stall_after=2, stall=STALL)
    got = []
    t0 = time.monotonic()
    with pytest.raises(Exception) as e:  # noqa: B017 (whatever the SDK makes of a cut connection)
        for chunk in gw.genai().models.generate_content_stream(model=GEMINI_MODEL,
                                                               contents="stalls [[usage chunks=4]]"):
            got.append(chunk)
    elapsed = time.monotonic() - t0
    assert not isinstance(e.value, AssertionError), e.value
    assert len(got) == 2, got
    assert elapsed < STALL, f"the stream broke after {elapsed:.2f}s ({type(e.value).__name__}: {e.value})"
    sse_rec = s.wait_for_disconnect(timeout=STALL)
    assert sse_rec.chunks_written == 2 and not sse_rec.completed, sse_rec
    seen = got[-1].usage_metadata

    s.fault(stall_after=2, stall=STALL)
    r = requests.post(f"{gw.base('google')}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent",
                      headers={"x-goog-api-key": gw.token}, stream=True, timeout=SDK_TIMEOUT,
                      json={"contents": [{"role": "user", "parts": [{"text": "stalls [[usage chunks=4]]"}]}]})
    assert r.status_code == 200
    received = bytearray()
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        for piece in r.iter_content(None):
            received += piece
    assert received.startswith(b"[") and not received.rstrip().endswith(b"]"), bytes(received[-200:])
    array_rec = s.recorded()[-1]
    assert array_rec.finished.wait(STALL), array_rec
    assert array_rec.chunks_written == 2 and array_rec.disconnected and not array_rec.completed, array_rec

    for ev in gw.events(2):
        assert (ev["provider"], ev["model"], ev["status"], ev["http_status"], ev["error_type"], ev["streamed"]) == (
            "google", GEMINI_MODEL, "error", 200, "upstream_idle_timeout", True), ev
        assert ev["input_tokens"] == seen.prompt_token_count, ev
        assert ev["output_tokens"] == seen.candidates_token_count, ev
        assert ev["time_to_first_token_ms"] is not None, ev


def test_chunks_within_the_idle_timeout_keep_a_long_stream_alive(gw):
    """Streams whose pieces come 0.3 s apart take longer in total than the 1 s idle timeout and still complete, for
    each provider (run at the same time), with their full usage recorded."""
    for s in gw.standins:
        s.chunk_delay = 0.3

    def openai_stream():
        chunks = list(gw.openai(timeout=SDK_TIMEOUT).chat.completions.create(
            model=OPENAI_MODEL, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "paced [[usage chunks=4]]"}]))
        assert chunks[-1].usage is not None and chunks[-2].choices[0].finish_reason == "stop", chunks[-2:]

    def anthropic_stream():
        with gw.anthropic(timeout=SDK_TIMEOUT).messages.stream(
                model=ANTHROPIC_MODEL, max_tokens=100,
                messages=[{"role": "user", "content": "paced [[usage chunks=2]]"}]) as st:
            final = st.get_final_message()
        assert final.stop_reason == "end_turn"

    def gemini_stream():
        chunks = gw.call("google", stream=True, content="paced [[usage chunks=6]]")
        assert len(chunks) == 6 and chunks[-1].candidates[0].finish_reason.name == "STOP"

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for f in [pool.submit(fn) for fn in (openai_stream, anthropic_stream, gemini_stream)]:
            f.result()
    events = gw.events(3)
    for provider, model, finish in (("openai", OPENAI_ANSWERED, "stop"),
                                    ("anthropic", ANTHROPIC_ANSWERED, "end_turn"), ("google", GEMINI_MODEL, "STOP")):
        rec = gw.standins[provider].last()
        assert rec.completed and not rec.disconnected, rec
        gaps = [b - a for a, b in zip(rec.chunk_sent_at, rec.chunk_sent_at[1:])]
        took = rec.chunk_sent_at[-1] - rec.chunk_sent_at[0]
        assert took > IDLE_TIMEOUT and max(gaps) < IDLE_TIMEOUT, (provider, took, gaps)
        ev = by_id(events, rec) if provider != "google" else next(e for e in events if e["provider"] == "google")
        check_event(gw, ev, rec, provider=provider, model=model, streamed=True, finish_reason=finish)
        assert ev["error_type"] is None, ev


# ---------------------------------------------------------------------------------------------------------------
# 4. Graceful shutdown

@pytest.fixture
def restartable(upstream_standins):
    """A Tally of its own (SQLite, default timeouts) for tests that stop, restart or crash it; a FaultGateway on it."""
    d, t, g = _own(DEFAULT_TIMEOUTS, upstream_standins)
    yield g
    g.remove_extra()
    t.stop_all()
    d.cleanup()


def sigterm_and_restart(gw, wait_first=None):
    """SIGTERM the server, (call wait_first,) expect it to exit with 0, start a new one on the same data."""
    old = gw.server
    old.proc.send_signal(signal.SIGTERM)
    if wait_first:
        wait_first()
    try:
        code = old.proc.wait(timeout=30)
    except Exception:  # noqa: BLE001
        pytest.fail("tally serve did not exit within 30s of SIGTERM")
    assert code == 0, f"tally serve exited with {code} after SIGTERM"
    gw.server = gw.tally.serve()
    return gw.server


def test_sigterm_right_after_40_calls_loses_no_event(restartable):
    """40 gateway calls (the three SDKs in turn), SIGTERM immediately after the last answer: the server exits with 0
    and a new server on the same data has all 40 events with their tokens (the recorder's queue was drained)."""
    gw = restartable
    clients = {"openai": gw.openai(), "anthropic": gw.anthropic(), "google": gw.genai()}
    for i in range(40):
        provider = PROVIDERS[i % 3]
        content = f"call {i} before the shutdown"
        if provider == "openai":
            clients["openai"].chat.completions.create(model=OPENAI_MODEL,
                                                      messages=[{"role": "user", "content": content}])
        elif provider == "anthropic":
            clients["anthropic"].messages.create(model=ANTHROPIC_MODEL, max_tokens=20,
                                                 messages=[{"role": "user", "content": content}])
        else:
            clients["google"].models.generate_content(model=GEMINI_MODEL, contents=content)
    sigterm_and_restart(gw)
    events = gw.events(40, timeout=10)
    assert sorted(e["provider"] for e in events) == sorted(PROVIDERS[i % 3] for i in range(40))
    for provider, model, finish in (("openai", OPENAI_ANSWERED, "stop"), ("anthropic", ANTHROPIC_ANSWERED, "end_turn")):
        recs = gw.standins[provider].recorded()
        assert len(recs) == len([i for i in range(40) if PROVIDERS[i % 3] == provider])
        for rec in recs:
            check_event(gw, by_id(events, rec), rec, provider=provider, model=model, finish_reason=finish)
    google = gw.standins.google
    want = sorted(tuple(google.expected_usage(rec.body)[k] for k in TOKEN_FIELDS) for rec in google.recorded())
    got = sorted(tuple(e[k] for k in TOKEN_FIELDS) for e in events if e["provider"] == "google")
    assert got == want


def test_sigterm_during_a_slow_stream_lets_it_finish_and_records_it(restartable):
    """A stream of 8 chunks 0.25 s apart is in flight when SIGTERM arrives: the client still gets all of it, the
    server then exits with 0, and after a restart the stream's event is there with its full usage."""
    gw = restartable
    s = gw.standins.openai
    s.chunk_delay = 0.25
    stream = gw.openai(timeout=SDK_TIMEOUT).chat.completions.create(
        model=OPENAI_MODEL, stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "in flight at shutdown [[usage chunks=4]]"}])
    it = iter(stream)
    chunks = [next(it)]
    sigterm_at = [None]

    def read_the_rest():
        sigterm_at[0] = time.monotonic()
        chunks.extend(it)

    sigterm_and_restart(gw, wait_first=read_the_rest)
    rec = s.last()
    assert rec.completed and not rec.disconnected and rec.chunks_total == 8, rec
    assert rec.chunk_sent_at[-1] > sigterm_at[0] + 0.5, "the stream was over before SIGTERM: nothing was in flight"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == output_text(s.expected_usage(rec.body)["usage"]), text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12, chunks[-1]
    (ev,) = gw.events(1, timeout=10)
    check_event(gw, by_id([ev], rec), rec, provider="openai", model=OPENAI_ANSWERED, streamed=True,
                finish_reason="stop")


# ---------------------------------------------------------------------------------------------------------------
# 5. Large uploads

MIB = 1 << 20


def test_a_64_mib_upload_streams_through_without_being_buffered(default_gw):
    """A 64 MiB multipart upload to /files sent from a generator (chunked): after the first 8 MiB the client pauses
    until the stand-in has received at least 8 MiB (so Tally forwards as it receives instead of buffering the whole
    body), then sends the rest. Upstream gets every byte (size and sha256 equal, the file part too), the real key and
    no X-Tally-* header."""
    gw = default_gw
    gw.open_endpoints()
    s = gw.standins.openai
    size, first, piece_size = 64 * MIB, 8 * MIB, 256 * 1024
    block = os.urandom(MIB)
    boundary = "tally-upload-" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nuser_data\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    whole, file_hash = hashlib.sha256(), hashlib.sha256()
    sent = {"total": 0, "received_while_paused": None, "complete_while_paused": None}

    def send(data):
        whole.update(data)
        sent["total"] += len(data)
        return data

    def body():
        yield send(head)
        for i in range(size // piece_size):
            offset = (i * piece_size) % MIB
            piece = struct.pack(">Q", i) + block[offset + 8:offset + piece_size]
            file_hash.update(piece)
            yield send(piece)
            if (i + 1) * piece_size == first:
                sent["received_while_paused"], sent["complete_while_paused"] = upstream_received(first + len(head))
        yield send(tail)

    def upstream_received(want, timeout=10.0):
        """Wait (the client paused) until upstream has `want` bytes of this upload; what it had when the wait ended."""
        deadline = time.monotonic() + timeout
        try:
            rec = s.wait_for_requests(1, timeout=timeout)[0]
        except TimeoutError:
            return 0, False
        while rec.body_size < want and time.monotonic() < deadline:
            time.sleep(0.01)
        return rec.body_size, rec.body_complete

    r = requests.post(gw.base("openai") + "/files", data=body(), timeout=120,
                      headers={**bearer(gw.token), "Content-Type": f"multipart/form-data; boundary={boundary}",
                               "X-Tally-Feature": "uploads"})
    assert r.status_code == 200, r.text[:500]
    paused_at = sent["received_while_paused"]
    assert paused_at is not None
    assert paused_at >= first + len(head), (
        f"with the client paused after 8 MiB, upstream had received only {paused_at} bytes: the upload is buffered")
    assert sent["complete_while_paused"] is False
    (rec,) = s.recorded()
    assert rec.body_complete and rec.body_size == sent["total"] and rec.body_sha256 == whole.hexdigest(), rec
    (part,) = [p for p in rec.parts if p["filename"] == "big.jsonl"]
    assert part["size"] == size and part["sha256"] == file_hash.hexdigest(), part
    assert [p.get("value") for p in rec.parts if p["name"] == "purpose"] == ["user_data"]
    assert r.json()["bytes"] == size and r.json()["filename"] == "big.jsonl", r.json()
    check_forwarded(gw, rec)
    (ev,) = gw.events(1)
    assert (ev["operation"], ev["status"], ev["http_status"], ev["feature"]) == ("other", "success", 200, "uploads"), ev
    assert tokens(ev) == NO_TOKENS, ev


class EarlyAnswerUpstream:
    """An OpenAI-like upstream that answers 413 as soon as a request's head arrives, without reading the body (as an
    API may do for an upload it will not take), then closes the connection."""

    BODY = json.dumps({"error": {"message": "Request too large (early answer).", "type": "invalid_request_error",
                                 "param": None, "code": None}}).encode()

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.heads = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.heads.append(head.split(b"\r\n\r\n")[0].decode("latin-1"))
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/json\r\n"
                         b"x-request-id: req_early\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                         % (len(self.BODY), self.BODY))
            time.sleep(0.5)

    def close(self):
        self.listener.close()


def test_an_upstream_answering_before_the_upload_is_sent_does_not_bring_tally_down(restartable):
    """The upstream answers 413 right after the request head while the client is still uploading: Tally relays the
    413 (or drops the rest of the upload) and keeps serving; the call is recorded with http_status 413."""
    gw = restartable
    up = EarlyAnswerUpstream()
    try:
        name = gw.add_connection("openai", up.url, endpoints="all")
        piece = os.urandom(256 * 1024)

        def slowly():  # 2 s of uploading: the answer comes long before the end
            for i in range(20):
                if i:
                    time.sleep(0.1)  # pacing the client
                yield piece

        try:
            r = requests.post(gw.base("openai") + "/files", data=slowly(), timeout=SDK_TIMEOUT,
                              headers={**bearer(gw.token), "X-Tally-Connection": name,
                                       "Content-Type": "application/octet-stream"})
        except requests.ConnectionError as e:  # Tally may close the connection instead of reading the rest
            r = e
        assert len(up.heads) == 1, up.heads
        assert server_alive(gw.server), "tally serve died: " + crash_line(gw.server)
        if not isinstance(r, Exception):
            assert r.status_code == 413 and r.content == up.BODY, (r.status_code, r.text[:300])
        (ev,) = gw.events(1)
        assert (ev["status"], ev["http_status"]) == ("error", 413), ev
        gw.call("openai")  # and the next call goes through
    finally:
        up.close()


# ---------------------------------------------------------------------------------------------------------------
# 6. Metrics and configuration

def metric(text, name):
    """The sum of a Prometheus metric's samples in /metrics text (None when absent)."""
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if not line.startswith("#") and (line.startswith(name + " ") or line.startswith(name + "{"))]
    return sum(values) if values else None


def test_metrics_show_the_gateway_recorders_queue_drops_and_stored_events(gw):
    """/metrics (no authentication) has tally_gateway_events_queued and tally_gateway_events_dropped_total, and
    tally_gateway_events_stored_total grows by the calls just made."""
    def scrape():
        r = requests.get(gw.server.url + "/metrics", timeout=10)
        assert r.status_code == 200, r.text[:300]
        return r.text

    text = scrape()
    for name in ("tally_gateway_events_queued", "tally_gateway_events_dropped_total",
                 "tally_gateway_events_stored_total"):
        assert metric(text, name) is not None, f"{name} missing from /metrics"
    before = metric(text, "tally_gateway_events_stored_total")
    for provider in PROVIDERS:
        gw.call(provider)
    gw.events(3)
    after = metric(scrape(), "tally_gateway_events_stored_total")
    assert after >= before + 3, (before, after)
    text = scrape()
    assert metric(text, "tally_gateway_events_dropped_total") == 0
    assert metric(text, "tally_gateway_events_queued") >= 0


@pytest.mark.parametrize("variable,value", [
    ("TALLY_GATEWAY_CONNECT_TIMEOUT", "soon"), ("TALLY_GATEWAY_CONNECT_TIMEOUT", "50ms"),
    ("TALLY_GATEWAY_FIRST_BYTE_TIMEOUT", "2h"), ("TALLY_GATEWAY_FIRST_BYTE_TIMEOUT", "0"),
    ("TALLY_GATEWAY_IDLE_TIMEOUT", "-5s"), ("TALLY_GATEWAY_IDLE_TIMEOUT", "3601")])
def test_a_bad_timeout_setting_stops_tally_serve_with_a_one_line_message(variable, value):
    """A timeout outside 100ms…1h, or not a duration: `tally serve` exits non-zero with one line naming the
    variable (it does not start with a setting it cannot honour)."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off"})
        server = t.serve(wait=False, **{variable: value})
        try:
            deadline = time.monotonic() + 20
            while server.proc.poll() is None and time.monotonic() < deadline:
                try:
                    ready = requests.get(server.url + "/readyz", timeout=1).status_code == 200
                except requests.ConnectionError:
                    ready = False
                assert not ready, f"tally serve started with {variable}={value!r}"
                time.sleep(0.05)
            assert server.proc.poll() not in (None, 0), f"tally serve with {variable}={value!r}: {server.proc.poll()}"
            lines = [line for line in t.logs().splitlines() if line.strip()]
            assert len(lines) == 1 and variable in lines[0], lines
        finally:
            t.stop_all()


def test_timeout_settings_in_each_accepted_form_start_tally_serve(tmp_path):
    """Durations like 500ms, 5m, 1h, 100ms and plain seconds are accepted."""
    for env in ({"TALLY_GATEWAY_CONNECT_TIMEOUT": "500ms", "TALLY_GATEWAY_FIRST_BYTE_TIMEOUT": "5m",
                 "TALLY_GATEWAY_IDLE_TIMEOUT": "1h"},
                {"TALLY_GATEWAY_CONNECT_TIMEOUT": "100ms", "TALLY_GATEWAY_FIRST_BYTE_TIMEOUT": "2s",
                 "TALLY_GATEWAY_IDLE_TIMEOUT": "3600"}):
        t = AccountsTally(str(tmp_path), None, {"TALLY_SYNC_INTERVAL": "off"})
        try:
            t.serve(**env)  # waits for /readyz; fails if the process exits
        finally:
            t.stop_all()
