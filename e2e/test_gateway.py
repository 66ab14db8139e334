"""The gateway (issue 8) end to end: the official SDKs (openai, anthropic, google-genai; sync and async) pointed at
Tally's base URLs, Tally forwarding to local stand-in upstreams (standins/upstreams.py), and every call's event read
back from `GET /api/v1/events` with its tokens asserted exactly (the stand-in's own usage) and its cost equal to
the same usage priced by hand at the providers' published list prices (LIST_PRICES below), never at a price Tally
answers: a pricing bug cannot agree with itself (issue 25).

One `tally serve` (SQLite) for the module; each test gets fresh stand-ins, its own project and gateway token (so the
events it reads are its own), and the module's connections pointed at its stand-ins.

Timeouts, unreachable upstreams, graceful shutdown, large uploads and the recorder's metrics: test_gateway_faults.py."""
import asyncio
import json
import tempfile
import time
import uuid
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from conftest import AccountsTally, bearer, wait_until
from standins.upstreams import UpstreamStandIn, _dumps

TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_input_tokens", "cache_write_1h_input_tokens",
                "output_tokens", "reasoning_tokens")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
OPENAI_MODEL, OPENAI_ANSWERED = "gpt-4o-mini", "gpt-4o-mini-2024-07-18"
ANTHROPIC_MODEL, ANTHROPIC_ANSWERED = "claude-sonnet-4-5", "claude-sonnet-4-5-20250929"
GEMINI_MODEL = "gemini-2.5-flash"
WEATHER_OPENAI = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                   "required": ["city"]}}}]
WEATHER_ANTHROPIC = [{"name": "get_weather", "description": "Weather of a city",
                      "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                       "required": ["city"]}}]


# ---------------------------------------------------------------------------------------------------------------
# Published list prices, written by hand: nano-dollars (10^-9 USD) per 1M tokens, so $0.15 is 150_000_000.
# Sources as docs/pricing.md, read 2026-11-23: https://openai.com/api/pricing/ (OpenAI),
# https://docs.anthropic.com/en/docs/about-claude/pricing (Anthropic), https://ai.google.dev/gemini-api/docs/pricing
# (Gemini, paid tier, prompts up to 200k). Reasoning/thinking tokens are billed at the output rate by all three.

NANO_PER_USD = 1_000_000_000
# OpenAI gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output.
GPT_4O_MINI = {"input": 150_000_000, "cached_input": 75_000_000, "output": 600_000_000}
# OpenAI o4-mini: $1.10 input, $0.275 cached input, $4.40 output.
O4_MINI = {"input": 1_100_000_000, "cached_input": 275_000_000, "output": 4_400_000_000}
# OpenAI text-embedding-3-small: $0.02 input.
TEXT_EMBEDDING_3_SMALL = {"input": 20_000_000}
# OpenAI gpt-3.5-turbo-instruct (legacy completions): $1.50 input, $2.00 output.
GPT_35_TURBO_INSTRUCT = {"input": 1_500_000_000, "output": 2_000_000_000}
# Anthropic Claude Sonnet 4.5 (prompts ≤ 200k): $3 input, $3.75 5-minute cache writes, $6 1-hour cache writes,
# $0.30 cache reads, $15 output.
CLAUDE_SONNET_4_5 = {"input": 3_000_000_000, "cache_write_5m": 3_750_000_000, "cache_write_1h": 6_000_000_000,
                     "cached_input": 300_000_000, "output": 15_000_000_000}
# Anthropic Claude Haiku 4.5: $1 input, $1.25 5-minute writes, $2 1-hour writes, $0.10 cache reads, $5 output.
CLAUDE_HAIKU_4_5 = {"input": 1_000_000_000, "cache_write_5m": 1_250_000_000, "cache_write_1h": 2_000_000_000,
                    "cached_input": 100_000_000, "output": 5_000_000_000}
# Gemini 2.5 Flash: $0.30 text input, $0.03 context-cache reads, $2.50 output (thinking included).
GEMINI_2_5_FLASH = {"input": 300_000_000, "cached_input": 30_000_000, "output": 2_500_000_000}
# Gemini embedding 001: $0.15 input.
GEMINI_EMBEDDING_001 = {"input": 150_000_000}

# Each model as the events name it (the answered snapshot) to its published price.
LIST_PRICES = {
    "gpt-4o-mini-2024-07-18": GPT_4O_MINI, "o4-mini-2025-04-16": O4_MINI,
    "text-embedding-3-small": TEXT_EMBEDDING_3_SMALL, "gpt-3.5-turbo-instruct": GPT_35_TURBO_INSTRUCT,
    "claude-sonnet-4-5-20250929": CLAUDE_SONNET_4_5, "claude-haiku-4-5-20251001": CLAUDE_HAIKU_4_5,
    "gemini-2.5-flash": GEMINI_2_5_FLASH, "gemini-embedding-001": GEMINI_EMBEDDING_001,
}


def nano(amount):
    """A decimal-string USD amount as integer nano-dollars; it must be exact."""
    n = Decimal(amount) * NANO_PER_USD
    assert n == n.to_integral_value(), amount
    return int(n)


def list_price_nano(model, usage):
    """The usage (Tally's token classes) at the model's published rates: each billed class × its rate per 1M tokens,
    rounded half-up to the nano-dollar. Input counts cache reads and writes, so plain input is what is left of it;
    output counts reasoning, billed at the output rate. A class with tokens and no published rate fails (KeyError)."""
    rates = LIST_PRICES[model]
    u = {k: usage.get(k, 0) for k in TOKEN_FIELDS}
    billed = {"input": u["input_tokens"] - u["cached_input_tokens"] - u["cache_write_input_tokens"],
              "cached_input": u["cached_input_tokens"],
              "cache_write_5m": u["cache_write_input_tokens"] - u["cache_write_1h_input_tokens"],
              "cache_write_1h": u["cache_write_1h_input_tokens"],
              "output": u["output_tokens"]}
    return sum((tokens * rates[cls] + 500_000) // 1_000_000 for cls, tokens in billed.items() if tokens)


# ---------------------------------------------------------------------------------------------------------------
# Fixtures

@pytest.fixture(scope="module")
def tally_gateway():
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off"})
        admin = t.token("ops", "admin")
        server = t.serve()
        yield t, server, admin
        t.stop_all()


class Gateway:
    """One test's view: the server, an admin token, a project of its own with a `gateway` token, the stand-ins."""

    def __init__(self, tally, server, admin, standins):
        self.tally, self.server, self.admin, self.standins = tally, server, admin, standins
        self.project = "gw-" + uuid.uuid4().hex[:10]
        self.token = self.new_token(["gateway"])
        self.connections = {}
        self.sent = []  # request bodies exactly as the SDKs sent them (httpx event hooks)

    # -- admin API

    def api(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, self.server.url + path, headers=bearer(self.admin), **kw)

    def new_token(self, scopes, project=None):
        project = project or self.project
        r = self.api("POST", "/api/v1/projects", json={"name": project})
        assert r.status_code in (201, 409), r.text
        r = self.api("POST", "/api/v1/tokens", json={"name": "gw", "project": project, "scopes": scopes})
        assert r.status_code == 201, r.text
        return r.json()["secret"]

    def point_connections(self):
        """The module's connections named openai/anthropic/google, pointed at this test's stand-ins."""
        existing = {c["name"]: c for c in self.api("GET", "/api/v1/provider-connections").json()["data"]}
        for s in self.standins:
            body = {"base_url": s.url, "api_key": s.key}
            if s.provider in existing:
                # A test may have opened every endpoint (gateway_endpoints); each starts from the default.
                r = self.api("PATCH", f"/api/v1/provider-connections/{existing[s.provider]['id']}",
                             json=dict(body, gateway_endpoints="inference"))
                assert r.status_code == 200, r.text
            else:
                r = self.api("POST", "/api/v1/provider-connections",
                             json=dict(body, provider=s.provider, name=s.provider))
                assert r.status_code == 201, r.text
            assert r.json()["validated"] is True, r.text
            self.connections[s.provider] = r.json()
            s.clear()

    def events(self, n, timeout=8.0, settle=0.3, **filters):
        """Exactly `n` events of this test's project (newest first).

        The gateway queues a call's event before the answer's last chunk goes out, so every call the test has seen
        end is queued by now. Waits until `n` are stored, then until the recorder's queue is empty (`/metrics`), then
        reads once more a flush interval (250 ms) later: an extra event queued with them would be stored by then.
        That last pause is the one bounded quiet period left, and it follows those two positive conditions."""
        params = {"project": self.project, "limit": 200, **filters}

        def stored():
            r = self.api("GET", "/api/v1/events", params=params)
            assert r.status_code == 200, r.text
            return r.json()["data"]

        try:
            wait_until(lambda: len(stored()) >= n, timeout, f"{n} gateway events of {self.project}")
        except AssertionError:
            pass  # fewer than n: the assertion below shows which
        else:
            wait_until(lambda: self.recorder_queue() == 0, timeout, "the gateway recorder's queue to empty")
            time.sleep(settle)  # one flush interval, after the positive conditions above (see the docstring)
        data = stored()
        assert len(data) == n, f"expected {n} gateway events, got {len(data)}: " + json.dumps(
            [{k: e.get(k) for k in ("id", "provider", "model", "operation", "status", "http_status", "error_type")}
             for e in data])
        return data

    def recorder_queue(self):
        """`tally_gateway_events_queued` of /metrics: events recorded and not yet taken by a flush."""
        r = requests.get(self.server.url + "/metrics", timeout=30)
        assert r.status_code == 200, r.text[:300]
        for line in r.text.splitlines():
            if line.startswith("tally_gateway_events_queued"):
                return float(line.split()[-1])
        raise AssertionError("/metrics has no tally_gateway_events_queued")

    # -- SDK clients

    def base(self, provider):
        return self.server.url + {"openai": "/gateway/openai/v1", "anthropic": "/gateway/anthropic",
                                  "google": "/gateway/google"}[provider]

    def _hook(self, request):
        request.read()
        self.sent.append((request.method, request.url.path, bytes(request.content), list(request.headers.raw)))

    async def _ahook(self, request):
        await request.aread()
        self.sent.append((request.method, request.url.path, bytes(request.content), list(request.headers.raw)))

    def openai(self, key=None, **kw):
        return openai.OpenAI(api_key=key or self.token, base_url=self.base("openai"), max_retries=0,
                             http_client=openai.DefaultHttpxClient(event_hooks={"request": [self._hook]}), **kw)

    def aopenai(self, key=None, **kw):
        return openai.AsyncOpenAI(api_key=key or self.token, base_url=self.base("openai"), max_retries=0,
                                  http_client=openai.DefaultAsyncHttpxClient(event_hooks={"request": [self._ahook]}),
                                  **kw)

    def anthropic(self, key=None, **kw):
        return anthropic.Anthropic(api_key=key or self.token, base_url=self.base("anthropic"), max_retries=0,
                                   http_client=anthropic.DefaultHttpxClient(event_hooks={"request": [self._hook]}),
                                   **kw)

    def aanthropic(self, key=None, **kw):
        return anthropic.AsyncAnthropic(
            api_key=key or self.token, base_url=self.base("anthropic"), max_retries=0,
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [self._ahook]}), **kw)

    def genai(self, key=None, headers=None):
        return genai.Client(api_key=key or self.token, http_options={
            "base_url": self.base("google"), "headers": headers or {}, "retry_options": {"attempts": 1},
            "httpx_client": httpx2.Client(event_hooks={"request": [self._hook]}, timeout=60),
            "httpx_async_client": httpx2.AsyncClient(event_hooks={"request": [self._ahook]}, timeout=60)})


@pytest.fixture
def gw(tally_gateway, upstream_standins):
    tally, server, admin = tally_gateway
    g = Gateway(tally, server, admin, upstream_standins)
    g.point_connections()
    return g


# ---------------------------------------------------------------------------------------------------------------
# Checks

def usage_of(rec):
    """The stand-in's own usage of an answer (Tally's token classes), checked against its x-standin-usage header and
    against expected_usage() of the body the stand-in received."""
    assert rec.usage is not None, f"{rec!r} answered no usage"
    header = json.loads(rec.response_headers["x-standin-usage"])
    assert header == rec.usage
    return rec.usage


def tokens(event):
    return {k: event[k] for k in TOKEN_FIELDS}


def check_event(gw, event, rec, *, provider, model, operation="chat", streamed=False, finish_reason=None,
                usage=None, status="success", http_status=200):
    """One gateway event against the upstream answer it recorded."""
    s = gw.standins[provider]
    if usage is None:
        usage = usage_of(rec)
        want = s.expected_usage(rec.body, path=rec.path)
        assert {k: want[k] for k in TOKEN_FIELDS} == usage, (want, usage)
    where = f"{provider} {rec.method} {rec.target}"
    assert event["source"] == "gateway", where
    assert event["project"] == gw.project, where
    assert event["provider"] == provider, where
    assert event["model"] == model, where
    assert event["operation"] == operation, where
    assert tokens(event) == {k: usage.get(k, 0) for k in TOKEN_FIELDS}, (where, event)
    assert event["requests"] == 1, where
    # Issue 22: the Tally token's name as api_key; the SDKs' attempt number (x-stainless-retry-count) as retries.
    assert event["api_key"] == "gw", (where, event)
    sent_retry = rec.header("x-stainless-retry-count")
    assert event["retries"] == (int(sent_retry) if sent_retry is not None else None), (where, sent_retry, event)
    assert event["status"] == status and event["http_status"] == http_status, (where, event)
    assert event["streamed"] is streamed, (where, event)
    assert isinstance(event["latency_ms"], int) and event["latency_ms"] >= 0, (where, event)
    if streamed:
        assert isinstance(event["time_to_first_token_ms"], int), (where, event)
        assert 0 <= event["time_to_first_token_ms"] <= event["latency_ms"], (where, event)
    elif status == "success":  # errors: checked on their own (test_upstream_errors_…)
        assert event["time_to_first_token_ms"] is None, (where, event)
    assert event["finish_reason"] == finish_reason, (where, event)
    request_id = rec.response_headers.get("x-request-id") or rec.response_headers.get("request-id")
    if request_id:
        assert (event.get("tags") or {}).get("provider_request_id") == request_id, (where, event)
    if status == "success" and operation != "other":
        want = list_price_nano(model, usage)
        assert want > 0, (where, usage)
        assert event["cost_usd"] is not None and nano(event["cost_usd"]) == want, (where, event, want)
    return event


NOT_FORWARDED = {"authorization", "x-api-key", "x-goog-api-key", "accept-encoding", "host", "content-length",
                 "connection", "transfer-encoding", "keep-alive", "te", "upgrade"}


def check_forwarded(gw, rec, sent_body=None, sent_headers=None):
    """The stand-in got the real key, nothing of Tally's, and (when given) the exact body bytes."""
    s = next(p for p in gw.standins if any(r is rec for r in p.recorded()))
    assert s.key_of(rec) == s.key, (rec, rec.headers)
    assert rec.headers_with_prefix("x-tally-") == {}, rec.headers
    everything = json.dumps(rec.raw_headers) + rec.target
    assert gw.token not in everything, f"the Tally token reached the upstream: {rec.raw_headers} {rec.target}"
    if sent_body is not None:
        assert rec.body == sent_body, (rec.body, sent_body)
    for name, value in sent_headers or ():
        name, value = name.decode("latin-1").lower(), value.decode("latin-1")
        if name not in NOT_FORWARDED and not name.startswith("x-tally-"):
            assert rec.headers.get(name) == value, f"{name}: {value!r} sent, {rec.headers.get(name)!r} forwarded"


def check_patched_body(rec, sent):
    """A chat stream the client sent without stream_options.include_usage: forwarded with only that added."""
    want = json.loads(sent)
    want["stream_options"] = dict(want.get("stream_options") or {}, include_usage=True)
    assert rec.json == want, (rec.body, sent)


def sent_bodies(gw, path_suffix):
    return [body for method, path, body, _ in gw.sent if path.endswith(path_suffix)]


def by_id(events, rec):
    request_id = rec.response_headers.get("x-request-id") or rec.response_headers.get("request-id")
    matches = [e for e in events if e["id"] == "gw_" + request_id]
    assert len(matches) == 1, (request_id, [e["id"] for e in events])
    return matches[0]


# ---------------------------------------------------------------------------------------------------------------
# 1. OpenAI

def test_openai_sync_chat_streams_tools_responses_embeddings_completions(gw):
    s = gw.standins.openai
    c = gw.openai()
    calls = []  # (record, check kwargs)

    r = c.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hello there, gateway"}])
    rec = s.last()
    wire = s.expected_usage(rec.body, path=rec.path)["wire"]
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (
        wire["prompt_tokens"], wire["completion_tokens"], wire["total_tokens"])
    assert r.usage.prompt_tokens == usage_of(rec)["input_tokens"] and r.usage.completion_tokens == 12
    calls.append((rec, dict(operation="chat", finish_reason="stop")))

    # Streaming, the client asked for the usage chunk: it gets it, exactly as upstream sent it.
    chunks = list(c.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "stream with usage [[usage cached=256]]"}],
        stream=True, stream_options={"include_usage": True}))
    rec = s.last()
    assert rec.json["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == usage_of(rec)["input_tokens"]
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 256
    calls.append((rec, dict(operation="chat", streamed=True, finish_reason="stop")))

    # Streaming without include_usage: Tally asks upstream for it, and hides the usage-only chunk from the client.
    chunks = list(c.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "stream without usage please"}], stream=True))
    rec = s.last()
    assert rec.json["stream_options"]["include_usage"] is True, rec.body
    assert chunks, "no chunks"
    assert all(ch.choices for ch in chunks), "the client saw a usage-only chunk it did not ask for"
    assert all(ch.usage is None for ch in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert len(text.split()) == 12
    calls.append((rec, dict(operation="chat", streamed=True, finish_reason="stop")))

    # Tool calls, not streamed and streamed.
    r = c.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "weather in Paris?"}],
                                  tools=WEATHER_OPENAI)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"city": "standin", "days": 1}
    calls.append((s.last(), dict(operation="chat", finish_reason="tool_calls")))
    chunks = list(c.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "weather in Oslo, streamed?"}], tools=WEATHER_OPENAI,
        stream=True))
    args = "".join(tc.function.arguments or "" for ch in chunks for tc in (ch.choices[0].delta.tool_calls or []))
    assert json.loads(args) == {"city": "standin", "days": 1}
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and all(ch.usage is None for ch in chunks)
    calls.append((s.last(), dict(operation="chat", streamed=True, finish_reason="tool_calls")))

    # Responses API, with reasoning tokens; streamed and not.
    r = c.responses.create(model="o4-mini", input="think about it [[usage reasoning=64 cached=128]]",
                           instructions="be brief")
    assert r.usage.output_tokens_details.reasoning_tokens == 64 and r.usage.input_tokens_details.cached_tokens == 128
    calls.append((s.last(), dict(operation="chat", finish_reason="completed", model="o4-mini-2025-04-16")))
    with c.responses.stream(model="o4-mini", input="stream a thought [[usage reasoning=32]]") as st:
        final = st.get_final_response()
    assert final.usage.output_tokens == 12 + 32 and final.status == "completed"
    calls.append((s.last(), dict(operation="chat", streamed=True, finish_reason="completed",
                                 model="o4-mini-2025-04-16")))

    # Embeddings.
    e = c.embeddings.create(model="text-embedding-3-small", input=["first text to embed", "second"])
    assert len(e.data) == 2 and e.usage.prompt_tokens == usage_of(s.last())["input_tokens"]
    calls.append((s.last(), dict(operation="embedding", model="text-embedding-3-small")))

    # Legacy completions.
    r = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=8)
    assert r.usage.completion_tokens == 8 and r.choices[0].finish_reason == "length"
    calls.append((s.last(), dict(operation="completion", finish_reason="length", model="gpt-3.5-turbo-instruct")))

    events = gw.events(len(calls))
    for rec, kw in calls:
        kw.setdefault("model", OPENAI_ANSWERED)
        check_event(gw, by_id(events, rec), rec, provider="openai", **kw)
    # What each SDK call sent reached upstream byte for byte (except the include_usage patch, checked above).
    recs = s.recorded()
    assert len(recs) == len(gw.sent) == len(calls)
    for i, (rec, (method, path, body, hdrs)) in enumerate(zip(recs, gw.sent)):
        assert rec.path == path.removeprefix("/gateway/openai"), (rec.path, path)
        check_forwarded(gw, rec, None if i in (2, 4) else body, hdrs)
        if i in (2, 4):
            check_patched_body(rec, body)


def test_openai_async(gw):
    s = gw.standins.openai

    async def run():
        c = gw.aopenai()
        r = await c.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "async hi"}])
        assert r.usage.completion_tokens == 12
        stream = await c.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": "async stream [[usage chunks=6]]"}], stream=True)
        chunks = [ch async for ch in stream]
        assert all(ch.choices for ch in chunks) and all(ch.usage is None for ch in chunks)
        stream = await c.chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": "async tools"}], tools=WEATHER_OPENAI,
            stream=True, stream_options={"include_usage": True})
        chunks = [ch async for ch in stream]
        assert chunks[-1].usage is not None and chunks[-1].choices == []
        r = await c.responses.create(model=OPENAI_MODEL, input="async responses", stream=True)
        kinds = [ev.type async for ev in r]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        e = await c.embeddings.create(model="text-embedding-3-small", input="async embedding")
        assert e.usage.prompt_tokens == 4
        await c.close()

    asyncio.run(run())
    recs = s.recorded()
    assert len(recs) == 5
    events = gw.events(5)
    kws = [dict(finish_reason="stop"), dict(streamed=True, finish_reason="stop"),
           dict(streamed=True, finish_reason="tool_calls"), dict(streamed=True, finish_reason="completed"),
           dict(operation="embedding", model="text-embedding-3-small")]
    for rec, kw in zip(recs, kws):
        kw.setdefault("model", OPENAI_ANSWERED)
        check_event(gw, by_id(events, rec), rec, provider="openai", **kw)
    for i, (rec, (_, _, body, hdrs)) in enumerate(zip(recs, gw.sent)):
        check_forwarded(gw, rec, None if i == 1 else body, hdrs)
        if i == 1:
            check_patched_body(rec, body)


# ---------------------------------------------------------------------------------------------------------------
# 2. Anthropic

CACHE_DIRECTIVE = "[[usage cached=1024 cache_write=2048 cache_write_1h=512]]"


def test_anthropic_sync_messages_streams_cache_and_tools(gw):
    s = gw.standins.anthropic
    c = gw.anthropic()
    calls = []
    m = c.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, system="You are terse.",
                          messages=[{"role": "user", "content": "hello " + CACHE_DIRECTIVE}])
    rec = s.last()
    u = usage_of(rec)
    assert (m.usage.cache_read_input_tokens, m.usage.cache_creation_input_tokens) == (1024, 2048)
    # Tally's input includes cache reads and writes; Anthropic's input_tokens does not.
    assert u["input_tokens"] == m.usage.input_tokens + 1024 + 2048
    calls.append((rec, dict(finish_reason="end_turn")))

    with c.messages.stream(model=ANTHROPIC_MODEL, max_tokens=100,
                           messages=[{"role": "user", "content": "stream it " + CACHE_DIRECTIVE}]) as st:
        text = "".join(st.text_stream)
        final = st.get_final_message()
    assert len(text.split()) == 12 and final.usage.cache_read_input_tokens == 1024
    calls.append((s.last(), dict(streamed=True, finish_reason="end_turn")))

    m = c.messages.create(model=ANTHROPIC_MODEL, max_tokens=100, tools=WEATHER_ANTHROPIC,
                          messages=[{"role": "user", "content": "weather in Rome?"}])
    assert m.stop_reason == "tool_use" and m.content[0].name == "get_weather"
    calls.append((s.last(), dict(finish_reason="tool_use")))

    events_seen = []
    with c.messages.create(model=ANTHROPIC_MODEL, max_tokens=5, tools=WEATHER_ANTHROPIC, stream=True,
                           messages=[{"role": "user", "content": "tool, streamed, truncated?"}],
                           metadata={"user_id": "user-from-metadata"}) as raw:
        for ev in raw:
            events_seen.append(ev.type)
    assert events_seen[0] == "message_start" and events_seen[-1] == "message_stop"
    calls.append((s.last(), dict(streamed=True, finish_reason="tool_use")))

    m = c.messages.create(model="claude-haiku-4-5", max_tokens=3,
                          messages=[{"role": "user", "content": "cut short [[usage reasoning=0]]"}])
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 3
    calls.append((s.last(), dict(finish_reason="max_tokens", model="claude-haiku-4-5-20251001")))

    events = gw.events(len(calls))
    for rec, kw in calls:
        kw.setdefault("model", ANTHROPIC_ANSWERED)
        check_event(gw, by_id(events, rec), rec, provider="anthropic", **kw)
    assert by_id(events, calls[3][0])["user"] == "user-from-metadata"
    for rec, (_, path, body, hdrs) in zip(s.recorded(), gw.sent):
        check_forwarded(gw, rec, body, hdrs)
        assert rec.header("anthropic-version")


def test_anthropic_async(gw):
    s = gw.standins.anthropic

    async def run():
        c = gw.aanthropic()
        m = await c.messages.create(model=ANTHROPIC_MODEL, max_tokens=50,
                                    messages=[{"role": "user", "content": "async " + CACHE_DIRECTIVE}])
        assert m.usage.cache_creation.ephemeral_1h_input_tokens == 512
        async with c.messages.stream(model=ANTHROPIC_MODEL, max_tokens=50,
                                     messages=[{"role": "user", "content": "async stream " + CACHE_DIRECTIVE}]) as st:
            final = await st.get_final_message()
        assert final.usage.cache_creation_input_tokens == 2048
        async with c.messages.stream(model=ANTHROPIC_MODEL, max_tokens=50, tools=WEATHER_ANTHROPIC,
                                     messages=[{"role": "user", "content": "async tool"}]) as st:
            final = await st.get_final_message()
        assert final.stop_reason == "tool_use"
        await c.close()

    asyncio.run(run())
    recs = s.recorded()
    events = gw.events(3)
    for rec, kw in zip(recs, [dict(finish_reason="end_turn"), dict(streamed=True, finish_reason="end_turn"),
                              dict(streamed=True, finish_reason="tool_use")]):
        check_event(gw, by_id(events, rec), rec, provider="anthropic", model=ANTHROPIC_ANSWERED, **kw)
    for rec, (_, _, body, hdrs) in zip(recs, gw.sent):
        check_forwarded(gw, rec, body, hdrs)


# ---------------------------------------------------------------------------------------------------------------
# 3. Gemini

def test_gemini_generate_stream_sync_and_async(gw):
    s = gw.standins.google
    c = gw.genai()
    r = c.models.generate_content(model=GEMINI_MODEL, contents="hello gemini [[usage reasoning=40 cached=64]]")
    assert r.usage_metadata.thoughts_token_count == 40 and r.usage_metadata.cached_content_token_count == 64
    assert r.usage_metadata.candidates_token_count == 12
    parts = list(c.models.generate_content_stream(model=GEMINI_MODEL, contents="stream gemini [[usage chunks=6]]"))
    assert len(parts) == 6 and parts[-1].candidates[0].finish_reason.name == "STOP"

    async def run():
        r = await c.aio.models.generate_content(model=GEMINI_MODEL, contents="async gemini",
                                                config={"max_output_tokens": 7})
        assert r.candidates[0].finish_reason.name == "MAX_TOKENS"
        chunks = [ch async for ch in await c.aio.models.generate_content_stream(model=GEMINI_MODEL,
                                                                                 contents="async gemini stream")]
        assert chunks[-1].usage_metadata.candidates_token_count == 12

    asyncio.run(run())
    recs = s.recorded()
    assert [r.path.rsplit(":", 1)[1] for r in recs] == ["generateContent", "streamGenerateContent"] * 2
    assert recs[1].query.get("alt") == "sse"
    events = list(reversed(gw.events(4)))  # newest first; the calls were one after another
    for rec, ev, kw in zip(recs, events, [dict(finish_reason="STOP"), dict(streamed=True, finish_reason="STOP"),
                                          dict(finish_reason="MAX_TOKENS"), dict(streamed=True, finish_reason="STOP")]):
        check_event(gw, ev, rec, provider="google", model=GEMINI_MODEL, **kw)
    for rec, (_, _, body, hdrs) in zip(recs, gw.sent):
        check_forwarded(gw, rec, body, hdrs)
        assert "key" not in rec.query


def test_gemini_json_array_stream_and_key_in_query(gw):
    """streamGenerateContent without alt=sse (a JSON array, streamed) and the Tally token in `?key=`."""
    s = gw.standins.google
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": "array stream [[usage chunks=3]]"}]}]})
    r = requests.post(f"{gw.base('google')}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?key={gw.token}",
                      data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    frames = json.loads(r.text)
    assert len(frames) == 3 and frames[-1]["usageMetadata"]["candidatesTokenCount"] == 12
    rec = s.last()
    assert "key" not in rec.query and rec.query_string == ""
    check_forwarded(gw, rec, body.encode())
    (ev,) = gw.events(1)
    check_event(gw, ev, rec, provider="google", model=GEMINI_MODEL, streamed=True, finish_reason="STOP")


def test_gemini_embed_content(gw):
    s = gw.standins.google
    c = gw.genai()
    r = c.models.embed_content(model="gemini-embedding-001", contents="embed this text please")
    assert len(r.embeddings) == 1
    rec = s.last()
    u = usage_of(rec)
    (ev,) = gw.events(1)
    # google-genai calls :batchEmbedContents for embed_content (the Gemini API): its usage must be recorded too.
    assert rec.path.endswith(":batchEmbedContents")
    check_event(gw, ev, rec, provider="google", model="gemini-embedding-001", operation="embedding", usage=u)


def test_gemini_embed_content_endpoint(gw):
    """The single :embedContent endpoint (what older SDKs and REST users call)."""
    s = gw.standins.google
    body = json.dumps({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "embed me, directly"}]}})
    r = requests.post(f"{gw.base('google')}/v1beta/models/gemini-embedding-001:embedContent", data=body,
                      headers={"x-goog-api-key": gw.token, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    rec = s.last()
    check_forwarded(gw, rec, body.encode())
    (ev,) = gw.events(1)
    check_event(gw, ev, rec, provider="google", model=ev["model"], operation="embedding")
    # The REST body names the model as "models/…"; the event carries the model's name (as the path does).
    assert ev["model"] == "gemini-embedding-001", ev


# ---------------------------------------------------------------------------------------------------------------
# 4. Costs worked on paper: one call per provider with every token class it bills, its expected cost a literal.

def test_gateway_costs_are_list_prices_worked_by_hand(gw):
    """The prompt "priced by hand [[usage …]]" is 12 stand-in tokens of text (ceil(47 bytes / 4), and the
    Anthropic/Gemini ones likewise); the directive adds the cache and output classes."""
    gw.openai().chat.completions.create(model=OPENAI_MODEL, messages=[
        {"role": "user", "content": "priced by hand [[usage cached=4000 output=500]]"}])
    o = gw.standins.openai.last()
    gw.anthropic().messages.create(model=ANTHROPIC_MODEL, max_tokens=1000, messages=[
        {"role": "user", "content": "priced by hand [[usage cached=40000 cache_write=30000 cache_write_1h=10000 "
                                    "output=800]]"}])
    a = gw.standins.anthropic.last()
    gw.genai().models.generate_content(model=GEMINI_MODEL,
                                       contents="priced by hand [[usage cached=60000 reasoning=2000 output=1000]]")
    events = gw.events(3)
    oe, ae = by_id(events, o), by_id(events, a)
    ge = next(e for e in events if e["provider"] == "google")

    # OpenAI gpt-4o-mini: prompt_tokens 4012 of which 4000 cached, 500 completion tokens.
    assert (oe["model"], oe["input_tokens"], oe["cached_input_tokens"], oe["output_tokens"]) == (
        "gpt-4o-mini-2024-07-18", 4012, 4000, 500), oe
    #   12 × $0.15/1M = $0.0000018; 4000 × $0.075/1M = $0.0003; 500 × $0.60/1M = $0.0003
    assert nano(oe["cost_usd"]) == 1_800 + 300_000 + 300_000, oe  # $0.0006018

    # Anthropic claude-sonnet-4-5: input_tokens 22 + cache reads 40000 + cache writes 30000 (10000 of them 1-hour).
    assert (ae["model"], ae["input_tokens"], ae["cached_input_tokens"], ae["cache_write_input_tokens"],
            ae["cache_write_1h_input_tokens"], ae["output_tokens"]) == (
        "claude-sonnet-4-5-20250929", 70022, 40000, 30000, 10000, 800), ae
    #   22 × $3 = $0.000066; 40000 × $0.30 = $0.012; 20000 × $3.75 = $0.075; 10000 × $6 = $0.06; 800 × $15 = $0.012
    assert nano(ae["cost_usd"]) == 66_000 + 12_000_000 + 75_000_000 + 60_000_000 + 12_000_000, ae  # $0.159066

    # Gemini 2.5 Flash: promptTokenCount 60016 of which 60000 cached; 1000 candidates + 2000 thoughts.
    assert (ge["model"], ge["input_tokens"], ge["cached_input_tokens"], ge["output_tokens"],
            ge["reasoning_tokens"]) == ("gemini-2.5-flash", 60016, 60000, 3000, 2000), ge
    #   16 × $0.30 = $0.0000048; 60000 × $0.03 = $0.0018; 3000 × $2.50 = $0.0075 (thoughts at the output rate)
    assert nano(ge["cost_usd"]) == 4_800 + 1_800_000 + 7_500_000, ge  # $0.0093048


# ---------------------------------------------------------------------------------------------------------------
# 5. Errors

OPENAI_ERRORS = {400: openai.BadRequestError, 401: openai.AuthenticationError, 404: openai.NotFoundError,
                 429: openai.RateLimitError, 500: openai.InternalServerError}
ANTHROPIC_ERRORS = {400: anthropic.BadRequestError, 401: anthropic.AuthenticationError,
                    404: anthropic.NotFoundError, 429: anthropic.RateLimitError, 500: anthropic.InternalServerError}


def expected_error_body(standin, rec, status):
    _, body = standin.error_body(status)
    if standin.provider == "anthropic":
        body = dict(body, request_id=rec.response_headers["request-id"])
    return _dumps(body)


def check_error_passthrough(gw, standin, rec, status, response):
    assert rec.status == status
    assert response.status_code == status
    assert response.content == expected_error_body(standin, rec, status), response.content
    for k, v in rec.response_headers.items():
        if k not in HOP_BY_HOP:
            assert response.headers.get(k) == v, (k, v, dict(response.headers))
    if status == 429 and standin.provider != "google":
        assert response.headers["retry-after"] == "1"


def test_upstream_errors_raise_the_sdks_own_exceptions(gw):
    calls = []
    oc, ac, gc = gw.openai(), gw.anthropic(), gw.genai()
    for status, exc in OPENAI_ERRORS.items():
        s = gw.standins.openai
        s.fail(status)
        with pytest.raises(exc) as e:
            oc.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": f"err {status}"}])
        assert e.value.status_code == status
        check_error_passthrough(gw, s, s.last(), status, e.value.response)
        calls.append(("openai", s.last(), OPENAI_MODEL))
    # A streaming call that fails before the stream starts raises too.
    s = gw.standins.openai
    s.fail(429)
    with pytest.raises(openai.RateLimitError) as e:
        oc.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "err stream"}],
                                   stream=True)
    check_error_passthrough(gw, s, s.last(), 429, e.value.response)
    calls.append(("openai", s.last(), OPENAI_MODEL))

    for status, exc in ANTHROPIC_ERRORS.items():
        s = gw.standins.anthropic
        s.fail(status)
        with pytest.raises(exc) as e:
            ac.messages.create(model=ANTHROPIC_MODEL, max_tokens=10, messages=[{"role": "user", "content": "err"}])
        assert e.value.status_code == status
        check_error_passthrough(gw, s, s.last(), status, e.value.response)
        calls.append(("anthropic", s.last(), ANTHROPIC_MODEL))

    for status in (400, 401, 404, 429, 500):
        s = gw.standins.google
        s.fail(status)
        with pytest.raises(genai_errors.ClientError if status < 500 else genai_errors.ServerError) as e:
            gc.models.generate_content(model=GEMINI_MODEL, contents="err")
        assert e.value.code == status
        assert e.value.details == json.loads(expected_error_body(s, s.last(), status)), e.value.details
        calls.append(("google", s.last(), GEMINI_MODEL))

    for s in gw.standins:
        assert all(r.fault is not None for r in s.recorded()), "an SDK retried despite max_retries=0"
    events = gw.events(len(calls))
    for (provider, rec, model), ev in zip(calls, reversed(events)):
        body = json.loads(expected_error_body(gw.standins[provider], rec, rec.status))
        error_type = body["error"]["status"] if provider == "google" else body["error"]["type"]
        check_event(gw, ev, rec, provider=provider, model=model, status="error", http_status=rec.status,
                    usage={}, streamed=False, finish_reason=None)
        assert ev["error_type"] == error_type, (provider, rec.status, ev)
        assert ev["cost_usd"] in (None, "0"), ev
    # An error answer has no first token, streamed request or not.
    assert [(e["provider"], e["http_status"], e["time_to_first_token_ms"]) for e in reversed(events)
            if e["time_to_first_token_ms"] is not None] == []


def test_bad_tally_token_is_each_sdks_authentication_error_and_nothing_is_forwarded(gw):
    bad = "tly_" + uuid.uuid4().hex
    with pytest.raises(openai.AuthenticationError) as e:
        gw.openai(key=bad).chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}])
    assert "Tally" in e.value.message and e.value.response.status_code == 401
    with pytest.raises(anthropic.AuthenticationError) as e:
        gw.anthropic(key=bad).messages.create(model=ANTHROPIC_MODEL, max_tokens=5,
                                              messages=[{"role": "user", "content": "x"}])
    assert "Tally" in str(e.value)
    with pytest.raises(genai_errors.ClientError) as e:
        gw.genai(key=bad).models.generate_content(model=GEMINI_MODEL, contents="x")
    assert e.value.code == 401 and e.value.status == "UNAUTHENTICATED"
    # No token at all.
    r = requests.post(gw.base("openai") + "/chat/completions", json={"model": OPENAI_MODEL, "messages": []},
                      timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    # A real token without the gateway scope: 403, the SDK's PermissionDeniedError.
    reader = gw.new_token(["read"])
    with pytest.raises(openai.PermissionDeniedError):
        gw.openai(key=reader).models.list()
    with pytest.raises(anthropic.PermissionDeniedError):
        gw.anthropic(key=reader).models.list()
    for s in gw.standins:
        assert s.recorded() == [], f"{s.provider} got {s.recorded()}"
    gw.events(0, timeout=0.5)


# ---------------------------------------------------------------------------------------------------------------
# 6. Client disconnect mid-stream

def test_client_disconnect_mid_stream_cancels_upstream_and_records(gw):
    for s in gw.standins:
        s.chunk_delay = 0.15
    # OpenAI: the usage comes only in the last chunk, so nothing was used "as far as seen" but the event exists.
    c = gw.openai()
    stream = c.chat.completions.create(model=OPENAI_MODEL, stream=True,
                                       messages=[{"role": "user", "content": "long [[usage chunks=12 output=24]]"}])
    it = iter(stream)
    next(it), next(it)
    stream.close()
    orec = gw.standins.openai.wait_for_disconnect(timeout=10)
    assert not orec.completed and orec.chunks_written < orec.chunks_total

    # Anthropic: message_start already gave the input (and cache) tokens.
    ac = gw.anthropic()
    with ac.messages.stream(model=ANTHROPIC_MODEL, max_tokens=100, messages=[
            {"role": "user", "content": "long [[usage chunks=12 output=24 cached=100]]"}]) as st:
        for i, _ in enumerate(st.text_stream):
            if i == 1:
                break
    arec = gw.standins.anthropic.wait_for_disconnect(timeout=10)
    assert not arec.completed

    # Gemini: each chunk carries the running usage.
    gc = gw.genai()
    gen = gc.models.generate_content_stream(model=GEMINI_MODEL, contents="long [[usage chunks=12 output=24]]")
    first = next(gen)
    next(gen)
    gen.close()
    grec = gw.standins.google.wait_for_disconnect(timeout=10)
    assert not grec.completed

    events = list(reversed(gw.events(3)))
    ev = by_id(events, orec)
    check_event(gw, ev, orec, provider="openai", model=OPENAI_ANSWERED, streamed=True, status="error",
                usage={}, finish_reason=None)
    assert ev["error_type"] == "client_disconnected"
    full = gw.standins.anthropic.expected_usage(arec.body)
    ev = by_id(events, arec)
    check_event(gw, ev, arec, provider="anthropic", model=ANTHROPIC_ANSWERED, streamed=True, status="error",
                usage={"input_tokens": full["input_tokens"], "cached_input_tokens": 100, "output_tokens": 1},
                finish_reason=None)
    assert ev["error_type"] == "client_disconnected"
    ev = events[2]
    seen = first.usage_metadata
    assert ev["error_type"] == "client_disconnected" and ev["status"] == "error" and ev["streamed"] is True, ev
    assert ev["input_tokens"] == seen.prompt_token_count
    assert 0 < ev["output_tokens"] < 24, ev


# ---------------------------------------------------------------------------------------------------------------
# 7. Attribution, pass-through, choosing a connection

def test_attribution_headers_and_user_fallback(gw):
    s = gw.standins.openai
    c = gw.openai()
    headers = {"X-Tally-Feature": "support-bot", "X-Tally-User": "u-42", "X-Tally-Environment": "staging",
               "X-Tally-Tags": "team=growth; ticket=T-9 ;=nokey"}
    c.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "attributed"}],
                              user="body-user", extra_headers=headers)
    r1 = s.last()
    c.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "user from the body"}],
                              user="body-user")
    r2 = s.last()
    gw.anthropic().messages.create(model=ANTHROPIC_MODEL, max_tokens=10, metadata={"user_id": "anthropic-user"},
                                   messages=[{"role": "user", "content": "x"}],
                                   extra_headers={"X-Tally-Feature": "summaries"})
    r3 = gw.standins.anthropic.last()
    gw.genai(headers={"X-Tally-User": "gemini-user", "X-Tally-Tags": "a=1"}).models.generate_content(
        model=GEMINI_MODEL, contents="x")
    r4 = gw.standins.google.last()
    for rec in (r1, r2, r3, r4):
        assert rec.headers_with_prefix("x-tally-") == {}, rec.headers
    events = gw.events(4)
    e1, e2, e3 = by_id(events, r1), by_id(events, r2), by_id(events, r3)
    e4 = [e for e in events if e["provider"] == "google"][0]
    assert (e1["feature"], e1["user"], e1["environment"]) == ("support-bot", "u-42", "staging")
    assert e1["tags"] == {"team": "growth", "ticket": "T-9",
                          "provider_request_id": r1.response_headers["x-request-id"]}, e1["tags"]
    assert (e2["feature"], e2["user"], e2["environment"]) == (None, "body-user", None)
    assert (e3["feature"], e3["user"]) == ("summaries", "anthropic-user")
    assert e4["user"] == "gemini-user" and e4["tags"] == {"a": "1"}, e4
    for e in events:
        assert e["project"] == gw.project


def test_pass_through_with_x_tally_token(gw):
    """The app sends its own provider key as usual and the Tally token in X-Tally-Token."""
    o, a, g = gw.standins.openai, gw.standins.anthropic, gw.standins.google
    h = {"X-Tally-Token": gw.token}
    oc = openai.OpenAI(api_key=o.key, base_url=gw.base("openai"), max_retries=0, default_headers=h)
    r = oc.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "own key"}])
    assert r.usage.completion_tokens == 12
    ac = anthropic.Anthropic(api_key=a.key, base_url=gw.base("anthropic"), max_retries=0, default_headers=h)
    ac.messages.create(model=ANTHROPIC_MODEL, max_tokens=50, messages=[{"role": "user", "content": "own key"}])
    gc = genai.Client(api_key=g.key, http_options={"base_url": gw.base("google"), "headers": h,
                                                   "retry_options": {"attempts": 1}})
    gc.models.generate_content(model=GEMINI_MODEL, contents="own key")
    for s in (o, a, g):
        rec = s.last()
        assert s.key_of(rec) == s.key and rec.headers_with_prefix("x-tally-") == {}
    events = gw.events(3)
    check_event(gw, by_id(events, o.last()), o.last(), provider="openai", model=OPENAI_ANSWERED, finish_reason="stop")
    check_event(gw, by_id(events, a.last()), a.last(), provider="anthropic", model=ANTHROPIC_ANSWERED,
                finish_reason="end_turn")


def test_x_tally_connection_chooses_between_connections(gw):
    other = UpstreamStandIn("openai", key="sk-proj-second-connection-0123456789").start()
    created = None
    try:
        r = gw.api("POST", "/api/v1/provider-connections",
                   json={"provider": "openai", "name": "openai-second", "api_key": other.key, "base_url": other.url})
        assert r.status_code == 201, r.text
        created = r.json()
        other.clear()
        c = gw.openai()
        msgs = [{"role": "user", "content": "which connection?"}]
        c.chat.completions.create(model=OPENAI_MODEL, messages=msgs)  # no header: the first connection
        c.chat.completions.create(model=OPENAI_MODEL, messages=msgs,
                                  extra_headers={"X-Tally-Connection": "openai-second"})
        c.chat.completions.create(model=OPENAI_MODEL, messages=msgs,
                                  extra_headers={"X-Tally-Connection": created["id"]})
        c.chat.completions.create(model=OPENAI_MODEL, messages=msgs, extra_headers={"X-Tally-Connection": "openai"})
        with pytest.raises(openai.AuthenticationError) as e:
            c.chat.completions.create(model=OPENAI_MODEL, messages=msgs,
                                      extra_headers={"X-Tally-Connection": "no-such-connection"})
        assert "no-such-connection" in e.value.message
        main = gw.standins.openai
        assert len(main.recorded()) == 2 and len(other.recorded()) == 2
        for rec in other.recorded():
            assert other.key_of(rec) == other.key and rec.headers_with_prefix("x-tally-") == {}
        for rec in main.recorded():
            assert main.key_of(rec) == main.key
        events = gw.events(4)
        for rec in main.recorded():
            check_event(gw, by_id(events, rec), rec, provider="openai", model=OPENAI_ANSWERED, finish_reason="stop")
        for rec in other.recorded():
            ev = by_id(events, rec)
            assert tokens(ev) == usage_of(rec) and ev["status"] == "success"
    finally:
        if created:
            gw.api("DELETE", f"/api/v1/provider-connections/{created['id']}")
        other.stop()


# ---------------------------------------------------------------------------------------------------------------
# 8. Streams are not buffered

def test_streams_are_not_buffered(gw):
    delay = 0.2
    for s in gw.standins:
        s.chunk_delay = delay

    def arrivals(iterable):
        out = []
        for _ in iterable:
            out.append(time.monotonic())
        return out

    c = gw.openai()
    times = arrivals(c.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "paced [[usage chunks=6]]"}], stream=True))
    ac = gw.anthropic()
    with ac.messages.stream(model=ANTHROPIC_MODEL, max_tokens=100,
                            messages=[{"role": "user", "content": "paced [[usage chunks=6]]"}]) as st:
        atimes = arrivals(st.text_stream)
    gtimes = arrivals(gw.genai().models.generate_content_stream(model=GEMINI_MODEL,
                                                                contents="paced [[usage chunks=6]]"))
    for name, t, rec in (("openai", times, gw.standins.openai.last()), ("anthropic", atimes,
                                                                          gw.standins.anthropic.last()),
                         ("google", gtimes, gw.standins.google.last())):
        assert len(t) >= 6, (name, t)
        spread = t[-1] - t[0]
        assert spread >= 0.6 * delay * (len(t) - 1), f"{name}: chunks arrived together ({spread:.3f}s)"
        # the first piece reached the client long before upstream wrote its last chunk
        assert t[0] < rec.chunk_sent_at[-1] - 2 * delay, (name, t[0], rec.chunk_sent_at)
        gaps = [b - a for a, b in zip(t, t[1:])]
        assert max(gaps) < 4 * delay, (name, gaps)
    gw.events(3)


# ---------------------------------------------------------------------------------------------------------------
# 9. Other paths

def test_other_paths_are_forwarded_and_recorded_without_tokens(gw):
    models = gw.openai().models.list()
    assert [m.id for m in models.data] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]
    one = gw.openai().models.retrieve("gpt-4o")
    assert one.owned_by == "system"
    ac = gw.anthropic()
    assert [m.id for m in ac.models.list().data][0] == "claude-sonnet-4-5-20250929"
    n = ac.messages.count_tokens(model=ANTHROPIC_MODEL, messages=[{"role": "user", "content": "count these tokens"}])
    assert n.input_tokens == 5
    gc = gw.genai()
    ct = gc.models.count_tokens(model=GEMINI_MODEL, contents="count these tokens")
    assert ct.total_tokens == 5
    recs = [*gw.standins.openai.recorded(), *gw.standins.anthropic.recorded(), *gw.standins.google.recorded()]
    assert [r.path for r in recs] == ["/v1/models", "/v1/models/gpt-4o", "/v1/models", "/v1/messages/count_tokens",
                                      f"/v1/models/{GEMINI_MODEL}:countTokens"]  # google-genai 3.x calls /v1
    for s in gw.standins:
        for rec in s.recorded():
            check_forwarded(gw, rec)
    count_body = sent_bodies(gw, "/count_tokens")[0]
    assert gw.standins.anthropic.recorded()[1].body == count_body
    events = gw.events(5)
    for e in events:
        assert e["operation"] == "other" and e["status"] == "success" and e["http_status"] == 200, e
        assert tokens(e) == dict.fromkeys(TOKEN_FIELDS, 0), e
        assert e["cost_usd"] in (None, "0"), e
        assert e["source"] == "gateway" and e["project"] == gw.project
    for rec in recs[:4]:
        by_id(events, rec)


# ---------------------------------------------------------------------------------------------------------------
# Compression: real providers gzip their answers when the request accepts it.

class _GzipUpstream:
    """A minimal OpenAI upstream that compresses its answers whenever the request says it accepts gzip (as the real
    API does). Records the Accept-Encoding of each request."""

    KEY = "sk-proj-gzip-upstream-0123456789abcdef"

    def __init__(self):
        import gzip
        import http.server
        import threading
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, obj):
                body = json.dumps(obj).encode()
                accepts = self.headers.get("Accept-Encoding") or ""
                seen.append((self.command, self.path, accepts))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-request-id", "req_gzip_" + uuid.uuid4().hex)
                if "gzip" in accepts:
                    body = gzip.compress(body)
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.answer({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1,
                                                         "owned_by": "system"}]})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.answer({"id": "chatcmpl-gzip", "object": "chat.completion", "created": 1,
                             "model": OPENAI_ANSWERED, "choices": [{"index": 0, "message": {
                                 "role": "assistant", "content": "compressed"}, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def test_compressed_upstream_answers_reach_the_client_intact(gw):
    up = _GzipUpstream()
    created = None
    try:
        r = gw.api("POST", "/api/v1/provider-connections",
                   json={"provider": "openai", "name": "openai-gzip", "api_key": up.KEY, "base_url": up.url})
        assert r.status_code == 201, r.text
        created = r.json()
        del up.seen[:]
        raw = requests.post(gw.base("openai") + "/chat/completions", stream=True, timeout=30,
                            headers={**bearer(gw.token), "X-Tally-Connection": "openai-gzip",
                                     "Accept-Encoding": "identity"},
                            json={"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "zip"}]})
        body = raw.raw.read(decode_content=False)
        encoding = raw.headers.get("content-encoding")
        assert encoding is None or (encoding == "gzip" and body[:2] == b"\x1f\x8b"), (
            f"the client asked for identity and got Content-Encoding: {encoding} over {body[:40]!r}; "
            f"upstream was sent Accept-Encoding: {up.seen[-1][2]!r}")
        assert json.loads(body)["usage"]["total_tokens"] == 10
        gw.events(1)
        c = gw.openai(default_headers={"X-Tally-Connection": "openai-gzip"})
        raw = c.chat.completions.with_raw_response.create(model=OPENAI_MODEL,
                                                           messages=[{"role": "user", "content": "zip"}])
        r = raw.parse()
        assert r.choices[0].message.content == "compressed" and r.usage.total_tokens == 10
        for ev in gw.events(2):
            assert (ev["model"], ev["input_tokens"], ev["output_tokens"]) == (OPENAI_ANSWERED, 7, 3), ev
        # The gateway says it asks upstream for identity encoding (it reads the usage from the body).
        assert [a for _, _, a in up.seen] == [""] or all("gzip" not in a for _, _, a in up.seen), up.seen
    finally:
        if created:
            gw.api("DELETE", f"/api/v1/provider-connections/{created['id']}")
        up.stop()


# ---------------------------------------------------------------------------------------------------------------
# The gateway remembers tokens and connections for a few seconds; a change made through this server holds at once.

def test_revoked_token_archived_project_and_deleted_connection_stop_at_once(gw):
    ask = dict(model=OPENAI_MODEL, messages=[{"role": "user", "content": "still there?"}])
    gw.openai().chat.completions.create(**ask)  # the token and the connections are now remembered

    tokens = gw.api("GET", "/api/v1/tokens").json()["data"]
    mine = [t for t in tokens if t["project"] == gw.project and t["revoked_at"] is None]
    assert len(mine) == 1, mine
    assert gw.api("DELETE", f"/api/v1/tokens/{mine[0]['id']}").status_code == 204
    with pytest.raises(openai.AuthenticationError):
        gw.openai().chat.completions.create(**ask)

    gw.token = gw.new_token(["gateway"])
    gw.openai().chat.completions.create(**ask)
    project = next(p for p in gw.api("GET", "/api/v1/projects").json()["data"] if p["name"] == gw.project)
    assert gw.api("PATCH", f"/api/v1/projects/{project['id']}", json={"archived": True}).status_code == 200
    with pytest.raises(openai.PermissionDeniedError) as e:
        gw.openai().chat.completions.create(**ask)
    assert "archived" in e.value.message
    assert gw.api("PATCH", f"/api/v1/projects/{project['id']}", json={"archived": False}).status_code == 200
    gw.openai().chat.completions.create(**ask)

    s = gw.standins["openai"]
    r = gw.api("POST", "/api/v1/provider-connections",
               json={"provider": "openai", "name": "spare", "api_key": s.key, "base_url": s.url})
    assert r.status_code == 201, r.text
    spare = gw.openai(default_headers={"X-Tally-Connection": "spare"})
    spare.chat.completions.create(**ask)
    assert gw.api("DELETE", f"/api/v1/provider-connections/{r.json()['id']}").status_code == 204
    with pytest.raises(openai.AuthenticationError) as e:
        spare.chat.completions.create(**ask)
    assert "no openai connection named 'spare'" in e.value.message
    # Four calls went through; the refused ones were not forwarded.
    assert len([rec for rec in s.recorded() if rec.path == "/v1/chat/completions"]) == 4


# ---------------------------------------------------------------------------------------------------------------
# 9. Newer and partial usage shapes (issue 25, point 7): expected tokens and money written by hand

def test_gemini_embeddings_without_usage_metadata_are_recorded_without_tokens_and_unpriced(gw):
    """Whether Gemini's embedContent / batchEmbedContents report usage is unverified (reference 3.1, 6.6). An answer
    without `usageMetadata` is still recorded (docs/api.md "What is read"): a successful embedding call with zero tokens
    and no cost (`cost_usd: null`, unpriced), never a cost made up from the request's text, and the summary counts it
    as an unpriced request. Fails on a crash or a lost event, on invented tokens or on a price put on them ($0 too)."""
    s = gw.standins.google
    s.gemini_embed_usage = False
    r = gw.genai().models.embed_content(model="gemini-embedding-001", contents=["one text", "and another one"])
    assert len(r.embeddings) == 2
    body = json.dumps({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "embed me, directly"}]}})
    raw = requests.post(f"{gw.base('google')}/v1beta/models/gemini-embedding-001:embedContent", data=body,
                        headers={"x-goog-api-key": gw.token, "Content-Type": "application/json"}, timeout=30)
    assert raw.status_code == 200 and "usageMetadata" not in raw.json() and len(raw.json()["embedding"]["values"]) == 8
    recs = s.recorded()
    assert [rec.path.rsplit(":", 1)[1] for rec in recs] == ["batchEmbedContents", "embedContent"], recs

    events = gw.events(2)
    for ev in events:
        assert ev["source"] == "gateway" and ev["provider"] == "google" and ev["project"] == gw.project, ev
        assert ev["model"] == "gemini-embedding-001" and ev["operation"] == "embedding", ev
        assert ev["status"] == "success" and ev["http_status"] == 200 and ev["error_type"] is None, ev
        assert ev["requests"] == 1 and ev["streamed"] is False, ev
        assert {k: ev[k] for k in TOKEN_FIELDS} == dict.fromkeys(TOKEN_FIELDS, 0), ev
        assert ev["input_audio_tokens"] == 0 and ev["output_audio_tokens"] == 0, ev
        assert ev["cached_input_audio_tokens"] == 0, ev
        assert ev["cost_usd"] is None and ev["price_id"] is None, ev
    r = gw.api("GET", "/api/v1/usage/summary", params={"project": gw.project})
    assert r.status_code == 200, r.text
    totals = r.json()["totals"]
    assert totals["requests"] == 2 and totals["input_tokens"] == 0 and totals["output_tokens"] == 0, totals
    assert totals["cost_usd"] is None and totals["unpriced_requests"] == 2, totals


# claude-sonnet-4-5's list price per 1M tokens (anthropic.com/pricing): input $3, cache hits $0.30, 5-minute cache
# writes $3.75, 1-hour cache writes $6, output $15.
ANTHROPIC_START_USAGE = {"input_tokens": 12, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 4096,
                         "cache_creation": {"ephemeral_5m_input_tokens": 1536, "ephemeral_1h_input_tokens": 512},
                         "output_tokens": 1, "service_tier": "standard"}
# After a web search the model samples again: the final counts are cumulative for the whole message.
ANTHROPIC_FULL_DELTA = {"input_tokens": 40, "cache_creation_input_tokens": 2048, "cache_read_input_tokens": 8192,
                        "output_tokens": 300, "server_tool_use": {"web_search_requests": 1}}
# Tally's classes: input = 40 uncached + 8192 cache reads + 2048 cache writes (512 of them 1h, from the start's split).
ANTHROPIC_FULL_TOKENS = {"input_tokens": 10280, "cached_input_tokens": 8192, "cache_write_input_tokens": 2048,
                         "cache_write_1h_input_tokens": 512, "output_tokens": 300, "reasoning_tokens": 0}
# 40×3 + 8192×0.30 + 1536×3.75 + 512×6 + 300×15 = 120 + 2457.6 + 5760 + 3072 + 4500 = 15909.6 micro-dollars.
ANTHROPIC_FULL_COST = Decimal("0.0159096")


@pytest.mark.parametrize("deltas", [
    pytest.param([ANTHROPIC_FULL_DELTA], id="one-full-delta"),
    pytest.param([dict(ANTHROPIC_FULL_DELTA, output_tokens=150),
                  {"input_tokens": None, "cache_creation_input_tokens": None, "cache_read_input_tokens": None,
                   "output_tokens": 300, "server_tool_use": None}], id="then-a-delta-with-nulls"),
])
def test_anthropic_message_delta_with_the_full_usage(gw, deltas):
    """The newer `message_delta.usage` repeats input and cache counts (cumulative, reference 2.5): they replace the
    start's, never add to them, and a count sent as null keeps the one before (the SDK's own accumulator, which the
    test also checks). Fails if the start's counts are added to the delta's (input counted twice), if the delta's input
    and cache counts are ignored (input 6156), or if the nulls wipe the counts before them (input 2048)."""
    s = gw.standins.anthropic
    s.anthropic_stream_usage = {"start": ANTHROPIC_START_USAGE, "deltas": deltas}
    with gw.anthropic().messages.stream(model=ANTHROPIC_MODEL, max_tokens=400, messages=[
            {"role": "user", "content": "What is new in the news today?"}]) as stream:
        final = stream.get_final_message()
    # The SDK's own merge of the same events: an oracle independent of Tally.
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.cache_creation_input_tokens,
            final.usage.output_tokens) == (40, 8192, 2048, 300), final.usage
    rec = s.wait_finished()
    assert rec.completed and rec.usage is None, rec

    (ev,) = gw.events(1)
    assert ev["model"] == ANTHROPIC_ANSWERED and ev["streamed"] is True and ev["finish_reason"] == "end_turn", ev
    assert ev["status"] == "success" and ev["requests"] == 1, ev
    assert {k: ev[k] for k in TOKEN_FIELDS} == ANTHROPIC_FULL_TOKENS, ev
    assert ev["cost_usd"] is not None and Decimal(ev["cost_usd"]) == ANTHROPIC_FULL_COST, ev
