#!/usr/bin/env python3
"""One alert evaluation cycle over many budgets and events (issue 17's benchmark).

Starts a real `tally serve` (SQLite file or a fresh PostgreSQL database; background evaluation off), creates
--budgets budgets through the API (scopes over projects, features, API keys and models; day, week and month periods;
thresholds 80/90/100) and seeds events through the batched ingest API with bench/tally_bench.py's generator (8 days
of traffic, ids made by the server). It seeds half of --events, times --runs cycles of
`POST /api/v1/alerts/check?dry_run=true` (every budget's status and every spike and unpriced-model rule, nothing
written), seeds the other half and times them again: the engine reads the hourly rollups, so the cycle's time does
not grow with the raw events.

  python3 bench/alerts_bench.py --store sqlite --events 10000000
  python3 bench/alerts_bench.py --store postgres --events 10000000   # needs TALLY_TEST_POSTGRES_URL

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
    if store == "postgres":
        args += ["--database-url", fresh_postgres_url(os.environ["TALLY_TEST_POSTGRES_URL"])]
    log = open(os.path.join(data_dir, "serve.log"), "w")
    proc = subprocess.Popen(args, stdout=log, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
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
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--budgets", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=18_731)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TALLY_BENCH_DIR")) as d:
        proc, url = start(os.path.abspath(a.bin), a.store, d, a.port)
        try:
            s = session(url)
            t = time.monotonic()
            create_budgets(s, url, a.budgets)
            print(json.dumps({"phase": "budgets", "count": a.budgets, "seconds": round(time.monotonic() - t, 1)}))
            secret = token(s, url)
            results = {}
            for label, target in [("half", a.events // 2), ("full", a.events)]:
                have = results.get("half", {}).get("events", 0)
                st = seed(a.port, secret, proc.pid, target - have, a.threads)
                st.update(phase="seed", label=label, store=a.store)
                print(json.dumps(st))
                sys.stdout.flush()
                cycle = time_checks(s, url, a.runs)
                cycle.update(phase="check", label=label, store=a.store, events=have + st["accepted"],
                             budgets=a.budgets)
                results[label] = cycle
                print(json.dumps(cycle))
                sys.stdout.flush()
            half, full = results["half"], results["full"]
            print(f"| {a.store} | {a.budgets} | {half['events']:,} → {full['events']:,} | "
                  f"{half['median_s']} s → {full['median_s']} s (max {full['max_s']} s) | {full['would_fire']} |")
        finally:
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
