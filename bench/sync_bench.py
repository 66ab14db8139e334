#!/usr/bin/env python3
"""Provider sync backfill benchmark: 90 days × 50 models × 20 projects × 20 keys from the local report stand-ins.

    .venv/bin/python bench/sync_bench.py --binary .build-release/release/tally [--days 90] [--out DIR]

Starts the OpenAI and Anthropic usage-report stand-ins (e2e/standins/usage_reports.py) on the large dataset,
times fetching every page directly (the stand-in's own cost, so it is known not to be the bottleneck), then starts
`tally serve` on a fresh SQLite data dir (background sync off), adds one connection per provider with an admin key
and runs `POST /api/v1/provider-connections/{id}/sync` over the whole range. Prints one JSON object per phase:
rows stored, pages, seconds, rows/s, server peak RSS.
"""
import argparse, datetime as dt, json, os, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from standins.usage_reports import LARGE, UsageReportStandIn  # noqa: E402

ADMIN = {"openai": "sk-admin-bench-" + "0" * 40, "anthropic": "sk-ant-admin01-bench-" + "0" * 40}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, token=None, headers=None, timeout=3600):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def direct_pages(standin, provider, start, end):
    """Every page Tally will ask for, fetched straight from the stand-in: its own time and row count."""
    paths = (["/v1/organization/usage/" + e for e in ("completions", "embeddings", "moderations", "images",
                                                       "audio_speeches", "audio_transcriptions")] + ["/v1/organization/costs"]
             if provider == "openai" else ["/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"])
    groups = {"completions": "model,project_id,api_key_id,batch,service_tier", "costs": "project_id,line_item",
              "messages": "model,api_key_id,workspace_id,service_tier,context_window", "cost_report": "workspace_id,description"}
    rows = pages = 0
    t0 = time.perf_counter()
    for path in paths:
        name = path.rsplit("/", 1)[1]
        group = groups.get(name, "model,project_id,api_key_id").split(",")
        page = None
        while True:
            if provider == "openai":
                q = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", "1d"), ("limit", "7")] + [("group_by", g) for g in group]
                h = {"Authorization": "Bearer " + ADMIN[provider]}
            else:
                iso = lambda s: dt.datetime.fromtimestamp(s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                q = [("starting_at", iso(start)), ("ending_at", iso(end)), ("bucket_width", "1d"), ("limit", "7")] + [("group_by[]", g) for g in group]
                h = {"x-api-key": ADMIN[provider], "anthropic-version": "2023-06-01"}
            if page:
                q.append(("page", page))
            _, body = call(standin.url + path + "?" + urllib.parse.urlencode(q), headers=h)
            doc = json.loads(body)
            pages += 1
            rows += sum(len(b["results"]) for b in doc["data"])
            if not doc["has_more"]:
                break
            page = doc["next_page"]
    return {"phase": "standin-direct", "provider": provider, "pages": pages, "rows": rows,
            "seconds": round(time.perf_counter() - t0, 2)}


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    import urllib.parse  # noqa: F401  (used in direct_pages)
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default=os.path.join(HERE, "..", ".build-release", "release", "tally"))
    p.add_argument("--days", type=int, default=LARGE["days"])
    p.add_argument("--out", default=None)
    a = p.parse_args()
    params = dict(LARGE, days=a.days)
    results = []

    def emit(r):
        results.append(r)
        print(json.dumps(r), flush=True)

    standins = {prov: UsageReportStandIn(prov, **params) for prov in ("openai", "anthropic")}
    for s in standins.values():
        s.start()
    now = int(time.time())
    end = (now // 86400 + 1) * 86400
    start = end - a.days * 86400
    for prov, s in standins.items():
        emit(direct_pages(s, prov, start, end))

    data = tempfile.mkdtemp(prefix="tally-sync-bench-")
    port = free_port()
    env = dict(os.environ, TALLY_SYNC_INTERVAL="off", TALLY_DATA_DIR=data, TALLY_PORT=str(port), TALLY_LOG_LEVEL="warning",
               TALLY_ALLOW_PRIVATE_UPSTREAMS="127.0.0.0/8")  # the report stand-in is on loopback
    subprocess.run([a.binary, "projects", "create", "bench", "--data-dir", data], check=True, capture_output=True)
    token = subprocess.run([a.binary, "tokens", "create", "--project", "bench", "--scopes", "admin", "--data-dir", data],
                           check=True, capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([a.binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "serve.log"), "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if call(base + "/readyz")[0] == 200:
                    break
            except Exception:
                time.sleep(0.2)
        for prov, s in standins.items():
            _, body = call(base + "/api/v1/provider-connections", "POST",
                           {"provider": prov, "name": prov, "admin_key": ADMIN[prov], "base_url": s.url}, token)
            cid = json.loads(body)["id"]
            t0 = time.perf_counter()
            _, body = call(base + f"/api/v1/provider-connections/{cid}/sync", "POST",
                           {"from": dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%Y-%m-%d"),
                            "to": dt.datetime.fromtimestamp(end, dt.timezone.utc).strftime("%Y-%m-%d")}, token)
            seconds = time.perf_counter() - t0
            run = json.loads(body)
            emit({"phase": "backfill", "provider": prov, "days": a.days, "status": run["status"], "error": run["error"],
                  "pages": run["pages"], "rows": run["rows"], "seconds": round(seconds, 2),
                  "rows_per_s": round(run["rows"] / seconds), "server_peak_rss_mb": peak_rss_mb(server.pid)})
        size = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data) if f.startswith("tally.sqlite"))
        emit({"phase": "store", "sqlite_mb": round(size / 2**20, 1)})
    finally:
        server.terminate()
        server.wait()
        for s in standins.values():
            s.stop()
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "sync-results.jsonl"), "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    import urllib.parse
    main()
