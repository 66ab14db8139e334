#!/usr/bin/env python3
"""Scale benchmark (issue 24): Tally on SQLite, or on PostgreSQL, with millions of events.

    python3 bench/scale_bench.py --binary .build-release/release/tally [--events 10000000] [--days 90]
        [--models 40] [--projects 200] [--features 50] [--users 2000] [--data-dir DIR] [--skip-seed]
        [--out DIR] [--port PORT] [--requests 30] [--ingest-seconds 20] [--pure-events 1000000]
        [--gen-procs N] [--order time|random] [--keep-data]
        [--postgres-url postgres://SUPERUSER@HOST:PORT/postgres?sslmode=disable]

Steps (one `tally serve` at a time, on 127.0.0.1; everything started here is stopped in `finally`):
  1. seed      `tally projects create p000..`, then N generated events as NDJSON piped into
               `tally import --ndjson - --batch-size 10000` (generated on the fly, never written whole). The last
               --pure-events of them (default 1M, at most N/2) are first written to a temporary file and imported
               from it, so that import's rate is the importer's own; the piped part reports the time the generator
               spent making lines and the time it sat blocked on the full pipe (the importer being the slower side).
               Events: unique `id`, a `project`, timestamps uniform over the last --days days ending 1 h ago
               (`--order time`, the default: in time order like an export, each event jittered in its own slot;
               `--order random`: shuffled over the whole range), correlated like real traffic (a project uses a few
               features, a feature a few models, users and api_key labels belong to projects; 3 % errors).
  2. serve     an owner (TALLY_ADMIN_EMAIL/PASSWORD) and an admin token (`tally tokens create`, before serve);
               TALLY_SYNC_INTERVAL, TALLY_ALERT_INTERVAL and TALLY_INSIGHT_INTERVAL off so background work does not
               run into the timings; ready when /readyz answers 200 (the time to get there is reported).
  3. latency   p50/p95 over --requests (>= 30) sequential keep-alive requests after 3 warm-ups: the summary of the
               last 30 days `group_by=day,model`, the overview page `/` signed in as the owner (POST /login with the
               double-submit `_csrf`), and `GET /api/v1/events?limit=100`.
  4. ingest    4 threads POSTing NDJSON batches of 500 events (unique ids, timestamps of the last hour) for
               --ingest-seconds into the full store, then the same into a fresh empty data dir; events/s and the
               ratio full/empty.
  5. size      with the server stopped, python's sqlite3 on tally.sqlite (mode=ro) and the dbstat table: bytes of
               usage_events and its indexes per event, the file per event, the rollup tables' total.
  6. retention summaries over the whole range (several groupings, bare dates and RFC 3339 instants at whole days
               and hours) saved before `tally retention --event-days 30` (timed) and fetched again after it: they must
               be byte-identical; the events remaining.
  7. report    $OUT/scale.json, the summaries under $OUT/summaries/, server and import logs; a markdown table on
               stdout (metric, value) with the command line, the UTC date, the commit and the core count.

The run changes its data dir: step 4 adds events, step 6 deletes those older than 30 days. `--skip-seed` on a dir a
run already went through therefore starts from 30 days of events, not --days. A data dir this script made itself
(no --data-dir) is removed at the end unless --keep-data. Needs about 3 GB free per 10M events (checked).

PostgreSQL (--postgres-url, a server URL with a superuser; psql must be on PATH, no Python driver is needed): the
same steps with TALLY_DATABASE_URL set for every tally process (TALLY_DATA_DIR is still set, to a directory the script
makes, but holds no data). The differences:
  1. seed      into a database made fresh on that server, `tally_bench_full` (dropped first if it exists; with
               `--skip-seed` the existing one is reused as it is). Then `VACUUM ANALYZE` of the whole database, timed
               and reported, before anything is measured (it runs with --skip-seed too).
  4. ingest    the empty store is a second fresh database, `tally_bench_empty`, dropped again afterwards.
  5. size      with psql: pg_total_relation_size (table, indexes, TOAST) summed over the partitions of usage_events
               (its children in pg_inherits), of usage_event_keys (and its partitions, if any), and of the rollup
               tables (`%rollup%`: usage_rollup_* and performance_rollup_hourly), and pg_database_size; each also per
               event (the events counted then).
  6. retention timed the same way, the same summaries compared byte for byte; also the partitions of usage_events
               before and after it (monthly partitions `usage_events_yYYYYmMM`, and `usage_events_before`; retention
               drops whole months older than the cut-off and deletes the rest in chunks), and the database size after.
  7. report    the PostgreSQL version and settings (shared_buffers, max_wal_size, ...) in scale.json and the table.
`tally_bench_full` is dropped at the end unless --keep-data (keep it to run again with --skip-seed). The free space
(about 25 GB per 10M events: the store and the WAL) is checked when the server's data_directory is on this machine.
"""
import argparse
import datetime as dt
import http.client
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OWNER_EMAIL = "owner@scale-bench.example"
OWNER_PASSWORD = "scale-bench-password-1"
BYTES_PER_EVENT_NEEDED = 300  # 3 GB per 10M events: the store (~250 B/event with rollups) and headroom
PG_BYTES_PER_EVENT_NEEDED = 2500  # PostgreSQL: 25 GB per 10M events, the database (~2 KB/event) and the WAL
PG_FULL_DB, PG_EMPTY_DB = "tally_bench_full", "tally_bench_empty"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


# ---------------------------------------------------------------------------------------------------------------
# Event generation: precomputed pools of ready-made JSON fragments, lines built with %-formatting (no json.dumps).

# (provider, model, token profile, popularity weight); names the built-in catalog prices unless marked unknown.
MODEL_LIST = [
    ("openai", "gpt-4o", "chat", 14), ("openai", "gpt-4o-mini", "small", 22), ("openai", "gpt-4.1", "chat", 8),
    ("openai", "gpt-4.1-mini", "small", 9), ("openai", "gpt-4.1-nano", "small", 4), ("openai", "o3", "reasoning", 3),
    ("openai", "o3-mini", "reasoning", 2), ("openai", "o4-mini", "reasoning", 4), ("openai", "gpt-5", "reasoning", 6),
    ("openai", "gpt-5-mini", "chat", 7), ("openai", "gpt-5-nano", "small", 3), ("openai", "gpt-5.1", "reasoning", 2),
    ("openai", "text-embedding-3-small", "embedding", 10), ("openai", "text-embedding-3-large", "embedding", 3),
    ("openai", "gpt-4-turbo", "chat", 1), ("openai", "gpt-3.5-turbo", "small", 1), ("openai", "o1", "reasoning", 1),
    ("anthropic", "claude-sonnet-4-5", "long", 12), ("anthropic", "claude-haiku-4-5", "small", 8),
    ("anthropic", "claude-opus-4-1", "long", 2), ("anthropic", "claude-sonnet-4", "chat", 3),
    ("anthropic", "claude-3-5-haiku", "small", 2), ("anthropic", "claude-3-7-sonnet", "chat", 2),
    ("anthropic", "claude-opus-4-5", "long", 1), ("anthropic", "claude-3-5-sonnet", "chat", 1),
    ("google", "gemini-2.5-flash", "chat", 9), ("google", "gemini-2.5-pro", "long", 4),
    ("google", "gemini-2.0-flash", "small", 3), ("google", "gemini-2.5-flash-lite", "small", 3),
    ("google", "gemini-2.0-flash-lite", "small", 1), ("google", "text-embedding-004", "embedding", 2),
    ("google", "gemini-3-pro-preview", "long", 1),
    ("azure_openai", "gpt-4o", "chat", 3), ("azure_openai", "gpt-4o-mini", "small", 2),
    ("vertex_ai", "gemini-2.5-flash", "chat", 1), ("bedrock", "anthropic.claude-3-5-sonnet", "chat", 1),
    ("mistral", "mistral-large-latest", "chat", 1), ("mistral", "mistral-small-latest", "small", 1),  # unknown
    ("ollama", "llama3.1:8b", "small", 1), ("custom", "acme-support-ft-v2", "chat", 1),  # unknown
]
FEATURE_WORDS = ["support-bot", "search", "summarize", "classify", "autocomplete", "translate", "agent", "extract",
                 "rerank", "chat-ui", "code-review", "sql-assist", "email-draft", "meeting-notes", "faq", "moderation",
                 "onboarding", "sentiment", "tagging", "qa-eval", "doc-ingest", "voice-notes", "report-gen",
                 "ticket-triage", "insights"]
ENVIRONMENTS = [("prod", 90), ("staging", 7), ("dev", 3)]
# (median input tokens, sigma, median output tokens, sigma): log-normal draws, capped
PROFILES = {"chat": (1500, 1.0, 300, 0.9), "small": (600, 1.0, 150, 0.9), "reasoning": (3000, 0.9, 1500, 0.8),
            "long": (12000, 0.9, 700, 0.8), "embedding": (300, 0.8, 0, 0)}
POOL_BITS = 12  # 4096-entry pools: pool[getrandbits(12)]


def models_for(n):
    out = list(MODEL_LIST[:n])
    for i in range(len(out), n):  # more than the list: unknown custom models (unpriced)
        out.append(("custom", "custom-model-%02d" % i, "chat", 1))
    return out


def weighted_pool(items, weights, bits, rng):
    """A list of 2**bits items in proportion to their weights (each at least once), shuffled."""
    size = 1 << bits
    total = float(sum(weights))
    counts = [max(1, int(round(w / total * size))) for w in weights]
    pool = []
    for it, c in zip(items, counts):
        pool += [it] * c
    while len(pool) < size:
        pool.append(items[rng.randrange(len(items))])
    rng.shuffle(pool)
    return pool[:size]


class Generator:
    """Builds NDJSON lines fast. The correlation (project → features → models; users, api_key labels and the
    environment per project) decides how many rollup rows the events make, as in real traffic."""

    def __init__(self, a, seed=24):
        rng = random.Random(seed)
        self.models = models_for(a.models)
        self.projects = ["p%03d" % i for i in range(a.projects)]
        nf = a.features
        self.features = [FEATURE_WORDS[i % len(FEATURE_WORDS)] + ("" if i < len(FEATURE_WORDS) else "-v%d" % (i // len(FEATURE_WORDS) + 1))
                         for i in range(nf)]
        # each feature uses 2-3 models, drawn by popularity
        mweights = [m[3] for m in self.models]
        feature_models = []
        for f in range(nf):
            k = 2 + (f % 2)
            chosen = set()
            while len(chosen) < min(k, len(self.models)):
                chosen.add(rng.choices(range(len(self.models)), weights=mweights)[0])
            feature_models.append(sorted(chosen))
        # projects: Pareto-ish popularity; each uses 1-5 features
        pweights = [1.0 / (i + 1) ** 0.8 for i in range(a.projects)]
        rng.shuffle(pweights)
        self.project_pool = weighted_pool(list(range(a.projects)), pweights, POOL_BITS, rng)
        self.combos, self.envs, self.users = [], [], []
        for p, name in enumerate(self.projects):
            feats = rng.sample(range(nf), min(nf, 1 + rng.randrange(5)))
            items, weights = [], []
            for j, f in enumerate(feats):
                for r, mi in enumerate(feature_models[f]):
                    prov, model, prof, _ = self.models[mi]
                    frag = '"provider":"%s","model":"%s","project":"%s","feature":"%s"' % (prov, model, name, self.features[f])
                    items.append((frag, prof))
                    weights.append((1.0 / (j + 1)) * (3 if r == 0 else 1))
            self.combos.append(weighted_pool(items, weights, 6, rng))
            env_items = ['"environment":"%s","api_key":"key-%s-%s"' % (e, name, e) for e, _ in ENVIRONMENTS]
            self.envs.append(weighted_pool(env_items, [w for _, w in ENVIRONMENTS], 6, rng))
            # a project's users: 10-100 of the --users, a few heavy ones
            nu = min(a.users, 10 + rng.randrange(91))
            base = rng.randrange(a.users)
            ids = [(base + k * 7) % a.users for k in range(nu)]
            self.users.append(weighted_pool(['"user":"u-%04d"' % u for u in ids],
                                            [1.0 / (k + 1) for k in range(nu)], 6, rng))
        self.tokens = {name: self._token_pool(rng, name, *prm) for name, prm in PROFILES.items()}
        lat = []
        for _ in range(1 << POOL_BITS):
            ms = int(min(120000, rng.lognormvariate(math.log(1800), 0.9)))
            if rng.random() < 0.6:
                lat.append('"latency_ms":%d,"time_to_first_token_ms":%d,"streamed":true' % (ms, max(1, int(ms * rng.uniform(0.05, 0.4)))))
            else:
                lat.append('"latency_ms":%d,"streamed":false' % ms)
        self.latency = lat
        self.tails = weighted_pool(['"http_status":200,"finish_reason":"stop"', '"http_status":200,"finish_reason":"length"',
                                    '"status":"error","http_status":429,"error_type":"rate_limit"',
                                    '"status":"error","http_status":500,"error_type":"server_error"'],
                                   [95, 2, 2, 1], 10, rng)

    @staticmethod
    def _token_pool(rng, name, mi, si, mo, so):
        pool = []
        for _ in range(1 << POOL_BITS):
            inp = max(1, int(min(200000, rng.lognormvariate(math.log(mi), si))))
            if name == "embedding":
                pool.append('"operation":"embedding","input_tokens":%d,"output_tokens":0' % inp)
                continue
            out = max(1, int(min(32000, rng.lognormvariate(math.log(mo), so))))
            cached = 0 if rng.random() < 0.45 else int(inp * rng.uniform(0.2, 0.9))
            if name == "reasoning":
                pool.append('"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d,"reasoning_tokens":%d'
                            % (inp, cached, out, int(out * rng.uniform(0.3, 0.8))))
            else:
                pool.append('"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d' % (inp, cached, out))
        return pool

    def lines(self, first, n, total, lo_s, hi_s, order, id_prefix, seed):
        """NDJSON lines (one str) for events first..first+n-1 of `total`, timestamps in [lo_s, hi_s) (epoch seconds):
        in time order (event i in its own slot of the range, jittered) or uniformly at random."""
        rng = random.Random(seed)
        r, gb = rng.random, rng.getrandbits
        base = int(lo_s // 86400) * 86400  # UTC midnight on or before lo_s
        days = int((hi_s - base) // 86400) + 2
        day_prefix = [time.strftime("%Y-%m-%dT", time.gmtime(base + d * 86400)) for d in range(days)]
        tod = TOD
        lo, width = lo_s - base, hi_s - lo_s
        step = width / total
        pp, combos, envs, users, toks = self.project_pool, self.combos, self.envs, self.users, self.tokens
        lat, tails = self.latency, self.tails
        fmt = '{"id":"%s%d","timestamp":"%s%s.%06dZ",%s,%s,%s,%s,%s,%s}\n'
        out = []
        append = out.append
        for i in range(first, first + n):
            off = lo + (i + r()) * step if order == "time" else lo + r() * width
            s = int(off)
            d, sod = divmod(s, 86400)
            p = pp[gb(12)]
            combo, prof = combos[p][gb(6)]
            append(fmt % (id_prefix, i, day_prefix[d], tod[sod], int((off - s) * 1e6), combo, envs[p][gb(6)],
                          users[p][gb(6)], toks[prof][gb(12)], lat[gb(12)], tails[gb(10)]))
        return "".join(out)


TOD = ["%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) for s in range(86400)]
_GEN = None  # the worker processes' generator (multiprocessing)


def _worker_init(a_dict):
    global _GEN
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler: the parent stops the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _GEN = Generator(argparse.Namespace(**a_dict))


def _worker_chunk(job):
    first, n, total, lo_s, hi_s, order, prefix, seed = job
    t = time.process_time()
    data = _GEN.lines(first, n, total, lo_s, hi_s, order, prefix, seed).encode()
    return data, time.process_time() - t


# ---------------------------------------------------------------------------------------------------------------
# Processes

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, env, logfile, stdin=subprocess.DEVNULL, stdout=None):
        out = open(logfile, "ab")
        p = subprocess.Popen(argv, env=env, stdin=stdin, stdout=stdout or out, stderr=out, start_new_session=True)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=120):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{p.bench_name} (pid {p.pid}) did not stop in {timeout}s: SIGKILL")
                p.kill()
                p.wait(10)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, timeout=30)


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tally_env(a, data_dir, port=None):
    env = dict(os.environ, TALLY_DATA_DIR=data_dir, TALLY_HOST="127.0.0.1", TALLY_LOG_LEVEL="warning",
               TALLY_TIME_ZONE="UTC", TALLY_SYNC_INTERVAL="off", TALLY_ALERT_INTERVAL="off",
               TALLY_INSIGHT_INTERVAL="off", TALLY_ADMIN_EMAIL=OWNER_EMAIL, TALLY_ADMIN_PASSWORD=OWNER_PASSWORD)
    for k in ("TALLY_DATABASE_URL", "TALLY_EVENT_RETENTION_DAYS", "TALLY_ROLLUP_RETENTION_DAYS", "TALLY_API_RATE_LIMIT",
              "TALLY_DATABASE_READ_URL"):
        env.pop(k, None)
    url = getattr(a, "pg_urls", {}).get(data_dir)  # PostgreSQL: this data dir's database (see main)
    if url:
        env["TALLY_DATABASE_URL"] = url
    if port:
        env["TALLY_PORT"] = str(port)
    return env


def run_cli(a, data_dir, args, check=True, timeout=None):
    r = subprocess.run([a.binary, *args], env=tally_env(a, data_dir), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise SystemExit(f"tally {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def create_projects(a, data_dir):
    existing = set()
    r = run_cli(a, data_dir, ["projects", "list"], check=False)
    if r.returncode == 0:
        existing = {line.split("\t")[1] for line in r.stdout.splitlines() if line.count("\t") >= 1}
    t = time.monotonic()
    made = 0
    for i in range(a.projects):
        name = "p%03d" % i
        if name not in existing:
            run_cli(a, data_dir, ["projects", "create", name])
            made += 1
    return made, round(time.monotonic() - t, 2)


def admin_token(a, data_dir, label):
    r = run_cli(a, data_dir, ["tokens", "create", "--project", "p000", "--scopes", "admin", "--name", label])
    return r.stdout.strip().splitlines()[-1]


class Server:
    def __init__(self, procs, a, data_dir, out, name):
        self.port = a.port if (name != "empty" and a.port) else free_port()
        self.logfile = os.path.join(out, f"serve-{name}.log")
        t = time.monotonic()
        self.proc = procs.start(f"serve {name}", [a.binary, "serve"], tally_env(a, data_dir, self.port), self.logfile)
        self.procs = procs
        deadline = time.monotonic() + 600
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = open(self.logfile, errors="replace").read()[-3000:]
                raise SystemExit(f"tally serve ({name}) did not become ready (exit {self.proc.poll()}):\n{tail}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/readyz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        self.ready_s = round(time.monotonic() - t, 2)

    def conn(self, timeout=600):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self):
        hwm = status_kb(self.proc.pid, "VmHWM")
        rc = self.procs.stop(self.proc)
        return {"exit_code": rc, "vmhwm_mb": round(hwm / 1024, 1) if hwm else None}


def get(conn, path, headers):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    return r.status, r.read(), r


# ---------------------------------------------------------------------------------------------------------------
# Step 1: seed

def seed(a, procs, data_dir, out, gen, window):
    lo_s, hi_s = window
    res = {}
    made, secs = create_projects(a, data_dir)
    res.update(projects_created=made, projects_create_s=secs)
    log(f"seed: {made} projects created in {secs}s")
    n = a.events
    pure = min(a.pure_events, n // 2)
    piped = n - pure
    chunk = 50_000
    prefix = "s%d-" % a.seed
    imp_log = os.path.join(out, "import.log")
    cmd = [a.binary, "import", "--ndjson", "-", "--batch-size", "10000"]

    # 1a. events 0..piped-1 through a pipe, made while the importer reads
    log(f"seed: piping {piped:,} generated events into `tally import` ({a.gen_procs} generator process(es))")
    jobs = [(f, min(chunk, piped - f), n, lo_s, hi_s, a.order, prefix, a.seed * 1_000_003 + f)
            for f in range(0, piped, chunk)]
    gen_cpu = gen_wait = write_s = 0.0
    bytes_out = 0
    pool = it = None
    if a.gen_procs > 1:
        # Forked before the importer starts: a worker forked later would hold the pipe's write end open, and the
        # importer would never see the end of its input.
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(a.gen_procs, _worker_init, (vars(a),))
    t0 = time.monotonic()
    try:
        p = procs.start("import (pipe)", cmd, tally_env(a, data_dir), imp_log, stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE)
        stdout_box = []
        reader = threading.Thread(target=lambda: stdout_box.append(p.stdout.read()), daemon=True)
        reader.start()
        if pool is not None:
            it = pool.imap(_worker_chunk, jobs)
        for job in jobs:
            tg = time.monotonic()
            if it is not None:
                data, cpu = next(it)
                gen_cpu += cpu
            else:
                data = gen.lines(*job).encode()
            gen_wait += time.monotonic() - tg
            tw = time.monotonic()
            try:
                p.stdin.write(data)
            except BrokenPipeError:  # the importer stopped (an invalid line, a failure): its output says why
                break
            write_s += time.monotonic() - tw
            bytes_out += len(data)
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        rc = p.wait()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    wall = time.monotonic() - t0
    reader.join(10)
    procs.procs.remove(p)
    text = (stdout_box[0] if stdout_box else b"").decode(errors="replace").strip()
    if rc != 0:
        raise SystemExit(f"tally import (pipe) failed ({rc}): {text}\n" + open(imp_log, errors="replace").read()[-2000:])
    stored = parse_imported(text)
    gen_s = gen_wait  # the time the writer waited for lines (made here, or by the worker processes)
    res["pipe"] = {"events": piped, "stored": stored, "wall_s": round(wall, 2),
                   "events_per_s": round(piped / wall) if wall else None, "bytes": bytes_out,
                   "bytes_per_line": round(bytes_out / piped, 1) if piped else None,
                   "generator_processes": a.gen_procs,
                   "generate_s": round(gen_s, 2), "generator_cpu_s": round(gen_cpu, 2) if a.gen_procs > 1 else None,
                   "write_blocked_s": round(write_s, 2),
                   "generator_share": round(gen_s / wall, 3) if wall else None,
                   "generator_lines_per_s": round(piped / gen_s) if gen_s and a.gen_procs <= 1 else None,
                   "import_output": text}
    # The importer was the slower side when the writer spent more time blocked on the full pipe than making lines.
    res["pipe"]["generator_kept_up"] = write_s >= gen_s
    log(f"seed: pipe {piped:,} events in {wall:.1f}s = {res['pipe']['events_per_s']:,}/s (generating {gen_s:.1f}s, "
        f"blocked on the pipe {write_s:.1f}s)")

    # 1b. the last `pure` events: written to a file first, then imported from it (the importer's own rate)
    if pure:
        tmpdir = tempfile.mkdtemp(prefix="tally-scale-ndjson-", dir=os.path.dirname(os.path.abspath(data_dir)))
        path = os.path.join(tmpdir, "events.ndjson")
        try:
            tg = time.monotonic()
            size = 0
            with open(path, "wb") as f:
                for first in range(piped, n, chunk):
                    data = gen.lines(first, min(chunk, n - first), n, lo_s, hi_s, a.order, prefix,
                                     a.seed * 1_000_003 + first).encode()
                    f.write(data)
                    size += len(data)
            gen_file_s = time.monotonic() - tg
            log(f"seed: wrote {pure:,} events ({size / 1e6:.0f} MB) in {gen_file_s:.1f}s; importing the file")
            t = time.monotonic()
            r = subprocess.run(cmd[:3] + [path] + cmd[4:], env=tally_env(a, data_dir), capture_output=True, text=True)
            wall_f = time.monotonic() - t
            with open(imp_log, "a") as lf:
                lf.write(r.stderr)
            if r.returncode != 0:
                raise SystemExit(f"tally import (file) failed ({r.returncode}): {r.stdout}\n{r.stderr[-2000:]}")
            res["file"] = {"events": pure, "stored": parse_imported(r.stdout), "wall_s": round(wall_f, 2),
                           "events_per_s": round(pure / wall_f), "file_bytes": size,
                           "generate_s": round(gen_file_s, 2), "generator_lines_per_s": round(pure / gen_file_s),
                           "import_output": r.stdout.strip()}
            log(f"seed: file import {pure:,} events in {wall_f:.1f}s = {res['file']['events_per_s']:,}/s")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    total_stored = (res["pipe"]["stored"] or 0) + (res.get("file", {}).get("stored") or 0)
    res["stored"] = total_stored
    if total_stored != n:
        log(f"seed: WARNING stored {total_stored:,} of {n:,} events")
    return res


def parse_imported(text):
    m = re.search(r"imported (\d+) events", text)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------------------------
# Step 3: latency

def login(srv):
    c = srv.conn(60)
    status, body, r = get(c, "/login", {})
    if status != 200:
        raise SystemExit(f"GET /login: {status}")
    cookies = {}
    for h in r.headers.get_all("Set-Cookie") or []:
        k, _, v = h.split(";", 1)[0].partition("=")
        cookies[k.strip()] = v.strip()
    m = re.search(rb'name="_csrf"[^>]*value="([^"]+)"', body) or re.search(rb'value="([^"]+)"[^>]*name="_csrf"', body)
    if not m:
        raise SystemExit("no _csrf field on /login")
    form = urllib.parse.urlencode({"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "_csrf": m.group(1).decode(),
                                   "next": "/"})
    c.request("POST", "/login", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
    r = c.getresponse()
    r.read()
    c.close()
    session = None
    for h in r.headers.get_all("Set-Cookie") or []:
        k, _, v = h.split(";", 1)[0].partition("=")
        if k.strip() == "tally_session" and v:
            session = v.strip()
    if r.status != 303 or not session:
        raise SystemExit(f"POST /login: {r.status}, no session cookie")
    return "tally_session=" + session


def measure(srv, path, headers, n, warmup, check=None):
    c = srv.conn(600)
    lat, statuses, size = [], {}, 0
    first_ms = None
    for i in range(warmup + n):
        t = time.perf_counter()
        status, body, _ = get(c, path, headers)
        ms = (time.perf_counter() - t) * 1000
        if i == 0:
            first_ms = ms
            if status != 200 or (check and not check(body)):
                raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        if i >= warmup:
            lat.append(ms)
            statuses[status] = statuses.get(status, 0) + 1
        size = len(body)
    c.close()
    return {"path": path, "n": n, "warmup": warmup, "statuses": statuses, "resp_bytes": size,
            "first_ms": round(first_ms, 2), "p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2),
            "max_ms": round(max(lat), 2)}


def latency(a, srv, token):
    bearer = {"Authorization": "Bearer " + token}
    res = {}
    res["summary_30d_day_model"] = measure(srv, "/api/v1/usage/summary?group_by=day,model", bearer, a.requests, 3,
                                           lambda b: b"\"groups\"" in b)
    cookie = login(srv)
    res["overview_page"] = measure(srv, "/", {"Cookie": cookie}, a.requests, 3,
                                   lambda b: b'id="cycle"' in b)  # the overview itself, not a sign-in page
    res["events_latest_100"] = measure(srv, "/api/v1/events?limit=100", bearer, a.requests, 3,
                                       lambda b: b"\"data\"" in b)
    for k, v in res.items():
        log(f"latency {k}: p50 {v['p50_ms']} ms, p95 {v['p95_ms']} ms (first {v['first_ms']} ms)")
    return res


# ---------------------------------------------------------------------------------------------------------------
# Step 4: ingest over HTTP

def ingest_bodies(a, gen, now_s):
    """A pool of NDJSON bodies of --ingest-batch events with the id placeholder #K#, timestamps in the last hour."""
    bodies = []
    nb = 64
    total = nb * a.ingest_batch
    for b in range(nb):
        text = gen.lines(b * a.ingest_batch, a.ingest_batch, total, now_s - 3600, now_s - 5, "time",
                         "ing-#K#-", 7_000_000 + b)
        body = text.encode()
        assert len(body) < 1024 * 1024, len(body)
        bodies.append(body)
    return bodies


def ingest(a, srv, token, bodies, label):
    counter = itertools.count()
    lock = threading.Lock()
    st = {"requests": 0, "accepted": 0, "duplicates": 0, "errors": 0, "error_samples": []}
    run = "%s%d" % (label, int(time.time()))
    deadline = time.monotonic() + a.ingest_seconds
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"}

    def worker():
        c = srv.conn(120)
        while time.monotonic() < deadline:
            k = next(counter)
            body = bodies[k % len(bodies)].replace(b"#K#", b"%s-%d" % (run.encode(), k))
            c.request("POST", "/api/v1/events", body=body, headers=hdr)
            r = c.getresponse()
            data = r.read()
            with lock:
                st["requests"] += 1
                if r.status == 200:
                    j = json.loads(data)
                    st["accepted"] += j["accepted"]
                    st["duplicates"] += j["duplicates"]
                else:
                    st["errors"] += 1
                    if len(st["error_samples"]) < 3:
                        st["error_samples"].append([r.status, data[:300].decode("utf-8", "replace")])
        c.close()

    t = time.monotonic()
    th = [threading.Thread(target=worker) for _ in range(a.ingest_threads)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    el = time.monotonic() - t
    st.update(seconds=round(el, 2), events_per_s=round(st["accepted"] / el), threads=a.ingest_threads,
              batch=a.ingest_batch)
    log(f"ingest {label}: {st['accepted']:,} events in {el:.1f}s = {st['events_per_s']:,}/s, {st['errors']} errors")
    return st


# ---------------------------------------------------------------------------------------------------------------
# Step 5: sizes

def sizes(db_path):
    uri = "file:" + urllib.parse.quote(os.path.abspath(db_path)) + "?mode=ro"
    c = sqlite3.connect(uri, uri=True)
    try:
        events = c.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0]
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        page_count = c.execute("PRAGMA page_count").fetchone()[0]
        freelist = c.execute("PRAGMA freelist_count").fetchone()[0]
        ev_objs = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE tbl_name='usage_events' "
                                           "AND type IN ('table','index')")]
        rollup_tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%rollup%'")]
        rollup_objs = [r[0] for r in c.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table','index') AND tbl_name IN (%s)"
            % ",".join("?" * len(rollup_tables)), rollup_tables)] if rollup_tables else []
        file_bytes = os.path.getsize(db_path)
        wal = db_path + "-wal"
        res = {"events": events, "file_bytes": file_bytes, "wal_bytes": os.path.getsize(wal) if os.path.exists(wal) else 0,
               "page_size": page_size, "page_count": page_count, "freelist_pages": freelist,
               "file_bytes_per_event": round(file_bytes / events, 1) if events else None}
        try:
            t = time.monotonic()
            per = dict(c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall())
            res["dbstat_s"] = round(time.monotonic() - t, 1)
        except sqlite3.OperationalError as e:
            res["dbstat"] = f"unavailable: {e}"
            return res
        ev_bytes = {k: per.get(k, 0) for k in ev_objs}
        res["usage_events_bytes"] = ev_bytes
        res["usage_events_total_bytes"] = sum(ev_bytes.values())
        res["usage_events_bytes_per_event"] = round(sum(ev_bytes.values()) / events, 1) if events else None
        res["usage_events_table_bytes_per_event"] = round(ev_bytes.get("usage_events", 0) / events, 1) if events else None
        rows = {}
        for t_ in rollup_tables:
            rows[t_] = c.execute(f"SELECT COUNT(*) FROM {t_}").fetchone()[0]
        res["rollup_bytes"] = {k: per.get(k, 0) for k in rollup_objs}
        res["rollup_rows"] = rows
        res["rollup_total_bytes"] = sum(res["rollup_bytes"].values())
        res["rollup_bytes_per_event"] = round(res["rollup_total_bytes"] / events, 1) if events else None
        res["all_objects_bytes"] = sum(per.values())
        return res
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL (--postgres-url): psql for everything the script itself asks the server

def db_url(server_url, dbname):
    """The server URL with its database replaced by dbname (query, e.g. sslmode, kept)."""
    u = urllib.parse.urlsplit(server_url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def psql(url, sql, timeout=None):
    """Runs sql (one statement) with psql against url; its rows unaligned, no headers."""
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"psql failed ({r.returncode}) on {sql[:200]!r}: {r.stderr.strip()[-1000:]}")
    return r.stdout.strip()


def psql_json(url, sql):
    out = psql(url, sql)
    return json.loads(out) if out else None


def pg_recreate(server_url, dbname):
    psql(server_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    psql(server_url, f'CREATE DATABASE "{dbname}"')


def pg_drop(server_url, dbname):
    try:
        psql(server_url, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', timeout=600)
    except Exception as e:  # noqa: BLE001  (cleanup: say so, carry on)
        log(f"could not drop database {dbname}: {e}")


def pg_server_info(server_url):
    info = psql_json(server_url, "SELECT json_build_object('version', current_setting('server_version'), "
                     + ", ".join(f"'{k}', current_setting('{k}')" for k in (
                         "shared_buffers", "max_wal_size", "checkpoint_timeout", "synchronous_commit",
                         "work_mem", "maintenance_work_mem", "effective_cache_size", "max_connections",
                         "data_directory")) + ")")
    return info


def pg_count_events(url):
    return int(psql(url, "SELECT COUNT(*) FROM usage_events"))


def pg_partitions(url):
    """The partitions of usage_events (its children in pg_inherits), by name."""
    out = psql(url, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'usage_events'::regclass ORDER BY c.relname")
    return out.split("\n") if out else []


def pg_sizes(url):
    """pg_total_relation_size (table + indexes + TOAST) of the events' partitions, the keys, the rollups; the
    database's size; each per event."""
    events = pg_count_events(url)
    per_event = lambda b: round(b / events, 1) if events and b is not None else None  # noqa: E731
    # every relation of a table's partition tree (pg_inherits, recursively), the table itself included
    tree = ("WITH RECURSIVE t(oid) AS (SELECT '{0}'::regclass::oid UNION ALL "
            "SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid) ")
    parts = psql_json(url, tree.format("usage_events") + (
        "SELECT json_object_agg(c.relname, json_build_object('total', pg_total_relation_size(c.oid), "
        "'table', pg_table_size(c.oid), 'indexes', pg_indexes_size(c.oid), 'rows_estimate', c.reltuples::bigint)) "
        "FROM t JOIN pg_class c ON c.oid = t.oid WHERE c.relkind <> 'p'")) or {}
    keys = psql_json(url, tree.format("usage_event_keys") + (
        "SELECT json_build_object('total', SUM(pg_total_relation_size(t.oid)), 'table', SUM(pg_table_size(t.oid)), "
        "'indexes', SUM(pg_indexes_size(t.oid)), 'rows', (SELECT COUNT(*) FROM usage_event_keys)) FROM t"))
    rollup_tables = [x for x in psql(url, "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
                                          "AND relnamespace = 'public'::regnamespace AND relname LIKE '%rollup%' "
                                          "ORDER BY relname").split("\n") if x]
    rollup_bytes, rollup_rows = {}, {}
    for t_ in rollup_tables:
        rollup_bytes[t_] = int(psql(url, tree.format(t_) + "SELECT SUM(pg_total_relation_size(oid)) FROM t"))
        rollup_rows[t_] = int(psql(url, f'SELECT COUNT(*) FROM "{t_}"'))
    dbsize = int(psql(url, "SELECT pg_database_size(current_database())"))
    ev_total = sum(v["total"] for v in parts.values())
    ev_table = sum(v["table"] for v in parts.values())
    res = {"events": events, "usage_events_partitions": parts, "usage_events_total_bytes": ev_total,
           "usage_events_bytes_per_event": per_event(ev_total),
           "usage_events_table_bytes_per_event": per_event(ev_table),
           "usage_events_indexes_bytes_per_event": per_event(sum(v["indexes"] for v in parts.values())),
           "usage_event_keys": keys, "usage_event_keys_bytes_per_event": per_event(keys["total"]),
           "rollup_bytes": rollup_bytes, "rollup_rows": rollup_rows, "rollup_total_bytes": sum(rollup_bytes.values()),
           "rollup_bytes_per_event": per_event(sum(rollup_bytes.values())),
           "database_bytes": dbsize, "database_bytes_per_event": per_event(dbsize)}
    return res


# ---------------------------------------------------------------------------------------------------------------
# Step 6: summaries around retention

def summary_queries(window, retention_days):
    """Summaries over the whole range, every edge on a whole day or hour (so read from the rollups, which retention
    keeps), and two inside the part retention deletes."""
    lo_s, hi_s = window
    d0 = dt.datetime.fromtimestamp(lo_s, dt.timezone.utc).date()
    end = dt.datetime.fromtimestamp(time.time(), dt.timezone.utc).date() + dt.timedelta(days=1)
    boundary = end - dt.timedelta(days=retention_days + 1)  # retention keeps events from this UTC midnight on
    iso = lambda d, h=0: f"{d.isoformat()}T{h:02d}:00:00Z"  # noqa: E731
    rng = f"from={d0.isoformat()}&to={end.isoformat()}"
    q = {
        "day_model": f"/api/v1/usage/summary?{rng}&group_by=day,model",
        "month_project": f"/api/v1/usage/summary?{rng}&group_by=month,project",
        "totals": f"/api/v1/usage/summary?{rng}",
        "week_provider_instants": f"/api/v1/usage/summary?from={iso(d0)}&to={iso(end)}&group_by=week,provider",
    }
    span = (boundary - d0).days
    if span >= 2:
        cut = d0 + dt.timedelta(days=span // 2)  # a day inside the deleted part
        q["whole_days_deleted_part"] = f"/api/v1/usage/summary?from={iso(d0)}&to={iso(cut)}&group_by=day,feature"
        q["whole_hours_deleted_part"] = (f"/api/v1/usage/summary?from={iso(d0, 7)}&to={iso(cut, 17)}"
                                         "&group_by=environment,status")
    return q


def fetch_summaries(srv, token, queries, out, tag):
    c = srv.conn(600)
    got = {}
    for name, path in queries.items():
        t = time.perf_counter()
        status, body, _ = get(c, path, {"Authorization": "Bearer " + token})
        ms = (time.perf_counter() - t) * 1000
        got[name] = {"status": status, "body": body, "ms": round(ms, 1)}
        with open(os.path.join(out, "summaries", f"{tag}-{name}.json"), "wb") as f:
            f.write(body)
        if status != 200:
            log(f"summary {name} ({tag}): {status} {body[:200]!r}")
    c.close()
    return got


# ---------------------------------------------------------------------------------------------------------------

def machine(a):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    binary = os.path.abspath(a.binary)
    # the tree the binary was built in (e.g. a separate release checkout), when it is another git work tree
    bin_root = sh(f"git -C {os.path.dirname(binary)} rev-parse --show-toplevel")
    bin_tree = {}
    if bin_root and os.path.realpath(bin_root) != os.path.realpath(ROOT):
        bin_tree = {"binary_tree": bin_root, "binary_commit": sh(f"git -C {bin_root} rev-parse --short HEAD"),
                    "binary_tree_dirty": bool(sh(f"git -C {bin_root} status --porcelain --untracked-files=no"))}
    return {**bin_tree,
        "command": " ".join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": sh(f"git -C {ROOT} rev-parse --short HEAD"),
        "worktree_dirty": bool(sh(f"git -C {ROOT} status --porcelain --untracked-files=no")),
        "cores": os.cpu_count(), "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "mem": sh("free -g | sed -n 2p"), "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
        "binary": binary, "binary_bytes": os.path.getsize(binary),
        "build": "debug" if "/debug/" in binary else ("release" if "/release/" in binary else "unknown (see binary)"),
        "binary_mtime": dt.datetime.fromtimestamp(os.path.getmtime(binary), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def fmt(v, nd=0):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, (int, float)):
        return f"{v:,.{nd}f}"
    return str(v)


def markdown(R):
    m, L = R["machine"], []
    row = lambda k, v: L.append(f"| {k} | {v} |")  # noqa: E731
    L += ["| metric | value |", "|---|---|"]
    row("command", f"`{m['command']}`")
    row("date (UTC)", m["date"])
    row("commit", m["commit"] + (" (worktree modified)" if m["worktree_dirty"] else "")
        + (f"; the binary's tree `{m['binary_tree']}`: {m['binary_commit']}"
           + (" (worktree modified)" if m["binary_tree_dirty"] else "") if m.get("binary_tree") else ""))
    row("cores", m["cores"])
    pg = R.get("postgres")
    if pg:
        si = pg.get("server") or {}
        row("store", f"PostgreSQL {si.get('version', '?')} (shared_buffers {si.get('shared_buffers')}, max_wal_size "
            f"{si.get('max_wal_size')}, checkpoint_timeout {si.get('checkpoint_timeout')}, synchronous_commit "
            f"{si.get('synchronous_commit')}, work_mem {si.get('work_mem')}); database `{pg.get('database')}`")
    row("binary", f"`{m['binary']}`: {m['build']}, {m['binary_bytes'] / 1e6:,.0f} MB, built {m['binary_mtime']}")
    p = R["params"]
    row("events / days / models / projects", f"{p['events']:,} / {p['days']} / {p['models']} / {p['projects']} "
        f"(order {p['order']})")
    s = R.get("seed")
    if s:
        pi = s["pipe"]
        row("seed: projects create", f"{s['projects_created']} in {s['projects_create_s']} s")
        row("seed: piped import (generated on the fly)", f"{fmt(pi['events'])} events in {pi['wall_s']} s = "
            f"**{fmt(pi['events_per_s'])} events/s**")
        row("seed: generator during the pipe", f"{pi['generate_s']} s making lines, {pi['write_blocked_s']} s blocked "
            f"on the full pipe; kept up: {fmt(pi['generator_kept_up'])}")
        fi = s.get("file")
        if fi:
            row("seed: importer's own rate (pre-generated file)", f"{fmt(fi['events'])} events in {fi['wall_s']} s = "
                f"**{fmt(fi['events_per_s'])} events/s** (generator alone: {fmt(fi['generator_lines_per_s'])} lines/s)")
        row("seed: events stored", fmt(s["stored"]))
    else:
        row("seed", "skipped (--skip-seed)")
    row("store events at start", fmt(R.get("events_at_start")))
    if pg and pg.get("vacuum_analyze_s") is not None:
        row("`VACUUM ANALYZE` (whole database, after the seed, before any timing)", f"**{pg['vacuum_analyze_s']} s**")
    sf = R["serve_full"]
    row("serve on the full store", f"ready in {sf['ready_s']} s" + (f", VmHWM {sf['vmhwm_mb']} MB after latency, "
        "ingest and summaries" if sf.get("vmhwm_mb") else ""))
    for k, v in R.get("latency", {}).items():
        row(f"latency: {k} (`{v['path']}`)", f"p50 **{v['p50_ms']} ms**, p95 **{v['p95_ms']} ms** "
            f"(n={v['n']}, first {v['first_ms']} ms, {fmt(v['resp_bytes'])} B)")
    ing = R.get("ingest", {})
    if "full" in ing:
        row("ingest into the full store", f"**{fmt(ing['full']['events_per_s'])} events/s** "
            f"({ing['full']['threads']} threads × {ing['full']['batch']}-event NDJSON batches, "
            f"{ing['full']['seconds']} s, {ing['full']['errors']} errors)")
    if "empty" in ing:
        row("ingest into an empty store", f"**{fmt(ing['empty']['events_per_s'])} events/s** "
            f"({ing['empty']['errors']} errors)")
    if "ratio_full_to_empty" in ing:
        row("ingest ratio full / empty", fmt(ing["ratio_full_to_empty"], 3))
    z = R.get("size")
    if z and "database_bytes" in z:  # PostgreSQL
        row("events in the store (size step)", fmt(z["events"]))
        row("usage_events partitions + indexes per event", f"**{fmt(z['usage_events_bytes_per_event'], 1)} B** (tables "
            f"{fmt(z['usage_events_table_bytes_per_event'], 1)} B, indexes {fmt(z['usage_events_indexes_bytes_per_event'], 1)}"
            f" B; {z['usage_events_total_bytes'] / 1e6:,.1f} MB in {len(z['usage_events_partitions'])} partitions)")
        row("usage_events partitions", ", ".join(f"{k} {v['total'] / 1e6:,.1f} MB" for k, v in
                                                sorted(z["usage_events_partitions"].items())))
        k_ = z["usage_event_keys"]
        row("usage_event_keys per event", f"**{fmt(z['usage_event_keys_bytes_per_event'], 1)} B** "
            f"({k_['total'] / 1e6:,.1f} MB: table {k_['table'] / 1e6:,.1f} MB, indexes {k_['indexes'] / 1e6:,.1f} MB; "
            f"{fmt(k_['rows'])} rows)")
        row("rollup tables", f"{z['rollup_total_bytes'] / 1e6:,.1f} MB = **{fmt(z['rollup_bytes_per_event'], 1)} B/event**; "
            + ", ".join(f"{k} {fmt(v)} rows" for k, v in z["rollup_rows"].items()))
        row("database per event", f"**{fmt(z['database_bytes_per_event'], 1)} B** (pg_database_size "
            f"{z['database_bytes'] / 1e6:,.1f} MB)")
    elif z:
        row("events in the store (size step)", fmt(z["events"]))
        row("usage_events + indexes per event", f"**{fmt(z.get('usage_events_bytes_per_event'), 1)} B** (table alone "
            f"{fmt(z.get('usage_events_table_bytes_per_event'), 1)} B)")
        if z.get("usage_events_bytes"):
            row("usage_events objects", ", ".join(f"{k} {v / 1e6:,.1f} MB" for k, v in z["usage_events_bytes"].items()))
        row("file per event", f"{fmt(z['file_bytes_per_event'], 1)} B (file {z['file_bytes'] / 1e6:,.1f} MB)")
        if z.get("rollup_total_bytes") is not None:
            row("rollup tables", f"{z['rollup_total_bytes'] / 1e6:,.1f} MB = {fmt(z['rollup_bytes_per_event'], 1)} B/event; "
                + ", ".join(f"{k} {fmt(v)} rows" for k, v in z["rollup_rows"].items()))
    rt = R.get("retention")
    if rt:
        row(f"retention `--event-days {p['retention_days']}`", f"**{rt['wall_s']} s** wall; `{rt['output']}`")
        row("events deleted by retention", fmt(rt.get("events_deleted")))
        row("events remaining after retention", fmt(rt.get("events_after")))
        if rt.get("partitions_before") is not None:
            row("usage_events partitions before / after retention",
                f"**{len(rt['partitions_before'])} / {len(rt.get('partitions_after') or [])}** (dropped: "
                + (", ".join(sorted(set(rt["partitions_before"]) - set(rt.get("partitions_after") or []))) or "none")
                + "; after: " + ", ".join(rt.get("partitions_after") or []) + ")")
        row("summaries byte-identical before/after", f"**{fmt(rt.get('identical'))}** "
            + "(" + ", ".join(f"{k}: {'same' if v else 'DIFFERENT'}" for k, v in rt.get("per_summary", {}).items()) + ")")
        if rt.get("summaries"):
            row("whole-range summaries, ms before / after", ", ".join(
                f"{k} {v['ms_before']:,.0f} / {v['ms_after']:,.0f}" for k, v in rt["summaries"].items()))
        if rt.get("database_bytes_after") is not None:
            row("database after retention", f"{rt['database_bytes_after'] / 1e6:,.1f} MB (pg_database_size); "
                f"usage_event_keys rows {fmt(rt.get('event_keys_after'))}")
        if rt.get("file_bytes_after") is not None:
            row("file after retention", f"{rt['file_bytes_after'] / 1e6:,.1f} MB ({fmt(rt.get('freelist_pages_after'))} free pages)")
    if R.get("errors"):
        row("errors", "; ".join(R["errors"]))
    return "\n".join(L)


def main():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--binary", default=os.path.join(ROOT, ".build-release", "release", "tally"))
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--models", type=int, default=40)
    p.add_argument("--projects", type=int, default=200)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--data-dir", default=None, help="default: a new directory under /tmp (removed unless --keep-data)")
    p.add_argument("--keep-data", action="store_true", help="keep the data dir this script made")
    p.add_argument("--skip-seed", action="store_true", help="reuse the already seeded --data-dir")
    p.add_argument("--out", default=os.path.join(HERE, "results", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-scale"))
    p.add_argument("--port", type=int, default=0, help="port of the full store's serve (default: a free one)")
    p.add_argument("--requests", type=int, default=30, help="measured requests per latency probe (>= 30)")
    p.add_argument("--ingest-seconds", type=float, default=20)
    p.add_argument("--ingest-threads", type=int, default=4)
    p.add_argument("--ingest-batch", type=int, default=500)
    p.add_argument("--pure-events", type=int, default=1_000_000,
                   help="events imported from a pre-generated file (at most --events/2)")
    p.add_argument("--gen-procs", type=int, default=1, help="generator processes feeding the pipe")
    p.add_argument("--order", choices=("time", "random"), default="time")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--retention-days", type=int, default=30, help="tally retention --event-days (step 6)")
    p.add_argument("--postgres-url", default=None,
                   help="run on PostgreSQL: a server URL with a superuser, e.g. "
                        "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; the script makes the databases "
                        f"{PG_FULL_DB} and {PG_EMPTY_DB} on it")
    a = p.parse_args()
    if a.requests < 30:
        raise SystemExit("--requests: at least 30")
    if a.projects < 1 or a.projects > 1000 or a.models < 1 or a.features < 1 or a.users < 1 or a.days < 2:
        raise SystemExit("--projects 1..1000, --models/--features/--users >= 1, --days >= 2")
    a.binary = os.path.abspath(a.binary)
    if not os.access(a.binary, os.X_OK):
        raise SystemExit(f"no tally binary at {a.binary}")
    made_data_dir = a.data_dir is None
    pg = a.postgres_url is not None
    pg_info = None
    if pg:
        if not shutil.which("psql"):
            raise SystemExit("--postgres-url needs psql on PATH")
        pg_info = pg_server_info(a.postgres_url)  # also checks the URL works
        full_url = db_url(a.postgres_url, PG_FULL_DB)
        if a.skip_seed:
            exists = psql(a.postgres_url, f"SELECT 1 FROM pg_database WHERE datname = '{PG_FULL_DB}'")
            if not exists or not psql(full_url, "SELECT to_regclass('usage_events') IS NOT NULL") == "t":
                raise SystemExit(f"--skip-seed needs a seeded database {PG_FULL_DB} on {a.postgres_url}")
    elif a.skip_seed:
        if made_data_dir or not os.path.exists(os.path.join(a.data_dir, "tally.sqlite")):
            raise SystemExit("--skip-seed needs --data-dir with a seeded tally.sqlite")
    data_dir = os.path.abspath(a.data_dir) if a.data_dir else tempfile.mkdtemp(prefix="tally-scale-", dir="/tmp")
    if pg:
        os.makedirs(data_dir, exist_ok=True)
        a.pg_urls = {data_dir: full_url}  # tally_env: TALLY_DATABASE_URL for every tally process on this data dir
    out = os.path.abspath(a.out)
    os.makedirs(os.path.join(out, "summaries"), exist_ok=True)

    def require_free(probe, per_event, what):
        """The free space of `probe`'s disk, after stopping the run when it is less than the seed needs."""
        free = shutil.disk_usage(probe).free
        need = a.events * per_event
        if free < need:
            if made_data_dir:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise SystemExit(f"{probe}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed for {a.events:,} "
                             f"events {what}")
        return free, need

    if pg and not a.skip_seed:
        probe = pg_info.get("data_directory") or ""
        if os.path.isdir(probe):  # the server is on this machine: its disk
            require_free(probe, PG_BYTES_PER_EVENT_NEEDED, "on PostgreSQL (25 GB per 10M)")
        else:
            log(f"PostgreSQL's data directory {probe!r} is not on this machine: free space not checked")
    elif not a.skip_seed:
        probe = data_dir if os.path.exists(data_dir) else os.path.dirname(data_dir)
        free, need = require_free(probe, BYTES_PER_EVENT_NEEDED, "(3 GB per 10M)")
        if free < 2 * need:  # usage_events and its indexes alone measured ~340 B/event, then rollups and the file
            log(f"warning: {free / 1e9:.1f} GB free; the store, its rollups and the --pure-events file may need up "
                f"to {2 * need / 1e9:.1f} GB")
    db = os.path.join(data_dir, "tally.sqlite")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    R = {"machine": machine(a), "params": {k: v for k, v in vars(a).items() if k != "pg_urls"}, "data_dir": data_dir,
         "errors": []}
    R["params"]["data_dir"] = data_dir
    if pg:
        R["postgres"] = {"server": pg_info, "database": PG_FULL_DB, "empty_database": PG_EMPTY_DB}
    procs = Procs()
    gen = Generator(a)
    now_s = time.time()
    window = (now_s - 3600 - a.days * 86400, now_s - 3600)
    R["window"] = [dt.datetime.fromtimestamp(x, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for x in window]
    empty_dir = None
    empty_db_made = False
    interrupted = False
    log(f"data dir {data_dir}; results -> {out}" + (f"; PostgreSQL {pg_info['version']}, database {PG_FULL_DB}"
                                                     if pg else ""))
    try:
        # 1. seed
        if not a.skip_seed:
            if pg:
                pg_recreate(a.postgres_url, PG_FULL_DB)
            R["seed"] = seed(a, procs, data_dir, out, gen, window)
        if pg:  # statistics and the visibility map fresh before anything is timed
            log("postgres: VACUUM ANALYZE")
            t = time.monotonic()
            psql(full_url, "VACUUM ANALYZE")
            R["postgres"]["vacuum_analyze_s"] = round(time.monotonic() - t, 2)
            log(f"postgres: VACUUM ANALYZE in {R['postgres']['vacuum_analyze_s']}s")
        # 2. serve on the full store
        token = admin_token(a, data_dir, "scale-bench")
        if pg:
            R["events_at_start"] = pg_count_events(full_url)
        else:
            c = sqlite3.connect("file:" + urllib.parse.quote(db) + "?mode=ro", uri=True)
            R["events_at_start"] = c.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0]
            c.close()
        log(f"serve: starting on {R['events_at_start']:,} events")
        srv = Server(procs, a, data_dir, out, "full")
        R["serve_full"] = {"ready_s": srv.ready_s, "port": srv.port}
        log(f"serve: ready in {srv.ready_s}s")
        # 3. latency
        R["latency"] = latency(a, srv, token)
        # 4. ingest into the full store
        bodies = ingest_bodies(a, gen, time.time())
        R["ingest"] = {"full": ingest(a, srv, token, bodies, "full")}
        # 6a. summaries before retention (the server has everything now)
        queries = summary_queries(window, a.retention_days)
        before = fetch_summaries(srv, token, queries, out, "before")
        R["serve_full"].update(srv.stop())
        # 4b. the same ingest into an empty store
        empty_dir = tempfile.mkdtemp(prefix="tally-scale-empty-", dir=os.path.dirname(data_dir))
        if pg:
            pg_recreate(a.postgres_url, PG_EMPTY_DB)
            empty_db_made = True
            a.pg_urls[empty_dir] = db_url(a.postgres_url, PG_EMPTY_DB)
        create_projects(a, empty_dir)
        etoken = admin_token(a, empty_dir, "scale-bench")
        esrv = Server(procs, a, empty_dir, out, "empty")
        R["ingest"]["empty"] = ingest(a, esrv, etoken, bodies, "empty")
        R["serve_empty"] = {"ready_s": esrv.ready_s, **esrv.stop()}
        shutil.rmtree(empty_dir, ignore_errors=True)
        empty_dir = None
        if empty_db_made:
            pg_drop(a.postgres_url, PG_EMPTY_DB)
            empty_db_made = False
        if R["ingest"]["empty"]["events_per_s"]:
            R["ingest"]["ratio_full_to_empty"] = round(
                R["ingest"]["full"]["events_per_s"] / R["ingest"]["empty"]["events_per_s"], 3)
        # 5. sizes (server stopped: the WAL is checkpointed)
        if pg:
            log("size: pg_total_relation_size over the store")
            R["size"] = pg_sizes(full_url)
        else:
            log("size: dbstat over the store")
            R["size"] = sizes(db)
        # 6b. retention
        log(f"retention: tally retention --event-days {a.retention_days}")
        parts_before = pg_partitions(full_url) if pg else None
        t = time.monotonic()
        r = run_cli(a, data_dir, ["retention", "--event-days", str(a.retention_days)], check=False)
        wall = time.monotonic() - t
        rt = {"wall_s": round(wall, 2), "exit_code": r.returncode, "output": r.stdout.strip(),
              "stderr": r.stderr.strip()[-1000:]}
        m = re.search(r"deleted (\d+) raw events", r.stdout)
        rt["events_deleted"] = int(m.group(1)) if m else None
        R["retention"] = rt
        if pg:
            rt["partitions_before"] = parts_before
            rt["partitions_after"] = pg_partitions(full_url)
            log(f"retention: partitions {len(parts_before)} before, {len(rt['partitions_after'])} after")
        if r.returncode != 0:
            R["errors"].append(f"tally retention exited {r.returncode}: {r.stderr.strip()[-300:]}")
        log(f"retention: {rt['output']} ({wall:.1f}s wall)")
        srv = Server(procs, a, data_dir, out, "after-retention")
        after = fetch_summaries(srv, token, queries, out, "after")
        srv.stop()
        per = {k: before[k]["status"] == 200 and before[k]["body"] == after[k]["body"] for k in queries}
        rt["per_summary"] = per
        rt["identical"] = all(per.values())
        rt["summaries"] = {k: {"path": queries[k], "status_before": before[k]["status"],
                               "status_after": after[k]["status"], "bytes": len(before[k]["body"]),
                               "ms_before": before[k]["ms"], "ms_after": after[k]["ms"]} for k in queries}
        if pg:
            rt["events_after"] = pg_count_events(full_url)
            rt["database_bytes_after"] = int(psql(full_url, "SELECT pg_database_size(current_database())"))
            rt["event_keys_after"] = int(psql(full_url, "SELECT COUNT(*) FROM usage_event_keys"))
        else:
            c = sqlite3.connect("file:" + urllib.parse.quote(db) + "?mode=ro", uri=True)
            rt["events_after"] = c.execute("SELECT COUNT(*) FROM usage_events").fetchone()[0]
            rt["freelist_pages_after"] = c.execute("PRAGMA freelist_count").fetchone()[0]
            c.close()
            rt["file_bytes_after"] = os.path.getsize(db)
        log(f"retention: identical {rt['identical']}, {rt['events_after']:,} events remain")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping everything started")
    except SystemExit as e:
        R["errors"].append(str(e))
        log(f"failed: {e}")
    finally:
        procs.stop_all()
        if empty_dir:
            shutil.rmtree(empty_dir, ignore_errors=True)
        if empty_db_made:
            pg_drop(a.postgres_url, PG_EMPTY_DB)
        if made_data_dir and not a.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
            R["data_dir_removed"] = True
        if pg and not a.keep_data:
            log(f"postgres: dropping {PG_FULL_DB} (--keep-data keeps it)")
            pg_drop(a.postgres_url, PG_FULL_DB)
            R["postgres"]["database_dropped"] = True
        with open(os.path.join(out, "scale.json"), "w") as f:
            json.dump(R, f, indent=1)
        md = markdown(R) if "serve_full" in R else json.dumps(R.get("errors"))
        with open(os.path.join(out, "summary.md"), "w") as f:
            f.write(md + "\n")
        print(md)
        log(f"results -> {os.path.join(out, 'scale.json')}")
    if interrupted:
        sys.exit(130)
    if R["errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
