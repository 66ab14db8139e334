#!/usr/bin/env python3
"""One alert evaluation cycle over many budgets and events (issue 17's benchmark).

Starts a real `tally serve` (SQLite file or a fresh PostgreSQL database; background evaluation off), creates
--budgets budgets through the API (scopes over projects, features, API keys and models; day, week and month periods;
thresholds 80/90/100) and seeds --events events through the batched ingest API with bench/tally_bench.py's generator
(8 days of traffic, ids made by the server), then times --runs cycles of `POST /api/v1/alerts/check?dry_run=true`
(every budget's status and every spike and unpriced-model rule, nothing written).

Then it grows the raw events table to --raw rows (half of it first, then all) by copying the ingested rows with SQL
(`INSERT … SELECT`, new event ids, the rollups untouched) and times the cycle again at each size. Ingesting 10 M
events through the API takes most of an hour with a debug build on a shared 2-core machine; the copies make the raw
table as big in seconds. The rollups' size does not depend on the event count but on the distinct (hour, project,
provider, model, feature, api_key, environment…) combinations, which 8 days of this traffic reach within the first
events (the summary line prints the rollup rows); so a flat cycle time while the raw table grows tenfold shows the
cycle reads the rollups, never the raw events.

  python3 bench/alerts_bench.py --store sqlite --events 1000000 --raw 10000000
  python3 bench/alerts_bench.py --store postgres --events 1000000 --raw 10000000   # needs TALLY_TEST_POSTGRES_URL

Prints one JSON object per phase and a summary line for docs/benchmarks.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.parse
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tally_bench  # noqa: E402

EMAIL, PASSWORD = "bench@example.test", "bench-password-0123"


def fresh_postgres_url(base):
    parts = urllib.parse.urlsplit(base)
    name = "tally_alerts_bench_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", "-q", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                    "-d", parts.path.lstrip("/") or "tally", "-c", f"CREATE DATABASE {name}"], check=True)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def start(binary, store, data_dir, port):
    env = dict(os.environ, TALLY_ADMIN_EMAIL=EMAIL, TALLY_ADMIN_PASSWORD=PASSWORD, TALLY_ALERT_INTERVAL="off",
               TALLY_SYNC_INTERVAL="off", TALLY_LOG_LEVEL="warning")
    args = [binary, "serve", "--port", str(port), "--data-dir", data_dir]
    database = None
    if store == "postgres":
        database = fresh_postgres_url(os.environ["TALLY_TEST_POSTGRES_URL"])
        args += ["--database-url", database]
    log = open(os.path.join(data_dir, "serve.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url, database
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit("tally serve did not become ready")


def session(url):
    s = requests.Session()
    login = s.get(url + "/login")
    csrf = s.cookies.get("tally_csrf")
    r = s.post(url + "/login", data={"email": EMAIL, "password": PASSWORD, "_csrf": csrf}, allow_redirects=False)
    assert r.status_code == 303, (login.status_code, r.status_code, r.text[:300])
    s.headers["X-CSRF-Token"] = s.get(url + "/api/v1/me").json()["csrf_token"]
    return s


def create_budgets(s, url, n):
    """`n` budgets: a quarter each over the organization, a feature, an API key label and a model, with periods
    cycling day/week/month and amounts from $1 to $1,000, so some thresholds are crossed and some are not."""
    kinds = [{}, {"feature": tally_bench.FEATURES}, {"api_key": ["key-%02d" % k for k in range(20)]},
             {"model": [m for _, m in tally_bench.MODELS]}]
    for i in range(n):
        kind = kinds[i % 4]
        scope = {d: values[i % len(values)] for d, values in kind.items()}
        body = {"name": f"budget {i}", "scope": scope, "period": ["day", "week", "month"][i % 3],
                "amount_usd": f"{1 + (i * 37) % 1000}.00", "thresholds": [80, 90, 100]}
        r = s.post(url + "/api/v1/budgets", json=body)
        assert r.status_code == 201, r.text[:300]


def token(s, url):
    s.post(url + "/api/v1/projects", json={"name": "bench"})
    r = s.post(url + "/api/v1/tokens", json={"name": "bench", "project": "bench", "scopes": ["ingest"]})
    assert r.status_code == 201, r.text[:300]
    return r.json()["secret"]


def seed(port, secret, pid, target, threads):
    a = types.SimpleNamespace(port=port, token=secret, threads=threads, seconds=0, pid=pid, target=target)
    bodies = tally_bench.make_bodies(300, 1000, None, 8)
    return tally_bench.run_posts(a, bodies, infinite=True)


class SQL:
    """The benchmark's own SQL on the server's database (sqlite3 or psql): counting rows, copying events."""

    def __init__(self, store, data_dir, database):
        self.store, self.path, self.database = store, os.path.join(data_dir, "tally.sqlite"), database

    def run(self, sql):
        if self.store == "sqlite":
            cmd = ["sqlite3", "-cmd", ".timeout 600000", self.path, sql]
        else:
            cmd = ["psql", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", self.database, "-c", sql]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    def count(self, table):
        return int(self.run(f"SELECT count(*) FROM {table}").splitlines()[-1])

    def rollup_rows(self):
        if self.store == "sqlite":
            names = self.run("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'usage_rollup%'")
        else:
            names = self.run("SELECT tablename FROM pg_tables WHERE tablename LIKE 'usage_rollup%'")
        return {n: self.count(n) for n in names.split()}

    def columns(self):
        if self.store == "sqlite":
            out = self.run("SELECT name FROM pragma_table_info('usage_events')")
        else:
            out = self.run("SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_events' "
                           "ORDER BY ordinal_position")
        return [c for c in out.split() if c != "seq"]

    def copy_events(self, copy, limit):
        """Adds up to `limit` copies of the ingested events (ids without '~'), each id suffixed '~<copy>'."""
        cols = self.columns()
        select = ", ".join(f"event_id || '~{copy}'" if c == "event_id" else c for c in cols)
        self.run(f"INSERT INTO usage_events ({', '.join(cols)}) SELECT {select} FROM usage_events "
                 f"WHERE event_id NOT LIKE '%~%' LIMIT {limit}")


def time_checks(s, url, runs):
    times, fired = [], None
    for _ in range(runs):
        t = time.monotonic()
        r = s.post(url + "/api/v1/alerts/check?dry_run=true", timeout=600)
        times.append(time.monotonic() - t)
        assert r.status_code == 200, r.text[:300]
        fired = len(r.json()["fired"])
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": runs, "would_fire": fired}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--bin", default=".build/debug/tally")
    p.add_argument("--events", type=int, default=1_000_000, help="events ingested through the API")
    p.add_argument("--raw", type=int, default=10_000_000, help="raw event rows at the end, by SQL copies")
    p.add_argument("--budgets", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=18_731)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TALLY_BENCH_DIR")) as d:
        proc, url, database = start(os.path.abspath(a.bin), a.store, d, a.port)
        try:
            s = session(url)
            t = time.monotonic()
            create_budgets(s, url, a.budgets)
            print(json.dumps({"phase": "budgets", "count": a.budgets, "seconds": round(time.monotonic() - t, 1)}))
            secret = token(s, url)
            sql = SQL(a.store, d, database)
            st = seed(a.port, secret, proc.pid, a.events, a.threads)
            st.update(phase="seed", store=a.store)
            print(json.dumps(st))
            sys.stdout.flush()
            ingested = sql.count("usage_events")
            results, copy = [], 0
            for target in [ingested, a.raw // 2, a.raw]:
                have = sql.count("usage_events")
                t = time.monotonic()
                while have < target:
                    sql.copy_events(copy, target - have)
                    have, copy = sql.count("usage_events"), copy + 1
                if results:
                    print(json.dumps({"phase": "copy", "rows": have, "seconds": round(time.monotonic() - t, 1)}))
                cycle = time_checks(s, url, a.runs)
                cycle.update(phase="check", store=a.store, raw_events=have, ingested=ingested, budgets=a.budgets,
                             rollup_rows=sql.rollup_rows())
                results.append(cycle)
                print(json.dumps(cycle))
                sys.stdout.flush()
            print(f"| {a.store} | {a.budgets} | {ingested:,} | "
                  + " · ".join(f"{r['raw_events']:,}: {r['median_s']} s (max {r['max_s']} s)" for r in results)
                  + f" | {sum(results[-1]['rollup_rows'].values()):,} | {results[-1]['would_fire']} |")
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
