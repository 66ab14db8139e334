#!/usr/bin/env python3
"""Load generator and probes for the Tally benchmarks (driven by bench/run.sh).

Sub-commands (all talk to one `tally serve` on 127.0.0.1 over keep-alive HTTP/1.1):
  batch   POST pre-generated 1,000-event JSON array bodies from N threads; prints events/s.
  seed    like batch but bodies carry no `id` (the server generates one), so a small pool of
          bodies can be cycled until the store holds --target events or --seconds elapse.
  query   GET a path --n times sequentially; prints p50/p95/p99/max in ms.
  rss     (used internally) samples /proc/PID/status while another sub-command runs.
Every sub-command takes --pid to sample the server's VmRSS every 100 ms and report max VmRSS and VmHWM.
Output: one JSON object on stdout per run (run.sh collects them into results.jsonl).
"""
import argparse, datetime as dt, http.client, json, random, sys, threading, time

MODELS = [  # (provider, model) ~20 models
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("openai", "gpt-4.1-mini"),
    ("openai", "o3"), ("openai", "o4-mini"), ("openai", "text-embedding-3-small"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-1"), ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-3-5-haiku"), ("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.0-flash"), ("mistral", "mistral-large-latest"), ("mistral", "mistral-small-latest"),
    ("bedrock", "anthropic.claude-3-5-sonnet"), ("azure_openai", "gpt-4o"), ("vertex_ai", "gemini-2.5-flash"),
    ("openai", "gpt-5"),
]
FEATURES = ["support-bot", "search", "summarize", "classify", "autocomplete", "translate", "agent",
            "extract", "rerank", "chat-ui"]
ENVS = ["prod", "staging", "dev"]


# Correlated like real traffic (the rollups' size depends on it): each feature uses 2 of the models,
# environment is 90% prod / 7% staging / 3% dev, the api_key label follows (feature, environment) (20 labels),
# users: half uniform over 200, half Pareto-skewed (a few heavy users); 3% of requests fail.
FEATURE_MODELS = {f: [MODELS[(2 * i) % len(MODELS)], MODELS[(2 * i + 1) % len(MODELS)]] for i, f in enumerate(FEATURES)}


def make_event(rng, i, id_prefix, t0, span_s):
    feature = rng.choice(FEATURES)
    prov, model = rng.choice(FEATURE_MODELS[feature])
    r = rng.random(); env = "prod" if r < 0.90 else ("staging" if r < 0.97 else "dev")
    api_key = "key-%02d" % ((FEATURES.index(feature) * 2 + ENVS.index(env)) % 20)
    user = "u-%d" % (rng.randrange(200) if rng.random() < 0.5 else min(199, int(rng.paretovariate(1.2)) - 1))
    ts = t0 + dt.timedelta(seconds=rng.uniform(0, span_s))
    inp = rng.randint(50, 20000)
    cached = rng.randint(0, inp // 2)
    out = rng.randint(1, 2000)
    ev = {"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "provider": prov, "model": model,
          "input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
          "feature": feature, "user": user, "api_key": api_key, "environment": env,
          "latency_ms": rng.randint(80, 30000), "streamed": rng.random() < 0.5}
    if id_prefix is not None:
        ev["id"] = "%s-%d" % (id_prefix, i)
    if rng.random() < 0.03:
        ev["status"] = "error"; ev["http_status"] = 429; ev["error_type"] = "rate_limit"
    else:
        ev["http_status"] = 200; ev["finish_reason"] = "stop"
    return ev


def make_bodies(n_bodies, per_body, id_prefix, days, seed=1):
    """Bodies of `per_body` events whose timestamps advance through the last `days` days, body after body,
    as traffic arrives: each request carries the calls of the last few minutes or hours, not a random sample of
    the month (which would touch a different rollup row for nearly every event)."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = today - dt.timedelta(days=days - 1)
    span = max(1.0, (now - t0).total_seconds() - 60)
    slot = span / n_bodies
    bodies, k = [], 0
    for b in range(n_bodies):
        evs = []
        for _ in range(per_body):
            evs.append(make_event(rng, k, id_prefix, t0 + dt.timedelta(seconds=b * slot), slot)); k += 1
        evs.sort(key=lambda e: e["timestamp"])
        body = json.dumps(evs, separators=(",", ":")).encode()
        assert len(body) < 1024 * 1024, len(body)
        bodies.append(body)
    return bodies


class RSS:
    def __init__(self, pid):
        self.pid, self.max_rss, self.hwm, self._stop = pid, 0, 0, threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)

    def read(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.max_rss = max(self.max_rss, int(line.split()[1]))
                    elif line.startswith("VmHWM:"):
                        self.hwm = max(self.hwm, int(line.split()[1]))
        except OSError:
            pass

    def loop(self):
        while not self._stop.wait(0.1):
            self.read()

    def __enter__(self):
        if self.pid: self.read(); self.t.start()
        return self

    def __exit__(self, *a):
        if self.pid: self._stop.set(); self.t.join(); self.read()

    def result(self):
        return {"max_vmrss_mb": round(self.max_rss / 1024, 1), "vmhwm_mb": round(self.hwm / 1024, 1)}


def conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=120)


def post_worker(port, token, bodies, idx_iter, lock, stats, deadline, target):
    c = conn(port)
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    while True:
        with lock:
            if (deadline and time.monotonic() > deadline) or (target and stats["accepted"] >= target):
                break
            i = next(idx_iter, None)
        if i is None:
            break
        body = bodies[i % len(bodies)]
        c.request("POST", "/api/v1/events", body=body, headers=hdr)
        r = c.getresponse(); data = r.read()
        with lock:
            stats["requests"] += 1
            if r.status == 200:
                j = json.loads(data); stats["accepted"] += j["accepted"]; stats["duplicates"] += j["duplicates"]
            else:
                stats["errors"] += 1
                if len(stats["error_samples"]) < 5:
                    stats["error_samples"].append([r.status, data[:300].decode("utf-8", "replace")])
    c.close()


def run_posts(a, bodies, infinite):
    import itertools
    stats = {"requests": 0, "accepted": 0, "duplicates": 0, "errors": 0, "error_samples": []}
    lock = threading.Lock()
    idx = itertools.count() if infinite else iter(range(len(bodies)))
    deadline = time.monotonic() + a.seconds if a.seconds else None
    with RSS(a.pid) as rss:
        t = time.monotonic()
        th = [threading.Thread(target=post_worker, args=(a.port, a.token, bodies, idx, lock, stats, deadline,
                                                           getattr(a, "target", 0))) for _ in range(a.threads)]
        for x in th: x.start()
        for x in th: x.join()
        el = time.monotonic() - t
    stats.update(seconds=round(el, 2), events_per_s=round(stats["accepted"] / el), threads=a.threads, **rss.result())
    return stats


def cmd_batch(a):
    t = time.monotonic()
    bodies = make_bodies(a.events // 1000, 1000, "%s-%d" % (a.label, int(time.time())), a.days, seed=a.seed)
    gen = time.monotonic() - t
    st = run_posts(a, bodies, infinite=False)
    st.update(phase="batch", label=a.label, body_bytes_avg=sum(map(len, bodies)) // len(bodies), gen_seconds=round(gen, 1))
    print(json.dumps(st)); sys.stdout.flush()


def cmd_seed(a):
    bodies = make_bodies(a.pool, 1000, None, a.days, seed=a.seed)
    st = run_posts(a, bodies, infinite=True)
    st.update(phase="seed", label=a.label)
    print(json.dumps(st)); sys.stdout.flush()


def pct(xs, p):
    xs = sorted(xs); k = (len(xs) - 1) * p / 100; f = int(k)
    return xs[f] if f + 1 >= len(xs) else xs[f] + (xs[f + 1] - xs[f]) * (k - f)


def cmd_query(a):
    c = conn(a.port)
    # Dashboard pages are read with a session cookie; the API with a bearer token.
    hdr = {"Cookie": a.cookie} if a.cookie else {"Authorization": "Bearer " + a.token}
    lat, statuses, size = [], {}, 0
    with RSS(a.pid) as rss:
        for _ in range(a.n):
            t = time.perf_counter()
            c.request("GET", a.path, headers=hdr); r = c.getresponse(); d = r.read()
            lat.append((time.perf_counter() - t) * 1000)
            statuses[r.status] = statuses.get(r.status, 0) + 1; size = len(d)
    out = {"phase": "query", "label": a.label, "path": a.path, "n": a.n, "statuses": statuses, "resp_bytes": size,
           "p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2), "p99_ms": round(pct(lat, 99), 2),
           "max_ms": round(max(lat), 2), "first_ms": round(lat[0], 2), **rss.result()}
    if r.status != 200: out["last_body"] = d[:300].decode("utf-8", "replace")
    print(json.dumps(out)); sys.stdout.flush()


def cmd_rss(a):
    """Sample RSS of --pid until --seconds elapse or stdin closes; used around wrk runs."""
    with RSS(a.pid) as rss:
        try:
            sys.stdin.read()
        except KeyboardInterrupt:
            pass
    print(json.dumps({"phase": "rss", "label": a.label, **rss.result()}))


def main():
    p = argparse.ArgumentParser()
    sp = p.add_subparsers(dest="cmd", required=True)
    for name in ("batch", "seed", "query", "rss"):
        s = sp.add_parser(name)
        s.add_argument("--port", type=int, default=8080); s.add_argument("--token", default="")
        s.add_argument("--pid", type=int, default=0); s.add_argument("--label", default="")
        s.add_argument("--threads", type=int, default=4); s.add_argument("--seconds", type=float, default=0)
        s.add_argument("--days", type=int, default=30); s.add_argument("--seed", type=int, default=1)
        s.add_argument("--events", type=int, default=600000); s.add_argument("--target", type=int, default=0)
        s.add_argument("--pool", type=int, default=300); s.add_argument("--path", default="/api/v1/events?limit=100")
        s.add_argument("--n", type=int, default=50); s.add_argument("--cookie", default="")
    a = p.parse_args()
    {"batch": cmd_batch, "seed": cmd_seed, "query": cmd_query, "rss": cmd_rss}[a.cmd](a)


if __name__ == "__main__":
    main()
