"""The performance report end to end (issue 20), against a real `tally serve`:

- gateway events with known latencies: the stand-in upstream holds its first byte 0.15 s for ten calls and 0.6 s for
  ten more (the official OpenAI SDK through the gateway); the report's p50 and p95 fall in those bands, and streamed
  calls get a time to first token;
- ingested events with exact `latency_ms`, `time_to_first_token_ms` and `retries`: every percentile is the
  nearest-rank one within the documented 0.79 %, success rate and retries exact, per group and per team;
- bad parameters are 400 naming them. (Other organizations' events: Tests/TallyStoreContractTests.)"""
import tempfile
from decimal import Decimal

import pytest
import requests

from conftest import AccountsTally, assert_error, bearer
from test_gateway import OPENAI_MODEL, Gateway

SLOW, FAST = 0.6, 0.15


@pytest.fixture(scope="module")
def perf_server():
    d = tempfile.TemporaryDirectory()
    t = AccountsTally(d.name, None, {"TALLY_SYNC_INTERVAL": "off"})
    admin = t.token("ops", "admin")
    yield t, t.serve(), admin
    t.stop_all()
    d.cleanup()


def report(api, query):
    r = api("GET", "/api/v1/usage/performance?" + query)
    assert r.status_code == 200, r.text
    return r.json()


def nearest_rank(values, percent):
    ordered = sorted(values)
    rank = max(1, (percent * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def within(got, exact):
    return abs(got - exact) * 128 <= exact


def test_gateway_latencies_land_in_the_report(perf_server, upstream_standins):
    tally, server, admin = perf_server
    gw = Gateway(tally, server, admin, upstream_standins)
    gw.point_connections()
    openai_standin = next(s for s in upstream_standins if s.provider == "openai")
    client = gw.openai()
    for delay in [FAST] * 10 + [SLOW] * 10:
        openai_standin.slow(first_byte=delay)
        client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}])
    for _ in range(4):
        list(client.chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}],
                                            stream=True, stream_options={"include_usage": True}))
    gw.events(24)
    body = report(gw.api, f"from=2026-01-01&group_by=project,provider&project={gw.project}")
    assert body["percentile_relative_error"] == "0.79%"
    [group] = body["groups"]
    assert (group["project"], group["provider"], group["requests"], group["errors"]) == (gw.project, "openai", 24, 0)
    assert group["success_rate_percent"] == "100.0"
    latency = group["latency_ms"]
    assert latency["samples"] == 24
    # 24 calls: 14 fast (the 10 paced ones and the 4 streamed), 10 slow. Nearest-rank p50 is the 12th: a fast one;
    # p95 is the 23rd: a slow one. The gateway's own time is small beside the delays.
    assert FAST * 1000 <= latency["p50"] < SLOW * 1000, latency
    assert SLOW * 1000 * (1 - 1 / 128) <= latency["p95"] < SLOW * 1000 + 1500, latency
    assert latency["p99"] >= latency["p95"] >= latency["p50"]
    ttft = group["time_to_first_token_ms"]
    assert ttft is not None and ttft["samples"] >= 4


def test_exact_latencies_give_nearest_rank_percentiles_per_group_and_team(perf_server):
    tally, server, admin = perf_server
    api = lambda m, p, **kw: requests.request(m, server.url + p, headers=bearer(admin), timeout=60, **kw)  # noqa: E731
    for name in ("perf-a", "perf-b"):
        assert api("POST", "/api/v1/projects", json={"name": name}).status_code in (201, 409)
    assert api("POST", "/api/v1/teams", json={"name": "Perf team", "projects": ["perf-a"]}).status_code == 201
    events, latencies = [], {"perf-a": [], "perf-b": []}
    for i in range(300):
        project = "perf-a" if i % 3 else "perf-b"
        latency = 5 + (i * 37) % 4000  # 5 ms … 4 s, spread
        latencies[project].append(latency)
        e = {"id": f"perf-{i}", "timestamp": f"2026-11-20T10:{i % 60:02d}:00Z", "provider": "anthropic",
             "model": "claude-sonnet-4-5", "project": project, "input_tokens": 10, "output_tokens": 1,
             "latency_ms": latency, "status": "error" if i % 25 == 0 else "success"}
        if i % 2 == 0:
            e["time_to_first_token_ms"] = latency // 3 + 1
        if i % 10 == 0:
            e["retries"] = 3
        events.append(e)
    r = api("POST", "/api/v1/events", json=events)
    assert r.status_code == 200 and r.json()["accepted"] == 300, r.text

    body = report(api, "from=2026-11-20&to=2026-11-21&group_by=project"
                  "&provider=anthropic")
    groups = {g["project"]: g for g in body["groups"]}
    assert set(groups) == {"perf-a", "perf-b"}
    for project, values in latencies.items():
        g = groups[project]
        assert g["latency_ms"]["samples"] == len(values) == g["requests"]
        for p in (50, 95, 99):
            assert within(g["latency_ms"][f"p{p}"], nearest_rank(values, p)), (project, p, g["latency_ms"])
    t = body["totals"]
    assert t["requests"] == 300 and t["errors"] == 12 and t["retries"] == 90
    assert Decimal(t["success_rate_percent"]) == Decimal("96.0")
    assert within(t["latency_ms"]["p50"], nearest_rank(latencies["perf-a"] + latencies["perf-b"], 50))
    ttfts = [e["time_to_first_token_ms"] for e in events if "time_to_first_token_ms" in e]
    assert t["time_to_first_token_ms"]["samples"] == 150
    assert within(t["time_to_first_token_ms"]["p95"], nearest_rank(ttfts, 95))

    by_team = report(api,
                     "from=2026-11-20&to=2026-11-21&group_by=team&provider=anthropic")
    teams = {g["team"]: g for g in by_team["groups"]}
    assert teams["Perf team"]["requests"] == 200 and teams[None]["requests"] == 100
    assert within(teams["Perf team"]["latency_ms"]["p95"], nearest_rank(latencies["perf-a"], 95))

    # A range without events has no groups and no percentiles (not zeros).
    empty = report(api, "from=2001-01-01&to=2001-01-02")
    assert empty["groups"] == [] and empty["totals"]["latency_ms"] is None

    for query, field in [("group_by=environment", "group_by"), ("environment=prod", "environment"),
                         ("from=2026-11-21&to=2026-11-20", "from"), ("from=nonsense", "from"), ("surprise=1", "surprise")]:
        r = api("GET", "/api/v1/usage/performance?" + query)
        assert_error(r, 400)
        assert field in r.text
