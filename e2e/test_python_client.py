"""The Python client (clients/python, package tally-client) against a real `tally serve` and the stand-in upstreams.

- delivery: batching (requests counted by a recording proxy in front of the server), idempotent retries (the proxy
  forwards a batch and then drops the connection, so the client retries a batch the server already stored), a server
  killed (SIGTERM and SIGKILL) and restarted on the same data dir and port between flushes, 429 + Retry-After (seconds
  and HTTP date) and 5xx from the proxy, 4xx dropped without raising (a bad event in a batch, a bad token), a full
  queue, atexit, AsyncTally;
- the SDK wrappers on OpenAI/AsyncOpenAI/Anthropic/AsyncAnthropic, sync, async and streamed: the events' tokens are
  the stand-ins' usage exactly, and each event equals the one Tally's gateway records for the same call;
  streams the app sees are the same with and without the wrapper; a backend refusing the `stream_options` the
  wrapper adds (a 400 naming it) is asked again once without them, and not asked for them again;
- attribute(): nesting, threads and asyncio tasks;
- every example in clients/python/examples, run as a script, and its events found on the server."""
import asyncio
import copy
import email.utils
import http.client
import http.server
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import anthropic
import openai
import pytest
import requests

import tally_client
from conftest import BIN, AccountsTally, bearer, free_port, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.join(HERE, "..", "clients", "python")
EXAMPLES = os.path.join(CLIENT_DIR, "examples")
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "cache_write_1h_input_tokens",
                "output_tokens", "reasoning_tokens")
ALL_TOKEN_FIELDS = TOKEN_FIELDS + ("input_audio_tokens", "output_audio_tokens", "cached_input_audio_tokens")
OPENAI_MODEL, ANTHROPIC_MODEL = "gpt-4o-mini", "claude-haiku-4-5"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ---------------------------------------------------------------------------------------------------------------
# A module's server, each test's own project and token

@pytest.fixture(scope="module")
def server_site():
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off"})
        admin = t.token("ops", "admin")
        server = t.serve()
        yield t, server, admin
        t.stop_all()


class Site:
    def __init__(self, tally, server, admin):
        self.tally, self.server, self.admin = tally, server, admin
        self.project = "py-" + uuid.uuid4().hex[:10]
        self.token = self.new_token(["ingest", "read"])

    def api(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, self.server.url + path, headers=bearer(self.admin), **kw)

    def new_token(self, scopes, project=None):
        project = project or self.project
        r = self.api("POST", "/api/v1/projects", json={"name": project})
        assert r.status_code in (201, 409), r.text
        r = self.api("POST", "/api/v1/tokens", json={"name": "py", "project": project, "scopes": scopes})
        assert r.status_code == 201, r.text
        return r.json()["secret"]

    def events(self, project=None):
        r = self.api("GET", "/api/v1/events/export", params={"format": "ndjson", "project": project or self.project})
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line]

    def wait_events(self, n, project=None, timeout=15.0):
        """Exactly n events in the project (waits for at least n, then checks no more arrived)."""
        wait_until(lambda: len(self.events(project)) >= n, timeout, f"{n} events in {project or self.project}")
        events = self.events(project)
        assert len(events) == n, [(e["id"], e["provider"], e["model"]) for e in events]
        return events


@pytest.fixture
def site(server_site):
    return Site(*server_site)


# ---------------------------------------------------------------------------------------------------------------
# A recording proxy in front of Tally: counts and keeps the requests, and can answer for Tally (429, 503) or drop
# the connection after Tally answered (the client then retries a batch that was stored).

class RecordingProxy:
    def __init__(self, target_port):
        self.target_port = target_port
        self.requests = []  # (time, path, body)
        self.faults = []    # each: {"status": 429, "headers": {...}} or {"drop_after_forward": True}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.requests.append((time.monotonic(), self.path, body))
                    fault = proxy.faults.pop(0) if proxy.faults else None
                if fault and "status" in fault:
                    payload = json.dumps({"error": {"code": "rate_limited" if fault["status"] == 429 else "unavailable",
                                                    "message": "from the proxy", "details": []}}).encode()
                    self.send_response(fault["status"])
                    for k, v in fault.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request("POST", self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                if fault and fault.get("drop_after_forward"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self.lock:
            return [json.loads(b) for _, _, b in self.requests]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(site):
    p = RecordingProxy(site.server.port)
    yield p
    p.stop()


def ev(i, **kw):
    return dict(provider="openai", model="gpt-4o-mini", input_tokens=100 + i, output_tokens=10, **kw)


# ---------------------------------------------------------------------------------------------------------------
# Delivery

def test_batching_sends_every_event_in_few_requests(site, proxy):
    t = tally_client.Tally(proxy.url, site.token, batch_size=50, flush_interval=60)
    ids = [t.record(**ev(i, feature="batching")) for i in range(230)]
    assert all(ids) and len(set(ids)) == 230
    assert t.flush(timeout=30) is True
    bodies = proxy.bodies()
    assert [len(b["events"]) for b in bodies] == [50, 50, 50, 50, 30]
    assert all(r[1] == "/api/v1/events" for r in proxy.requests)
    events = site.wait_events(230)
    assert sorted(e["id"] for e in events) == sorted(ids)
    assert {e["input_tokens"] for e in events} == {100 + i for i in range(230)}
    assert all(e["feature"] == "batching" and e["timestamp"].endswith("Z") for e in events)
    st = t.stats
    assert (st.recorded, st.sent, st.dropped, st.retries, st.queued, st.requests) == (230, 230, 0, 0, 0, 5)
    t.close()


def test_flush_interval_sends_without_flush(site, proxy):
    t = tally_client.Tally(proxy.url, site.token, batch_size=100, flush_interval=0.3)
    for i in range(3):
        t.record(**ev(i))
    site.wait_events(3)
    assert len(proxy.requests) == 1 and len(proxy.bodies()[0]["events"]) == 3
    t.close()


def test_retry_of_a_stored_batch_is_idempotent(site, proxy):
    """The proxy forwards the first batch to Tally (stored) and drops the connection before the answer: the client
    retries the same ids, which Tally counts as duplicates, so nothing is stored twice."""
    proxy.faults.append({"drop_after_forward": True})
    t = tally_client.Tally(proxy.url, site.token, batch_size=100, flush_interval=60, backoff_base=0.05)
    ids = [t.record(**ev(i)) for i in range(7)]
    assert t.flush(timeout=30)
    bodies = proxy.bodies()
    assert len(bodies) == 2 and bodies[0] == bodies[1], "the retry must resend the same events (same ids)"
    events = site.wait_events(7)
    assert sorted(e["id"] for e in events) == sorted(ids)
    st = t.stats
    assert (st.sent, st.duplicates, st.retries, st.dropped) == (7, 7, 1, 0)
    t.close()


def test_429_retry_after_seconds_and_http_date_then_5xx(site, proxy, caplog):
    caplog.set_level(logging.INFO, logger="tally_client")
    # Backoff alone would wait 20 s or more: the gaps below show Retry-After was used instead.
    t = tally_client.Tally(proxy.url, site.token, flush_interval=60, backoff_base=20, backoff_max=60)
    proxy.faults.append({"status": 429, "headers": {"Retry-After": "1"}})
    t.record(**ev(1))
    assert t.flush(timeout=30)
    (t0, _, b0), (t1, _, b1) = proxy.requests
    assert 0.9 <= t1 - t0 < 5, t1 - t0
    assert b0 == b1
    site.wait_events(1)

    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy.faults.append({"status": 429, "headers": {"Retry-After": when}})
    t.record(**ev(2))
    assert t.flush(timeout=30)
    (t2, _, _), (t3, _, _) = proxy.requests[2:]
    assert 0.9 <= t3 - t2 < 5, t3 - t2
    site.wait_events(2)

    # 503 without Retry-After: exponential backoff (a small base here), then success.
    t_backoff = tally_client.Tally(proxy.url, site.token, flush_interval=60, backoff_base=0.05)
    proxy.faults += [{"status": 503}, {"status": 503}]
    t_backoff.record(**ev(3))
    assert t_backoff.flush(timeout=30)
    assert len(proxy.requests) == 7
    site.wait_events(3)
    assert t.stats.retries == 2 and t_backoff.stats.retries == 2 and t.stats.dropped == t_backoff.stats.dropped == 0
    assert "429" in caplog.text and "retry 1" in caplog.text
    t.close()
    t_backoff.close()


def test_the_servers_own_rate_limit_is_waited_out():
    """TALLY_API_RATE_LIMIT answers 429 rate_limited with Retry-After: the client waits that long (not its 20 s
    backoff) and delivers everything."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_API_RATE_LIMIT": "3/2s", "TALLY_SYNC_INTERVAL": "off"})
        token = t.token("web", "ingest,read")
        server = t.serve()
        client = tally_client.Tally(server.url, token, batch_size=1, flush_interval=60, backoff_base=20)
        try:
            ids = [client.record(**ev(i)) for i in range(7)]
            started = time.monotonic()
            assert client.flush(timeout=60)
            assert time.monotonic() - started < 15
            st = client.stats
            assert (st.sent, st.dropped) == (7, 0) and st.retries >= 1 and st.requests == 7 + st.retries

            def stored():  # this read is limited too: tried again until its window has room
                r = requests.get(server.url + "/api/v1/events/export?format=ndjson", headers=bearer(token),
                                 timeout=30)
                return r.status_code == 200 and sorted(json.loads(line)["id"] for line in r.text.splitlines() if line)
            assert wait_until(stored, 10, "the events", interval=0.5) == sorted(ids)
        finally:
            client.close(timeout=5)
            t.stop_all()


def test_retries_exhausted_drop_with_a_warning(site, proxy, caplog):
    proxy.faults += [{"status": 503}] * 3
    t = tally_client.Tally(proxy.url, site.token, flush_interval=60, max_retries=2, backoff_base=0.01)
    t.record(**ev(1))
    assert t.flush(timeout=30)
    assert len(proxy.requests) == 3
    assert (t.stats.dropped, t.stats.retries, t.stats.sent) == (1, 2, 0)
    assert "gave up after 2 retries" in caplog.text
    t.close()


def test_4xx_drops_without_raising_and_names_the_field(site, proxy, caplog):
    caplog.set_level(logging.WARNING, logger="tally_client")
    t = tally_client.Tally(proxy.url, site.token, flush_interval=60)
    good = [t.record(**ev(i)) for i in range(3)]
    # reasoning > output: valid JSON the server refuses (400 naming the field); the batch is all or nothing, so the
    # client drops the one event the answer names and sends the others again.
    bad = t.record(**ev(9, reasoning_tokens=50))
    good.append(t.record(**ev(4)))
    assert bad and all(good)
    assert t.flush(timeout=30)
    assert "reasoning_tokens" in caplog.text and "events[3]" in caplog.text, caplog.text
    events = site.wait_events(4)
    assert sorted(e["id"] for e in events) == sorted(good)
    assert [len(b["events"]) for b in proxy.bodies()] == [5, 4]
    assert (t.stats.sent, t.stats.dropped, t.stats.retries) == (4, 1, 0)
    # Refused before sending: content, unknown fields, missing provider/model. Still no exception.
    caplog.clear()
    assert t.record(provider="openai", model="m", prompt="secret text") is None
    assert t.record(provider="openai", model="m", colour="blue") is None
    assert t.record(model="m") is None
    assert "'prompt'" in caplog.text and "'colour'" in caplog.text and "'provider'" in caplog.text
    assert t.stats.dropped == 4
    t.close()

    # A wrong token: 401, not retried, every event of the batch dropped with the error named.
    caplog.clear()
    t = tally_client.Tally(proxy.url, "tly_wrong", flush_interval=60)
    for i in range(3):
        t.record(**ev(i))
    n = len(proxy.requests)
    assert t.flush(timeout=30)
    assert len(proxy.requests) == n + 1
    assert (t.stats.dropped, t.stats.retries, t.stats.sent) == (3, 0, 0)
    assert "401" in caplog.text and "unauthorized" in caplog.text
    t.close()
    site.wait_events(4)


def test_full_queue_drops_the_newest_and_close_drops_later_records(site, proxy, caplog):
    t = tally_client.Tally(proxy.url, site.token, flush_interval=60, max_queue=5)
    ids = [t.record(**ev(i)) for i in range(8)]
    assert all(ids[:5]) and ids[5:] == [None, None, None]
    assert "queue is full" in caplog.text
    assert t.stats.queued == 5 and t.stats.dropped == 3
    t.close()
    assert sorted(e["id"] for e in site.wait_events(5)) == sorted(ids[:5])
    assert t.record(**ev(9)) is None and "closed" in caplog.text


def test_unreachable_server_never_raises(caplog):
    port = free_port()  # nothing listens there
    t = tally_client.Tally(f"http://127.0.0.1:{port}", "tly_x", flush_interval=0.05, max_retries=1,
                           backoff_base=0.01, timeout=2)
    assert t.record(**ev(1))
    assert t.flush(timeout=30)
    assert (t.stats.dropped, t.stats.retries) == (1, 1)
    assert "connection error" in caplog.text
    t.close()


def start_server(tally, port):
    log = open(os.path.join(tally.data_dir, f"serve-{port}-{time.monotonic_ns()}.log"), "w")
    proc = subprocess.Popen([BIN, "serve", "--port", str(port), *tally.store_args()], stdout=log, stderr=log,
                            env=tally.environment({}))
    from conftest import Server
    s = Server(proc, port)
    s.wait_ready()
    return s


def test_server_killed_and_restarted_loses_nothing_flushed(sqlite_tally):
    """Between flushes the server is killed (SIGTERM, then SIGKILL), events are recorded while it is down, and it is
    restarted on the same data dir and port: the client retries through the outage, and every event whose flush()
    returned is stored exactly once."""
    t_data = AccountsTally(sqlite_tally.data_dir)
    token = t_data.token("web", "ingest,read")
    port = free_port()
    server = start_server(t_data, port)
    client = tally_client.Tally(server.url, token, batch_size=25, flush_interval=0.2, backoff_base=0.1,
                                backoff_max=0.5, max_retries=100, timeout=5)
    acked = []
    try:
        for round_, sig in enumerate((signal.SIGTERM, signal.SIGKILL, None)):
            ids = [client.record(**ev(i, feature=f"round-{round_}")) for i in range(40)]
            assert client.flush(timeout=60) is True
            acked += ids
            if sig is None:
                break
            retries_before = client.stats.retries
            server.proc.send_signal(sig)
            server.proc.wait(timeout=20)
            # Recorded while the server is down: sent by the background thread, which keeps retrying.
            down = [client.record(**ev(i, feature=f"down-{round_}")) for i in range(30)]
            wait_until(lambda: client.stats.retries > retries_before, 20, "the client to retry against a dead server")
            flushing = {}
            th = threading.Thread(target=lambda: flushing.setdefault("ok", client.flush(timeout=90)))
            th.start()
            time.sleep(0.3)
            assert th.is_alive(), "flush() returned while the server was down"
            server = start_server(t_data, port)
            th.join(90)
            assert flushing.get("ok") is True
            acked += down
        assert client.stats.dropped == 0
        r = requests.get(server.url + "/api/v1/events/export?format=ndjson", headers=bearer(token), timeout=60)
        stored = [json.loads(line)["id"] for line in r.text.splitlines() if line]
        assert sorted(stored) == sorted(acked), (len(stored), len(acked))
        assert len(acked) == 40 * 3 + 30 * 2
    finally:
        client.close(timeout=5)
        server.stop()


def test_events_left_queued_are_sent_at_exit(site):
    script = f"""
import tally_client
t = tally_client.Tally({site.server.url!r}, {site.token!r}, flush_interval=600)
for i in range(4):
    t.record(provider="anthropic", model="claude-haiku-4-5", input_tokens=i + 1, feature="atexit")
a = tally_client.AsyncTally({site.server.url!r}, {site.token!r}, flush_interval=600)
a.record(provider="openai", model="gpt-4o", input_tokens=99, feature="atexit-async")
print("exiting")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "exiting", r.stderr
    events = site.wait_events(5)
    assert sorted(e["input_tokens"] for e in events) == [1, 2, 3, 4, 99]


def test_async_tally_batches_flushes_and_closes(site, proxy):
    async def run():
        async with tally_client.AsyncTally(proxy.url, site.token, batch_size=10, flush_interval=60) as t:
            async def worker(k):
                with t.attribute(user=f"u{k}"):
                    await asyncio.sleep(0)
                    return [t.record(**ev(i)) for i in range(5)]
            ids = sum(await asyncio.gather(*(worker(k) for k in range(5))), [])
            assert await t.flush(timeout=30)
            assert t.stats.sent == 25 and t.stats.queued == 0
            late = t.record(**ev(99))
        assert t.stats.sent == 26
        return ids + [late], t

    ids, t = asyncio.run(run())
    events = site.wait_events(26)
    assert sorted(e["id"] for e in events) == sorted(ids)
    sizes = [len(b["events"]) for b in proxy.bodies()]
    assert sum(sizes) == 26 and max(sizes) <= 10 and len(sizes) <= 5, sizes
    assert sizes[-1] == 1  # the event recorded after flush() went on aclose()
    assert sorted(e["user"] for e in events if e["input_tokens"] < 199) == sorted(f"u{k}" for k in range(5)
                                                                                 for _ in range(5))


# ---------------------------------------------------------------------------------------------------------------
# attribute()

def test_attribute_nests_and_follows_threads_and_tasks(site):
    other = "py-other-" + uuid.uuid4().hex[:6]
    site.new_token(["ingest"], project=other)  # creates the project
    admin = tally_client.Tally(site.server.url, site.admin, flush_interval=60)
    t = tally_client.Tally(site.server.url, site.token, flush_interval=60)
    seen = {}
    with t.attribute(feature="outer", user="u1", environment="prod", tags={"team": "a", "tier": "x"}):
        seen["outer"] = t.record(**ev(1))
        with t.attribute(feature="inner", tags={"tier": "y"}):
            seen["inner"] = t.record(**ev(2))
            seen["explicit"] = t.record(**ev(3, feature="mine", tags={"team": "b"}))
            seen["project"] = None
            with admin.attribute(project=other):
                seen["project"] = admin.record(**ev(7))

            def in_thread():
                seen["thread"] = t.record(**ev(4))  # a new thread starts without the block's values
            th = threading.Thread(target=in_thread)
            th.start()
            th.join()

            async def tasks():
                async def child():
                    await asyncio.sleep(0.01)
                    return t.record(**ev(5))
                task = asyncio.ensure_future(child())  # copies the context as it is now
                with t.attribute(feature="changed-after-task-start"):
                    await asyncio.sleep(0)
                return await task
            seen["task"] = asyncio.run(tasks())  # its main task starts with a copy of this context
        seen["after_inner"] = t.record(**ev(6))
    seen["outside"] = t.record(**ev(8))
    assert t.flush(timeout=30) and admin.flush(timeout=30)
    by_id = {e["id"]: e for e in site.wait_events(7)}
    got = {k: by_id[v] for k, v in seen.items() if v in by_id}

    def view(e):
        return (e["feature"], e["user"], e["environment"], e.get("tags") or {})
    assert view(got["outer"]) == ("outer", "u1", "prod", {"team": "a", "tier": "x"})
    assert view(got["inner"]) == ("inner", "u1", "prod", {"team": "a", "tier": "y"})
    assert view(got["explicit"]) == ("mine", "u1", "prod", {"team": "b", "tier": "y"})
    assert view(got["thread"]) == (None, None, None, {})
    assert view(got["task"]) == ("inner", "u1", "prod", {"team": "a", "tier": "y"})
    assert view(got["after_inner"]) == ("outer", "u1", "prod", {"team": "a", "tier": "x"})
    assert view(got["outside"]) == (None, None, None, {})
    [in_other] = site.wait_events(1, project=other)
    assert in_other["id"] == seen["project"] and in_other["feature"] == "inner"
    t.close()
    admin.close()


# ---------------------------------------------------------------------------------------------------------------
# Wrappers: the event of a wrapped call is the stand-in's usage, and the gateway's event for the same call

def point_gateway(site, standins):
    """Connections openai/anthropic pointed at this test's stand-ins; a gateway token of a project of its own."""
    existing = {c["name"]: c for c in site.api("GET", "/api/v1/provider-connections").json()["data"]}
    for s in (standins.openai, standins.anthropic):
        body = {"base_url": s.url, "api_key": s.key}
        if s.provider in existing:
            r = site.api("PATCH", f"/api/v1/provider-connections/{existing[s.provider]['id']}", json=body)
            assert r.status_code == 200, r.text
        else:
            r = site.api("POST", "/api/v1/provider-connections", json=dict(body, provider=s.provider,
                                                                            name=s.provider))
            assert r.status_code == 201, r.text
    project = "gw-" + uuid.uuid4().hex[:8]
    return project, site.new_token(["gateway"], project=project)


def request_id(rec):
    return rec.response_headers.get("x-request-id") or rec.response_headers.get("request-id")


COMPARED = ("provider", "model", "operation", *ALL_TOKEN_FIELDS, "requests", "status", "http_status", "error_type",
            "streamed", "finish_reason", "service_tier", "batch")


def openai_calls(c):
    """(name, call) pairs run the same way on a wrapped client and through the gateway; each returns what the app
    got, as plain data (volatile ids and timestamps left out)."""
    def chat():
        r = c.chat.completions.create(model=OPENAI_MODEL, service_tier="auto",
                                      messages=[{"role": "user", "content": "hi [[usage cached=64 reasoning=5]]"}])
        return r.choices[0].message.content

    def chat_stream():
        return [ch.choices[0].delta.content if ch.choices else "usage" for ch in c.chat.completions.create(
            model=OPENAI_MODEL, stream=True, messages=[{"role": "user", "content": "stream [[usage chunks=3]]"}])]

    def chat_stream_usage():
        return [(bool(ch.choices), ch.usage.prompt_tokens if ch.usage else None) for ch in c.chat.completions.create(
            model=OPENAI_MODEL, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream with usage [[usage cached=128]]"}])]

    def responses():
        return c.responses.create(model="o4-mini", input="think [[usage reasoning=64 cached=128]]").output_text

    def responses_stream():
        return [e.type for e in c.responses.create(model="o4-mini", input="stream think [[usage reasoning=8]]",
                                                   stream=True)]

    def embeddings():
        return len(c.embeddings.create(model="text-embedding-3-small", input=["one text", "two"]).data)

    def completions():
        return c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon", max_tokens=5).choices[0].text

    def completions_stream():
        return [ch.choices[0].text if ch.choices else "usage" for ch in c.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Once upon a stream", max_tokens=6, stream=True)]

    def error_404():
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="gpt-nonexistent", messages=[{"role": "user", "content": "x"}])
        return "raised"

    return [chat, chat_stream, chat_stream_usage, responses, responses_stream, embeddings, completions,
            completions_stream, error_404]


def anthropic_calls(c):
    cache = "[[usage cached=100 cache_write=300 cache_write_1h=120]]"
    # The stand-in's Anthropic streams carry no thinking-token count (message_delta has output_tokens only): reasoning
    # is asked of the whole answer only.
    thinking = "[[usage cached=100 cache_write=300 cache_write_1h=120 reasoning=7]]"

    def create():
        m = c.messages.create(model=ANTHROPIC_MODEL, max_tokens=100,
                              messages=[{"role": "user", "content": "hello " + thinking}])
        return [getattr(b, "text", None) or getattr(b, "thinking", None) for b in m.content]

    def create_stream():
        return [e.type for e in c.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, stream=True,
                                                  messages=[{"role": "user", "content": "stream " + cache}])]

    def helper_stream():
        with c.messages.stream(model=ANTHROPIC_MODEL, max_tokens=5, service_tier="standard_only",
                               messages=[{"role": "user", "content": "helper " + cache}]) as st:
            text = "".join(st.text_stream)
            return text, st.get_final_message().stop_reason

    def error_429(s):
        def call():
            s.fail(429)
            with pytest.raises(anthropic.RateLimitError):
                c.messages.create(model=ANTHROPIC_MODEL, max_tokens=10, messages=[{"role": "user", "content": "e"}])
            return "raised"
        call.__name__ = "error_429"
        return call

    return [create, create_stream, helper_stream], error_429


def test_wrapped_sync_calls_record_what_the_gateway_records(site, upstream_standins):
    """Each call made twice, through Tally's gateway and with a wrapped client straight to the stand-in: the app
    gets the same answer, and the two events agree field by field; their tokens are the stand-in's usage."""
    gw_project, gw_token = point_gateway(site, upstream_standins)
    tally = tally_client.Tally(site.server.url, site.token, flush_interval=60)
    so, sa = upstream_standins.openai, upstream_standins.anthropic

    def sdk(kind, through_gateway):
        if kind == "openai":
            base = site.server.url + "/gateway/openai/v1" if through_gateway else so.sdk_base_url
            c = openai.OpenAI(api_key=gw_token if through_gateway else so.key, base_url=base, max_retries=0)
        else:
            base = site.server.url + "/gateway/anthropic" if through_gateway else sa.sdk_base_url
            c = anthropic.Anthropic(api_key=gw_token if through_gateway else sa.key, base_url=base, max_retries=0)
        return c if through_gateway else tally.wrap(c)

    pairs = []  # (name, standin, gateway rec, wrapped rec)
    for kind, s in (("openai", so), ("anthropic", sa)):
        gw_c, wr_c = sdk(kind, True), sdk(kind, False)
        if kind == "openai":
            gw_calls, wr_calls = openai_calls(gw_c), openai_calls(wr_c)
        else:
            (gw_calls, gw_err), (wr_calls, wr_err) = anthropic_calls(gw_c), anthropic_calls(wr_c)
            gw_calls, wr_calls = gw_calls + [gw_err(s)], wr_calls + [wr_err(s)]
        for g, w in zip(gw_calls, wr_calls):
            got_gw = g()
            rec_gw = s.wait_finished(s.last())
            got_wr = w()
            rec_wr = s.wait_finished(s.last())
            assert rec_gw is not rec_wr
            assert got_gw == got_wr, (g.__name__, got_gw, got_wr)
            pairs.append((f"{kind}.{g.__name__}", s, rec_gw, rec_wr))
    assert tally.flush(timeout=30)
    mine = site.wait_events(len(pairs))
    theirs = site.wait_events(len(pairs), project=gw_project)
    by_tag = {(e.get("tags") or {}).get("provider_request_id"): e for e in mine}
    by_gw = {e["id"]: e for e in theirs}
    for name, s, rec_gw, rec_wr in pairs:
        e_gw, e_wr = by_gw["gw_" + request_id(rec_gw)], by_tag[request_id(rec_wr)]
        # The gateway asks for the usage chunk of chat streams only; the wrapper of legacy completions streams too,
        # so there its tokens are the stand-in's usage (checked below) where the gateway's are 0.
        fields = [k for k in COMPARED if name != "openai.completions_stream" or k not in ALL_TOKEN_FIELDS]
        assert {k: e_wr.get(k) for k in fields} == {k: e_gw.get(k) for k in fields}, name
        if e_wr["status"] == "error":
            # The gateway stores a call without usage unpriced; the events API has no "usage unknown": $0.
            assert e_wr["cost_usd"] in (None, "0") and e_gw["cost_usd"] in (None, "0"), name
        elif name != "openai.completions_stream":
            assert e_wr["cost_usd"] == e_gw["cost_usd"], name
        assert (e_wr["time_to_first_token_ms"] is None) == (e_gw["time_to_first_token_ms"] is None), name
        assert e_wr["timestamp"] <= e_wr["received_at"] and e_wr["latency_ms"] >= 0, name
        if rec_wr.status == 200:
            want = s.expected_usage(rec_wr.body, path=rec_wr.path)
            assert {k: e_wr[k] for k in TOKEN_FIELDS} == {k: want[k] for k in TOKEN_FIELDS}, name
            assert e_wr["input_tokens"] > 0, name
        else:
            assert e_wr["status"] == "error" and e_wr["http_status"] == rec_wr.status, name
    # The wrapper asked for the usage chunk of the streams that did not: the same request the gateway sends.
    recs = {n: (rg, rw) for n, _, rg, rw in pairs}
    assert recs["openai.chat_stream"][0].json == recs["openai.chat_stream"][1].json
    assert recs["openai.chat_stream"][1].json["stream_options"] == {"include_usage": True}
    assert recs["openai.completions_stream"][1].json["stream_options"] == {"include_usage": True}
    checks = {n: e for n, e in ((n, by_tag[request_id(rw)]) for n, _, _, rw in pairs)}
    assert checks["openai.chat"]["cached_input_tokens"] == 64 and checks["openai.chat"]["reasoning_tokens"] == 5
    assert checks["openai.chat"]["service_tier"] == "default"
    assert checks["anthropic.create"]["cache_write_1h_input_tokens"] == 120
    assert checks["anthropic.create"]["cache_write_input_tokens"] == 300
    assert checks["anthropic.create"]["cached_input_tokens"] == 100
    assert checks["anthropic.create"]["reasoning_tokens"] == 7
    assert checks["anthropic.helper_stream"]["finish_reason"] == "max_tokens"
    assert checks["anthropic.helper_stream"]["service_tier"] == "standard"
    assert checks["openai.error_404"]["error_type"] and checks["openai.error_404"]["model"] == "gpt-nonexistent"
    assert all(e["retries"] == 0 for e in mine)
    tally.close()


def test_wrapped_async_calls(site, upstream_standins):
    so, sa = upstream_standins.openai, upstream_standins.anthropic

    async def run():
        async with tally_client.AsyncTally(site.server.url, site.token, flush_interval=60) as t:
            oc = t.wrap(openai.AsyncOpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0))
            ac = tally_client.wrap(anthropic.AsyncAnthropic(api_key=sa.key, base_url=sa.sdk_base_url,
                                                            max_retries=0), t)
            calls = []
            with t.attribute(feature="async"):
                r = await oc.chat.completions.create(model=OPENAI_MODEL,
                                                     messages=[{"role": "user", "content": "async [[usage cached=8]]"}])
                calls.append((so, so.last(), dict(streamed=False, finish_reason="stop")))
                stream = await oc.chat.completions.create(
                    model=OPENAI_MODEL, stream=True, messages=[{"role": "user", "content": "async stream"}])
                chunks = [ch async for ch in stream]
                assert chunks and all(ch.choices for ch in chunks)
                calls.append((so, so.last(), dict(streamed=True, finish_reason="stop")))
                e = await oc.embeddings.create(model="text-embedding-3-small", input="embed me")
                calls.append((so, so.last(), dict(streamed=False, operation="embedding")))
                m = await ac.messages.create(model=ANTHROPIC_MODEL, max_tokens=50,
                                             messages=[{"role": "user", "content": "hi [[usage cache_write=40]]"}])
                calls.append((sa, sa.last(), dict(streamed=False, finish_reason="end_turn")))
                stream = await ac.messages.create(model=ANTHROPIC_MODEL, max_tokens=50, stream=True,
                                                  messages=[{"role": "user", "content": "s [[usage cached=9]]"}])
                kinds = [x.type async for x in stream]
                assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
                calls.append((sa, sa.last(), dict(streamed=True, finish_reason="end_turn")))
                helper = [{"role": "user", "content": "helper [[usage cached=5 output=20]]"}]
                async with ac.messages.stream(model=ANTHROPIC_MODEL, max_tokens=50, messages=helper) as st:
                    final = await st.get_final_message()
                calls.append((sa, sa.last(), dict(streamed=True, finish_reason="end_turn")))
                sa.fail(500)
                with pytest.raises(anthropic.InternalServerError):
                    await ac.messages.create(model=ANTHROPIC_MODEL, max_tokens=5,
                                             messages=[{"role": "user", "content": "boom"}])
                calls.append((sa, sa.last(), dict(streamed=False, status="error", http_status=500)))
            assert r.usage.prompt_tokens_details.cached_tokens == 8 and e.usage.prompt_tokens > 0
            assert m.usage.cache_creation_input_tokens == 40
            assert final.usage.output_tokens == 20 and final.usage.cache_read_input_tokens == 5
            assert await t.flush(timeout=30)
            await oc.close()
            await ac.close()
            return calls

    calls = asyncio.run(run())
    events = site.wait_events(len(calls))
    by_tag = {(e.get("tags") or {}).get("provider_request_id"): e for e in events}
    for s, rec, kw in calls:
        e = by_tag[request_id(rec)]
        assert e["feature"] == "async" and e["streamed"] is kw["streamed"], e
        assert e["status"] == kw.get("status", "success") and e["http_status"] == kw.get("http_status", 200), e
        if kw.get("status") == "error":
            assert e["error_type"] and e["input_tokens"] == 0 and e["time_to_first_token_ms"] is None, e
            continue
        want = s.expected_usage(rec.body, path=rec.path)
        assert {k: e[k] for k in TOKEN_FIELDS} == {k: want[k] for k in TOKEN_FIELDS}, (rec.path, e)
        assert e["operation"] == kw.get("operation", "chat") and e["finish_reason"] == kw.get("finish_reason"), e
        if kw["streamed"]:
            assert 0 <= e["time_to_first_token_ms"] <= e["latency_ms"], e


def _plain(chunk, drop=("id", "created", "obfuscation", "system_fingerprint")):
    d = chunk.model_dump()
    for k in drop:
        d.pop(k, None)
    return d


def test_streams_are_the_same_with_and_without_the_wrapper(site, upstream_standins):
    so, sa = upstream_standins.openai, upstream_standins.anthropic
    so.openai_obfuscation = False
    tally = tally_client.Tally(site.server.url, site.token, flush_interval=60)
    plain_o = openai.OpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0)
    wrapped_o = tally.wrap(openai.OpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0))
    plain_a = anthropic.Anthropic(api_key=sa.key, base_url=sa.sdk_base_url, max_retries=0)
    wrapped_a = tally.wrap(anthropic.Anthropic(api_key=sa.key, base_url=sa.sdk_base_url, max_retries=0))
    n_events = 0
    for kwargs in (dict(stream=True), dict(stream=True, stream_options={"include_usage": True}),
                   dict(stream=True, stream_options={"include_usage": False}), dict(stream=True, n=2)):
        messages = [{"role": "user", "content": "the same stream [[usage chunks=5 cached=16]]"}]
        sent = copy.deepcopy(kwargs)
        a = [_plain(c) for c in plain_o.chat.completions.create(model=OPENAI_MODEL, messages=messages, **kwargs)]
        stream = wrapped_o.chat.completions.create(model=OPENAI_MODEL, messages=messages, **kwargs)
        assert type(stream) is openai.Stream
        b = [_plain(c) for c in stream]
        n_events += 1
        assert kwargs == sent, "the wrapper changed the caller's arguments"
        assert a == b, kwargs
        assert (a[-1]["usage"] is not None) == (kwargs.get("stream_options") == {"include_usage": True})
    a = [_plain(c, ("id",)) for c in plain_o.completions.create(model="gpt-3.5-turbo-instruct", prompt="p",
                                                                   stream=True)]
    b = [_plain(c, ("id",)) for c in wrapped_o.completions.create(model="gpt-3.5-turbo-instruct", prompt="p",
                                                                     stream=True)]
    n_events += 1
    for x in a + b:
        x.pop("created", None)
    assert a == b and all(x["choices"] for x in b)
    messages = [{"role": "user", "content": "anthropic stream [[usage chunks=4 cache_write=10]]"}]
    a = [e.model_dump() for e in plain_a.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, stream=True,
                                                         messages=messages)]
    b = [e.model_dump() for e in wrapped_a.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, stream=True,
                                                           messages=messages)]
    n_events += 1
    for x in a + b:
        if x["type"] == "message_start":
            x["message"].pop("id")
    assert a == b
    # Breaking off a stream early: the app keeps what it read; the event says the client went away.
    stream = wrapped_o.chat.completions.create(model=OPENAI_MODEL, stream=True,
                                               messages=[{"role": "user", "content": "long [[usage chunks=6]]"}])
    first = next(iter(stream))
    stream.close()
    n_events += 1
    assert first.choices
    assert tally.flush(timeout=30)
    events = site.wait_events(n_events)
    broke = [e for e in events if e["error_type"] == "client_disconnected"]
    assert len(broke) == 1 and broke[0]["status"] == "error"
    tally.close()


# A backend that does not know `stream_options` (vLLM, older Azure API versions...): 400 when the body has it, else
# the stand-in's stream. The wrapper's own `stream_options` is then dropped: asked again once, not added again.

REFUSED = {"error": {"message": "Unrecognized request argument supplied: stream_options",
                     "type": "invalid_request_error", "param": "stream_options", "code": None}}


def refuse_stream_options(so):
    so.openai_obfuscation = False
    return so.fail(400, times=None, body=REFUSED, match=lambda rec: "stream_options" in (rec.json or {}))


def test_a_backend_refusing_stream_options_is_asked_again_without_them(site, upstream_standins):
    so = upstream_standins.openai
    refuse_stream_options(so)
    tally = tally_client.Tally(site.server.url, site.token, flush_interval=60)
    plain = openai.OpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0)
    c = tally.wrap(openai.OpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0))
    messages = [{"role": "user", "content": "refusing backend [[usage chunks=3]]"}]
    want = [_plain(ch) for ch in plain.chat.completions.create(model=OPENAI_MODEL, messages=messages, stream=True)]
    so.clear()

    # The app's stream is the one it gets without the wrapper, made of the second request.
    kwargs = dict(model=OPENAI_MODEL, messages=messages, stream=True)
    sent = copy.deepcopy(kwargs)
    stream = c.chat.completions.create(**kwargs)
    assert type(stream) is openai.Stream
    got = [_plain(ch) for ch in stream]
    assert got == want and all(ch["choices"] for ch in got) and kwargs == sent
    first, second = so.recorded()
    assert first.status == 400 and first.json["stream_options"] == {"include_usage": True}
    assert second.status == 200 and "stream_options" not in second.json
    # Later calls of that client (and of its copies) are sent as written: one request each.
    assert [ch.choices[0].delta.content for ch in c.chat.completions.create(**kwargs)][-1] is None
    assert len(list(c.with_options(timeout=30).chat.completions.create(**kwargs))) == len(want)
    assert len(list(c.completions.create(model="gpt-3.5-turbo-instruct", prompt="p", stream=True))) > 0
    recs = so.recorded()
    assert len(recs) == 5 and all(r.status == 200 and "stream_options" not in r.json for r in recs[2:])
    # A caller's own stream_options are never dropped: the 400 is the app's.
    with pytest.raises(openai.BadRequestError) as raised:
        c.chat.completions.create(stream_options={"include_usage": True}, **kwargs)
    assert raised.value.body["param"] == "stream_options"
    assert len(so.recorded()) == 6 and so.last().status == 400
    assert tally.flush(timeout=30)
    events = site.wait_events(5)
    by_tag = {(e.get("tags") or {}).get("provider_request_id"): e for e in events}
    for rec in recs[1:]:
        e = by_tag[request_id(rec)]
        # The stream carried no usage: recorded as such (no tokens), not as an error.
        assert e["status"] == "success" and e["http_status"] == 200 and e["streamed"] is True, e
        assert e["error_type"] is None and all(e[k] == 0 for k in TOKEN_FIELDS), e
        assert e["finish_reason"] == "stop" and 0 <= e["time_to_first_token_ms"] <= e["latency_ms"], e
    refused = by_tag[request_id(so.last())]
    assert refused["status"] == "error" and refused["http_status"] == 400, refused
    assert refused["error_type"] == "invalid_request_error", refused
    tally.close()


def test_a_backend_refusing_stream_options_async(site, upstream_standins):
    so = upstream_standins.openai
    refuse_stream_options(so)

    async def run():
        async with tally_client.AsyncTally(site.server.url, site.token, flush_interval=60) as t:
            c = t.wrap(openai.AsyncOpenAI(api_key=so.key, base_url=so.sdk_base_url, max_retries=0))
            kwargs = dict(model=OPENAI_MODEL, stream=True, messages=[{"role": "user", "content": "async refused"}])
            for _ in range(2):
                stream = await c.chat.completions.create(**kwargs)
                assert type(stream) is openai.AsyncStream
                chunks = [ch async for ch in stream]
                assert chunks and all(ch.choices for ch in chunks)
            with pytest.raises(openai.BadRequestError):
                await c.chat.completions.create(stream_options={"include_usage": False}, **kwargs)
            assert await t.flush(timeout=30)
            await c.close()

    asyncio.run(run())
    recs = so.recorded()
    assert [r.status for r in recs] == [400, 200, 200, 400]
    assert [("stream_options" in r.json) for r in recs] == [True, False, False, True]
    events = site.wait_events(3)
    assert sorted((e["status"], e["http_status"]) for e in events) == [("error", 400), ("success", 200),
                                                                       ("success", 200)]


# ---------------------------------------------------------------------------------------------------------------
# Examples

EXAMPLE_FILES = ["basic.py", "chat.py", "streaming.py", "batch.py", "async_example.py", "error_handling.py"]


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_runs_and_its_events_arrive(site, upstream_standins, name):
    so, sa = upstream_standins.openai, upstream_standins.anthropic
    env = dict(os.environ, TALLY_URL=site.server.url, TALLY_TOKEN=site.token,
               OPENAI_BASE_URL=so.sdk_base_url, OPENAI_API_KEY=so.key,
               ANTHROPIC_BASE_URL=sa.sdk_base_url, ANTHROPIC_API_KEY=sa.key)
    r = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], capture_output=True, text=True, timeout=120,
                       env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    # Each example's last line is a JSON summary: the ids (or provider request ids) it recorded and its stats.
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    expected = summary["events"]
    events = site.wait_events(expected)
    assert summary["stats"]["dropped"] == summary.get("expected_dropped", 0), summary
    assert summary["stats"]["sent"] == expected, summary
    if "ids" in summary:
        assert sorted(e["id"] for e in events) == sorted(summary["ids"])
    if "request_ids" in summary:
        assert sorted((e.get("tags") or {}).get("provider_request_id") for e in events) == sorted(
            summary["request_ids"])
    if "tokens" in summary:
        assert sum(e["input_tokens"] + e["output_tokens"] for e in events) == summary["tokens"]
    recs = so.recorded() + sa.recorded()
    assert len(recs) == summary.get("upstream_calls", len(recs))
    for rec in recs:
        if rec.status != 200:
            continue
        s = so if rec in so.recorded() else sa
        e = next(e for e in events if (e.get("tags") or {}).get("provider_request_id") == request_id(rec))
        want = s.expected_usage(rec.body, path=rec.path)
        assert {k: e[k] for k in TOKEN_FIELDS} == {k: want[k] for k in TOKEN_FIELDS}, (name, rec.path)
