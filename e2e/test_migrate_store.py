"""`tally migrate-store --from <sqlite file> --to postgres://…` against real `tally serve` processes (issue 24).

A realistic SQLite site (an owner, a member and an invite, projects, tokens of every scope and a revoked one, ~2,300
events from the API, `tally import` and the gateway, a team, budgets, alert channels, a policy and its hits, a
safety filter, an own price, alerts, insights, a closed month, a provider key in the vault) is moved into a fresh
PostgreSQL database; `tally serve` on it, with the SQLite data directory's master key, answers every read of the API
exactly as the SQLite server did, takes the old session, the old tokens (not the revoked one) and the old password,
and goes on storing events, policy hits and gateway calls. A move into a database holding data needs --resume; an
interrupted move is finished by --resume; a `tally serve` on the SQLite file keeps reading, and loses nothing it
acknowledged, while the copy runs."""
import datetime
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

import clock
from standins.alert_receivers import SlackStandIn, WebhookReceiver
from conftest import (ADMIN_EMAIL, BIN, PG_URL, AccountsTally, Browser, Tally, all_event_ids,
                      assert_error, bearer, event, fresh_postgres_url, signed_in, tally_cli, wait_until)

pytestmark = pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")

COPIED = re.compile(r"^(\w+)\t(\d+) rows copied$")
MONEY = re.compile(r"^(money\.\w+\.\w+)\tsource (-?\d+)\ttarget (-?\d+)$")
MOVED = re.compile(r"^moved: (\d+) counts and sums equal on both sides$")
IMPORTED = re.compile(r"^imported (\d+) events from (\d+) lines: (\d+) already stored, (\d+) invalid$")


# -- the command, and both stores read directly -------------------------------------------------------------------

def command_env():
    """The caller's environment without any TALLY_ setting that could point the command elsewhere (the test clock
    stays: every tally process reads it)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("TALLY_") or k == "TALLY_CLOCK_OFFSET_SECONDS"}


def migrate_store(source, target, *extra, timeout=240):
    return subprocess.run([BIN, "migrate-store", "--from", source, "--to", target, *extra], capture_output=True,
                          text=True, timeout=timeout, env=command_env())


def parse_move(stdout):
    """stdout of a successful move: {"copied": {table: rows} in order, "money": {name: (source, target)}, "checks"}."""
    copied, money, checks = {}, {}, None
    lines = stdout.strip().splitlines()
    for n, line in enumerate(lines):
        if m := COPIED.match(line):
            assert not money and checks is None, f"a copied line after the checks: {stdout}"
            assert m.group(1) not in copied, f"{m.group(1)} copied twice: {stdout}"
            copied[m.group(1)] = int(m.group(2))
        elif m := MONEY.match(line):
            money[m.group(1)] = (m.group(2), m.group(3))
        elif m := MOVED.match(line):
            assert n == len(lines) - 1, f"the moved line is not the last: {stdout}"
            checks = int(m.group(1))
        else:
            raise AssertionError(f"unexpected line {line!r} in: {stdout}")
    assert checks is not None, stdout
    return {"copied": copied, "money": money, "checks": checks}


# Reported bug: StoreMove.run starts `PostgresClient.run()` in a child task and leases a connection at once, so now
# and then (about one run in ten) PostgresNIO logs this on stderr, before any "tally: " line or on a successful move.
# Tolerated here, so the tests do not flake on it.
NOT_RUN_YET = re.compile(r"^\S+ warning tally: \[PostgresNIO\] Trying to lease connection from `PostgresClient`, "
                         r"but `PostgresClient\.run\(\)` hasn't been called yet\.$")


def stderr_lines(stderr):
    return [line for line in stderr.strip().splitlines() if not NOT_RUN_YET.match(line)]


def error_lines(stderr):
    lines = stderr_lines(stderr)
    assert lines and all(line.startswith("tally: ") for line in lines), stderr
    return lines


def psql(url, sql):
    parts = urllib.parse.urlsplit(url)
    r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname,
                        "-p", str(parts.port), "-U", parts.username or "postgres", "-d", parts.path.lstrip("/"),
                        "-c", sql], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines()]


# PostgreSQL's own bookkeeping of its monthly event partitions: the event keys (checked apart) and the progress of
# converting an older events table. The partitions themselves are read through their parent, `usage_events`.
POSTGRES_ONLY = ("schema_migrations", "usage_event_keys", "usage_events_partitioning")


def pg_tables(url):
    return [row[0] for row in psql(url, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                        "c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
                                        "AND NOT c.relispartition AND c.relname NOT IN "
                                        f"({', '.join(repr(t) for t in POSTGRES_ONLY)}) ORDER BY 1")]


def pg_fingerprint(url):
    """{table: (rows, md5 of every row as text, in order)} for every table of the PostgreSQL store."""
    parts = [f"SELECT '{t}', COUNT(*), md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
             for t in pg_tables(url)]
    return {t: (int(n), digest) for t, n, digest in psql(url, " UNION ALL ".join(parts))}


def pg_counts(url):
    return {t: n for t, (n, _) in pg_fingerprint(url).items()}


def pg_event_ids(url):
    return {row[0] for row in psql(url, "SELECT event_id FROM usage_events")}


def sqlite_counts(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                          "'sqlite_%' AND name <> 'schema_migrations'")]
        return {n: db.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}
    finally:
        db.close()


def sqlite_money(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS TEXT) FROM {t}").fetchone()[0]
                for t in ("usage_events", "usage_rollup_hourly", "usage_rollup_daily")}
    finally:
        db.close()


def assert_moved(result, source, target):
    """A move that succeeded: every table of the source copied, with the rows it holds now, into a target that holds
    as many; every money sum equal on both sides. Returns the parsed stdout."""
    assert result.returncode == 0, (result.stdout, result.stderr)
    moved = parse_move(result.stdout)
    here, there = sqlite_counts(source), pg_counts(target)
    assert set(moved["copied"]) == set(here), (sorted(moved["copied"]), sorted(here))
    assert set(there) == set(here), (sorted(there), sorted(here))
    assert {t: there[t] for t in here} == here, "row counts differ between SQLite and PostgreSQL"
    assert moved["money"] and all(s == t for s, t in moved["money"].values()), moved["money"]
    assert moved["money"]["money.usage_events.cost_nanos"][0] == sqlite_money(source)["usage_events"]
    assert moved["checks"] == len(here) + len(moved["money"]), moved
    # Every event's key is claimed in PostgreSQL's key table, so a copied event sent again is a duplicate.
    keys = psql(target, "SELECT COUNT(*) FROM usage_event_keys k JOIN usage_events e ON e.org_id = k.org_id "
                        "AND e.project_id = k.project_id AND e.event_id = k.event_id AND e.ts_us = k.ts_us")
    assert int(keys[0][0]) == here["usage_events"], keys
    return moved


def ok(response):
    assert 200 <= response.status_code < 300, f"{response.request.method} {response.url}: " \
                                              f"{response.status_code} {response.text[:500]}"
    return response


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def ndjson(events):
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


# -- a realistic history --------------------------------------------------------------------------------------------

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "o3-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("anthropic", "claude-haiku-4-5"), ("google", "gemini-2.5-flash"), ("azure_openai", "gpt-4o"),
          ("ollama", "llama3.1:8b")]  # azure_openai gpt-4o is priced by the organization's own entry; ollama by none
FEATURES = ["search", "chat", "summarize", "support-bot", None]
TEAMS = ["growth", "core", "infra"]


def history(count, seed, now, prefix):
    """`count` events over the 20 days up to `now`, most with ids, with every kind of field the API takes."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        moment = now - datetime.timedelta(seconds=rng.randrange(120, 20 * 86400))
        e = {"timestamp": stamp(moment), "provider": provider, "model": model}
        if i % 5:
            e["id"] = f"{prefix}-{i}"
        inputs = rng.randrange(1, 40000)
        e["input_tokens"] = inputs
        e["output_tokens"] = rng.randrange(0, 3000)
        if rng.random() < 0.4:
            e["cached_input_tokens"] = rng.randrange(0, inputs // 2 + 1)
        if provider == "anthropic" and rng.random() < 0.3:
            e["cache_write_input_tokens"] = rng.randrange(0, inputs // 3 + 1)
        if model == "o3-mini":
            e["reasoning_tokens"] = rng.randrange(0, e["output_tokens"] + 1)
        feature = FEATURES[rng.randrange(len(FEATURES))]
        if feature:
            e["feature"] = feature
        if rng.random() < 0.6:
            e["user"] = f"u-{rng.randrange(30)}"
        if rng.random() < 0.5:
            e["environment"] = rng.choice(["prod", "staging"])
        if rng.random() < 0.3:
            e["api_key"] = f"key-{rng.randrange(4)}"
        if rng.random() < 0.25:
            e["tags"] = {"team": rng.choice(TEAMS), **({"tier": "gold"} if rng.random() < 0.3 else {})}
        if rng.random() < 0.06:
            e.update(status="error", http_status=rng.choice([429, 500, 529]), error_type="upstream")
        if rng.random() < 0.5:
            e["latency_ms"] = rng.randrange(80, 20000)
            if rng.random() < 0.5:
                e["time_to_first_token_ms"] = rng.randrange(20, 1500)
                e["streamed"] = True
        if rng.random() < 0.05:
            e["batch"] = True
        if rng.random() < 0.1:
            e["provider_cost_usd"] = f"0.{rng.randrange(1, 999999):06d}"
        if rng.random() < 0.05:
            e["retries"] = rng.randrange(1, 3)
        events.append(e)
    return events


def api(method, server, token, path, **kw):
    kw.setdefault("timeout", 60)
    return requests.request(method, server.url + path, headers=bearer(token), **kw)


def created(response):
    assert response.status_code == 201, f"{response.request.method} {response.url}: {response.status_code} " \
                                         f"{response.text[:500]}"
    return response.json()


def gateway_call(server, token, model="gpt-4o-mini", feature="assistant"):
    return requests.post(server.url + "/gateway/openai/v1/chat/completions", timeout=30,
                         headers={**bearer(token), "X-Tally-Feature": feature},
                         json={"model": model, "messages": [{"role": "user", "content": "abcd" * 100}],
                               "max_tokens": 32})


@pytest.fixture
def receivers():
    """A webhook receiver that verifies Tally's signature with its secret, and a Slack stand-in."""
    hook, slack = WebhookReceiver(secret="whsec_" + uuid.uuid4().hex).start(), SlackStandIn().start()
    yield hook, slack
    hook.stop()
    slack.stop()


def build_site(tally, standins, receivers):
    """Fills a SQLite site through its own means (the API, the CLI, the gateway, the web invite form); returns
    (server, the owner's browser, the viewer's browser, {name: secret}, {name: token id}, {what: id})."""
    server = tally.serve()
    owner = signed_in(server)
    now = clock.now()
    today = now.date()
    ids = {}

    for name in ("web", "api", "batch-jobs"):
        ids[f"project:{name}"] = created(owner.api("POST", "/api/v1/projects", json={"name": name}))["id"]
    ok(owner.api("PATCH", "/api/v1/organization", json={"billing_cycle_day": 5}))

    tokens, token_ids = {}, {}
    for name, project, scopes in (("ops", "web", ["admin", "read", "ingest"]), ("web-ingest", "web", ["ingest"]),
                                  ("api-service", "api", ["ingest", "read"]), ("dashboards", "api", ["read"]),
                                  ("gateway", "web", ["gateway", "read"]), ("old-laptop", "web", ["ingest", "read"])):
        body = created(owner.api("POST", "/api/v1/tokens", json={"name": name, "project": project, "scopes": scopes}))
        tokens[name], token_ids[name] = body["secret"], body["token"]["id"]
    # The CLI's tokens keep their scopes; this one has an expiry in the future.
    later = stamp(now + datetime.timedelta(days=90))
    body = created(owner.api("POST", "/api/v1/tokens", json={"name": "expiring", "project": "batch-jobs",
                                                              "scopes": ["read"], "expires_at": later}))
    tokens["expiring"], token_ids["expiring"] = body["secret"], body["token"]["id"]

    # The organization's own price, before the events it prices.
    ids["price"] = created(api("POST", server, tokens["ops"], "/api/v1/prices", json={
        "provider": "azure_openai", "model": "gpt-4o", "from": (today - datetime.timedelta(days=40)).isoformat(),
        "prices": {"input": "2.00", "cached_input": "1.00", "output": "8.00"}, "note": "our Azure contract"}))["id"]

    # ~2,000 events through the API, in the three projects, with each project's own token.
    events = history(2000, 2024, now, "h")
    senders = [("web", "web-ingest"), ("api", "api-service"), ("batch-jobs", "ops")]
    by_project = {p: [] for p, _ in senders}
    for i, e in enumerate(events):
        project, _ = senders[i % 3]
        by_project[project].append(dict(e, project=project) if project == "batch-jobs" else e)
    for project, sender in senders:
        batch_events = by_project[project]
        for start in range(0, len(batch_events), 400):
            batch = batch_events[start:start + 400]
            answer = ok(api("POST", server, tokens[sender], "/api/v1/events", json=batch)).json()
            assert answer == {"accepted": len(batch), "duplicates": 0}, answer
    # A few through the token that will be revoked, as NDJSON.
    few = history(5, 7, now, "laptop")
    r = requests.post(server.url + "/api/v1/events", data=ndjson(few), timeout=30,
                      headers={**bearer(tokens["old-laptop"]), "Content-Type": "application/x-ndjson"})
    assert ok(r).json() == {"accepted": 5, "duplicates": 0}
    assert ok(owner.api("DELETE", f"/api/v1/tokens/{token_ids['old-laptop']}")).status_code == 204

    # A few hundred more with `tally import`, beside the running server.
    imported = history(300, 99, now, "imp")
    r = tally_cli(tally, "import", "--ndjson", "-", "--project", "batch-jobs", stdin=ndjson(imported))
    assert r.returncode == 0, r.stderr
    assert IMPORTED.match(r.stdout.strip()).groups() == ("300", "300", "0", "0"), r.stdout

    # A team, budgets, alert channels, alert rules, a policy, a safety filter.
    ids["team"] = created(owner.api("POST", "/api/v1/teams",
                                    json={"name": "Platform", "projects": ["web", "api"]}))["id"]
    ids["channel:email"] = created(owner.api("POST", "/api/v1/alert-channels", json={
        "name": "finance", "type": "email", "to": ["finance@example.test"], "monthly_statement": True}))["id"]
    hook, slack = receivers
    ids["channel:webhook"] = created(owner.api("POST", "/api/v1/alert-channels", json={
        "name": "ops hook", "type": "webhook", "url": hook.url(), "secret": hook.secret}))["id"]
    ids["channel:slack"] = created(owner.api("POST", "/api/v1/alert-channels", json={
        "type": "slack", "webhook_url": slack.url("/services/T0/B0/SECRETPART")}))["id"]
    ids["budget:web"] = created(owner.api("POST", "/api/v1/budgets", json={
        "name": "Web cap", "scope": {"project": "web"}, "period": "month", "amount_usd": "0.50",
        "thresholds": [50, 100]}))["id"]
    ids["budget:search"] = created(owner.api("POST", "/api/v1/budgets", json={
        "name": "Search this fortnight", "scope": {"feature": "search", "provider": ["openai", "anthropic"]},
        "period": "custom", "from": (today - datetime.timedelta(days=10)).isoformat(),
        "to": (today + datetime.timedelta(days=4)).isoformat(), "amount_usd": "1000.00", "enabled": True}))["id"]
    r = owner.api("PATCH", f"/api/v1/projects/{ids['project:api']}/budget", json={"amount_usd": "2500"})
    ids["budget:api"] = ok(r).json()["id"]
    ok(owner.api("PUT", "/api/v1/alert-rules", json={"spike": {"threshold_percent": 300, "floor_usd": "5.00"}}))
    ids["policy"] = created(owner.api("POST", "/api/v1/policies", json={
        "name": "No mini on web", "scope": {"project": "web"}, "mode": "monitor",
        "rules": {"models_deny": ["gpt-4o-mini"]}}))["id"]
    ids["filter"] = created(owner.api("POST", "/api/v1/safety-filters", json={
        "name": "emails", "scope": {}, "detectors": ["email"], "keywords": ["project-x"], "on": "both",
        "action": "flag"}))["id"]

    # The vault: the gateway's provider key, sealed with the data directory's master key; three gateway calls,
    # each a would-be block of the monitor policy.
    standin = standins["openai"]
    ids["connection"] = created(owner.api("POST", "/api/v1/provider-connections", json={
        "provider": "openai", "name": "openai prod", "base_url": standin.url, "api_key": standin.key}))["id"]
    for _ in range(3):
        ok(gateway_call(server, tokens["gateway"]))
    wait_until(lambda: len(ok(owner.api("GET", f"/api/v1/policies/{ids['policy']}/hits")).json()["data"]) == 3,
               15, "3 policy hits")
    wait_until(lambda: len(ok(api("GET", server, tokens["ops"], "/api/v1/events",
                                  params={"source": "gateway", "limit": 10})).json()["data"]) == 3,
               15, "3 gateway events")

    # People: a viewer who accepted an invite, and an invite still pending.
    invite = created(owner.api("POST", "/api/v1/invites", json={"email": "analyst@example.test", "role": "viewer"}))
    viewer = Browser(server)
    r = viewer.fill(urllib.parse.urlsplit(invite["url"]).path, name="Ana Lyst", password="viewer-password-0123")
    assert r.status_code == 303, f"accepting the invite: {r.status_code} {r.text[:300]}"
    viewer.me()
    created(owner.api("POST", "/api/v1/invites", json={"email": "later@example.test", "role": "member"}))

    # What the organization's rules find now, recorded (the intervals are off, so nothing else fires on its own);
    # last month closed.
    fired = ok(owner.api("POST", "/api/v1/alerts/check")).json()["fired"]
    assert any(a["type"] == "budget_threshold" for a in fired), fired
    assert any(a["type"] == "unpriced_model" for a in fired), fired
    ok(owner.api("POST", "/api/v1/insights/check"))
    first_of_month = today.replace(day=1)
    ids["last_month"] = (first_of_month - datetime.timedelta(days=1)).strftime("%Y-%m")
    created(owner.api("POST", f"/api/v1/periods/{ids['last_month']}/close"))
    ids["sample_events"] = [e["id"] for e in events[1:2000:97] if "id" in e]
    return server, owner, viewer, tokens, token_ids, ids


# -- every read, by whom --------------------------------------------------------------------------------------------

def summary_reads(today, now):
    day = lambda n: (today - datetime.timedelta(days=n)).isoformat()  # noqa: E731
    whole = {"from": day(21), "to": day(-1)}
    week = {"from": day(7), "to": day(0)}
    odd = {"from": stamp(now - datetime.timedelta(days=10, minutes=17)),
           "to": stamp(now - datetime.timedelta(days=2, minutes=-7))}
    reads = []
    for group_by in ("day", "day,model", "week,provider", "month,project", "project,feature", "provider,status",
                     "user", "team", "tag:team,tag:tier", "api_key,environment", "operation,source", "feature,model"):
        reads.append(("/api/v1/usage/summary", dict(whole, group_by=group_by)))
    for group_by in ("day,project", "model", "user,feature"):
        reads.append(("/api/v1/usage/summary", dict(week, group_by=group_by)))
        reads.append(("/api/v1/usage/summary", dict(odd, group_by=group_by)))
    reads += [("/api/v1/usage/summary", dict(whole, group_by="model", project="web", status="error")),
              ("/api/v1/usage/summary", dict(whole, group_by="project", team="Platform")),
              ("/api/v1/usage/summary", dict(whole, group_by="day", team="none", feature="search,chat")),
              ("/api/v1/usage/summary", dict(odd))]
    return reads, whole


def token_reads(today, now, ids):
    reads, whole = summary_reads(today, now)
    reads += [
        ("/api/v1/events", dict(whole, limit=200, project="api", status="error")),
        ("/api/v1/events", dict(limit=100, model="gpt-4o", feature="search")),
        ("/api/v1/events", dict(limit=50, flag="pii.email")),
        ("/api/v1/events/export", dict(whole, format="json")),
        ("/api/v1/events/export", dict(whole, format="csv", project="batch-jobs")),
        ("/api/v1/usage/performance", dict(whole, group_by="model")),
        ("/api/v1/usage/performance", dict(whole, group_by="team")),
        ("/api/v1/usage/flags", dict(whole)),
        ("/api/v1/forecast", {}),
        ("/api/v1/forecast", {"budget": ids["budget:web"]}),
        ("/api/v1/anomalies", dict(whole)),
        ("/api/v1/prices", {"provider": "openai"}),
        ("/api/v1/prices", {"all": "true"}),
        ("/api/v1/prices", {"provider": "azure_openai", "model": "gpt-4o"}),
        ("/api/v1/prices/unpriced", dict(whole)),
        ("/api/v1/prices/catalog", {}),
        ("/api/v1/budgets", {}),
        ("/api/v1/budgets/" + ids["budget:web"], {}),
        ("/api/v1/alerts", {"limit": 200}),
        ("/api/v1/statements", {"period": ids["last_month"], "group_by": "team"}),
    ]
    for event_id in ids["sample_events"]:
        reads.append((f"/api/v1/events/{event_id}", {}))
    for event_id in ids["sample_events"][:3]:
        reads.append((f"/api/v1/events/{event_id}/receipt", {"format": "txt"}))
    return reads


def session_reads(today, now, ids):
    _, whole = summary_reads(today, now)
    this_month = today.strftime("%Y-%m")
    reads = [("/api/v1/me", {}), ("/api/v1/organizations", {}), ("/api/v1/organization", {}),
             ("/api/v1/members", {}), ("/api/v1/invites", {}), ("/api/v1/projects", {}), ("/api/v1/tokens", {}),
             ("/api/v1/projects/" + ids["project:api"] + "/budget", {}), ("/api/v1/budgets", {}),
             ("/api/v1/budgets/" + ids["budget:search"], {}), ("/api/v1/teams", {}),
             ("/api/v1/teams/" + ids["team"], {}),
             ("/api/v1/alert-channels", {}), ("/api/v1/alert-channels/" + ids["channel:webhook"], {}),
             ("/api/v1/alerts", {"limit": 200}), ("/api/v1/alerts", {"type": "budget_threshold"}),
             ("/api/v1/alert-rules", {}), ("/api/v1/insights", {}), ("/api/v1/insight-settings", {}),
             ("/api/v1/policies", {}), ("/api/v1/policies/" + ids["policy"], {}),
             ("/api/v1/policies/" + ids["policy"] + "/hits", {"limit": 500}),
             ("/api/v1/safety-filters", {}), ("/api/v1/safety-filters/" + ids["filter"], {}),
             ("/api/v1/provider-connections", {}), ("/api/v1/provider-connections/" + ids["connection"], {}),
             ("/api/v1/provider-connections/" + ids["connection"] + "/refs", {}), ("/api/v1/sync-runs", {}),
             ("/api/v1/reconciliation", dict(whole)), ("/api/v1/usage/summary", dict(whole, ledger="provider")),
             ("/api/v1/usage/summary", dict(whole, group_by="team,model")),
             ("/api/v1/periods", {}), ("/api/v1/account/identities", {}), ("/api/v1/organization/sign-in", {}),
             ("/api/v1/exports/focus", dict(whole))]
    for period in (ids["last_month"], this_month):
        for group_by in ("project", "team", "model"):
            reads.append(("/api/v1/statements", {"period": period, "group_by": group_by}))
        reads.append(("/api/v1/statements", {"period": period, "group_by": "team", "format": "csv"}))
        reads.append(("/api/v1/statements", {"period": period, "format": "txt"}))
    reads.append(("/api/v1/statements", {"billing_cycle": ids["last_month"]}))
    reads.append(("/usage/export", {"format": "csv", "group_by": "model", "from": whole["from"], "to": whole["to"]}))
    return reads


GENERATED_LINE = re.compile(r"^(Issued|Generated)( +)\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", re.M)


def answer(response):
    """(status, body) with the one thing that legitimately differs between two servers taken out: the moment a
    document (a receipt, a statement of an open period) was made, `generated_at` / "Issued" / "Generated"."""
    kind = response.headers.get("Content-Type", "")
    if "json" in kind and "ndjson" not in kind:
        body = response.json()
        if isinstance(body, dict) and "generated_at" in body:
            assert body["generated_at"], body
            body["generated_at"] = "<the moment it was made>"
    else:
        body = GENERATED_LINE.sub(r"\1\2<the moment it was made>", response.text)
    return response.status_code, body


class Reader:
    """Reads through one identity (a token, or a browser's session) and keeps every answer by what was asked."""

    def __init__(self, name, token=None, browser=None):
        self.name, self.token, self.browser = name, token, browser

    def get(self, server, path, params):
        if self.browser is not None:
            return self.browser.at(server).get(path, params=params, timeout=60)
        return requests.get(server.url + path, params=params, headers=bearer(self.token), timeout=60)

    def record(self, server, reads, into):
        for path, params in reads:
            key = (self.name, path, tuple(sorted(params.items())))
            assert key not in into, key
            into[key] = answer(self.get(server, path, params))

    def record_pages(self, server, path, params, into, cursor_field="next_cursor"):
        """Every page of a list, following its cursor."""
        page, cursor = 0, None
        while True:
            query = dict(params, **({"cursor": cursor} if cursor else {}))
            got = answer(self.get(server, path, query))
            into[(self.name, path, tuple(sorted(params.items())), "page", page)] = got
            status, body = got
            if status != 200 or not body.get(cursor_field):
                return page + 1
            cursor, page = body[cursor_field], page + 1

    def record_audit(self, server, into):
        """The whole audit log, page by page (`before` = the last entry's `at`)."""
        before, page = None, 0
        while True:
            params = {"limit": 50, **({"before": before} if before else {})}
            status, body = got = answer(self.get(server, "/api/v1/audit", params))
            into[(self.name, "/api/v1/audit", "page", page)] = got
            if status != 200 or len(body["data"]) < 50:
                return
            before, page = body["data"][-1]["at"], page + 1


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r:.200} != {b!r:.200}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                side, value = ("SQLite", a[k]) if k in a else ("PostgreSQL", b[k])
                return f"{path}.{k}: only on {side} ({value!r:.200})"
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)} items"
        canonical = lambda items: sorted(json.dumps(x, sort_keys=True) for x in items)  # noqa: E731
        if canonical(a) == canonical(b):
            label = lambda x: x.get("kind", x.get("id")) if isinstance(x, dict) else x  # noqa: E731
            return f"{path}: the same {len(a)} items in another order: {[label(x) for x in a]} on SQLite, " \
                   f"{[label(x) for x in b]} on PostgreSQL"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    elif isinstance(a, str) and "\n" in a:
        for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
            if x != y:
                return f"{path} line {i + 1}: {x!r:.300} != {y!r:.300}"
        return f"{path}: {len(a.splitlines())} lines != {len(b.splitlines())} lines"
    return f"{path}: {a!r:.200} != {b!r:.200}"


def differences(before, after):
    assert set(before) == set(after), (set(before) ^ set(after))
    return [f"{key}: {first_difference(before[key], after[key])}" for key in before if before[key] != after[key]]


# -- 1. the whole store, moved ----------------------------------------------------------------------------------------

QUIET = {"TALLY_ALERT_INTERVAL": "off", "TALLY_INSIGHT_INTERVAL": "off", "TALLY_SYNC_INTERVAL": "off"}


def test_a_store_moved_to_postgresql_answers_every_api_call_as_before(sqlite_site, upstream_standins, receivers):
    # Every figure below is read on SQLite and again on PostgreSQL a minute later: the same UTC day for both.
    clock.clear_of_midnight(150, 2)
    sqlite_site.env.update(QUIET)
    server, owner, viewer, tokens, token_ids, ids = build_site(sqlite_site, upstream_standins, receivers)
    now, today = clock.now(), clock.today()

    readers = {"ops": Reader("ops", tokens["ops"]), "dashboards": Reader("dashboards", tokens["dashboards"]),
               "owner": Reader("owner", browser=owner), "viewer": Reader("viewer", browser=viewer)}

    def record_tokens(srv, into):
        readers["ops"].record(srv, token_reads(today, now, ids), into)
        for params in ({"limit": 1000}, {"limit": 1000, "project": "web"}):
            readers["ops"].record_pages(srv, "/api/v1/events", params, into)
        readers["dashboards"].record(srv, summary_reads(today, now)[0][:4] + [("/api/v1/budgets", {})], into)
        readers["dashboards"].record_pages(srv, "/api/v1/events", {"limit": 1000}, into)

    def record_sessions(srv, into):
        readers["owner"].record(srv, session_reads(today, now, ids), into)
        readers["owner"].record_audit(srv, into)
        readers["viewer"].record(srv, [("/api/v1/me", {}), ("/api/v1/tokens", {}), ("/api/v1/budgets", {}),
                                       ("/api/v1/alerts", {})], into)

    # On SQLite: the tokens' reads first, the sessions' last (the token list then shows each token's last use).
    on_sqlite = {}
    record_tokens(server, on_sqlite)
    record_sessions(server, on_sqlite)
    pages = [k for k in on_sqlite if k[:2] == ("ops", "/api/v1/events") and k[-2] == "page" and
             dict(k[2]) == {"limit": 1000}]
    listed = [e for k in pages for e in on_sqlite[k][1]["data"]]
    assert len(pages) == 3 and len(listed) == 2000 + 5 + 300 + 3, (len(pages), len(listed))
    assert len({(e["project"], e["id"]) for e in listed}) == len(listed)
    assert sum(1 for v in on_sqlite.values() if v[0] != 200) == 0, \
        [(k, v[0], str(v[1])[:200]) for k, v in on_sqlite.items() if v[0] != 200]
    sqlite_site.stop_all()

    source = os.path.join(sqlite_site.data_dir, "tally.sqlite")
    master_key = os.path.join(sqlite_site.data_dir, "master.key")
    assert os.path.exists(master_key)
    target = fresh_postgres_url()
    moved = assert_moved(migrate_store(source, target), source, target)
    assert moved["copied"]["usage_events"] == 2308 and moved["copied"]["policy_hits"] == 3, moved["copied"]
    for table in ("users", "memberships", "sessions", "api_tokens", "budgets", "alerts", "insights", "teams",
                  "alert_channels", "provider_connections", "price_entries", "closed_periods", "invites"):
        assert moved["copied"][table] > 0, (table, moved["copied"])
    order = list(moved["copied"])
    for parent, child in (("organizations", "projects"), ("projects", "api_tokens"), ("users", "memberships"),
                          ("projects", "usage_events"), ("teams", "team_projects"), ("alerts", "alert_deliveries")):
        assert order.index(parent) < order.index(child), (parent, child, order)

    # PostgreSQL, with the SQLite data directory's master key; a data directory of its own for its logs.
    with tempfile.TemporaryDirectory() as pg_dir:
        moved_site = AccountsTally(pg_dir, target, dict(sqlite_site.env, TALLY_MASTER_KEY_FILE=master_key))
        try:
            pg = moved_site.serve()
            # The sessions' reads first (before any token is used here, which would note its use), then the tokens'.
            on_postgres = {}
            record_sessions(pg, on_postgres)
            record_tokens(pg, on_postgres)
            found = differences(on_sqlite, on_postgres)  # asserted at the end, after the checks below

            # Nothing would fire again: the alerts' keys came along.
            owner_pg = owner.at(pg)
            again = ok(owner_pg.api("POST", "/api/v1/alerts/check", params={"dry_run": "true"})).json()
            assert again["fired"] == [], again

            # The owner signs in with the same password; a wrong one is still refused.
            fresh = signed_in(pg)
            assert fresh.me()["user"]["email"] == ADMIN_EMAIL
            r = Browser(pg).login(ADMIN_EMAIL, "not-the-password-0123")
            assert r.status_code != 303, r.status_code

            # The old tokens work, within their scopes; the revoked one is still refused.
            for name in ("ops", "api-service", "dashboards", "gateway", "expiring"):
                me = ok(api("GET", pg, tokens[name], "/api/v1/me")).json()
                assert me["token"]["id"] == token_ids[name], (name, me)
            assert_error(api("GET", pg, tokens["old-laptop"], "/api/v1/events"), 401)
            assert_error(api("POST", pg, tokens["old-laptop"], "/api/v1/events",
                             json=event("revoked-after-move", timestamp=stamp(now))), 401)
            assert_error(api("POST", pg, tokens["dashboards"], "/api/v1/events",
                             json=event("read-only-after-move", timestamp=stamp(now))), 403)

            # A new event at the very instant of the newest one stored: listed first, so its sequence is above every
            # copied one (the list is newest first, then by sequence).
            newest = ok(api("GET", pg, tokens["ops"], "/api/v1/events", params={"limit": 1})).json()["data"][0]
            body = {"id": "after-the-move", "timestamp": newest["timestamp"], "provider": "openai",
                    "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "feature": "search"}
            assert ok(api("POST", pg, tokens["web-ingest"], "/api/v1/events", json=body)).json() == \
                {"accepted": 1, "duplicates": 0}
            first = ok(api("GET", pg, tokens["ops"], "/api/v1/events", params={"limit": 2})).json()["data"]
            assert [e["id"] for e in first] == ["after-the-move", newest["id"]], first
            assert first[0]["cost_usd"] not in (None, "0"), first[0]
            # An id the project had on SQLite is still a duplicate.
            again = dict(body, id=next(e["id"] for e in listed if e["project"] == "web"))
            assert ok(api("POST", pg, tokens["web-ingest"], "/api/v1/events", json=again)).json() == \
                {"accepted": 0, "duplicates": 1}

            # The gateway forwards with the provider key sealed on SQLite (the stand-in refuses any other key), and
            # the policy's next hit follows the copied ones.
            ok(gateway_call(pg, tokens["gateway"]))
            hits = wait_until(lambda: (lambda h: h if len(h) == 4 else None)(
                ok(owner_pg.api("GET", f"/api/v1/policies/{ids['policy']}/hits")).json()["data"]), 15, "a 4th hit")
            assert hits[1:] == on_sqlite[("owner", f"/api/v1/policies/{ids['policy']}/hits",
                                          (("limit", 500),))][1]["data"], hits
            tested = ok(owner_pg.api("POST", f"/api/v1/provider-connections/{ids['connection']}/test")).json()
            assert tested["ok"] is True, tested
            # The webhook's secret and the Slack URL, sealed on SQLite, open here: the receiver checks the signature.
            hook, slack = receivers
            for channel, receiver in (("channel:webhook", hook), ("channel:slack", slack)):
                sent = ok(owner_pg.api("POST", f"/api/v1/alert-channels/{ids[channel]}/test")).json()
                assert sent["delivered"] is True and sent["error"] is None, (channel, sent)
                assert receiver.requests[-1].verdict == "ok", receiver.requests[-1]
            assert slack.requests[-1].path == "/services/T0/B0/SECRETPART"

            assert found == [], f"{len(found)} of {len(on_sqlite)} answers differ after the move:\n" + "\n".join(found)
        finally:
            moved_site.stop_all()


# -- 2. a database with data, and --resume --------------------------------------------------------------------------

def test_migrate_store_refuses_a_database_with_data_and_resumes(tmp_path):
    now = clock.now()
    store = Tally(str(tmp_path / "data"))
    os.makedirs(store.data_dir, mode=0o700)
    token = store.token(project="web", scopes="ingest,read")
    source = os.path.join(store.data_dir, "tally.sqlite")
    events = history(12000, 5, now, "big")
    r = tally_cli(store, "import", "--ndjson", "-", "--project", "web", stdin=ndjson(events))
    assert r.returncode == 0, r.stderr

    # A bad --to, before anything is read or written.
    for bad in ("mysql://root@127.0.0.1/tally", "http://127.0.0.1:5432/tally", "tally.sqlite", ""):
        r = migrate_store(source, bad)
        assert r.returncode == 1, (bad, r.stdout, r.stderr)
        assert "--to" in "\n".join(error_lines(r.stderr)), (bad, r.stderr)
        assert r.stdout == "", (bad, r.stdout)
    r = migrate_store(str(tmp_path / "missing.sqlite"), fresh_postgres_url())
    assert r.returncode == 1 and "missing.sqlite" in "\n".join(error_lines(r.stderr)), r.stderr

    # A move interrupted in the middle of the events (killed): the target now holds part of them.
    target = fresh_postgres_url()
    proc = subprocess.Popen([BIN, "migrate-store", "--from", source, "--to", target], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=command_env())
    try:
        def some_events():
            if proc.poll() is not None:
                raise AssertionError(f"the move ended before it could be interrupted: {proc.communicate()}")
            return "usage_events" in pg_tables(target) and int(psql(target, "SELECT COUNT(*) FROM usage_events")[0][0])
        wait_until(some_events, 60, "the first events copied", interval=0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    partial = pg_counts(target)
    assert 0 < partial["usage_events"] < len(events), partial["usage_events"]

    # Run again without --resume: refused, naming --resume; the target is exactly as it was.
    before = pg_fingerprint(target)
    r = migrate_store(source, target)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "--resume" in "\n".join(error_lines(r.stderr)), r.stderr
    assert r.stdout == "", r.stdout
    assert pg_fingerprint(target) == before

    # --resume finishes it: the events carry on after the last one copied, nothing twice.
    r = migrate_store(source, target, "--resume")
    moved = assert_moved(r, source, target)
    assert moved["copied"]["usage_events"] == len(events) - partial["usage_events"], (moved["copied"], partial)
    total, distinct = map(int, psql(target, "SELECT COUNT(*), COUNT(DISTINCT (project_id, event_id)) "
                                            "FROM usage_events")[0])
    assert total == distinct == len(events), (total, distinct)
    assert {e["id"] for e in events if "id" in e} <= pg_event_ids(target)

    # A complete move again without --resume: refused, nothing changed.
    before = pg_fingerprint(target)
    r = migrate_store(source, target)
    assert r.returncode == 1 and "--resume" in "\n".join(error_lines(r.stderr)), (r.stdout, r.stderr)
    assert pg_fingerprint(target) == before

    # The SQLite store went on taking events: --resume copies just those, and the counts are equal again.
    later = [event(f"later-{i}", timestamp=stamp(now - datetime.timedelta(minutes=i))) for i in range(40)]
    r = tally_cli(store, "import", "--ndjson", "-", "--project", "web", stdin=ndjson(later))
    assert r.returncode == 0, r.stderr
    moved = assert_moved(migrate_store(source, target, "--resume"), source, target)
    assert moved["copied"]["usage_events"] == 40, moved["copied"]
    assert {f"later-{i}" for i in range(40)} <= pg_event_ids(target)

    # And tally serve on it answers as the SQLite store does.
    with tempfile.TemporaryDirectory() as pg_dir:
        moved_store = Tally(pg_dir, target)
        window = {"from": (now - datetime.timedelta(days=21)).strftime("%Y-%m-%d"),
                  "to": (now + datetime.timedelta(days=1)).strftime("%Y-%m-%d"), "group_by": "day,model"}
        on_sqlite = ok(requests.get(store.serve().url + "/api/v1/usage/summary", params=window,
                                    headers=bearer(token), timeout=60)).json()
        store.stop_all()
        try:
            on_postgres = ok(requests.get(moved_store.serve().url + "/api/v1/usage/summary", params=window,
                                          headers=bearer(token), timeout=60)).json()
        finally:
            moved_store.stop_all()
        assert on_postgres == on_sqlite
        assert on_postgres["totals"]["requests"] == len(events) + 40


# -- 3. the SQLite server during the copy ---------------------------------------------------------------------------

# Enough events for the copy to hold the SQLite write lock well past the server's 10 s busy timeout with the debug
# build (about 0.6 s per 1,000 events copied, more on a loaded machine).
BULK = 25000


def test_serve_stays_readable_during_the_copy(tmp_path):
    """A reader and two writers on a `tally serve` of the SQLite file while migrate-store copies it. Deterministic
    without knowing when the lock is taken: every read must answer 200 whenever it ran; every write 200 or 503; what
    was acknowledged before the command started must be in PostgreSQL, what was acknowledged after it ended must not,
    and SQLite must hold every acknowledged event and no refused one. The copy lasts long enough (tens of seconds in
    the debug build) that some write is held by the lock, which the test requires so it never passes vacuously."""
    now = clock.now()
    store = Tally(str(tmp_path / "data"))
    os.makedirs(store.data_dir, mode=0o700)
    token = store.token(project="web", scopes="ingest,read")
    reader_token = store.token(project="web", scopes="read")
    source = os.path.join(store.data_dir, "tally.sqlite")
    events = history(BULK, 11, now, "bulk")
    r = tally_cli(store, "import", "--ndjson", "-", "--project", "web", stdin=ndjson(events))
    assert r.returncode == 0, r.stderr
    server = store.serve()
    window = {"from": (now - datetime.timedelta(days=21)).strftime("%Y-%m-%d"),
              "to": (now + datetime.timedelta(days=1)).strftime("%Y-%m-%d"), "group_by": "day"}

    reads, writes = [], []  # (started, finished, status, …) on the monotonic clock
    lock = threading.Lock()
    stop = threading.Event()

    def reader():
        session = requests.Session()
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = session.get(server.url + "/api/v1/usage/summary", params=window,
                                     headers=bearer(reader_token), timeout=60).status_code
            except requests.RequestException as e:
                status = repr(e)
            with lock:
                reads.append((started, time.monotonic(), status))
            time.sleep(0.2)

    def writer(n):
        session = requests.Session()
        i = 0
        while not stop.is_set():
            event_id = f"w{n}-{i}"
            i += 1
            started = time.monotonic()
            try:
                r = session.post(server.url + "/api/v1/events", headers=bearer(token), timeout=60,
                                 json=event(event_id, timestamp=stamp(clock.now() - datetime.timedelta(minutes=1))))
                status, text = r.status_code, r.text[:200]
            except requests.RequestException as e:
                status, text = repr(e), ""
            with lock:
                writes.append((started, time.monotonic(), status, event_id, text))
            time.sleep(0.05)

    threads = [threading.Thread(target=reader, daemon=True)] + \
        [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(2)]
    for t in threads:
        t.start()
    target = fresh_postgres_url()
    try:
        wait_until(lambda: len(writes) >= 10 and len(reads) >= 5, 30, "traffic before the move")
        started = time.monotonic()
        result = migrate_store(source, target)
        finished = time.monotonic()
        wait_until(lambda: sum(1 for w in writes if w[0] > finished and w[2] == 200) >= 6, 30,
                   "writes acknowledged after the move")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=70)
    assert not any(t.is_alive() for t in threads)
    moved = parse_move(result.stdout) if result.returncode == 0 else None
    assert moved, (result.stdout, result.stderr)
    copy_seconds = finished - started

    # Reads went on: every one answered 200, also those made while the copy held the write lock.
    during = [r for r in reads if r[0] >= started and r[1] <= finished]
    assert all(r[2] == 200 for r in reads), [r for r in reads if r[2] != 200][:5]
    assert len(during) >= 5, (len(during), copy_seconds)
    slowest_read = max(r[1] - r[0] for r in during)

    # Writes waited, then either went through after the copy or answered 503: never anything else.
    statuses = {w[2] for w in writes}
    assert statuses <= {200, 503}, [w for w in writes if w[2] not in (200, 503)][:5]
    held = [w for w in writes if w[2] == 503 or (w[2] == 200 and w[1] - w[0] > 1)]
    assert held, f"no write was held by the copy's lock ({copy_seconds:.1f} s): {writes[-10:]}"
    for w in writes:
        if w[2] == 503:
            body = json.loads(w[4]) if w[4].startswith("{") else None
            assert body and body["error"]["code"], w

    # Nothing acknowledged is lost: on SQLite every 200 is stored, no 503 is; PostgreSQL has every event
    # acknowledged before the move began, none acknowledged after it ended, and nothing SQLite lacks.
    acknowledged = {w[3] for w in writes if w[2] == 200}
    refused = {w[3] for w in writes if w[2] == 503}
    stored = set(all_event_ids(server, token))
    assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
    assert not refused & stored, sorted(refused & stored)[:10]
    on_postgres = pg_event_ids(target)
    before = {w[3] for w in writes if w[2] == 200 and w[1] < started}
    after = {w[3] for w in writes if w[2] == 200 and w[0] > finished}
    assert before <= on_postgres, sorted(before - on_postgres)[:10]
    assert not after & on_postgres, sorted(after & on_postgres)[:10]
    assert on_postgres <= stored, sorted(on_postgres - stored)[:10]
    assert moved["copied"]["usage_events"] == len(on_postgres)
    assert len(on_postgres) >= len(events) + len(before)
    print(f"copy {copy_seconds:.1f} s; {len(during)} reads during it, slowest {slowest_read:.2f} s; "
          f"{len(held)} writes held ({sum(1 for w in held if w[2] == 503)} answered 503): "
          f"{[(round(w[1] - w[0], 1), w[2], w[4][:120]) for w in held]}")


# -- 4. --resume after the SQLite store changed ------------------------------------------------------------------------

def test_resume_copies_the_store_as_it_is_now_after_it_changed(sqlite_site):
    """`tally serve` keeps running on the SQLite file between an interrupted move and its --resume. What changed
    meanwhile must reach PostgreSQL as it is now: rows deleted on SQLite (a budget, a signed-out session) must not live
    on there (--resume copies those tables whole again), and events re-priced in place are caught by the final check,
    which sends the operator to --restart."""
    now = clock.now()
    today = now.date()
    sqlite_site.env.update(QUIET)
    server = sqlite_site.serve()
    owner = signed_in(server)
    admin = created(owner.api("POST", "/api/v1/tokens", json={"name": "ops", "project": "web",
                                                              "scopes": ["admin", "ingest", "read"]}))["secret"]
    events = [dict(e, id=f"r-{i}") for i, e in enumerate(history(400, 3, now, "r"))]
    ok(api("POST", server, admin, "/api/v1/events", json=events))
    doomed = created(owner.api("POST", "/api/v1/budgets", json={"name": "Doomed", "period": "month",
                                                                "amount_usd": "10"}))["id"]
    created(owner.api("POST", "/api/v1/budgets", json={"name": "Kept", "period": "week", "amount_usd": "10"}))
    source = os.path.join(sqlite_site.data_dir, "tally.sqlite")
    target = fresh_postgres_url()
    assert_moved(migrate_store(source, target), source, target)

    # Meanwhile, on SQLite: a budget deleted; the owner signs out (and in again); gpt-4o re-priced with an own entry.
    assert owner.api("DELETE", f"/api/v1/budgets/{doomed}").status_code == 204
    old_session = owner.at(server)
    assert owner.logout().status_code in (302, 303)
    assert old_session.get("/api/v1/me").status_code == 401
    owner = signed_in(server)
    created(api("POST", server, admin, "/api/v1/prices", json={
        "provider": "openai", "model": "gpt-4o", "from": (today - datetime.timedelta(days=40)).isoformat(),
        "prices": {"input": "1.00", "cached_input": "0.50", "output": "4.00"}}))
    repriced = ok(api("POST", server, admin, "/api/v1/prices/recompute", json={
        "from": (today - datetime.timedelta(days=30)).isoformat(),
        "to": (today + datetime.timedelta(days=1)).isoformat()})).json()
    assert repriced["applied"] is True and repriced["changed"] > 0, repriced
    sample = next(e["id"] for e in events if e["model"] == "gpt-4o" and e["provider"] == "openai")
    cost_on_sqlite = ok(api("GET", server, admin, f"/api/v1/events/{sample}")).json()["cost_usd"]

    # --resume copies every table but the events again (the budget and the session are gone), and the events after the
    # last one copied; events changed in place (the re-pricing) are found by the check, which asks for --restart.
    r = migrate_store(source, target, "--resume")
    assert r.returncode == 1 and "--restart" in "\n".join(stderr_lines(r.stderr)), (r.stdout, r.stderr)
    assert "money.usage_events.cost_nanos" in r.stderr and "rows.budgets" not in r.stderr, r.stderr
    r = migrate_store(source, target, "--restart")
    sqlite_site.stop_all()
    with tempfile.TemporaryDirectory() as pg_dir:
        moved_site = AccountsTally(pg_dir, target, dict(sqlite_site.env, TALLY_MASTER_KEY_FILE=os.path.join(
            sqlite_site.data_dir, "master.key")))
        try:
            pg = moved_site.serve()
            budgets = [b["name"] for b in ok(api("GET", pg, admin, "/api/v1/budgets")).json()["data"]]
            signed_out = old_session.at(pg).get("/api/v1/me").status_code
            cost_on_postgres = ok(api("GET", pg, admin, f"/api/v1/events/{sample}")).json()["cost_usd"]
        finally:
            moved_site.stop_all()
    got = {"exit": r.returncode, "stderr": stderr_lines(r.stderr), "budgets": budgets,
           "signed-out session": signed_out, f"cost of {sample}": cost_on_postgres}
    assert got == {"exit": 0, "stderr": [], "budgets": ["Kept"], "signed-out session": 401,
                   f"cost of {sample}": cost_on_sqlite}, got
    assert_moved(r, source, target)
