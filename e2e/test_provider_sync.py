"""Provider sync (issue 7) end to end: real `tally serve` processes pull the usage/cost report stand-ins
(e2e/standins/usage_reports.py) and every figure Tally then answers is compared with the stand-in's exact
`expected_totals`: the provider ledger's summary, paging, idempotent re-syncs and late data, a run killed half-way,
429/500/malformed/revoked faults, two replicas on one PostgreSQL, the backfill of a new connection, reconciliation
with observed events computed by hand, provider project mapping and `tally sync run`."""
import collections
import datetime as dt
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

import clock
from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, PG_URL, _accounts_tally, api_token, bearer, signed_in,
                      wait_until)
from standins.usage_reports import DAY, ENDPOINTS, Number

# ---------------------------------------------------------------------------------------------------------------
# Helpers

OPENAI_USAGE = ("completions", "embeddings", "moderations", "images", "audio_speeches", "audio_transcriptions")
TOKENS = ("requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
          "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
          "cached_input_audio_tokens")
COMPLETIONS = ENDPOINTS["openai"]["completions"].path
COSTS = ENDPOINTS["openai"]["costs"].path
MESSAGES = ENDPOINTS["anthropic"]["messages"].path
RUN_FIELDS = {"id", "connection_id", "trigger", "from", "to", "status", "pages", "rows", "started_at", "finished_at",
              "duration_ms", "error"}
MANUAL = {"TALLY_SYNC_INTERVAL": "off"}


def admin_key(provider):
    """A fresh admin key the stand-in accepts, random enough to be searched for in logs and answers."""
    prefix = "sk-admin-" if provider == "openai" else "sk-ant-admin01-"
    return prefix + uuid.uuid4().hex + uuid.uuid4().hex[:8]


def leaks(text, key):
    """Ways a key would show in text: itself or the middle part a mask hides."""
    return key in text or key[10:-4] in text


def day(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d")


def iso(text):
    """An RFC 3339 time as Unix seconds with its fraction."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ts_of(text):
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def connect(browser, provider, standin, key=None, name=None):
    key = key or admin_key(provider)
    r = browser.api("POST", "/api/v1/provider-connections",
                    json={"provider": provider, "name": name or f"{provider} org", "admin_key": key,
                          "base_url": standin.url})
    assert r.status_code == 201, f"POST /api/v1/provider-connections ({provider}): {r.status_code} {r.text[:500]}"
    conn = r.json()
    conn["_key"] = key
    return conn


def sync(browser, conn, start=None, end=None, status=200, timeout=180):
    """POST …/sync over [start, end) (unix seconds → YYYY-MM-DD); the finished run."""
    body = {}
    if start is not None:
        body["from"] = day(start)
    if end is not None:
        body["to"] = day(end)
    r = browser.api("POST", f"/api/v1/provider-connections/{conn['id']}/sync", json=body, timeout=timeout)
    assert r.status_code == status, f"POST …/{conn['id']}/sync {body}: {r.status_code} {r.text[:800]}"
    run = r.json()
    if status == 200:
        assert RUN_FIELDS <= set(run), run
        assert run["connection_id"] == conn["id"] and run["trigger"] == "manual", run
    return run


def summary(browser, start, end, group_by):
    path = f"/api/v1/usage/summary?ledger=provider&from={day(start)}&to={day(end)}&group_by={group_by}"
    r = browser.api("GET", path)
    assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:500]}"
    body = r.json()
    assert body.get("ledger") == "provider" and body.get("time_zone") == "UTC", {k: body.get(k) for k in body
                                                                               if k != "groups"}
    return body


def runs(browser, conn=None, limit=100):
    path = f"/api/v1/sync-runs?limit={limit}" + (f"&connection={conn['id']}" if conn else "")
    r = browser.api("GET", path)
    assert r.status_code == 200, f"GET {path}: {r.status_code} {r.text[:300]}"
    return r.json()["data"]


class Canon:
    """The catalog's canonical name of each model the stand-ins report, written by hand (not asked of Tally): the
    dated snapshots of the models published without a date; the rest keep their own names (text-embedding-3-*, and
    gpt-4o-transcribe are published so; omni-moderation-2024-09-26, gpt-image-1, dall-e-3, tts-1, gpt-4o-mini-tts
    and whisper-1 are not priced per token and have no catalog entry)."""

    NAMES = {"gpt-4o-mini-2024-07-18": "gpt-4o-mini", "gpt-4o-2024-08-06": "gpt-4o",
             "gpt-4o-audio-preview-2024-12-17": "gpt-4o-audio-preview", "claude-sonnet-4-20250514": "claude-sonnet-4",
             "claude-haiku-4-5-20251001": "claude-haiku-4-5", "claude-opus-4-1-20250805": "claude-opus-4-1"}

    def __init__(self, browser=None, at=None):
        self.browser = browser  # kept for the tests' call sites; nothing is asked of the server

    def __call__(self, provider, model):
        return self.NAMES.get(model, model)


def usage_metrics(provider, endpoint_name, m):
    """A stand-in usage aggregate in Tally's terms (input includes cached reads and cache writes)."""
    out = dict.fromkeys(TOKENS, 0)
    if provider == "openai":
        out["requests"] = m.get("num_model_requests", 0)
        if endpoint_name in ("completions", "embeddings", "moderations"):
            out["input_tokens"] = m["input_tokens"]
        if endpoint_name == "completions":
            out["output_tokens"] = m["output_tokens"]
            out["cached_input_tokens"] = m["input_cached_tokens"]
            out["input_audio_tokens"] = m["input_audio_tokens"]
            out["output_audio_tokens"] = m["output_audio_tokens"]
        return out
    w5, w1 = m["cache_creation.ephemeral_5m_input_tokens"], m["cache_creation.ephemeral_1h_input_tokens"]
    out["input_tokens"] = m["uncached_input_tokens"] + m["cache_read_input_tokens"] + w5 + w1
    out["cached_input_tokens"] = m["cache_read_input_tokens"]
    out["cache_write_input_tokens"] = w5 + w1
    out["cache_write_1h_input_tokens"] = w1
    out["output_tokens"] = m["output_tokens"]
    return out  # Anthropic's report counts no requests


def expected_ledger(standins, start, end, dims, canon, by_day=False, projects=None, usage_only=None):
    """What GET /usage/summary?ledger=provider&group_by=[day,]dims must answer over [start, end), from the
    stand-ins' expected_totals: {(day?, *dims): {token fields, "provider_cost_usd": Decimal}}.

    dims: a tuple of "provider", "model", "project", "api_key". projects: {(provider, ref): Tally project name} (others
    "unassigned"). usage_only: only these OpenAI usage endpoints (a run that stopped half-way)."""
    source = {"model": {"openai": "model", "anthropic": "model"},
              "project": {"openai": "project_id", "anthropic": "workspace_id"},
              "api_key": {"openai": "api_key_id", "anthropic": "api_key_id"}}
    projects = projects or {}
    out = {}

    def entry(key):
        return out.setdefault(key, {**dict.fromkeys(TOKENS, 0), "provider_cost_usd": Decimal(0)})

    def key_of(provider, bucket, named):
        parts = [day(bucket)] if by_day else []
        for d in dims:
            if d == "provider":
                parts.append(provider)
            elif d == "model":
                parts.append(canon(provider, named["model"]))
            elif d == "project":
                parts.append(projects.get((provider, named["project"]), "unassigned"))
            elif d == "api_key":
                parts.append(named["api_key"])
        return tuple(parts)

    for provider, standin in standins.items():
        group = [source[d][provider] for d in dims if d in source]
        usage = ("messages",) if provider == "anthropic" else (usage_only or OPENAI_USAGE)
        for name in usage:
            for k, m in standin.expected_totals(name, start, end, group_by=group, per_bucket=True).items():
                named = dict(zip([d for d in dims if d in source], k[1:]))
                e = entry(key_of(provider, k[0], named))
                for field, value in usage_metrics(provider, name, m).items():
                    e[field] += value
        if usage_only is not None or "api_key" in dims:
            continue  # cost lines carry no key: billed amounts are not attributed to keys
        # Costs: OpenAI line items "<model>, input|output"; Anthropic rows name their model by description.
        cost_name = "costs" if provider == "openai" else "cost"
        item = "line_item" if provider == "openai" else "description"
        cgroup = [item] + (["project_id" if provider == "openai" else "workspace_id"] if "project" in dims else [])
        totals = standin.expected_totals(cost_name, start, end, group_by=cgroup, per_bucket=True)
        descriptions = standin.dataset.descriptions
        for k, m in totals.items():
            named = {"model": k[1].split(",")[0] if provider == "openai" else descriptions[k[1]]["model"]}
            if "project" in dims:
                named["project"] = k[2]
            entry(key_of(provider, k[0], named))["provider_cost_usd"] += m["amount"]
    return out


def actual_ledger(body, dims, by_day=False):
    out = {}
    for g in body["groups"]:
        key = tuple(([g["day"]] if by_day else []) + [g[d] for d in dims])
        assert key not in out, f"group {key} appears twice: {body['groups']}"
        out[key] = {f: g[f] for f in TOKENS}
        out[key]["provider_cost_usd"] = Decimal(g["provider_cost_usd"] or "0")
    return out


def assert_ledger(actual, expected, what):
    """Same groups, same numbers; on a mismatch show only the differing groups."""
    diff = {}
    for k in sorted(set(actual) | set(expected), key=str):
        a, e = actual.get(k), expected.get(k)
        if a != e:
            diff[k] = {"tally": a, "expected": e}
    assert not diff, f"{what}: {len(diff)} of {len(expected)} groups differ, e.g. " + \
        json.dumps({str(k): v for k, v in list(diff.items())[:4]}, default=str, indent=1)


def totals_of(expected):
    t = {**dict.fromkeys(TOKENS, 0), "provider_cost_usd": Decimal(0)}
    for e in expected.values():
        for k in t:
            t[k] += e[k]
    return t


def check_totals(body, expected, what):
    got = {f: body["totals"][f] for f in TOKENS}
    got["provider_cost_usd"] = Decimal(body["totals"]["provider_cost_usd"] or "0")
    assert got == totals_of(expected), f"{what}: totals {got} != {totals_of(expected)}"


# ---------------------------------------------------------------------------------------------------------------
# Published list prices, written by hand (issue 25: never read from Tally): nano-dollars (10^-9 USD) per 1M tokens,
# so $0.15 is 150_000_000. Sources as docs/pricing.md, read 2026-11-23: https://openai.com/api/pricing/ and
# https://docs.anthropic.com/en/docs/about-claude/pricing.

NANO_PER_USD = 1_000_000_000
# OpenAI gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output; Priority processing $0.25 / $0.125 / $1.00.
GPT_4O_MINI = {"input": 150_000_000, "cached_input": 75_000_000, "output": 600_000_000}
GPT_4O_MINI_PRIORITY = {"input": 250_000_000, "cached_input": 125_000_000, "output": 1_000_000_000}
# OpenAI gpt-4o (2024-08-06): $2.50 input, $1.25 cached input, $10 output; Priority $4.25 / $2.125 / $17.
GPT_4O = {"input": 2_500_000_000, "cached_input": 1_250_000_000, "output": 10_000_000_000}
GPT_4O_PRIORITY = {"input": 4_250_000_000, "cached_input": 2_125_000_000, "output": 17_000_000_000}
# OpenAI text-embedding-3-small $0.02, text-embedding-3-large $0.13 input.
TEXT_EMBEDDING_3_SMALL = {"input": 20_000_000}
TEXT_EMBEDDING_3_LARGE = {"input": 130_000_000}
# Anthropic Claude Sonnet 4: $3 input, $0.30 cache reads, $3.75 5-minute and $6 1-hour cache writes, $15 output;
# prompts over 200k tokens (its 1M context window): $6 / $0.60 / $7.50 / $12 / $22.50.
CLAUDE_SONNET_4 = {"input": 3_000_000_000, "cached_input": 300_000_000, "cache_write_5m": 3_750_000_000,
                   "cache_write_1h": 6_000_000_000, "output": 15_000_000_000}
CLAUDE_SONNET_4_LONG = {"input": 6_000_000_000, "cached_input": 600_000_000, "cache_write_5m": 7_500_000_000,
                        "cache_write_1h": 12_000_000_000, "output": 22_500_000_000}
# Anthropic Claude Haiku 4.5: $1 / $0.10 / $1.25 / $2 / $5.
CLAUDE_HAIKU_4_5 = {"input": 1_000_000_000, "cached_input": 100_000_000, "cache_write_5m": 1_250_000_000,
                    "cache_write_1h": 2_000_000_000, "output": 5_000_000_000}
# Anthropic Claude Opus 4.1: $15 / $1.50 / $18.75 / $30 / $75.
CLAUDE_OPUS_4_1 = {"input": 15_000_000_000, "cached_input": 1_500_000_000, "cache_write_5m": 18_750_000_000,
                   "cache_write_1h": 30_000_000_000, "output": 75_000_000_000}
# Batch: half of every rate, cache reads and writes included (Anthropic: "the multipliers stack"), but OpenAI's
# Batch table publishes no cached-input rate for gpt-4o and gpt-4o-mini: their batch cache reads are billed at the
# standard cached rate (issue 16, docs/pricing.md). Flex is not offered for gpt-4o-mini/gpt-4o, Anthropic's Priority Tier has no list price, and Haiku 4.5 and
# Opus 4.1 have no long-context price: those rows are estimated at the standard rates (docs/pricing.md).
# {canonical model: (standard, {service tier: rates}, long-context rates or None)}
LIST_PRICES = {
    "gpt-4o-mini": (GPT_4O_MINI, {"priority": GPT_4O_MINI_PRIORITY}, None),
    "gpt-4o": (GPT_4O, {"priority": GPT_4O_PRIORITY}, None),
    "text-embedding-3-small": (TEXT_EMBEDDING_3_SMALL, {}, None),
    "text-embedding-3-large": (TEXT_EMBEDDING_3_LARGE, {}, None),
    "claude-sonnet-4": (CLAUDE_SONNET_4, {}, CLAUDE_SONNET_4_LONG),
    "claude-haiku-4-5": (CLAUDE_HAIKU_4_5, {}, None),
    "claude-opus-4-1": (CLAUDE_OPUS_4_1, {}, None),
}
# Models whose batch cache reads are not discounted.
BATCH_CACHED_AT_STANDARD = {"gpt-4o-mini", "gpt-4o"}
# The providers' dated ids to the model names they are published under.
PUBLISHED_NAME = {"gpt-4o-mini-2024-07-18": "gpt-4o-mini", "gpt-4o-2024-08-06": "gpt-4o",
                  "text-embedding-3-small": "text-embedding-3-small", "text-embedding-3-large": "text-embedding-3-large",
                  "claude-sonnet-4-20250514": "claude-sonnet-4", "claude-haiku-4-5-20251001": "claude-haiku-4-5",
                  "claude-opus-4-1-20250805": "claude-opus-4-1"}


def nano(amount):
    """A decimal-string USD amount as integer nano-dollars; it must be exact."""
    n = Decimal(amount) * NANO_PER_USD
    assert n == n.to_integral_value(), amount
    return int(n)


def line_nano(tokens, rate, halve=False):
    """tokens × rate per 1M (× 1/2 for batch), rounded half-up to the nano-dollar: (2n + d) // 2d."""
    n, d = tokens * rate, 1_000_000 * (2 if halve else 1)
    return (2 * n + d) // (2 * d)


def report_row_nano(provider, model, m, batch=False, tier=None, context_window=None):
    """One row of a usage report (the stand-in's own metrics `m`, as the sync asks for them) at list price.
    Each row is what Tally stores and prices once, so each is rounded on its own."""
    standard, tiers, long_context = LIST_PRICES[PUBLISHED_NAME[model]]
    rates = tiers.get(tier) or standard
    if provider == "anthropic":
        if context_window == "200k-1M" and long_context:
            rates = long_context
        w1 = m["cache_creation.ephemeral_1h_input_tokens"]
        billed = {"input": m["uncached_input_tokens"], "cached_input": m["cache_read_input_tokens"],
                  "cache_write_5m": m["cache_creation.ephemeral_5m_input_tokens"], "cache_write_1h": w1,
                  "output": m["output_tokens"]}
        batch = tier == "batch"
    else:  # OpenAI input_tokens includes the cached ones; embeddings have input only
        cached = m.get("input_cached_tokens", 0)
        billed = {"input": m["input_tokens"] - cached, "cached_input": cached, "output": m.get("output_tokens", 0)}
        assert not m.get("input_audio_tokens") and not m.get("output_audio_tokens"), (model, m)
    exempt = {"cached_input"} if PUBLISHED_NAME[model] in BATCH_CACHED_AT_STANDARD else set()
    return sum(line_nano(n, rates[cls], batch and cls not in exempt) for cls, n in billed.items() if n)


# What the sync asks each usage report to group by (one stored row per bucket and group).
SYNC_GROUPS = {"completions": ("model", "project_id", "api_key_id", "batch", "service_tier"),
               "embeddings": ("model", "project_id", "api_key_id"),
               "messages": ("model", "api_key_id", "workspace_id", "service_tier", "context_window")}


def estimate_by_day_and_model(standin, report, start, end, models):
    """{(day, published model): nano-dollars}: every row of `report` over [start, end) priced by hand."""
    group = SYNC_GROUPS[report]
    out = collections.Counter()
    for key, m in standin.expected_totals(report, start, end, group_by=group, per_bucket=True).items():
        row = dict(zip(group, key[1:]))
        if row["model"] not in models:
            continue
        out[(day(key[0]), PUBLISHED_NAME[row["model"]])] += report_row_nano(
            standin.provider, row["model"], m, batch=bool(row.get("batch")), tier=row.get("service_tier"),
            context_window=row.get("context_window"))
    return out


@pytest.fixture
def pg_site():
    """A PostgreSQL Tally (shared master key in its env) whose servers create the owner."""
    if not PG_URL:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("postgres", d, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t
        t.stop_all()


# ---------------------------------------------------------------------------------------------------------------
# 1. Exact totals on SQLite and PostgreSQL, with paging

def test_sync_stores_exactly_what_the_providers_report(site, usage_report_standins):
    server = site.serve(**MANUAL)
    owner = signed_in(server)
    oai, ant = usage_report_standins["openai"], usage_report_standins["anthropic"]
    data = oai.dataset
    start, end = data.first_day_ts, data.end_ts  # all 35 days: several pages per report, whatever the page size
    conns = {p: connect(owner, p, usage_report_standins[p]) for p in ("openai", "anthropic")}

    for provider, conn in conns.items():
        standin = usage_report_standins[provider]
        run = sync(owner, conn, start, end)
        assert run["status"] == "succeeded", f"{provider}: {run}"
        assert (ts_of(run["from"]), ts_of(run["to"])) == (start, end), run
        assert run["error"] is None and run["finished_at"] and run["duration_ms"] >= 0, run
        paths = [MESSAGES, ENDPOINTS["anthropic"]["cost"].path] if provider == "anthropic" else \
            [ENDPOINTS["openai"][n].path for n in (*OPENAI_USAGE, "costs")]
        total_pages = 0
        for path in paths:
            calls = standin.recorded(path)
            assert calls and all(c.status == 200 for c in calls), f"{provider} {path}: {calls}"
            assert all(c.query.get("bucket_width", "1d") == "1d" for c in calls), calls
            limit = int(calls[0].query.get("limit", 7))
            pages = -(-35 // limit)  # 35 daily buckets
            assert [c.page for c in calls] == list(range(1, pages + 1)), \
                f"{provider} {path}: pages {[c.page for c in calls]}, expected 1..{pages} ({limit} buckets a page)"
            total_pages += pages
        assert max(len(standin.recorded(p)) for p in paths) > 1, "no report was paged"
        assert run["pages"] == total_pages, f"{provider}: run says {run['pages']} pages, the stand-in served {total_pages}"
        assert run["rows"] > 0

    canon = Canon(owner, start)
    expected = expected_ledger(usage_report_standins, start, end, ("provider", "model"), canon)
    body = summary(owner, start, end, "provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model")), expected, "by provider, model over 35 days")
    check_totals(body, expected, "35 days")
    assert {p for p, _ in expected} == {"openai", "anthropic"}
    assert canon("openai", "gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert ("openai", "gpt-4o-mini") in expected and ("openai", "gpt-4o-mini-2024-07-18") not in expected

    # A 10-day window, per UTC day and model: the day edges cut the stored buckets exactly.
    w_start, w_end = end - 10 * DAY, end
    expected = expected_ledger(usage_report_standins, w_start, w_end, ("provider", "model"), canon, by_day=True)
    body = summary(owner, w_start, w_end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), expected, "by day, provider, model")
    check_totals(body, expected, "10 days")
    assert len({k[0] for k in expected}) >= 9

    # Per provider API key (usage only: cost lines name no key).
    expected = expected_ledger(usage_report_standins, start, end, ("provider", "api_key"), canon)
    got = actual_ledger(summary(owner, start, end, "provider,api_key"), ("provider", "api_key"))
    assert_ledger({k: {f: v for f, v in g.items() if f != "provider_cost_usd"} for k, g in got.items()},
                  {k: {f: v for f, v in g.items() if f != "provider_cost_usd"} for k, g in expected.items()},
                  "by provider, api_key")
    assert ("anthropic", None) in expected, "Console usage has no key"

    # Billed totals are the cost reports' exact sums (Decimal), also with no grouping at all.
    body = summary(owner, start, end, "provider")
    billed = {g["provider"]: Decimal(g["provider_cost_usd"]) for g in body["groups"]}
    assert billed == {
        "openai": sum(m["amount"] for m in oai.expected_totals("costs", start, end).values()),
        "anthropic": sum(m["amount"] for m in ant.expected_totals("cost", start, end).values()),
    }
    r = owner.api("GET", f"/api/v1/usage/summary?ledger=provider&from={day(start)}&to={day(end)}")
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["totals"]["provider_cost_usd"]) == sum(billed.values())

    # The observed ledger has none of it: the two are never summed.
    r = owner.api("GET", f"/api/v1/usage/summary?ledger=observed&from={day(start)}&to={day(end)}")
    assert r.status_code == 200 and r.json()["totals"]["requests"] == 0, r.text[:300]


def test_the_provider_ledgers_estimate_is_the_reported_usage_at_list_price(sqlite_site, usage_report_standins):
    """cost_usd of the provider ledger (what the reported tokens cost at list price, beside what was billed) per day
    and model, each reported row priced by hand with the published rates above: cached input, batch at half price,
    OpenAI Priority rates, Anthropic cache reads and 5-minute/1-hour writes and its context windows."""
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    oai, ant = usage_report_standins["openai"], usage_report_standins["anthropic"]
    end = oai.dataset.end_ts  # the stand-ins' last three days (their data is the same whatever the date)
    start = end - 3 * DAY
    for provider in ("openai", "anthropic"):
        run = sync(owner, connect(owner, provider, usage_report_standins[provider]), start, end)
        assert run["status"] == "succeeded", run
    openai_chat = {"gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"}
    embeddings = {"text-embedding-3-small", "text-embedding-3-large"}
    expected = estimate_by_day_and_model(oai, "completions", start, end, openai_chat)
    expected.update(estimate_by_day_and_model(oai, "embeddings", start, end, embeddings))
    expected.update(estimate_by_day_and_model(ant, "messages", start, end, set(ant.dataset.models)))
    assert len(expected) == 3 * (2 + 2 + 3), sorted(expected)
    # The stand-in's Sonnet 4 days are ordinary prompts (context_window 0-200k) adding up past 200k tokens a row.
    # A row sums many requests (Anthropic's report counts none), so its total must not pick the long-context rates.
    sonnet = ant.expected_totals("messages", start, end, group_by=SYNC_GROUPS["messages"], per_bucket=True,
                                 models=["claude-sonnet-4-20250514"])
    assert {k[5] for k in sonnet} == {"0-200k"}, sonnet
    assert max(m["uncached_input_tokens"] + m["cache_read_input_tokens"] + m["cache_creation.ephemeral_5m_input_tokens"]
               + m["cache_creation.ephemeral_1h_input_tokens"] for m in sonnet.values()) > 200_000

    body = summary(owner, start, end, "day,model")
    got = {(g["day"], g["model"]): nano(g["cost_usd"]) for g in body["groups"] if (g["day"], g["model"]) in expected}
    wrong = {f"{k[0]} {k[1]}": {"tally": got.get(k), "list price": v} for k, v in sorted(expected.items())
             if got.get(k) != v}
    assert not wrong, f"{len(wrong)} of {len(expected)} estimates differ: {json.dumps(wrong, indent=1)}"


# ---------------------------------------------------------------------------------------------------------------
# 2. Idempotency and late data

def test_resync_replaces_and_late_data_is_replaced_not_added(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    end = oai.dataset.end_ts
    start = end - 10 * DAY
    conn = connect(owner, "openai", oai)
    canon = Canon(owner, start)

    def snapshot():
        return [summary(owner, start, end, g) for g in ("day,provider,model", "project", "api_key", "provider")]

    first = sync(owner, conn, start, end)
    assert first["status"] == "succeeded", first
    once = snapshot()
    second = sync(owner, conn, start, end)
    assert second["status"] == "succeeded" and second["rows"] == first["rows"], (first, second)
    assert snapshot() == once, "the same range synced twice must give identical summaries"
    expected = expected_ledger(standins, start, end, ("provider", "model"), canon, by_day=True)
    assert_ledger(actual_ledger(once[0], ("provider", "model"), by_day=True), expected, "after two syncs")

    # Late data: the last two days change at the provider; a re-sync replaces them.
    oai.bump(days_back=2)
    new_expected = expected_ledger(standins, start, end, ("provider", "model"), canon, by_day=True)
    changed = {k for k in new_expected if new_expected[k] != expected.get(k)}
    assert changed and {k[0] for k in changed} <= {day(end - DAY), day(end - 2 * DAY)}, "the bump changes 2 days"
    third = sync(owner, conn, start, end)
    assert third["status"] == "succeeded", third
    body = summary(owner, start, end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), new_expected, "after late data")
    check_totals(body, new_expected, "after late data")
    # A shorter re-sync (the last 3 days) touches only those days and still replaces.
    oai.bump(days_back=1)
    newest = expected_ledger(standins, start, end, ("provider", "model"), canon, by_day=True)
    assert sync(owner, conn, end - 3 * DAY, end)["status"] == "succeeded"
    body = summary(owner, start, end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), newest, "after a 3-day re-sync")


# ---------------------------------------------------------------------------------------------------------------
# 3. A run killed half-way, then run again

def expire_leases(tally):
    """What 15 minutes would do to the lease a killed process held (the server is down meanwhile)."""
    db = sqlite3.connect(os.path.join(tally.data_dir, "tally.sqlite"))
    with db:
        db.execute("UPDATE sync_leases SET until_us = 0")
    db.close()


def test_a_run_killed_half_way_is_redone_without_duplicates(sqlite_site, usage_report_standins):
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    start, end = oai.dataset.first_day_ts, oai.dataset.end_ts  # 2 pages per usage report
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    conn = connect(owner, "openai", oai)
    canon = Canon(owner, start)

    # Page 1 of completions answers after 2 s; meanwhile page 2 is set to hang, and the server dies during it.
    oai.hang(2, path=COMPLETIONS)
    outcome = {}
    caller = threading.Thread(target=lambda: outcome.update(r=_post_quietly(owner, conn, start, end)), daemon=True)
    caller.start()
    wait_until(lambda: oai.recorded(COMPLETIONS), 20, "the sync asking for completions", interval=0.02)
    oai.hang(60, path=COMPLETIONS)
    wait_until(lambda: len(oai.recorded(COMPLETIONS)) >= 2, 20, "page 2 of completions asked for", interval=0.02)
    page2 = oai.recorded(COMPLETIONS)[1:]
    assert page2 and "page" in page2[0].query, f"expected page 2 of completions, got {oai.recorded(COMPLETIONS)}"
    # Page 2 is asked for only after page 1 is stored and the run says so: kill once the API shows that run.
    wait_until(lambda: [r for r in runs(owner, conn) if r["status"] == "running" and r["pages"] == 1], 20,
               "the running sync with page 1 stored")
    server.kill9()
    killed_at = time.time()
    caller.join(10)
    oai.clear_faults()
    assert isinstance(outcome.get("r"), requests.RequestException), f"the killed sync answered: {outcome.get('r')}"

    expire_leases(sqlite_site)
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    canon.browser = owner
    # What the killed run stored is page 1 of completions (its first `limit` days), nothing after.
    p1_end = start + int(oai.recorded(COMPLETIONS)[0].query["limit"]) * DAY
    partial = expected_ledger(standins, start, p1_end, ("provider", "model"), canon, by_day=True,
                              usage_only=("completions",))
    body = summary(owner, start, end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), partial, "after the kill")
    # The killed run is left as it was when the server died: still `running`, one page done (page 1 of completions,
    # recorded before page 2 was asked), with that page's rows: one per (day, group) the stand-in reported.
    page1_rows = len(oai.expected_totals("completions", start, p1_end, group_by=oai.recorded(COMPLETIONS)[0].query["group_by"],
                                         per_bucket=True))
    [killed] = runs(owner, conn)
    assert (ts_of(killed["from"]), ts_of(killed["to"]), killed["trigger"]) == (start, end, "manual"), killed
    assert (killed["status"], killed["pages"], killed["rows"], killed["finished_at"], killed["duration_ms"], killed["error"]) \
        == ("running", 1, page1_rows, None, None, None), killed

    oai.clear()
    run = sync(owner, conn, start, end)
    assert run["status"] == "succeeded", run
    # docs/api.md ("Provider sync"): a run left `running` is marked `failed` ("interrupted") by the next run, which
    # redoes the range: failed, this error, finished when the next run started, its page and rows kept.
    [marked] = [r for r in runs(owner, conn) if r["id"] == killed["id"]]
    assert (marked["status"], marked["error"]) == \
        ("failed", "interrupted: the server stopped during the run; a later run redoes its range"), marked
    assert (marked["pages"], marked["rows"], marked["started_at"]) == (1, page1_rows, killed["started_at"]), marked
    finished, started, rerun_started = (iso(marked["finished_at"]), iso(marked["started_at"]), iso(run["started_at"]))
    assert killed_at <= finished <= rerun_started, (killed_at, marked, run)
    assert marked["duration_ms"] == int((finished - started) * 1000), marked
    expected = expected_ledger(standins, start, end, ("provider", "model"), canon, by_day=True)
    body = summary(owner, start, end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), expected, "after the re-run")
    check_totals(body, expected, "after the re-run")
    assert summary(owner, start, end, "project") == summary(owner, start, end, "project")
    rerun = sync(owner, conn, start, end)
    assert rerun["rows"] == run["rows"]
    assert summary(owner, start, end, "day,provider,model") == body


def _post_quietly(browser, conn, start, end):
    try:
        return browser.api("POST", f"/api/v1/provider-connections/{conn['id']}/sync",
                           json={"from": day(start), "to": day(end)}, timeout=120)
    except requests.RequestException as e:
        return e


# ---------------------------------------------------------------------------------------------------------------
# 4. Faults

def test_rate_limits_are_retried_after_retry_after(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    end = oai.dataset.end_ts
    start = end - 5 * DAY
    conn = connect(owner, "openai", oai)
    oai.rate_limit(times=2, retry_after=1, path=COMPLETIONS)
    run = sync(owner, conn, start, end)
    assert run["status"] == "succeeded" and run["error"] is None, run
    calls = oai.recorded(COMPLETIONS)
    assert [c.status for c in calls[:3]] == [429, 429, 200] and all(c.status == 200 for c in calls[3:]), calls
    assert calls[0].target == calls[1].target == calls[2].target, "the same page is asked again"
    calls = calls[:3]
    gaps = [b.time - a.time for a, b in zip(calls, calls[1:])]
    assert all(g >= 0.95 for g in gaps), f"Retry-After: 1 not honoured, gaps {gaps}"
    assert all(g < 10 for g in gaps), f"waited far longer than asked: {gaps}"
    expected = expected_ledger(standins, start, end, ("provider", "model"), Canon(owner, start))
    assert_ledger(actual_ledger(summary(owner, start, end, "provider,model"), ("provider", "model")), expected,
                  "after 429s")


def test_server_errors_fail_the_run_with_the_providers_message_and_the_next_run_retries(sqlite_site,
                                                                                      usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    end = oai.dataset.end_ts
    start = end - 3 * DAY
    conn = connect(owner, "openai", oai)
    oai.server_error(times=100, status=500, path=COMPLETIONS)
    began = time.time()
    run = sync(owner, conn, start, end)
    took = time.time() - began
    assert run["status"] == "failed", run
    assert "The server had an error while processing your request" in run["error"] and "500" in run["error"], \
        run["error"]
    assert not leaks(run["error"], conn["_key"])
    calls = oai.recorded(COMPLETIONS)
    assert len(calls) == 6 and all(c.status == 500 for c in calls), f"6 attempts, got {calls}"
    gaps = [b.time - a.time for a, b in zip(calls, calls[1:])]
    # Exponential backoff from 1 s with jitter in [1/2, 1): at least 0.5 + 1 + 2 + 4 + 8 s in all.
    assert gaps[0] >= 0.45 and sum(gaps) >= 15.5 * 0.95, f"backoff too short: {gaps}"
    assert took < 70, took
    body = summary(owner, start, end, "provider")
    assert body["groups"] == [] or all(g["input_tokens"] == 0 and Decimal(g["provider_cost_usd"] or 0) == 0
                                       for g in body["groups"]), body["groups"]
    c = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}").json()
    assert not (c["validation_error"] or "").startswith("needs a new admin key"), c

    oai.clear_faults()
    again = sync(owner, conn, start, end)
    assert again["status"] == "succeeded", again
    expected = expected_ledger(standins, start, end, ("provider", "model"), Canon(owner, start))
    assert_ledger(actual_ledger(summary(owner, start, end, "provider,model"), ("provider", "model")), expected,
                  "after the retry")
    listed = runs(owner, conn)
    assert [r["status"] for r in listed] == ["succeeded", "failed"], listed
    assert listed[1]["error"] == run["error"]


def test_a_malformed_page_fails_the_run_and_stores_nothing_of_it(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    start, end = oai.dataset.first_day_ts, oai.dataset.end_ts
    conn = connect(owner, "openai", oai)
    canon = Canon(owner, start)
    # Page 2 of completions lacks output_tokens in every result: parseable, but not the format.
    oai.malformed(COMPLETIONS, page=2, kind="missing_field", field="result:output_tokens")
    run = sync(owner, conn, start, end)
    assert run["status"] == "failed", run
    assert "output_tokens" in run["error"], run["error"]
    assert run["pages"] == 1, run
    p1_end = start + int(oai.recorded(COMPLETIONS)[0].query["limit"]) * DAY
    partial = expected_ledger(standins, start, p1_end, ("provider", "model"), canon, by_day=True,
                              usage_only=("completions",))
    body = summary(owner, start, end, "day,provider,model")
    assert_ledger(actual_ledger(body, ("provider", "model"), by_day=True), partial,
                  "page 1 stored, nothing of the malformed page 2")

    # A truncated body (not JSON) on the cost report: everything before it stored, no cost line.
    oai.malformed(COSTS, page=1, kind="truncated")
    run = sync(owner, conn, start, end)
    assert run["status"] == "failed" and run["error"], run
    body = summary(owner, start, end, "provider")
    assert Decimal(body["totals"]["provider_cost_usd"] or "0") == 0, body["totals"]
    expected = expected_ledger(standins, start, end, ("provider", "model"), canon, usage_only=OPENAI_USAGE)
    assert_ledger(actual_ledger(summary(owner, start, end, "provider,model"), ("provider", "model")), expected,
                  "usage stored, the truncated cost page not")

    run = sync(owner, conn, start, end)
    assert run["status"] == "succeeded", run
    expected = expected_ledger(standins, start, end, ("provider", "model"), canon)
    assert_ledger(actual_ledger(summary(owner, start, end, "provider,model"), ("provider", "model")), expected,
                  "after a clean run")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_revoked_key_marks_the_connection_and_stops_the_background_sync(sqlite_site, usage_report_standins,
                                                                          provider):
    server = sqlite_site.serve(TALLY_SYNC_INTERVAL="5s", TALLY_SYNC_BACKFILL_DAYS="2", TALLY_LOG_LEVEL="trace")
    owner = signed_in(server)
    standin = usage_report_standins[provider]
    conn = connect(owner, provider, standin)
    key = conn["_key"]
    wait_until(lambda: any(r["status"] != "running" and r["finished_at"] for r in runs(owner, conn)), 20,
               "the backfill run to finish", interval=0.3)
    first = runs(owner, conn)
    assert first and first[-1]["trigger"] == "backfill", first

    standin.revoke(key)
    # The background pulls every 5 s: while it holds the lease the API answers 409; try again as a client would.
    deadline = time.time() + 20
    while True:
        r = owner.api("POST", f"/api/v1/provider-connections/{conn['id']}/sync", json={}, timeout=120)
        if r.status_code != 409 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "failed", run
    c = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}")
    assert c.status_code == 200
    assert (c.json()["validation_error"] or "").startswith("needs a new admin key"), c.json()
    message = "Incorrect API key provided" if provider == "openai" else "invalid x-api-key"
    assert message in run["error"], run["error"]

    # The background sync leaves it alone from now on. Proof that it has looked at every connection since: a healthy
    # control connection (the other provider's stand-in) added now is backfilled in pass P (it wakes the service), and
    # pulled again in the pass after P, which begins only once P has visited every connection, the revoked one too.
    standin.clear()
    other = "anthropic" if provider == "openai" else "openai"
    control = connect(owner, other, usage_report_standins[other], name="control")
    wait_until(lambda: len([r for r in runs(owner, control) if r["finished_at"]]) >= 2, 30,
               "two background passes over the control connection", interval=0.3)
    assert standin.recorded() == [], f"a connection needing a new key was retried: {standin.recorded()}"

    texts = {"run": json.dumps(run), "runs": json.dumps(runs(owner, conn)), "connection": c.text,
             "connections": owner.api("GET", "/api/v1/provider-connections").text, "log": sqlite_site.logs()}
    found = [name for name, text in texts.items() if leaks(text, key)]
    assert found == [], f"the admin key shows in: {found}"


# ---------------------------------------------------------------------------------------------------------------
# 5. Two replicas on one PostgreSQL

def test_two_replicas_pull_each_connection_once_per_interval(pg_site, usage_report_standins):
    env = {"TALLY_SYNC_INTERVAL": "5s", "TALLY_SYNC_BACKFILL_DAYS": "3"}
    a, b = pg_site.serve(**env), pg_site.serve(**env)
    owner = signed_in(a)
    oai = usage_report_standins["openai"]
    conn = connect(owner, "openai", oai)
    began = time.time()
    # Three background runs (the backfill and two intervals), whichever replica ran them; then stop both.
    wait_until(lambda: len([r for r in runs(owner, conn) if r["trigger"] != "manual" and r["finished_at"]]) >= 3,
               40, "three finished background runs", interval=0.3)
    elapsed = time.time() - began
    a.stop()
    b.stop()
    reader = pg_site.serve(**MANUAL)
    listed = sorted(runs(signed_in(reader), conn), key=lambda r: r["started_at"])
    background = [r for r in listed if r["trigger"] != "manual"]
    assert background and background[0]["trigger"] == "backfill", listed
    assert all(r["status"] in ("succeeded", "running") for r in background), background

    # No two runs of the connection overlap in time.
    finished = [r for r in background if r["finished_at"]]
    for x, y in zip(finished, finished[1:]):
        assert x["finished_at"] <= y["started_at"], f"overlapping runs: {x} {y}"

    # One puller per interval: in `elapsed` seconds of 5 s intervals, at most one pass per interval started (and one
    # more that a stop may have caught running).
    starts = [ts_of_micro(r["started_at"]) for r in background]
    gaps = [round(y - x, 2) for x, y in zip(starts, starts[1:])]
    what = f"{len(background)} runs in {elapsed:.0f} s, {[r['trigger'] for r in background]}, gaps {gaps}"
    assert len(background) <= int(elapsed // 5) + 2, what
    assert all(g >= 4.0 for g in gaps), f"two pulls within one 5 s interval: {what}"
    # The request log agrees: each report's first page (no cursor) once per run, never twice within an interval,
    # and each (report, bucket range, page) fetched once per run.
    for path in [ENDPOINTS["openai"][n].path for n in (*OPENAI_USAGE, "costs")]:
        calls = oai.recorded(path)
        firsts = sorted(r.time for r in calls if "page" not in r.query)
        assert len(firsts) == len(background), (path, len(firsts), what)
        assert all(y - x >= 4.0 for x, y in zip(firsts, firsts[1:])), f"{path} read twice in one interval: {firsts}"
        fetched = collections.Counter((r.query["start_time"], r.query["end_time"], r.query.get("page")) for r in calls)
        by_range = collections.Counter((r.query["start_time"], r.query["end_time"]) for r in calls if "page" not in r.query)
        for (s_, e_, page), n in fetched.items():
            assert n == by_range[(s_, e_)], f"{path} page {page} of {s_}-{e_} fetched {n} times in " \
                                            f"{by_range[(s_, e_)]} runs"


def ts_of_micro(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------------------------------------------
# 6. Backfill when a connection is added

def test_a_new_connection_is_backfilled_at_once(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(TALLY_SYNC_BACKFILL_DAYS="7")  # the default interval (1 h)
    owner = signed_in(server)
    oai = usage_report_standins["openai"]
    # Past the service's first pass: a sentinel connection (the Anthropic stand-in) is backfilled by it. Its wake may
    # bring one more pass at once; that one can catch the connection below only if wakes work, which is the point.
    sentinel = connect(owner, "anthropic", usage_report_standins["anthropic"], name="sentinel")
    wait_until(lambda: [r for r in runs(owner, sentinel) if r["finished_at"]], 30, "the sentinel's backfill",
               interval=0.2)
    began = int(clock.timestamp())  # Tally's clock (TALLY_CLOCK_OFFSET_SECONDS): the run starts after this
    conn = connect(owner, "openai", oai)
    done = wait_until(lambda: [r for r in runs(owner, conn) if r["finished_at"]], 15,
                      "the new connection's backfill run (the interval is 1 h)", interval=0.2)
    run = done[-1]
    assert run["trigger"] == "backfill" and run["status"] == "succeeded", run
    now = int(clock.timestamp())
    # The last 7 days up to now, widened to whole UTC days (the run's day: it may have begun before a UTC midnight).
    today = ts_of(run["to"]) - DAY
    assert today in (began - began % DAY, now - now % DAY), (run, began, now)
    assert ts_of(run["from"]) in (today - 7 * DAY, today - 6 * DAY), run
    calls = oai.recorded(COMPLETIONS)
    assert calls and int(calls[0].query["start_time"]) == ts_of(run["from"]), calls
    start, end = ts_of(run["from"]), ts_of(run["to"])
    expected = expected_ledger({"openai": oai}, start, end, ("provider", "model"), Canon(owner, start), by_day=True)
    actual = actual_ledger(summary(owner, start, end, "day,provider,model"), ("provider", "model"), by_day=True)
    assert_ledger({k: v for k, v in actual.items() if k[1] == "openai"}, expected, "the backfill")  # not the sentinel


# ---------------------------------------------------------------------------------------------------------------
# 7. Reconciliation computed by hand

def test_reconciliation_by_hand(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    token = api_token(owner, project="web", scopes=("admin",))
    oai = usage_report_standins["openai"]
    end = oai.dataset.end_ts
    start = end - 3 * DAY
    d = end - 2 * DAY  # a day the stand-in reports
    model = "gpt-4o-mini-2024-07-18"
    conn = connect(owner, "openai", oai)
    assert sync(owner, conn, start, end)["status"] == "succeeded"

    at = dt.datetime.fromtimestamp(d + 10 * 3600, dt.timezone.utc)
    events = [{"id": f"rec-{i}", "timestamp": (at + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "provider": "openai", "model": "gpt-4o-mini", "input_tokens": inp, "output_tokens": out}
              for i, (inp, out) in enumerate([(120000, 30000), (80000, 10000), (1000000, 250000)])]
    r = requests.post(server.url + "/api/v1/events", json=events, headers=bearer(token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text

    obs_in = sum(e["input_tokens"] for e in events)
    obs_out = sum(e["output_tokens"] for e in events)
    assert (obs_in, obs_out) == (1_200_000, 290_000)
    # At gpt-4o-mini's list price ($0.15 input, $0.60 output per 1M), worked on paper:
    #   rec-0 120000 × 0.15 = 0.018 + 30000 × 0.60 = 0.018;  rec-1 80000 × 0.15 = 0.012 + 10000 × 0.60 = 0.006;
    #   rec-2 1000000 × 0.15 = 0.15 + 250000 × 0.60 = 0.15.  Together $0.354.
    estimate = Decimal("0.354")
    assert nano(estimate) == sum(line_nano(i, GPT_4O_MINI["input"]) + line_nano(o, GPT_4O_MINI["output"])
                                 for i, o in ((120000, 30000), (80000, 10000), (1000000, 250000)))
    # The provider side's estimate: the day's reported rows of that model (each variant: batch at half price,
    # priority at its own rates, flex at the standard ones), each priced at list price.
    provider_estimate = estimate_by_day_and_model(oai, "completions", d, d + DAY, {model})[(day(d), "gpt-4o-mini")]
    assert provider_estimate > 0

    usage = oai.expected_totals("completions", d, d + DAY, group_by=("model",), models=[model])[(model,)]
    billed = sum(m["amount"] for (item,), m in oai.expected_totals("costs", d, d + DAY, group_by=("line_item",)).items()
                 if item.startswith(model + ","))
    difference = billed - estimate
    percent = (difference * 100 / billed).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def group(threshold):
        r = owner.api("GET", f"/api/v1/reconciliation?from={day(start)}&to={day(end)}&group_by=day,model"
                             f"&threshold_percent={threshold}")
        assert r.status_code == 200, r.text
        found = [g for g in r.json()["groups"] if g.get("day") == day(d) and g.get("model") == "gpt-4o-mini"]
        assert len(found) == 1, r.json()["groups"]
        return found[0], r.json()["groups"]

    g, groups = group(10)
    assert g["observed"]["requests"] == 3
    assert g["observed"]["input_tokens"] == obs_in and g["observed"]["output_tokens"] == obs_out
    assert Decimal(g["observed"]["estimated_cost_usd"]) == estimate, (g, estimate)
    assert g["provider"]["requests"] == usage["num_model_requests"]
    assert g["provider"]["input_tokens"] == usage["input_tokens"]
    assert g["provider"]["output_tokens"] == usage["output_tokens"]
    assert Decimal(g["provider"]["billed_cost_usd"]) == billed, (g, billed)
    assert nano(g["provider"]["estimated_cost_usd"]) == provider_estimate, (g, provider_estimate)
    assert g["difference"]["input_tokens"] == usage["input_tokens"] - obs_in
    assert g["difference"]["output_tokens"] == usage["output_tokens"] - obs_out
    assert Decimal(g["difference"]["cost_usd"]) == difference, (g, difference)
    assert Decimal(g["difference"]["cost_percent"]) == percent, (g, percent)
    assert g["flagged"] is (abs(percent) > 10)
    # Just below and just above the difference: the flag follows the threshold.
    assert group(abs(percent) - Decimal("0.01"))[0]["flagged"] is True
    assert group(abs(percent) + Decimal("0.01"))[0]["flagged"] is False
    # Other days of gpt-4o-mini: provider only, no observed usage, flagged as one-sided.
    others = [x for x in groups if x.get("model") == "gpt-4o-mini" and x.get("day") != day(d)]
    assert others and all(x["observed"]["requests"] == 0 and x["flagged"] for x in others), others


# ---------------------------------------------------------------------------------------------------------------
# 8. Mapping provider projects to Tally projects

def test_mapped_provider_projects_show_under_their_tally_project(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    end = oai.dataset.end_ts
    start = end - 5 * DAY
    conn = connect(owner, "openai", oai)
    assert sync(owner, conn, start, end)["status"] == "succeeded"
    r = owner.api("POST", "/api/v1/projects", json={"name": "web"})
    assert r.status_code in (201, 409), r.text
    canon = Canon(owner, start)

    r = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}/refs")
    assert r.status_code == 200, r.text
    refs = r.json()["data"]
    project_ids = [p["id"] for p in oai.dataset.projects]
    key_ids = [k["id"] for k in oai.dataset.keys]
    assert sorted(x["ref"] for x in refs if x["kind"] == "project") == sorted(project_ids), refs
    assert sorted(x["ref"] for x in refs if x["kind"] == "api_key") == sorted(key_ids), refs
    assert all(x["project"] is None for x in refs if x["kind"] == "project"), refs

    expected = expected_ledger(standins, start, end, ("project",), canon)
    assert list(expected) == [("unassigned",)]
    assert_ledger(actual_ledger(summary(owner, start, end, "project"), ("project",)), expected, "unmapped")

    mapped = project_ids[0]
    r = owner.api("PUT", f"/api/v1/provider-connections/{conn['id']}/refs/{mapped}", json={"project": "web"})
    assert r.status_code in (200, 204), r.text
    refs = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}/refs").json()["data"]
    assert {x["ref"]: x["project"] for x in refs if x["kind"] == "project"} == \
        {mapped: "web", project_ids[1]: None}, refs

    projects = {("openai", mapped): "web"}
    expected = expected_ledger(standins, start, end, ("project",), canon, projects=projects)
    assert set(expected) == {("web",), ("unassigned",)}
    assert_ledger(actual_ledger(summary(owner, start, end, "project"), ("project",)), expected, "mapped")
    expected = expected_ledger(standins, start, end, ("project", "model"), canon, projects=projects)
    assert_ledger(actual_ledger(summary(owner, start, end, "project,model"), ("project", "model")), expected,
                  "mapped, by project and model")

    r = owner.api("PUT", f"/api/v1/provider-connections/{conn['id']}/refs/{mapped}", json={"project": None})
    assert r.status_code in (200, 204), r.text
    expected = expected_ledger(standins, start, end, ("project",), canon)
    assert_ledger(actual_ledger(summary(owner, start, end, "project"), ("project",)), expected, "unmapped again")


# ---------------------------------------------------------------------------------------------------------------
# 9. The CLI

def test_tally_sync_run_next_to_a_running_server(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    standins = {"openai": usage_report_standins["openai"]}
    oai = standins["openai"]
    end = oai.dataset.end_ts
    start = end - 4 * DAY
    conn = connect(owner, "openai", oai)

    r = sqlite_site.cli_env("sync", "run", "--connection", conn["id"], "--from", day(start), "--to", day(end),
                            check=False)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stdout} {r.stderr}"
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and "succeeded" in lines[0] and conn["id"] in lines[0], r.stdout
    listed = runs(owner, conn)
    assert len(listed) == 1 and listed[0]["status"] == "succeeded", listed
    assert (ts_of(listed[0]["from"]), ts_of(listed[0]["to"])) == (start, end), listed
    expected = expected_ledger(standins, start, end, ("provider", "model"), Canon(owner, start), by_day=True)
    assert_ledger(actual_ledger(summary(owner, start, end, "day,provider,model"), ("provider", "model"), by_day=True),
                  expected, "synced by the CLI, read through the server")

    oai.revoke(conn["_key"])
    r = sqlite_site.cli_env("sync", "run", "--connection", conn["id"], "--from", day(start), "--to", day(end),
                            check=False)
    assert r.returncode == 1, f"exit {r.returncode}: {r.stdout} {r.stderr}"
    assert "failed" in r.stdout + r.stderr, r.stdout + r.stderr
    assert not leaks(r.stdout + r.stderr, conn["_key"])
    c = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}").json()
    assert (c["validation_error"] or "").startswith("needs a new admin key"), c


# ---------------------------------------------------------------------------------------------------------------
# 9. Cost amounts with more decimals than a nano-dollar (issue 25, point 7)

def test_openai_cost_amounts_with_long_decimals_are_exact_to_the_nano_dollar(sqlite_site, usage_report_standins):
    """OpenAI's `amount.value` is a JSON number in dollars with as many decimals as it likes (or, from a sloppy
    source, a decimal string): each is read from its text and rounded once, half-up, to the nano-dollar
    (ReportDecoding, USD(literal:)). Every expected figure is written by hand. A float parse reads
    123456789.123456789123 as 123456789.12345679104… (…791 nanos); half-even rounding makes 2.0000000025 …002;
    refusing a string fails the run; summing before rounding makes the two half nanos of gpt-4.1-mini one."""
    server = sqlite_site.serve(**MANUAL)
    owner = signed_in(server)
    oai = usage_report_standins["openai"]
    d = oai.dataset.end_ts - 3 * DAY  # a whole past UTC day, whatever the hour

    def row(model, value):
        return {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
                "line_item": f"{model}, input", "project_id": None, "api_key_id": None, "quantity": None,
                "quantity_unit": None}

    oai.cost_results = {d: [
        row("gpt-4o-mini", Number("0.0123456789012345678")),
        row("gpt-4o", "0.0123456789012345678"),
        row("gpt-4.1", Number("123456789.123456789123")),
        row("o3", Number("2.0000000025")),
        row("gpt-5", Number("1.23456789012345678e-2")),
        row("gpt-4.1-mini", Number("0.0000000005")),
        row("gpt-4.1-mini", "0.0000000005"),
        row("gpt-4.1-mini", Number("0.00000000049999999999")),
    ]}
    conn = connect(owner, "openai", oai)
    run = sync(owner, conn, d, d + DAY)
    assert run["status"] == "succeeded" and run["error"] is None, run
    served = oai.recorded(COSTS)
    assert served and all(c.status == 200 for c in served), served

    canon = Canon(owner, d)
    expected = {
        "gpt-4o-mini": Decimal("0.012345679"),
        "gpt-4o": Decimal("0.012345679"),
        "gpt-4.1": Decimal("123456789.123456789"),
        "o3": Decimal("2.000000003"),
        "gpt-5": Decimal("0.012345679"),
        "gpt-4.1-mini": Decimal("0.000000002"),
    }
    body = summary(owner, d, d + DAY, "provider,model")
    billed = {g["model"]: Decimal(g["provider_cost_usd"]) for g in body["groups"]
              if g["provider"] == "openai" and g["provider_cost_usd"] not in (None, "0")}
    assert billed == {canon("openai", m): v for m, v in expected.items()}, billed
    assert Decimal(body["totals"]["provider_cost_usd"]) == Decimal("123456791.160493831"), body["totals"]
    assert body["totals"]["provider_cost_usd"] == "123456791.160493831"
