"""Self-tests of the usage/cost report stand-ins (e2e/standins/usage_reports.py), without Tally.

They page through every endpoint the documented way and compare with `expected_totals`, check `expected_totals`
against explicit records, and exercise array encodings, group_by nulls, validation errors, faults, late data and
the official SDKs (openai 3.54 admin usage endpoints; anthropic 2.12 organization reads - it has no method for the
messages usage report or the cost report, so those go through its generic `client.get`)."""
import collections
import json
import time
from decimal import Decimal

import anthropic
import openai
import pytest
import requests

from standins.usage_reports import (
    DAY, ENDPOINTS, LARGE, Dataset, Number, bucket_starts, loads_exact, rfc3339)

OAI_KEY = "sk-admin-test-0123456789"
ANT_KEY = "sk-ant-admin01-test-0123456789"
OAI_HEADERS = {"Authorization": f"Bearer {OAI_KEY}"}
ANT_HEADERS = {"x-api-key": ANT_KEY, "anthropic-version": "2023-06-01"}
OAI_USAGE = ["completions", "embeddings", "moderations", "images", "audio_speeches", "audio_transcriptions"]


def headers_for(provider):
    return OAI_HEADERS if provider == "openai" else ANT_HEADERS


def get(standin, path, params, headers=None, timeout=10):
    return requests.get(standin.url + path, params=params, headers=headers or headers_for(standin.provider),
                        timeout=timeout)


def page_through(standin, path, params, headers=None):
    """The documented loop (reference 1.2 / 2.2): repeat the same query plus page=<next_page> while has_more."""
    buckets, pages = [], 0
    cursor = None
    while True:
        r = get(standin, path, list(params) + ([("page", cursor)] if cursor else []), headers)
        assert r.status_code == 200, r.text
        body = loads_exact(r.content)
        pages += 1
        buckets += body["data"]
        assert isinstance(body["has_more"], bool)
        if not body["has_more"]:
            assert body["next_page"] is None
            return buckets, pages
        assert isinstance(body["next_page"], str) and body["next_page"]
        cursor = body["next_page"]
        assert pages < 1000


def flat(row):
    out = {}
    for k, v in row.items():
        if isinstance(v, dict) and k != "amount":
            out.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


def union(provider, ep, buckets, group_by):
    """{group tuple: {metric: sum}} over all rows of all buckets, as Tally would add them up."""
    totals = collections.defaultdict(collections.Counter)
    for b in buckets:
        for row in b["results"]:
            row = flat(row)
            key = tuple(row[g] for g in group_by)
            for m in ep.metrics:
                if m == "amount":
                    value = row["amount"]["value"] if provider == "openai" else Decimal(row["amount"]) / 100
                elif m == "quantity":
                    value = row["quantity"] or 0
                else:
                    value = row[m]
                totals[key][m] += value
    return {k: dict(v) for k, v in totals.items()}


def strip(expected, ep, group_by):
    """expected_totals minus what the API does not show (quantity without line_item, Anthropic cents)."""
    out = {}
    for k, v in expected.items():
        v = dict(v)
        v.pop("amount_cents", None)
        if "quantity" in v and "line_item" not in group_by:
            v["quantity"] = 0
        out[k] = v
    return out


def span(standin, days=None):
    d = standin.dataset
    start = d.first_day_ts - 3 * DAY if days is None else d.end_ts - days * DAY
    return start, d.end_ts


def time_params(provider, start, end):
    if provider == "openai":
        return [("start_time", str(start)), ("end_time", str(end))]
    return [("starting_at", rfc3339(start)), ("ending_at", rfc3339(end))]


def array(provider, name, values, encoding=None):
    encoding = encoding or ("repeat" if provider == "openai" else "brackets")
    return [(name + ("[]" if encoding == "brackets" else ""), v) for v in values]


# ---------------------------------------------------------------------------------------------------------------
# Paging through every endpoint gives exactly expected_totals.

CASES = [("openai", name, gb) for name in OAI_USAGE for gb in ((), ("model",), ("project_id", "api_key_id", "model"))]
CASES += [("openai", "completions", ("batch", "service_tier", "model")),
          ("openai", "images", ("size", "source")),
          ("openai", "costs", ()), ("openai", "costs", ("line_item",)),
          ("openai", "costs", ("project_id", "api_key_id", "line_item")),
          ("anthropic", "messages", ()), ("anthropic", "messages", ("model",)),
          ("anthropic", "messages", ("workspace_id", "api_key_id", "model", "service_tier", "context_window")),
          ("anthropic", "cost", ()), ("anthropic", "cost", ("description",)),
          ("anthropic", "cost", ("workspace_id", "description"))]


@pytest.mark.parametrize("provider,name,group_by", CASES)
def test_paging_union_equals_expected_totals(usage_report_standins, provider, name, group_by):
    s = usage_report_standins[provider]
    ep = ENDPOINTS[provider][name]
    start, end = span(s)
    params = time_params(provider, start, end) + [("limit", "5")] + array(provider, "group_by", group_by)
    buckets, pages = page_through(s, ep.path, params)
    starts = [b["start_time"] if provider == "openai" else b["starting_at"] for b in buckets]
    expected_starts = list(bucket_starts(start, end, "1d"))
    assert starts == (expected_starts if provider == "openai" else [rfc3339(x) for x in expected_starts])
    assert pages == -(-len(expected_starts) // 5)
    assert len(buckets) == s.dataset.days + 3
    assert all(b["results"] == [] for b in buckets[:3])  # before the dataset: empty buckets, still listed
    got = union(provider, ep, buckets, group_by)
    expected = strip(s.expected_totals(name, start, end, group_by), ep, group_by)
    assert got == expected
    assert got, "the dataset has data in the range"


@pytest.mark.parametrize("provider,name,group_by,width", [
    ("openai", "completions", ("model", "api_key_id", "batch", "service_tier"), "1d"),
    ("openai", "completions", ("project_id",), "1h"),
    ("openai", "images", ("size", "source", "model"), "1d"),
    ("openai", "costs", ("project_id", "api_key_id", "line_item"), "1d"),
    ("anthropic", "messages", ("api_key_id", "workspace_id", "model", "service_tier", "context_window"), "1d"),
    ("anthropic", "messages", ("model",), "1h"),
    ("anthropic", "cost", ("workspace_id", "description"), "1d"),
])
def test_expected_totals_match_explicit_records(provider, name, group_by, width):
    """The arithmetic shortcut equals summing the explicit hourly records, before and after a bump."""
    d = Dataset(provider, days=10, seed=7)
    ep = ENDPOINTS[provider][name]
    for bump in (False, True):
        if bump:
            d.bump(days_back=3)
        start, end = d.end_ts - 4 * DAY, d.end_ts
        naive = collections.defaultdict(collections.Counter)
        for dims, hour_ts, _, metrics in d.records(name):
            if start <= hour_ts < end:
                key = (hour_ts - hour_ts % (3600 if width == "1h" else DAY),) + tuple(dims[g] for g in group_by)
                for m, v in metrics.items():
                    naive[key][m] += v
        naive = {k: dict(v) for k, v in naive.items() if any(v.values())}
        got = d.expected_totals(name, start, end, group_by, bucket_width=width, per_bucket=True)
        if provider == "anthropic" and ep.cost:
            got = {k: {"amount": v["amount_cents"]} for k, v in got.items()}
        assert got == naive


def test_the_default_dataset_has_every_dimension(usage_report_standins):
    o, a = usage_report_standins["openai"].dataset, usage_report_standins["anthropic"].dataset
    assert (o.days, len(o.models), len(o.projects), len(o.keys)) == (35, 3, 2, 4)
    assert (a.days, len(a.models), len(a.projects)) == (35, 3, 2)
    start, end = a.first_day_ts, a.end_ts
    by_key = a.expected_totals("messages", start, end, ("workspace_id", "api_key_id"))
    assert (None, None) in by_key  # Console usage: default workspace, no key
    assert any(ws is None and k is not None for ws, k in by_key)  # a key in the default workspace
    tiers = a.expected_totals("messages", start, end, ("service_tier", "context_window"))
    assert {("standard", "0-200k"), ("batch", "0-200k"), ("priority", "0-200k"), ("standard", "200k-1M")} <= set(tiers)
    costs = a.expected_totals("cost", start, end, ("description",))
    assert not any("Priority" in desc for (desc,) in costs)
    oc = o.expected_totals("completions", o.first_day_ts, o.end_ts, ("batch", "service_tier"))
    assert {(False, "default"), (True, "default"), (False, "flex"), (False, "priority")} <= set(oc)
    audio = o.expected_totals("completions", o.first_day_ts, o.end_ts, ("model",))
    assert audio[("gpt-4o-audio-preview-2024-12-17",)]["output_audio_tokens"] > 0
    assert all(v["input_cached_tokens"] <= v["input_tokens"] for v in audio.values())


def test_usage_and_costs_agree_on_tokens(usage_report_standins):
    o = usage_report_standins["openai"].dataset
    start, end = o.first_day_ts, o.end_ts
    usage = o.expected_totals("completions", start, end, ("model",))
    costs = o.expected_totals("costs", start, end, ("line_item",))
    for (model,), u in usage.items():
        assert costs[(f"{model}, input",)]["quantity"] == u["input_tokens"]
        assert costs[(f"{model}, output",)]["quantity"] == u["output_tokens"]


# ---------------------------------------------------------------------------------------------------------------
# Query details

def test_openai_array_encodings_are_equivalent(usage_report_standins):
    s = usage_report_standins["openai"]
    ep = ENDPOINTS["openai"]["completions"]
    start, end = span(s, days=10)
    key = s.dataset.keys[1]["id"]
    bodies = []
    for enc in ("repeat", "brackets"):
        params = time_params("openai", start, end) + [("limit", "31")] + \
            array("openai", "group_by", ["model", "api_key_id"], enc) + \
            array("openai", "models", s.dataset.models[:2], enc) + array("openai", "api_key_ids", [key], enc)
        r = get(s, ep.path, params)
        assert r.status_code == 200
        bodies.append(r.json())
        assert s.recorded()[-1].array_encoding == enc
        assert s.recorded()[-1].query["group_by"] == ["model", "api_key_id"]
        assert s.recorded()[-1].query["models"] == s.dataset.models[:2]
        assert s.recorded()[-1].key == OAI_KEY
    assert bodies[0] == bodies[1]
    got = union("openai", ep, bodies[0]["data"], ("model", "api_key_id"))
    assert got == s.expected_totals("completions", start, end, ("model", "api_key_id"),
                                    models=s.dataset.models[:2], api_key_ids=[key])
    assert {k[1] for k in got} == {key} and {k[0] for k in got} == set(s.dataset.models[:2])


def test_anthropic_bare_and_bracket_arrays_are_equivalent(usage_report_standins):
    s = usage_report_standins["anthropic"]
    ep = ENDPOINTS["anthropic"]["messages"]
    start, end = span(s, days=5)
    ws = s.dataset.projects[0]["id"]
    bodies = []
    for enc in ("brackets", "repeat"):
        params = time_params("anthropic", start, end) + array("anthropic", "group_by", ["workspace_id", "model"], enc) \
            + array("anthropic", "workspace_ids", [ws], enc) + array("anthropic", "models", s.dataset.models[:1], enc)
        r = get(s, ep.path, params)
        assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
        bodies.append(r.json())
    assert bodies[0] == bodies[1]
    got = union("anthropic", ep, bodies[0]["data"], ("workspace_id", "model"))
    assert set(got) == {(ws, s.dataset.models[0])}
    assert got == s.expected_totals("messages", start, end, ("workspace_id", "model"), workspace_ids=[ws],
                                    models=s.dataset.models[:1])


def test_filters_batch_and_projects(usage_report_standins):
    s = usage_report_standins["openai"]
    start, end = span(s, days=7)
    pid = s.dataset.projects[1]["id"]
    r = get(s, "/v1/organization/usage/completions", time_params("openai", start, end) +
            [("batch", "true"), ("project_ids", pid), ("group_by", "batch"), ("group_by", "project_id")])
    got = union("openai", ENDPOINTS["openai"]["completions"], r.json()["data"], ("batch", "project_id"))
    assert set(got) == {(True, pid)}
    assert got == s.expected_totals("completions", start, end, ("batch", "project_id"), batch=True, project_ids=[pid])


def test_group_by_leaves_other_keys_null(usage_report_standins):
    for provider, name in (("openai", "completions"), ("openai", "costs"), ("anthropic", "messages"),
                           ("anthropic", "cost")):
        s = usage_report_standins[provider]
        ep = ENDPOINTS[provider][name]
        start, end = span(s, days=3)
        r = get(s, ep.path, time_params(provider, start, end))
        rows = [row for b in r.json()["data"] for row in b["results"]]
        assert all(len(b["results"]) == 1 for b in r.json()["data"])  # no group_by: one aggregate row per bucket
        for row in rows:
            for dim in ep.dims:
                if dim == "speed":
                    assert "speed" not in row
                    continue
                assert row[dim] is None, (name, dim)
            if name == "costs":
                assert row["quantity"] is None and row["amount"]["currency"] == "usd"
            if name == "cost":
                assert row["currency"] == "USD" and isinstance(row["amount"], str)
                assert all(row[f] is None for f in ("cost_type", "model", "token_type", "service_tier",
                                                    "context_window"))
        grouped = "model" if name in ("completions", "messages") else ("line_item" if name == "costs" else
                                                                       "description")
        r = get(s, ep.path, time_params(provider, start, end) + array(provider, "group_by", [grouped]))
        for row in (row for b in r.json()["data"] for row in b["results"]):
            assert row[grouped] is not None
            assert all(row[d] is None for d in ep.dims if d not in (grouped, "speed"))
            if name == "costs":
                assert isinstance(row["quantity"], int) and row["quantity_unit"] == "tokens"
            if name == "cost":
                assert row["model"] in s.dataset.models and row["cost_type"] in ("tokens", "web_search")


def test_result_fields_and_types(usage_report_standins):
    s = usage_report_standins["openai"]
    start, end = span(s, days=2)
    body = get(s, "/v1/organization/usage/completions", time_params("openai", start, end)).json()
    assert body["object"] == "page" and set(body) == {"object", "data", "has_more", "next_page"}
    b = body["data"][0]
    assert b["object"] == "bucket" and b["end_time"] - b["start_time"] == DAY
    row = b["results"][0]
    assert row["object"] == "organization.usage.completions.result"
    for f in ("input_tokens", "input_cached_tokens", "output_tokens", "input_audio_tokens", "output_audio_tokens",
              "num_model_requests"):
        assert isinstance(row[f], int)
    a = usage_report_standins["anthropic"]
    body = get(a, "/v1/organizations/usage_report/messages", time_params("anthropic", start, end)).json()
    assert set(body) == {"data", "has_more", "next_page"}
    row = body["data"][0]["results"][0]
    assert set(row["cache_creation"]) == {"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"}
    assert set(row["server_tool_use"]) == {"web_search_requests"}
    assert body["data"][0]["starting_at"].endswith("T00:00:00Z")


def test_cost_amounts_are_exact_decimals(usage_report_standins):
    s = usage_report_standins["openai"]
    start, end = span(s)
    r = get(s, "/v1/organization/costs", time_params("openai", start, end) + [("limit", "180"),
                                                                              ("group_by", "line_item")])
    text = r.text
    body = loads_exact(r.content)
    values = [row["amount"]["value"] for b in body["data"] for row in b["results"]]
    assert values and all(isinstance(v, Decimal) and -v.as_tuple().exponent <= 6 for v in values)
    assert any(-v.as_tuple().exponent == 6 for v in values)  # the full 6 decimals are exercised
    assert "e-" not in text and "E-" not in text
    for v in values:
        assert f'"value":{v}' in text  # emitted as the literal, not through a float repr
    a = usage_report_standins["anthropic"]
    buckets, _ = page_through(a, "/v1/organizations/cost_report", time_params("anthropic", start, end))
    cents = [row["amount"] for b in buckets for row in b["results"]]
    assert cents and all(isinstance(c, str) and Decimal(c) == Decimal(c).normalize() for c in cents)
    total = sum(Decimal(c) for c in cents) / 100
    assert total == a.expected_totals("cost", start, end)[()]["amount"]


def test_hourly_and_minute_buckets(usage_report_standins):
    s = usage_report_standins["anthropic"]
    day = s.dataset.end_ts - DAY
    buckets, pages = page_through(s, "/v1/organizations/usage_report/messages",
                                  time_params("anthropic", day, day + DAY) + [("bucket_width", "1h")])
    assert len(buckets) == 24 and pages == 1  # default limit 24 for 1h
    got = union("anthropic", ENDPOINTS["anthropic"]["messages"], buckets, ())
    assert got == s.expected_totals("messages", day, day + DAY)  # hours add up to the day
    o = usage_report_standins["openai"]
    buckets, pages = page_through(o, "/v1/organization/usage/completions",
                                  time_params("openai", day, day + 6 * 3600) + [("bucket_width", "1m"),
                                                                                ("limit", "1440")])
    assert len(buckets) == 360 and pages == 1
    assert sum(1 for b in buckets if b["results"]) <= 6  # usage sits at one minute per hour
    got = union("openai", ENDPOINTS["openai"]["completions"], buckets, ())
    assert got == o.expected_totals("completions", day, day + 6 * 3600, bucket_width="1h")


def test_start_is_snapped_and_partial_end_bucket_included(usage_report_standins):
    s = usage_report_standins["openai"]
    day = s.dataset.end_ts - 3 * DAY
    body = get(s, "/v1/organization/usage/completions",
               [("start_time", str(day + 5000)), ("end_time", str(day + DAY + 10))]).json()
    assert [b["start_time"] for b in body["data"]] == [day, day + DAY]
    a = usage_report_standins["anthropic"]
    body = get(a, "/v1/organizations/usage_report/messages", [("starting_at", rfc3339(day + 5000))]).json()
    assert body["data"][0]["starting_at"] == rfc3339(day)  # no ending_at: up to now (today's bucket included)
    assert len(body["data"]) == 3 and body["has_more"] is False


# ---------------------------------------------------------------------------------------------------------------
# Validation errors

@pytest.mark.parametrize("provider,path,params,param", [
    ("openai", "/v1/organization/usage/completions", [("limit", "32")], "limit"),
    ("openai", "/v1/organization/usage/completions", [("bucket_width", "1h"), ("limit", "169")], "limit"),
    ("openai", "/v1/organization/usage/embeddings", [("bucket_width", "1m"), ("limit", "1441")], "limit"),
    ("openai", "/v1/organization/costs", [("limit", "181")], "limit"),
    ("openai", "/v1/organization/costs", [("bucket_width", "1h")], "bucket_width"),
    ("openai", "/v1/organization/usage/completions", [("bucket_width", "2d")], "bucket_width"),
    ("openai", "/v1/organization/usage/completions", [("group_by", "workspace_id")], "group_by"),
    ("openai", "/v1/organization/usage/embeddings", [("group_by[]", "batch")], "group_by"),
    ("openai", "/v1/organization/costs", [("group_by", "model")], "group_by"),
    ("openai", "/v1/organization/usage/completions", [("page", "page_garbage")], "page"),
    ("openai", "/v1/organization/usage/completions", None, "start_time"),
    ("anthropic", "/v1/organizations/usage_report/messages", [("limit", "32")], "limit"),
    ("anthropic", "/v1/organizations/usage_report/messages", [("bucket_width", "1h"), ("limit", "169")], "limit"),
    ("anthropic", "/v1/organizations/cost_report", [("limit", "32")], "limit"),
    ("anthropic", "/v1/organizations/cost_report", [("bucket_width", "1h")], "bucket_width"),
    ("anthropic", "/v1/organizations/usage_report/messages", [("group_by[]", "project_id")], "group_by"),
    ("anthropic", "/v1/organizations/cost_report", [("group_by[]", "api_key_id")], "group_by"),
    ("anthropic", "/v1/organizations/usage_report/messages", None, "starting_at"),
])
def test_invalid_queries_answer_400(usage_report_standins, provider, path, params, param):
    s = usage_report_standins[provider]
    start, end = span(s, days=3)
    query = time_params(provider, start, end) + params if params is not None else [("limit", "1")]
    r = get(s, path, query)
    assert r.status_code == 400, r.text
    body = r.json()
    if provider == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] == "invalid_request_error" and body["error"]["param"] == param
    else:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert param in body["error"]["message"] and body["request_id"] == r.headers["request-id"]


def test_anthropic_needs_version_header_and_rfc3339(usage_report_standins):
    s = usage_report_standins["anthropic"]
    r = get(s, "/v1/organizations/usage_report/messages", [("starting_at", "2026-01-01T00:00:00Z")],
            headers={"x-api-key": ANT_KEY})
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]
    r = get(s, "/v1/organizations/usage_report/messages", [("starting_at", "1767225600")])
    assert r.status_code == 400


# ---------------------------------------------------------------------------------------------------------------
# Authentication and faults

def test_keys_and_revocation(usage_report_standins):
    o, a = usage_report_standins["openai"], usage_report_standins["anthropic"]
    start, end = span(o, days=1)
    ok = get(o, "/v1/organization/usage/completions", time_params("openai", start, end))
    assert ok.status_code == 200 and ok.headers["x-request-id"].startswith("req_")
    r = get(o, "/v1/organization/usage/completions", time_params("openai", start, end),
            headers={"Authorization": "Bearer sk-proj-notadmin"})
    assert r.status_code == 401 and "Missing scopes" in r.json()["error"]["message"]
    o.revoke(OAI_KEY)
    r = get(o, "/v1/organization/costs", time_params("openai", start, end))
    assert r.status_code == 401
    assert r.json() == {"error": {"message": r.json()["error"]["message"], "type": "invalid_request_error",
                                  "param": None, "code": "invalid_api_key"}}
    assert r.json()["error"]["message"].startswith("Incorrect API key provided: sk-") and OAI_KEY not in r.text
    assert get(o, "/v1/organization/projects", [("limit", "1")]).status_code == 401  # from then on, everywhere
    assert o.counters["unauthorized"] == 3

    assert get(a, "/v1/organizations/me", []).status_code == 200
    r = get(a, "/v1/organizations/me", [],
            headers={"x-api-key": "sk-ant-api03-normal", "anthropic-version": "2023-06-01"})
    assert r.status_code == 401
    a.revoke(ANT_KEY)
    r = get(a, "/v1/organizations/usage_report/messages", time_params("anthropic", start, end))
    assert r.status_code == 401
    assert r.json() == {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                        "request_id": r.headers["request-id"]}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_rate_limit_carries_retry_after_then_recovers(usage_report_standins, provider):
    s = usage_report_standins[provider]
    ep = ENDPOINTS[provider]["completions" if provider == "openai" else "messages"]
    other = ENDPOINTS[provider]["costs" if provider == "openai" else "cost"]
    start, end = span(s, days=2)
    s.rate_limit(times=2, retry_after=7, path=ep.path)
    assert get(s, other.path, time_params(provider, start, end)).status_code == 200  # other paths unaffected
    for _ in range(2):
        r = get(s, ep.path, time_params(provider, start, end))
        assert r.status_code == 429 and r.headers["Retry-After"] == "7"
        body = r.json()
        if provider == "openai":
            assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["type"] == "requests"
            assert r.headers["x-ratelimit-remaining-requests"] == "0"
        else:
            assert body["error"]["type"] == "rate_limit_error" and body["request_id"] == r.headers["request-id"]
            assert "anthropic-ratelimit-requests-reset" in r.headers
    assert get(s, ep.path, time_params(provider, start, end)).status_code == 200
    assert s.counters["rate_limit"] == 2
    assert [r.status for r in s.recorded(ep.path)] == [429, 429, 200]
    assert [r.fault for r in s.recorded(ep.path)] == ["rate_limit", "rate_limit", None]


def test_server_errors(usage_report_standins):
    o, a = usage_report_standins["openai"], usage_report_standins["anthropic"]
    start, end = span(o, days=1)
    o.server_error(times=1)
    r = get(o, "/v1/organization/usage/completions", time_params("openai", start, end))
    assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    assert get(o, "/v1/organization/usage/completions", time_params("openai", start, end)).status_code == 200
    a.overloaded(times=1)
    a.server_error(times=1, status=503)
    a.server_error(times=1)
    statuses = []
    for _ in range(4):
        r = get(a, "/v1/organizations/usage_report/messages", time_params("anthropic", start, end))
        statuses.append((r.status_code, r.json().get("error", {}).get("type")))
    assert statuses == [(529, "overloaded_error"), (503, "overloaded_error"), (500, "api_error"), (200, None)]


def test_hang_makes_the_client_time_out(usage_report_standins):
    s = usage_report_standins["openai"]
    start, end = span(s, days=1)
    s.hang(1.5, path="/v1/organization/costs")
    t = time.time()
    with pytest.raises(requests.Timeout):
        get(s, "/v1/organization/costs", time_params("openai", start, end), timeout=0.3)
    assert time.time() - t < 1.2
    assert get(s, "/v1/organization/costs", time_params("openai", start, end)).status_code == 200
    assert s.counters["hung"] == 1


def test_malformed_pages(usage_report_standins):
    s = usage_report_standins["openai"]
    path = "/v1/organization/usage/completions"
    start, end = span(s, days=20)
    params = time_params("openai", start, end) + [("limit", "5")]
    s.malformed(path, page=2, kind="truncated")
    first = get(s, path, params).json()
    r = get(s, path, params + [("page", first["next_page"])])
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    again = get(s, path, params + [("page", first["next_page"])])  # a retry gets the good page
    assert again.json()["has_more"] is True
    assert [x.page for x in s.recorded(path)] == [1, 2, 2] and s.recorded(path)[1].fault == "malformed"

    a = usage_report_standins["anthropic"]
    apath = "/v1/organizations/usage_report/messages"
    a.malformed(apath, page=1, kind="missing_field", field="result:output_tokens")
    a.malformed(apath, page=1, kind="missing_field", field="has_more")
    aparams = time_params("anthropic", start, end)
    body = get(a, apath, aparams).json()
    rows = [row for b in body["data"] for row in b["results"]]
    assert rows and all("output_tokens" not in row for row in rows)
    assert "has_more" not in get(a, apath, aparams).json()
    assert "has_more" in get(a, apath, aparams).json()
    assert a.counters["malformed"] == 2


def test_bump_changes_recent_buckets_only(usage_report_standins):
    s = usage_report_standins["anthropic"]
    path = "/v1/organizations/usage_report/messages"
    start, end = span(s, days=10)
    params = time_params("anthropic", start, end) + [("limit", "31"), ("group_by[]", "model")]
    before = get(s, path, params).json()["data"]
    expected_before = s.expected_totals("messages", start, end, ("model",))
    s.bump(days_back=3)
    after = get(s, path, params).json()["data"]
    assert [b["starting_at"] for b in before] == [b["starting_at"] for b in after]
    assert before[:7] == after[:7]
    for b, c in zip(before[7:], after[7:]):
        assert b != c
        assert union("anthropic", ENDPOINTS["anthropic"]["messages"], [c], ("model",)) != \
            union("anthropic", ENDPOINTS["anthropic"]["messages"], [b], ("model",))
    expected_after = s.expected_totals("messages", start, end, ("model",))
    assert union("anthropic", ENDPOINTS["anthropic"]["messages"], after, ("model",)) == expected_after
    assert expected_after != expected_before  # a re-sync must replace the last days, not add to them
    cost_before = s.expected_totals("cost", end - 3 * DAY, end)[()]["amount"]
    s.bump(days_back=1)
    assert s.expected_totals("cost", end - 3 * DAY, end - DAY) == s.expected_totals("cost", end - 3 * DAY,
                                                                                    end - DAY)
    assert s.expected_totals("cost", end - 3 * DAY, end)[()]["amount"] > cost_before


# ---------------------------------------------------------------------------------------------------------------
# Listings, request log, SDKs

def test_openai_listings(usage_report_standins):
    s = usage_report_standins["openai"]
    r = get(s, "/v1/organization/projects", [("limit", "1")]).json()
    assert r["object"] == "list" and r["has_more"] is True and r["data"][0]["object"] == "organization.project"
    r2 = get(s, "/v1/organization/projects", [("limit", "1"), ("after", r["last_id"])]).json()
    assert r2["has_more"] is False and r2["data"][0]["id"] == s.dataset.projects[1]["id"]
    keys = get(s, f"/v1/organization/projects/{s.dataset.projects[0]['id']}/api_keys", []).json()
    assert [k["id"] for k in keys["data"]] == [k["id"] for k in s.dataset.keys[:2]]
    assert all(k["object"] == "organization.project.api_key" and k["redacted_value"] for k in keys["data"])
    assert get(s, "/v1/organization/projects/proj_nope/api_keys", []).status_code == 404


def test_anthropic_listings(usage_report_standins):
    s = usage_report_standins["anthropic"]
    r = get(s, "/v1/organizations/workspaces", [("limit", "1")]).json()
    assert r["has_more"] is True and r["first_id"] == r["last_id"] == r["data"][0]["id"]
    assert r["data"][0]["type"] == "workspace"
    r2 = get(s, "/v1/organizations/workspaces", [("limit", "1"), ("after_id", r["last_id"])]).json()
    assert r2["has_more"] is False and r2["data"][0]["id"] == s.dataset.projects[1]["id"]
    keys = get(s, "/v1/organizations/api_keys", [("limit", "100")]).json()["data"]
    assert len(keys) == 5 and all(k["type"] == "api_key" for k in keys)
    assert [k["workspace_id"] for k in keys].count(None) == 1  # the default workspace's key
    ws = s.dataset.projects[0]["id"]
    assert len(get(s, "/v1/organizations/api_keys", [("workspace_id", ws)]).json()["data"]) == 2
    me = get(s, "/v1/organizations/me", []).json()
    assert me["type"] == "organization" and me["id"] and me["name"]


def test_request_log_shows_each_bucket_fetch(usage_report_standins):
    s = usage_report_standins["openai"]
    path = "/v1/organization/usage/completions"
    start, end = span(s, days=14)
    s.clear()
    page_through(s, path, time_params("openai", start, end) + [("group_by[]", "model")])
    log = s.recorded(path)
    assert [r.page for r in log] == [1, 2] and all(r.key == OAI_KEY and r.key_header == "authorization" for r in log)
    assert all(r.query["start_time"] == str(start) and r.query["group_by"] == ["model"] for r in log)
    assert "page" not in log[0].query and log[1].query["page"].startswith("page_")
    assert s.hits(path) == 2 and s.counters["requests"] == 2


def test_openai_sdk_parses_the_stand_in(usage_report_standins):
    s = usage_report_standins["openai"]
    client = openai.OpenAI(admin_api_key=OAI_KEY, api_key="sk-unused", base_url=s.url + "/v1", max_retries=0)
    start, end = span(s, days=9)
    usage = client.admin.organization.usage
    seen = collections.Counter()
    page = None
    while True:
        resp = usage.completions(start_time=start, end_time=end, group_by=["model", "project_id"], limit=4,
                                 **({"page": page} if page else {}))
        for b in resp.data:
            for row in b.results:
                seen[(row.model, row.project_id)] += row.input_tokens
        if not resp.has_more:
            break
        page = resp.next_page
    assert s.recorded()[-1].array_encoding == "brackets"  # the SDK's encoding
    expected = s.expected_totals("completions", start, end, ("model", "project_id"))
    assert dict(seen) == {k: v["input_tokens"] for k, v in expected.items()}
    costs = usage.costs(start_time=start, end_time=end, group_by=["line_item"], limit=31)
    assert costs.data[0].results[0].object == "organization.costs.result"
    total = sum(Decimal(str(r.amount.value)) for b in costs.data for r in b.results)
    assert abs(total - s.expected_totals("costs", start, end)[()]["amount"]) < Decimal("0.00001")
    for name in OAI_USAGE[1:]:
        resp = getattr(usage, name)(start_time=start, end_time=end, limit=31)
        assert resp.data[-1].results[0].object == f"organization.usage.{name}.result"
    assert [p.id for p in client.admin.organization.projects.list(limit=1)] == [p["id"] for p in s.dataset.projects]
    keys = client.admin.organization.projects.api_keys.list(project_id=s.dataset.projects[0]["id"])
    assert [k.name for k in keys] == ["Key 1.1", "Key 1.2"]
    s.revoke(OAI_KEY)
    with pytest.raises(openai.AuthenticationError) as e:
        usage.completions(start_time=start)
    assert e.value.code == "invalid_api_key"


def test_anthropic_sdk_parses_the_stand_in(usage_report_standins):
    s = usage_report_standins["anthropic"]
    # anthropic 2.12 sends api_key as `Authorization: Bearer`; the stand-in accepts it and logs key_header.
    client = anthropic.Anthropic(api_key=ANT_KEY, base_url=s.url, max_retries=0)
    assert client.organization.retrieve().type == "organization"
    assert [w.id for w in client.organization.workspaces.list(limit=1)] == [w["id"] for w in s.dataset.projects]
    assert len(list(client.organization.api_keys.list(limit=2))) == 5
    assert s.recorded()[-1].key_header == "authorization"
    # No SDK method for the messages usage report / cost report: its generic GET (brackets arrays) instead.
    start, end = span(s, days=4)
    body = client.get("/v1/organizations/usage_report/messages", cast_to=object, options={"params": {
        "starting_at": rfc3339(start), "ending_at": rfc3339(end), "group_by": ["model", "workspace_id"]}})
    assert s.recorded()[-1].array_encoding == "brackets"
    got = union("anthropic", ENDPOINTS["anthropic"]["messages"], body["data"], ("model", "workspace_id"))
    assert got == s.expected_totals("messages", start, end, ("model", "workspace_id"))
    s.rate_limit(times=1, retry_after=3)
    with pytest.raises(anthropic.RateLimitError) as e:
        client.organization.retrieve()
    assert e.value.response.headers["retry-after"] == "3"


# ---------------------------------------------------------------------------------------------------------------
# The large benchmark dataset

def test_large_dataset_answers_pages_fast(usage_report_standins):
    for provider, path, group_by in (("openai", "/v1/organization/usage/completions", ["model", "project_id"]),
                                     ("anthropic", "/v1/organizations/usage_report/messages", ["model"])):
        t = time.time()
        s = usage_report_standins.start(provider, **LARGE)
        d = s.dataset
        assert (d.days, len(d.models), len(d.projects)) == (90, 50, 20)
        start, end = d.first_day_ts, d.end_ts
        params = time_params(provider, start, end) + [("limit", "31")] + array(provider, "group_by", group_by)
        buckets, pages = page_through(s, path, params)
        first = time.time() - t
        assert len(buckets) == 90 and pages == 3
        t = time.time()
        buckets, pages = page_through(s, path, time_params(provider, start, end) + [("limit", "31")])
        later = time.time() - t
        assert later < 0.5, later  # aggregates are cached: a page in milliseconds
        assert first < 30, first
        ep = ENDPOINTS[provider]["completions" if provider == "openai" else "messages"]
        assert union(provider, ep, buckets, ()) == s.expected_totals(ep.name, start, end)


def test_cost_results_are_answered_with_their_literal_amounts(usage_report_standins):
    """`cost_results`: the cost report answers exactly the given rows in their bucket and none elsewhere, a Number's
    literal text unquoted and unrounded (a float would print 0.012345678901234568), a string as a string."""
    s = usage_report_standins["openai"]
    d = s.dataset.end_ts - 3 * DAY
    rows = [{"object": "organization.costs.result", "amount": {"value": Number("0.0123456789012345678"), "currency": "usd"},
             "line_item": "gpt-4o, input", "project_id": None},
            {"object": "organization.costs.result", "amount": {"value": "0.0000000005", "currency": "usd"},
             "line_item": "gpt-4o, output", "project_id": None},
            {"object": "organization.costs.result", "amount": {"value": Number("1.5e-3"), "currency": "usd"},
             "line_item": None, "project_id": None}]
    s.cost_results = {d: rows}
    r = get(s, ENDPOINTS["openai"]["costs"].path, [("start_time", d - DAY), ("end_time", d + 2 * DAY)])
    assert r.status_code == 200, r.text
    assert b'"value":0.0123456789012345678,' in r.content and b'"value":"0.0000000005",' in r.content
    assert b'"value":1.5e-3,' in r.content
    body = loads_exact(r.content)
    assert [b["start_time"] for b in body["data"]] == [d - DAY, d, d + DAY]
    assert [len(b["results"]) for b in body["data"]] == [0, 3, 0]
    assert body["data"][1]["results"][0]["amount"]["value"] == Decimal("0.0123456789012345678")
