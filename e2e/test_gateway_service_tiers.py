"""The gateway records the service tier (issue 16, point 1) end to end: the official SDKs through Tally to stand-ins
that answer the tier as each provider does (standins/upstreams.py, "Service tiers"), and each stored event's
`service_tier` and `cost_usd` checked exactly against figures worked out by hand below, never against a price Tally
answers.

The tier is the one the answer says served (OpenAI's top-level `service_tier`, on the whole answer, on each chat chunk
and on the Responses `response` objects; Anthropic's `usage.service_tier`; Gemini's `x-gemini-service-tier`), else the
one the request asked for; a value the ingest API's `service_tier` rules refuse (control characters, longer than 64
characters, not a string) is dropped, never stored."""
from decimal import Decimal

import pytest
import requests

from standins.upstreams import NO_TIER
from test_gateway import TOKEN_FIELDS, by_id, gw, tally_gateway  # noqa: F401  (fixtures: one server per module)

# Every prompt is 4000 ASCII bytes: 1000 text tokens at the stand-ins' 4 bytes a token; with the override below the
# usage of every call is 2048 cached input tokens on top, and 500 output tokens.
PROMPT = "tier " * 800
USAGE = {"cached": 2048, "output": 500}
# Tally's classes: OpenAI's prompt_tokens include the cache reads, Anthropic's input_tokens do not; both become
# input = 1000 + 2048 = 3048, of which 2048 cached.
TOKENS = {"input_tokens": 3048, "cached_input_tokens": 2048, "cache_write_input_tokens": 0,
          "cache_write_1h_input_tokens": 0, "output_tokens": 500, "reasoning_tokens": 0}

# gpt-5 per 1M tokens (openai.com/api/pricing, as prices/catalog.json): input / cached input / output.
#   standard $1.25 / $0.125 / $10:  1000 × 1.25  + 2048 × 0.125  + 500 × 10 = 1250 + 256 + 5000  =  6506 µ$
#   flex     $0.625 / $0.0625 / $5: 1000 × 0.625 + 2048 × 0.0625 + 500 × 5  =  625 + 128 + 2500  =  3253 µ$
#   priority $2.50 / $0.25 / $20:   1000 × 2.50  + 2048 × 0.25   + 500 × 20 = 2500 + 512 + 10000 = 13012 µ$
GPT_5_COST = {None: Decimal("0.006506"), "default": Decimal("0.006506"), "flex": Decimal("0.003253"),
              "priority": Decimal("0.013012")}
# claude-haiku-4-5 per 1M tokens: input $1, cache reads $0.10, output $5. Anthropic's Priority Tier is billed by
# commitment and has no per-token list price: priority is priced at standard rates (the breakdown says so).
#   1000 × 1 + 2048 × 0.10 + 500 × 5 = 1000 + 204.8 + 2500 = 3704.8 µ$; batch ×0.5 on every line: 1852.4 µ$.
HAIKU_4_5_COST = Decimal("0.0037048")
HAIKU_4_5_BATCH_COST = Decimal("0.0018524")


def tiers_of(gw, calls):
    """The events of `calls` ([(stand-in record, expected tier, expected cost)]), each checked."""
    events = gw.events(len(calls))
    for rec, tier, cost in calls:
        ev = by_id(events, rec)
        where = (rec.target, rec.json.get("service_tier"), ev)
        assert ev["status"] == "success", where
        assert {k: ev[k] for k in TOKEN_FIELDS} == TOKENS, where
        assert ev["service_tier"] == tier, where
        assert ev["cost_usd"] is not None and Decimal(ev["cost_usd"]) == cost, where
    return events


# ---------------------------------------------------------------------------------------------------------------
# OpenAI: Chat Completions and Responses, sync and streamed

def test_openai_flex_and_priority_price_the_event_at_that_tier(gw):
    """Fails while the gateway ignores `service_tier` (every call priced standard, 6506 µ$), if a stream's tier is
    not read from its chunks / `response.completed`, or if the request's `fast` were recorded instead of the
    `priority` OpenAI answers."""
    s = gw.standins.openai
    s.usage_override = USAGE
    c = gw.openai()
    messages = [{"role": "user", "content": PROMPT}]
    calls = []
    for asked, served in (("flex", "flex"), ("priority", "priority"), ("fast", "priority"), ("auto", "default")):
        r = c.chat.completions.create(model="gpt-5", messages=messages, service_tier=asked)
        assert r.service_tier == served  # the SDK's own reading of the answer
        calls.append((s.last(), served, GPT_5_COST[served]))

        chunks = list(c.chat.completions.create(model="gpt-5", messages=messages, service_tier=asked, stream=True))
        assert chunks and all(ch.service_tier == served for ch in chunks)
        calls.append((s.last(), served, GPT_5_COST[served]))

    for asked in ("flex", "priority"):
        r = c.responses.create(model="gpt-5", input=PROMPT, service_tier=asked)
        assert r.service_tier == asked and r.status == "completed"
        calls.append((s.last(), asked, GPT_5_COST[asked]))

        events = list(c.responses.create(model="gpt-5", input=PROMPT, service_tier=asked, stream=True))
        assert events[-1].type == "response.completed" and events[-1].response.service_tier == asked
        calls.append((s.last(), asked, GPT_5_COST[asked]))

    # Without a tier OpenAI answers `default`: standard rates.
    c.chat.completions.create(model="gpt-5", messages=messages)
    calls.append((s.last(), "default", GPT_5_COST["default"]))
    tiers_of(gw, calls)


def test_openai_answer_without_a_tier_records_the_requests(gw):
    """An answer that names no tier (`service_tier: null`): the request's tier is recorded and priced; none asked,
    none recorded (standard rates). Fails if the request's tier is ignored (3253 µ$ becomes 6506 µ$)."""
    s = gw.standins.openai
    s.usage_override = USAGE
    s.service_tier_answer = NO_TIER
    c = gw.openai()
    messages = [{"role": "user", "content": PROMPT}]
    calls = []
    r = c.chat.completions.create(model="gpt-5", messages=messages, service_tier="flex")
    assert r.service_tier is None
    calls.append((s.last(), "flex", GPT_5_COST["flex"]))
    list(c.chat.completions.create(model="gpt-5", messages=messages, service_tier="priority", stream=True))
    calls.append((s.last(), "priority", GPT_5_COST["priority"]))
    list(c.responses.create(model="gpt-5", input=PROMPT, service_tier="flex", stream=True))
    calls.append((s.last(), "flex", GPT_5_COST["flex"]))
    c.chat.completions.create(model="gpt-5", messages=messages)
    calls.append((s.last(), None, GPT_5_COST[None]))
    tiers_of(gw, calls)


# ---------------------------------------------------------------------------------------------------------------
# Anthropic: usage.service_tier

def test_anthropic_usage_service_tier_is_recorded(gw):
    """`usage.service_tier` of the answer and of `message_start`: `priority` for an organization with Priority Tier
    capacity asking `auto`, `standard` for `standard_only`. Both at standard rates (see HAIKU_4_5_COST); fails if
    the tier is not recorded, or if a stream's tier is lost in the `message_delta` merge."""
    s = gw.standins.anthropic
    s.usage_override = USAGE
    s.anthropic_priority = True
    c = gw.anthropic()
    ask = dict(model="claude-haiku-4-5", max_tokens=1000, messages=[{"role": "user", "content": PROMPT}])
    calls = []
    for extra, served in (({}, "priority"), ({"service_tier": "standard_only"}, "standard")):
        m = c.messages.create(**ask, **extra)
        assert m.usage.service_tier == served
        calls.append((s.last(), served, HAIKU_4_5_COST))
        with c.messages.stream(**ask, **extra) as stream:
            assert stream.get_final_message().usage.service_tier == served
        calls.append((s.last(), served, HAIKU_4_5_COST))
    events = tiers_of(gw, calls)
    assert all(ev["batch"] is False for ev in events)


def test_anthropic_batch_tier_marks_the_event_batch_and_a_missing_tier_takes_the_requests(gw):
    """An answer saying `service_tier: "batch"` is batch traffic (as the sync reads Anthropic's usage report): the
    event is `batch` and priced at half (1852.4 µ$, not 3704.8 µ$). An answer without a tier records the request's:
    `standard_only` as `standard`, `auto` as it was asked."""
    s = gw.standins.anthropic
    s.usage_override = USAGE
    c = gw.anthropic()
    ask = dict(model="claude-haiku-4-5", max_tokens=1000, messages=[{"role": "user", "content": PROMPT}])
    s.service_tier_answer = "batch"
    c.messages.create(**ask)
    batch = s.last()
    s.service_tier_answer = NO_TIER
    c.messages.create(**ask, service_tier="standard_only")
    standard_only = s.last()
    with c.messages.stream(**ask, service_tier="auto") as stream:
        assert stream.get_final_message().usage.service_tier is None
    auto = s.last()
    events = tiers_of(gw, [(batch, "batch", HAIKU_4_5_BATCH_COST), (standard_only, "standard", HAIKU_4_5_COST),
                           (auto, "auto", HAIKU_4_5_COST)])
    assert by_id(events, batch)["batch"] is True
    assert by_id(events, standard_only)["batch"] is False and by_id(events, auto)["batch"] is False


# ---------------------------------------------------------------------------------------------------------------
# Gemini: the request's serviceTier and x-gemini-service-tier

def test_gemini_records_the_tier_that_served(gw):
    """google-genai 3.4 sends `config.service_tier` as `serviceTier`; the answer's `x-gemini-service-tier` says what
    served, `standard` when Google downgraded a priority call. Only the tier is checked here: the catalog's Gemini
    flex and priority rates are issue 16's engine work, priced by its own tests."""
    from google.genai import types

    s = gw.standins.google
    c = gw.genai()
    calls = []
    for asked, served in (("flex", "flex"), ("priority", "priority")):
        r = c.models.generate_content(model="gemini-2.5-flash", contents="say hi",
                                      config=types.GenerateContentConfig(service_tier=asked))
        assert r.sdk_http_response.headers.get("x-gemini-service-tier") == served
        calls.append((s.last(), served))
    assert [rec.json.get("serviceTier") for rec, _ in calls] == ["flex", "priority"]
    s.gemini_priority_downgrade = True
    list(c.models.generate_content_stream(model="gemini-2.5-flash", contents="say hi",
                                          config=types.GenerateContentConfig(service_tier="priority")))
    calls.append((s.last(), "standard"))
    s.gemini_priority_downgrade = False
    s.service_tier_answer = NO_TIER
    c.models.generate_content(model="gemini-2.5-flash", contents="say hi",
                              config=types.GenerateContentConfig(service_tier="flex"))
    calls.append((s.last(), "flex"))
    c.models.generate_content(model="gemini-2.5-flash", contents="say hi")
    calls.append((s.last(), None))
    events = gw.events(len(calls))
    got = sorted((ev["service_tier"] or "") for ev in events)
    assert got == sorted(tier or "" for _, tier in calls), events
    for ev in events:
        assert ev["status"] == "success" and ev["provider"] == "google", ev


# ---------------------------------------------------------------------------------------------------------------
# Hostile tiers

HOSTILE = [pytest.param("fl\u0000ex", id="nul"), pytest.param("prio\u001b[31mrity\n", id="escape-newline"),
           pytest.param("p" * 10_240, id="10KB"), pytest.param(42, id="number"),
           pytest.param({"tier": "flex"}, id="object")]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_tier_is_never_stored_and_breaks_nothing(gw, value):
    """An upstream answering a tier that is no tier: the call goes through, the event is stored without it (standard
    rates) or with the request's valid tier, and it reads back through the API and the CSV export. A client sending
    one: OpenAI refuses it (400, as the stand-in does); the failed call is recorded without it."""
    s = gw.standins.openai
    s.usage_override = USAGE
    s.service_tier_answer = value
    messages = [{"role": "user", "content": PROMPT}]
    url = gw.base("openai") + "/chat/completions"
    auth = {"Authorization": "Bearer " + gw.token}
    r = requests.post(url, json={"model": "gpt-5", "messages": messages}, headers=auth, timeout=30)
    assert r.status_code == 200 and r.json()["service_tier"] == value, r.text[:300]
    bare = s.last()
    r = requests.post(url, json={"model": "gpt-5", "messages": messages, "service_tier": "flex", "stream": True},
                      headers=auth, timeout=30)
    assert r.status_code == 200 and "[DONE]" in r.text
    flex = s.last()
    a = gw.standins.anthropic
    a.usage_override = USAGE
    a.service_tier_answer = value
    m = gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=1000,
                                       messages=[{"role": "user", "content": PROMPT}])
    assert m.usage.output_tokens == 500
    anthropic_rec = a.last()
    s.service_tier_answer = None
    r = requests.post(url, json={"model": "gpt-5", "messages": messages, "service_tier": value}, headers=auth,
                      timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "service_tier", r.text[:300]
    refused = s.last()

    events = gw.events(4)
    assert by_id(events, bare)["service_tier"] is None
    assert Decimal(by_id(events, bare)["cost_usd"]) == GPT_5_COST[None]
    assert by_id(events, flex)["service_tier"] == "flex"
    assert Decimal(by_id(events, flex)["cost_usd"]) == GPT_5_COST["flex"]
    assert by_id(events, anthropic_rec)["service_tier"] is None
    assert Decimal(by_id(events, anthropic_rec)["cost_usd"]) == HAIKU_4_5_COST
    failed = by_id(events, refused)
    assert failed["status"] == "error" and failed["http_status"] == 400 and failed["service_tier"] is None, failed
    for ev in events:
        one = gw.api("GET", f"/api/v1/events/{ev['id']}")
        assert one.status_code == 200 and one.json()["service_tier"] in (None, "flex"), one.text[:300]
    csv = gw.api("GET", "/api/v1/events/export", params={"project": gw.project, "format": "csv"})
    assert csv.status_code == 200, csv.text[:300]
    assert "p" * 65 not in csv.text and "\u001b" not in csv.text and "\u0000" not in csv.text
