#!/usr/bin/env python3
"""Gateway benchmark: the same OpenAI chat completions sent direct to a fast local upstream, through Tally's gateway,
and through LiteLLM's proxy, one target after the other.

    python3 bench/gateway_bench.py --binary .build-release/release/tally [--seconds 10] [--out DIR]
        [--warmup 3] [--ttft-n 500] [--paced-n 30] [--chunk-delay 0.02] [--targets direct,tally,litellm]
        [--postgres URL]  (targets also: tally-guarded, tally-pg, tally-pg-guarded; see "Guardrails" below)
        [--upstream nginx|python] [--litellm-venv bench/.venv-litellm] [--litellm-spec 'litellm[proxy]']
        [--litellm-workers N]

Sets up what it needs: wrk, nginx and its Lua module (apt-get, if missing; no service is started) and
bench/.venv-litellm with `litellm[proxy]` from PyPI (if missing; the test venv .venv is not touched).
Upstream: nginx (1 worker) answering `POST /v1/chat/completions` with the exact bytes the Python stand-in
(e2e/standins/upstreams.py `serve --fast`) renders, JSON or SSE (`"stream": true` in the body; one HTTP chunk per
event, usage chunk and `data: [DONE]` last), its OpenAI headers, and a fresh `x-request-id` per request: Tally keys its
events on that id, and the stand-in's fast mode answers a fixed one (so Tally would store one deduplicated event;
`--upstream python` uses the stand-in anyway). The stand-in alone does ~55k req/s at 64 clients here with one thread
at ~18 µs of CPU a request, nginx ~100k at ~9 µs; the direct rows are the upstream's own figures and its CPU per
request is recorded in every phase. A second stand-in, `--chunk-delay` between its events, serves the paced streams.
Tally: `tally serve` on a temp SQLite data dir (TALLY_SYNC_INTERVAL=off, TALLY_LOG_LEVEL=warning, TALLY_ALLOW_PRIVATE_UPSTREAMS=127.0.0.0/8), a project and an
admin+gateway token from the CLI, two connections added through the API (`bench`, the default, and `bench-paced`,
picked with X-Tally-Connection). LiteLLM: `litellm --config` (uvicorn, its default worker count of 1, master key, no
database, LITELLM_LOG=ERROR, LITELLM_LOCAL_MODEL_COST_MAP=True: without it LiteLLM fetches its price map from GitHub
at import) with two model names on the same two upstreams (`gpt-4o-mini-paced` for the paced streams). Every
request carries the same body (bodies/request-*.json); streams ask for `stream_options.include_usage` themselves.

Phases per target (direct, tally, litellm), non-streaming `POST /v1/chat/completions` unless said:
  check       one request and one stream through the target, the exact answers saved under $OUT/bodies/
  warmup      wrk -c64 for --warmup seconds, not recorded
  latency     wrk -t1 -c1 and wrk -t2 -c32, --seconds each: p50/p90/p99/p99.9 (wrk's µs histogram)
  throughput  wrk -t2 -c64, --seconds; then the same with `"stream": true` (throughput-stream)
  ttft        Python raw-socket client, one keep-alive connection, --ttft-n streams (after 50 unrecorded): time to
              the first body byte after sending, to the first SSE event, to the end; p50/p90/p99
  paced       --paced-n streams from the pacing upstream (8 events, --chunk-delay between): first and last event
              arrival, span between them vs direct (a proxy holding chunks back shows a short span)
Guardrails (issue 19): `tally-guarded` is the same server with an enforced budget and an enforced policy
(requests/tokens per minute, concurrent calls) on the benchmark's project, far above what the run spends, so every
call reserves and settles without being refused; `tally-pg` and `tally-pg-guarded` run on a fresh database of the
PostgreSQL server of --postgres (run under scripts/with-postgres). summary.md then has a guardrails table.
Content (issue 21): `tally-content` captures the project's bodies (redacted) and runs three safety filters on every
request and answer (CONTENT_FILTERS, none matching); summary.md then has a content table against `tally`.
Every phase records the requests completed, errors, the CPU time (utime+stime from /proc/PID/stat, process tree for
LiteLLM) per request of the proxy and of the upstream, the machine's busy CPU % (phases of 1 s or more), and the
proxy's sampled VmRSS max (every 100 ms) and VmHWM. After Tally stops (gracefully, its event queue drained) the
gateway events in its SQLite store are counted against the requests completed.
Results: one JSON object per phase printed and appended to $OUT/results.jsonl, $OUT/summary.md (tables for
docs/benchmarks.md), $OUT/machine.txt, wrk output $OUT/wrk-*.txt, server logs, LiteLLM config, request/response bodies.
About 3 minutes at the defaults once the LiteLLM venv exists.
"""
import argparse
import datetime as dt
import base64
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STANDIN = os.path.join(ROOT, "e2e", "standins", "upstreams.py")
sys.path.insert(0, os.path.join(ROOT, "e2e"))
from standins.upstreams import BENCH_BODIES, DEFAULT_KEYS  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
UPSTREAM_KEY = DEFAULT_KEYS["openai"]
LITELLM_KEY = "sk-litellm-bench-master-key"
MODEL = BENCH_BODIES["openai"][1]["model"]
CHAT_BODY = BENCH_BODIES["openai"][1]            # max_tokens 64
STREAM_BODY = BENCH_BODIES["openai-stream"][1]   # stream + stream_options.include_usage (Tally adds it otherwise)
PACED_MODEL_LITELLM = MODEL + "-paced"           # LiteLLM routes by model name; Tally and direct by connection / URL

WRK_LUA = r"""-- wrk script of bench/gateway_bench.py: one fixed POST. env GB_BODY (JSON body), GB_HEADERS ("Name: value" lines)
wrk.method = "POST"
wrk.body = os.getenv("GB_BODY")
wrk.headers["Content-Type"] = "application/json"
for k, v in string.gmatch(os.getenv("GB_HEADERS") or "", "([^\n:]+): ([^\n]+)") do wrk.headers[k] = v end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('JSON {"requests":%d,"seconds":%.3f,"bytes":%d,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,'
    .. '"p999_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,'
    .. '"errors_status":%d,"errors_timeout":%d}\n', summary.requests, summary.duration / 1e6, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.mean / 1000, latency.max / 1000, e.connect, e.read, e.write, e.status,
    e.timeout))
end
"""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, token=None, timeout=30):
    h = {"Authorization": "Bearer " + token} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def wait_ready(url, proc, seconds, logfile):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if call(url, timeout=2)[0] == 200:
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)
    tail = open(logfile, errors="replace").read()[-3000:] if logfile and os.path.exists(logfile) else ""
    raise SystemExit(f"{url} did not become ready (exit code {proc.poll()}):\n{tail}")


def pct(values, p):
    """Nearest-rank percentile of a list (sorted or not)."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100 * len(v)) - 1))]


# ---------------------------------------------------------------------------------------------------------------
# Processes: everything started here is registered and stopped in `finally`, Ctrl-C and SIGTERM included.

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, env=None, log=None, stdout=None):
        out = open(log, "w") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, env=env, stdout=stdout or out, stderr=out, stdin=subprocess.DEVNULL,
                             start_new_session=True)  # own process group: the terminal's Ctrl-C does not reach it
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, timeout=20):
        """SIGTERM to the process group the process leads (LiteLLM's workers included), SIGKILL after `timeout`."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{p.bench_name} (pid {p.pid}) did not stop in {timeout}s: SIGKILL")
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(10)
        try:  # leftovers of its group (workers that outlived it)
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, timeout=10)


# ---------------------------------------------------------------------------------------------------------------
# /proc accounting

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()


def tree_pids(root):
    """root and its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                children.setdefault(int(_stat_fields(d)[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, i = [root], 0
    while i < len(out):
        out += children.get(out[i], [])
        i += 1
    return out


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
            total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            pass
    return total


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def _hexaddr(h):
    ip, port = h.split(":")
    if len(ip) == 8:
        addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(ip)[::-1])
    else:
        b = bytes.fromhex(ip)
        addr = socket.inet_ntop(socket.AF_INET6, b"".join(b[i:i + 4][::-1] for i in range(0, 16, 4)))
    return addr, int(port, 16)


def external_peers(pids):
    """Remote endpoints (not loopback, not unconnected) of the TCP/UDP sockets the processes hold."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    peers = set()
    if not inodes:
        return peers
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/{pids[0]}/net/{proto}") as f:
                next(f)
                for line in f:
                    c = line.split()
                    if c[9] in inodes:
                        addr, port = _hexaddr(c[2])
                        if port and not (addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1", "0.0.0.0", "::")
                                         or addr.startswith("::ffff:127.")):
                            peers.add(f"{proto} {addr}:{port}")
        except (OSError, StopIteration, ValueError):
            pass
    return peers


class Sampler(threading.Thread):
    """VmRSS of a process (tree) every 100 ms while `active`; sockets to non-loopback peers every second."""

    def __init__(self, pid, tree):
        super().__init__(daemon=True)
        self.pid, self.tree = pid, tree
        self.active = threading.Event()
        self.stopped = threading.Event()
        self.samples = []  # (monotonic, rss kB)
        self.peers = set()
        self.pids = [pid]

    def run(self):
        n = 0
        while not self.stopped.is_set():
            if self.active.is_set():
                if n % 10 == 0:
                    self.pids = tree_pids(self.pid) if self.tree else [self.pid]
                    self.peers |= external_peers(self.pids)
                self.samples.append((time.monotonic(), sum(status_kb(p, "VmRSS") for p in self.pids)))
                n += 1
            self.stopped.wait(0.1)

    def max_mb(self, since):
        v = [kb for t, kb in self.samples if t >= since]
        return round(max(v) / 1024, 1) if v else None

    def hwm_mb(self):
        return round(sum(status_kb(p, "VmHWM") for p in self.pids) / 1024, 1)


# ---------------------------------------------------------------------------------------------------------------
# Raw HTTP/1.1 client for the streaming phases: timestamps of the first body byte and of each SSE event.

class RawClient:
    def __init__(self, port):
        self.port = port
        self.sock = None

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, path, headers, body):
        """One POST; returns dict(status, headers, body, t_head, t_first, t_end, events[]) with times in s since send."""
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = json.dumps(body).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Content-Type: application/json",
                f"Content-Length: {len(data)}"] + [f"{k}: {v}" for k, v in headers.items()]
        req = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        sock = self.sock
        t0 = time.perf_counter()
        sock.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                raise ConnectionError("connection closed before the response head")
            buf += chunk
        t_head = time.perf_counter()
        raw_head, rest = buf.split(b"\r\n\r\n", 1)
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        length = int(hdrs["content-length"]) if "content-length" in hdrs else None
        t_first = t_head if rest else None
        body_out = bytearray()
        events = []
        scan = [0]
        raw = bytearray(rest)
        state = {"need": None, "done": False}

        def feed(t):
            # de-chunk what is in `raw` into body_out
            if chunked:
                while True:
                    if state["need"] is None:
                        i = raw.find(b"\r\n")
                        if i < 0:
                            break
                        size = int(bytes(raw[:i]).split(b";")[0], 16)
                        if size == 0:
                            if raw.find(b"\r\n\r\n", i) >= 0 or raw[i:i + 4] == b"\r\n\r\n":
                                state["done"] = True
                            break
                        del raw[:i + 2]
                        state["need"] = size
                    if len(raw) < state["need"] + 2:
                        break
                    body_out.extend(raw[:state["need"]])
                    del raw[:state["need"] + 2]
                    state["need"] = None
            else:
                body_out.extend(raw)
                raw.clear()
                if length is not None and len(body_out) >= length:
                    state["done"] = True
            # SSE events completed by this read
            norm = bytes(body_out).replace(b"\r\n", b"\n")
            while True:
                j = norm.find(b"\n\n", scan[0])
                if j < 0:
                    break
                events.append(t - t0)
                scan[0] = j + 2

        if rest:
            feed(t_head)
        while not state["done"]:
            chunk = sock.recv(65536)
            t = time.perf_counter()
            if not chunk:
                self.close()
                if length is None and not chunked:
                    break
                raise ConnectionError("connection closed mid-response")
            if t_first is None:
                t_first = t
            raw.extend(chunk)
            feed(t)
        t_end = time.perf_counter()
        if "close" in hdrs.get("connection", "").lower():
            self.close()
        return {"status": status, "headers": hdrs, "raw_head": raw_head, "body": bytes(body_out),
                "t_head": t_head - t0, "t_first": (t_first or t_end) - t0, "t_end": t_end - t0, "events": events}


# ---------------------------------------------------------------------------------------------------------------

class Target:
    """Where the requests go: `port`, `path`, `headers`, plus how the paced stream is reached."""

    def __init__(self, name, port, path, headers, paced_headers=None, paced_model=None, paced_port=None, proc=None,
                 tree=False):
        self.name, self.port, self.path, self.headers = name, port, path, headers
        self.paced_port = paced_port or port  # direct: the pacing stand-in itself
        self.paced_headers = paced_headers if paced_headers is not None else headers
        self.paced_model = paced_model
        self.proc, self.tree = proc, tree
        self.url = f"http://127.0.0.1:{port}{path}"


class Bench:
    def __init__(self, args, out):
        self.a, self.out = args, out
        self.results = []
        self.lua = os.path.join(out, "gateway.lua")
        with open(self.lua, "w") as f:
            f.write(WRK_LUA)
        self.upstream_pids = []
        self.direct = {}  # phase -> result of the direct target, for the added figures
        self.sampler = None
        self.completed = {}  # target -> requests completed (for the Tally event count)

    def emit(self, r):
        self.results.append(r)
        print(json.dumps(r), flush=True)
        with open(os.path.join(self.out, "results.jsonl"), "a") as f:
            f.write(json.dumps(r) + "\n")

    # -- accounting around a phase

    def _begin(self, t):
        pids = tree_pids(t.proc.pid) if (t.proc and t.tree) else ([t.proc.pid] if t.proc else [])
        return {"t": time.monotonic(), "pids": pids, "proxy": cpu_ticks(pids) if pids else 0,
                "up": cpu_ticks(self.upstream_pids), "machine": machine_ticks()}

    def _end(self, t, b, requests, r):
        pids = tree_pids(t.proc.pid) if (t.proc and t.tree) else b["pids"]
        up = cpu_ticks(self.upstream_pids) - b["up"]
        m1 = machine_ticks()
        busy = m1[0] - b["machine"][0]
        total = m1[1] - b["machine"][1]
        long_enough = time.monotonic() - b["t"] >= 1.0  # /proc counts in 10 ms ticks
        if long_enough:
            r["machine_busy_pct"] = round(100 * busy / total, 1) if total else None
        if requests and long_enough:
            if pids:
                r["proxy_cpu_us_per_req"] = round((cpu_ticks(pids) - b["proxy"]) / CLK_TCK * 1e6 / requests, 1)
            r["upstream_cpu_us_per_req"] = round(up / CLK_TCK * 1e6 / requests, 1)
        if t.proc and self.sampler:
            rss = self.sampler.max_mb(b["t"])
            if rss is not None:
                r["proxy_rss_max_mb"] = rss
            r["proxy_vmhwm_mb"] = self.sampler.hwm_mb()
        self.completed[t.name] = self.completed.get(t.name, 0) + requests
        return r

    def _added(self, r, phase, keys):
        d = self.direct.get(phase)
        if d is None or r["target"] == "direct":
            return
        for k in keys:
            if r.get(k) is not None and d.get(k) is not None:
                r["added_" + k] = round(r[k] - d[k], 3)

    # -- phases

    def wrk(self, t, phase, conns, threads, seconds, body, record=True):
        env = dict(os.environ, GB_BODY=json.dumps(body),
                   GB_HEADERS="\n".join(f"{k}: {v}" for k, v in t.headers.items()))
        if self.sampler:
            self.sampler.active.set()
        b = self._begin(t)
        p = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--timeout", "30s",
                            "--latency", "-s", self.lua, t.url], env=env, capture_output=True, text=True)
        if self.sampler:
            self.sampler.active.clear()
        with open(os.path.join(self.out, f"wrk-{t.name}-{phase}.txt"), "w") as f:
            f.write(p.stdout + p.stderr)
        line = next((x for x in p.stdout.splitlines() if x.startswith("JSON ")), None)
        if line is None:
            raise SystemExit(f"wrk failed for {t.name} {phase}:\n{p.stdout}\n{p.stderr}")
        w = json.loads(line[5:])
        errors = sum(w.pop(k) for k in list(w) if k.startswith("errors_") and k != "errors_status")
        r = {"phase": phase, "target": t.name, "concurrency": conns, "wrk_threads": threads,
             "stream": bool(body.get("stream")), "requests": w["requests"],
             "rps": round(w["requests"] / w["seconds"], 1) if w["seconds"] else None,
             "p50_ms": w["p50_ms"], "p90_ms": w["p90_ms"], "p99_ms": w["p99_ms"], "p999_ms": w["p999_ms"],
             "mean_ms": w["mean_ms"], "max_ms": w["max_ms"], "non_2xx": w["errors_status"], "socket_errors": errors}
        self._end(t, b, w["requests"], r)
        if not record:
            return r
        if t.name == "direct":
            self.direct[phase] = r
        self._added(r, phase, ("p50_ms", "p90_ms", "p99_ms", "p999_ms"))
        if r["non_2xx"] or r["socket_errors"]:
            log(f"WARNING {t.name} {phase}: {r['non_2xx']} non-2xx answers, {r['socket_errors']} socket errors")
        self.emit(r)
        return r

    def check(self, t):
        """One answer and one stream through the target, saved; a stream is read to its end."""
        c = RawClient(t.port)
        saved = {}
        ids = set()
        for kind, body in (("chat", CHAT_BODY), ("stream", STREAM_BODY)):
            resp = c.request(t.path, t.headers, body)
            ids.add(resp["headers"].get("x-request-id"))
            name = os.path.join(self.out, "bodies", f"response-{t.name}-{kind}.http")
            with open(name, "wb") as f:
                f.write(resp["raw_head"] + b"\r\n\r\n" + resp["body"])
            if resp["status"] != 200:
                raise SystemExit(f"{t.name}: {kind} answered {resp['status']}: {resp['body'][:2000]!r}")
            saved[kind] = resp["body"]
        c.close()
        stream = saved["stream"].decode()
        ok_stream = '"usage":{' in stream and stream.rstrip().endswith("data: [DONE]")
        chat = json.loads(saved["chat"])
        r = {"phase": "check", "target": t.name, "chat_usage": chat.get("usage", {}).get("total_tokens"),
             "stream_events": stream.count("data: "), "stream_has_usage_and_done": ok_stream}
        if t.name == "direct":
            self.direct_bodies = saved
            r["x_request_ids_differ"] = len(ids) == 2  # Tally keys its events on the upstream's x-request-id
        else:
            d = getattr(self, "direct_bodies", None)
            if d:
                r["chat_identical_to_direct"] = saved["chat"] == d["chat"]
                r["stream_identical_to_direct"] = saved["stream"] == d["stream"]
        self.completed[t.name] = self.completed.get(t.name, 0) + 2
        self.emit(r)

    def ttft(self, t):
        c = RawClient(t.port)
        for _ in range(50):
            c.request(t.path, t.headers, STREAM_BODY)
        b = self._begin(t)
        first, first_ev, end, bad = [], [], [], 0
        for _ in range(self.a.ttft_n):
            resp = c.request(t.path, t.headers, STREAM_BODY)
            if resp["status"] != 200:
                bad += 1
                continue
            first.append(resp["t_first"] * 1000)
            first_ev.append(resp["events"][0] * 1000 if resp["events"] else resp["t_end"] * 1000)
            end.append(resp["t_end"] * 1000)
        c.close()
        r = {"phase": "ttft", "target": t.name, "concurrency": 1, "stream": True, "requests": len(first),
             "non_2xx": bad}
        for label, v in (("ttfb", first), ("first_event", first_ev), ("total", end)):
            for p in (50, 90, 99):
                r[f"{label}_p{p}_ms"] = round(pct(v, p), 3) if v else None
        self._end(t, b, len(first), r)
        self.completed[t.name] += 50
        if t.name == "direct":
            self.direct["ttft"] = r
        self._added(r, "ttft", [f"{x}_p{p}_ms" for x in ("ttfb", "first_event", "total") for p in (50, 90, 99)])
        self.emit(r)

    def paced(self, t):
        c = RawClient(t.paced_port)
        body = dict(STREAM_BODY, model=t.paced_model or MODEL)
        with open(os.path.join(self.out, "bodies", f"request-paced-{t.name}.json"), "w") as f:
            json.dump(body, f)
        c.request(t.path, t.paced_headers, body)  # warm
        first, last, span, gaps, nev, offsets = [], [], [], [], [], []
        for _ in range(self.a.paced_n):
            resp = c.request(t.path, t.paced_headers, body)
            ev = resp["events"]
            if resp["status"] != 200 or not ev:
                raise SystemExit(f"{t.name}: paced stream answered {resp['status']} with {len(ev)} events")
            first.append(ev[0] * 1000)
            last.append(ev[-1] * 1000)
            span.append((ev[-1] - ev[0]) * 1000)
            gaps.append(max((b - a) for a, b in zip(ev, ev[1:])) * 1000 if len(ev) > 1 else 0)
            nev.append(len(ev))
            offsets.append([(e - ev[0]) * 1000 for e in ev])
        c.close()
        n = statistics.mode(nev)
        med = [round(statistics.median(o[i] for o in offsets if len(o) == n), 1) for i in range(n)]
        r = {"phase": "paced", "target": t.name, "requests": len(first), "chunk_delay_ms": self.a.chunk_delay * 1000,
             "events": n, "first_event_p50_ms": round(statistics.median(first), 2),
             "last_event_p50_ms": round(statistics.median(last), 2), "span_p50_ms": round(statistics.median(span), 2),
             "span_min_ms": round(min(span), 2), "max_gap_p50_ms": round(statistics.median(gaps), 2),
             "event_offsets_p50_ms": med}
        self.completed[t.name] = self.completed.get(t.name, 0) + len(first) + 1
        if t.name == "direct":
            self.direct["paced"] = r
        else:
            d = self.direct.get("paced")
            if d:
                r["span_vs_direct"] = round(r["span_p50_ms"] / d["span_p50_ms"], 3) if d["span_p50_ms"] else None
                r["added_first_event_p50_ms"] = round(r["first_event_p50_ms"] - d["first_event_p50_ms"], 2)
                # held back = the events arrive bunched: the span is well short of the upstream's pacing
                r["streams_incrementally"] = r["span_min_ms"] >= 0.8 * d["span_p50_ms"]
        self.emit(r)

    def run_target(self, t):
        log(f"{t.name}: check")
        self.check(t)
        log(f"{t.name}: warmup {self.a.warmup}s (wrk -c64)")
        self.wrk(t, "warmup", 64, 2, self.a.warmup, CHAT_BODY, record=False)
        s = self.a.seconds
        log(f"{t.name}: latency, 1 client, {s}s")
        self.wrk(t, "latency-c1", 1, 1, s, CHAT_BODY)
        log(f"{t.name}: latency, 32 clients, {s}s")
        self.wrk(t, "latency-c32", 32, 2, s, CHAT_BODY)
        log(f"{t.name}: throughput, 64 clients, {s}s")
        self.wrk(t, "throughput-c64", 64, 2, s, CHAT_BODY)
        log(f"{t.name}: throughput, streams, 64 clients, {s}s")
        self.wrk(t, "throughput-stream-c64", 64, 2, s, STREAM_BODY)
        log(f"{t.name}: time to first byte of {self.a.ttft_n} streams, 1 client")
        self.ttft(t)
        log(f"{t.name}: {self.a.paced_n} paced streams ({self.a.chunk_delay * 1000:.0f} ms between chunks)")
        self.paced(t)


# ---------------------------------------------------------------------------------------------------------------
# Setup

def ensure_wrk():
    if shutil.which("wrk"):
        return
    log("installing wrk (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, check=True, capture_output=True)


def ensure_litellm(venv, spec, out):
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "bin", "litellm")):
        log(f"creating {venv} and installing {spec} from PyPI")
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", venv], check=True)
        with open(os.path.join(out, "pip-install.log"), "w") as f:
            subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", spec], check=True, stdout=f,
                           stderr=subprocess.STDOUT)
    return subprocess.run([py, "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                          check=True, capture_output=True, text=True).stdout.strip()


def start_standin(procs, out, name, extra):
    path = os.path.join(out, f"{name}.urls.json")
    p = procs.start(name, [sys.executable, STANDIN, "serve", "--fast"] + extra, log=os.path.join(out, f"{name}.log"),
                    stdout=open(path, "w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.getsize(path):
            with open(path) as f:
                return p, json.loads(f.readline())["openai"]
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"stand-in {name} did not start: {open(os.path.join(out, name + '.log')).read()[-2000:]}")


NGINX_CONF = """# nginx of bench/gateway_bench.py: the stand-in's pre-rendered OpenAI answers, a fresh x-request-id per request
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {out}/nginx-error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server_tokens off;
  keepalive_requests 10000000;
  keepalive_timeout 600s;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  init_by_lua_block {{
    local function slurp(p) local f = assert(io.open(p, "rb")); local s = f:read("*a"); f:close(); return s end
    CHAT = slurp({chat})
    STREAM = {{}}
    for ev in slurp({stream}):gmatch("(.-\\n\\n)") do STREAM[#STREAM + 1] = ev end
    HEADERS = {headers}
    AUTH = {auth}
    UNAUTHORIZED = '{{"error":{{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}'
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    client_body_buffer_size 1m;
    client_max_body_size 1m;
    location = /v1/chat/completions {{
      content_by_lua_block {{
        local h = ngx.header
        if ngx.var.http_authorization ~= AUTH then
          ngx.status = 401
          h["content-type"] = "application/json"
          ngx.print(UNAUTHORIZED)
          return
        end
        ngx.req.read_body()
        local body = ngx.req.get_body_data() or ""
        for i = 1, #HEADERS do h[HEADERS[i][1]] = HEADERS[i][2] end
        h["x-request-id"] = "req_" .. ngx.var.request_id
        if body:find('"stream"%s*:%s*true') then  -- one HTTP chunk per SSE event, like the stand-in
          h["content-type"] = "text/event-stream; charset=utf-8"
          for i = 1, #STREAM do ngx.print(STREAM[i]) end
        else
          h["content-type"] = "application/json"
          h["content-length"] = #CHAT
          ngx.print(CHAT)
        end
      }}
    }}
    location / {{ return 404; }}
  }}
}}
"""


def ensure_nginx():
    if shutil.which("nginx") and os.path.exists("/usr/lib/nginx/modules/ngx_http_lua_module.so"):
        return
    log("installing nginx and its Lua module (apt-get; services are not started)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    guard = "/usr/sbin/policy-rc.d"
    made_guard = not os.path.exists(guard)
    if made_guard:  # no service starts during the install (Debian's policy-rc.d convention)
        with open(guard, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(guard, 0o755)
    try:
        cmd = ["apt-get", "install", "-y", "-qq", "nginx", "libnginx-mod-http-lua"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, capture_output=True)
            subprocess.run(cmd, env=env, check=True, capture_output=True)
    finally:
        if made_guard:
            os.unlink(guard)


def start_nginx(procs, out, tmp, standin_port):
    """nginx answering POST /v1/chat/completions with the stand-in's exact fast-mode bodies and headers."""
    c = RawClient(standin_port)
    auth = {"Authorization": "Bearer " + UPSTREAM_KEY}
    chat, stream = c.request("/v1/chat/completions", auth, CHAT_BODY), c.request("/v1/chat/completions", auth, STREAM_BODY)
    c.close()
    bodies = os.path.join(out, "bodies")
    with open(os.path.join(bodies, "upstream-chat.json"), "wb") as f:
        f.write(chat["body"])
    with open(os.path.join(bodies, "upstream-stream.sse"), "wb") as f:
        f.write(stream["body"])
    skip = ("date", "content-length", "transfer-encoding", "content-type", "connection", "x-request-id", "x-standin-usage")
    headers = [(k, v) for k, v in chat["headers"].items() if k not in skip]
    with open(os.path.join(bodies, "upstream-headers.json"), "w") as f:
        json.dump(headers, f, indent=1)
    d = os.path.join(tmp, "nginx")
    os.makedirs(d, exist_ok=True)
    port = free_port()
    lua = lambda x: json.dumps(x)  # ASCII JSON strings are Lua strings
    conf = NGINX_CONF.format(tmp=d, out=out, port=port, chat=lua(os.path.join(bodies, "upstream-chat.json")),
                             stream=lua(os.path.join(bodies, "upstream-stream.sse")), auth=lua(auth["Authorization"]),
                             headers="{" + ", ".join(f"{{{lua(k)}, {lua(v)}}}" for k, v in headers) + "}")
    path = os.path.join(out, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = procs.start("nginx", ["nginx", "-c", path, "-p", d, "-e", os.path.join(out, "nginx-error.log")],
                    log=os.path.join(out, "nginx.log"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            c = RawClient(port)
            r = c.request("/v1/chat/completions", auth, CHAT_BODY)
            c.close()
            if r["status"] == 200 and r["body"] == chat["body"]:
                return p, f"http://127.0.0.1:{port}"
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    raise SystemExit("nginx did not start: " + open(os.path.join(out, "nginx-error.log")).read()[-2000:])


def machine_txt(out, a, litellm_version):
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    binary = os.path.abspath(a.binary)
    h = hashlib.sha256()
    with open(binary, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    m = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(), "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "mem": sh("free -g | sed -n 2p"), "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"), "python": platform.python_version(),
        "binary": binary, "binary_sha256": h.hexdigest()[:16],
        "binary_mtime": dt.datetime.fromtimestamp(os.path.getmtime(binary), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": sh(f"git -C {ROOT} rev-parse --short HEAD"),
        "worktree_dirty": bool(sh(f"git -C {ROOT} status --porcelain --untracked-files=no")),
        "wrk": sh("wrk --version 2>&1 | head -1"), "nginx": sh("nginx -v 2>&1"), "litellm": litellm_version,
        "build": "debug" if "/debug/" in binary else "release",
        "command": " ".join(["python3", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:]),
    }
    with open(os.path.join(out, "machine.txt"), "w") as f:
        for k, v in m.items():
            f.write(f"{k}: {v}\n")
    return m


TALLY_TARGETS = ("tally", "tally-guarded", "tally-pg", "tally-pg-guarded", "tally-content")

# The content steps of `tally-content` (issue 21): the benchmark's project captures every body (redacted: each
# detector runs over it before it is sealed) and three filters screen every request and answer, none of them
# matching the benchmark's messages, so every call takes the whole path (screened, answer held and screened, sealed,
# stored) and none is blocked.
CONTENT_FILTERS = [
    {"name": "pii", "detectors": ["email", "phone", "credit_card", "iban", "us_ssn", "secret"], "on": "both",
     "action": "redact"},
    {"name": "words", "keywords": ["internal-only", "do-not-share", "confidential-x"], "on": "both", "action": "block"},
    {"name": "ids", "regex": ["ACCT-[0-9]{6,}", "ticket #[0-9]+"], "on": "both", "action": "flag"},
]

# The guardrails of a `-guarded` target (issue 19): an enforced budget and a policy with every counted limit, all on
# the benchmark's project and far above what the run spends, so every call takes the whole path (a reservation across
# the budget, requests, tokens and concurrency counters, then its settlement) and none is refused.
GUARD_POLICY = {"name": "bench limits", "scope": {"project": "bench"}, "mode": "enforce",
                "rules": {"requests_per_minute": 1_000_000_000, "tokens_per_minute": 1_000_000_000,
                          "max_concurrent": 1_000_000}}
GUARD_BUDGET = {"name": "bench budget", "scope": {"project": "bench"}, "period": "month",
                "amount_usd": "1000000000", "enforce": True}


def fresh_postgres_database(base_url):
    """A new empty database on the server of `base_url` (as the e2e tests make theirs)."""
    import urllib.parse
    parts = urllib.parse.urlsplit(base_url)
    name = "tally_bench_" + hashlib.sha256(os.urandom(16)).hexdigest()[:12]
    subprocess.run(["psql", "-q", "-h", parts.hostname, "-p", str(parts.port or 5432), "-U",
                    parts.username or "postgres", "-d", parts.path.lstrip("/") or "postgres",
                    "-c", f"CREATE DATABASE {name}"], check=True)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def start_tally(procs, a, out, tmp, upstream, paced, name="tally"):
    """`tally serve` for the target `name`: on SQLite, or on a fresh PostgreSQL database for `tally-pg*`; with the
    guardrails above for `*-guarded`."""
    data = os.path.join(tmp, name + "-data")
    database_url = fresh_postgres_database(a.postgres) if "-pg" in name else None
    store = ["--data-dir", data] + (["--database-url", database_url] if database_url else [])
    port = free_port()
    binary = os.path.abspath(a.binary)
    env = dict(os.environ, TALLY_DATA_DIR=data, TALLY_PORT=str(port), TALLY_HOST="127.0.0.1",
               TALLY_SYNC_INTERVAL="off", TALLY_LOG_LEVEL="warning",
               TALLY_ALLOW_PRIVATE_UPSTREAMS="127.0.0.0/8")  # the upstream stand-in is on loopback
    if database_url:
        env["TALLY_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()  # only SQLite mode makes its own
    subprocess.run([binary, "projects", "create", "bench", *store], check=True, capture_output=True, env=env)
    token = subprocess.run([binary, "tokens", "create", "--project", "bench", "--scopes", "admin,gateway",
                            "--name", "gateway-bench", *store],
                           check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]
    serve_log = os.path.join(out, f"{name}-serve.log")
    p = procs.start(f"{name} serve", [binary, "serve", *store], env=env, log=serve_log)
    wait_ready(f"http://127.0.0.1:{port}/readyz", p, 60, serve_log)
    api = f"http://127.0.0.1:{port}/api/v1"
    for conn, url in (("bench", upstream), ("bench-paced", paced)):
        status, body = call(api + "/provider-connections", "POST",
                            {"provider": "openai", "name": conn, "api_key": UPSTREAM_KEY, "base_url": url,
                             "validate": False}, token)
        if status not in (200, 201):
            raise SystemExit(f"adding connection {conn}: {status} {body[:500]!r}")
    if name.endswith("-guarded"):
        for path, body in (("/policies", GUARD_POLICY), ("/budgets", GUARD_BUDGET)):
            status, answer = call(api + path, "POST", body, token)
            if status != 201:
                raise SystemExit(f"adding {path}: {status} {answer[:500]!r}")
    if name.endswith("-content"):
        status, answer = call(api + "/projects", "GET", None, token)
        project = next(p for p in json.loads(answer)["data"] if p["name"] == "bench")
        status, answer = call(api + f"/projects/{project['id']}", "PATCH",
                              {"content_capture": "redacted", "content_retention_days": 30}, token)
        if status != 200:
            raise SystemExit(f"content capture: {status} {answer[:500]!r}")
        for body in CONTENT_FILTERS:
            status, answer = call(api + "/safety-filters", "POST", body, token)
            if status != 201:
                raise SystemExit(f"adding filter {body['name']}: {status} {answer[:500]!r}")
    auth = {"Authorization": "Bearer " + token}
    return Target(name, port, "/gateway/openai/v1/chat/completions", auth,
                  paced_headers=dict(auth, **{"X-Tally-Connection": "bench-paced"}), proc=p), data, database_url


def postgres_events(database_url):
    """Gateway events in a PostgreSQL store (after a graceful stop)."""
    q = ("SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
         "coalesce(sum(streamed), 0) FROM usage_events WHERE source = 'gateway'")
    r = subprocess.run(["psql", "-At", "-F", ",", database_url, "-c", q], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip()}
    n, inp, outp, streamed = (int(x) for x in r.stdout.strip().split(","))
    return {"events": n, "input_tokens": inp, "output_tokens": outp, "streamed_events": streamed}


def tally_events(data):
    """Gateway events in the store (after a graceful stop)."""
    try:
        db = sqlite3.connect(f"file:{os.path.join(data, 'tally.sqlite')}?mode=ro", uri=True)
        cols = [r[1] for r in db.execute("PRAGMA table_info(usage_events)")]
        where = "WHERE source = 'gateway'" if "source" in cols else ""
        n, inp, outp, streamed = db.execute(
            f"SELECT count(*), sum(input_tokens), sum(output_tokens), sum(streamed) FROM usage_events {where}").fetchone()
        db.close()
        return {"events": n, "input_tokens": inp, "output_tokens": outp, "streamed_events": streamed}
    except sqlite3.Error as e:
        return {"error": str(e)}


def start_litellm(procs, a, out, tmp, upstream, paced):
    port = free_port()
    cfg = os.path.join(out, "litellm-config.yaml")
    with open(cfg, "w") as f:
        f.write(f"""# LiteLLM proxy config of bench/gateway_bench.py: the same stand-in upstreams, no database
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {upstream}/v1
      api_key: {UPSTREAM_KEY}
  - model_name: {PACED_MODEL_LITELLM}
    litellm_params:
      model: openai/{MODEL}
      api_base: {paced}/v1
      api_key: {UPSTREAM_KEY}
general_settings:
  master_key: {LITELLM_KEY}
litellm_settings:
  set_verbose: false
""")
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    env.pop("DATABASE_URL", None)
    env.pop("LITELLM_MASTER_KEY", None)
    exe = os.path.join(os.path.abspath(a.litellm_venv), "bin", "litellm")
    argv = [exe, "--config", cfg, "--host", "127.0.0.1", "--port", str(port)]
    if a.litellm_workers:  # default: LiteLLM's own default (1 uvicorn worker)
        argv += ["--num_workers", str(a.litellm_workers)]
    lg = os.path.join(out, "litellm.log")
    p = procs.start("litellm", argv, env=env, log=lg)
    return p, port, argv, lg


# ---------------------------------------------------------------------------------------------------------------
# summary.md

def fmt(v, nd=2):
    if v is None:
        return "–"
    if isinstance(v, float) and abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{nd}f}" if isinstance(v, float) else f"{v:,}"


def signed(v, nd=2):
    return "–" if v is None else f"{v:+.{nd}f}"


def summary_md(out, results, m, a, notes):
    R = {(r["target"], r["phase"]): r for r in results if "target" in r}
    targets = [t for t in ("direct",) + TALLY_TARGETS + ("litellm",) if (t, "check") in R]
    debug = "/debug/" in m["binary"]
    L = []
    L.append(f"## {m['date'][:10]}: gateway overhead, direct vs Tally vs LiteLLM")
    L.append("")
    if debug:
        L.append("**DEBUG BUILD: these figures say nothing about the goals.**")
        L.append("")
    binary = os.path.relpath(m["binary"], ROOT) if m["binary"].startswith(ROOT) else m["binary"]
    dirty = " + uncommitted changes" if m["worktree_dirty"] else ""
    L.append(f"Command ({m['date'][11:16]} UTC, {m['build']} binary `{binary}` built {m['binary_mtime']}, "
             f"commit `{m['commit']}`{dirty}):")
    L.append("")
    L.append("```sh")
    L.append(m["command"])
    L.append("```")
    L.append("")
    L.append(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['os']}, kernel {m['kernel']}; the load generator (wrk, or the "
             "Python client), the upstream stand-in and the proxy share those cores; targets run one after the other.")
    if a.upstream == "nginx":
        up = (f"Upstream: {m['nginx'].replace('nginx version: ', '')} (1 worker, Lua) answering `POST /v1/chat/completions` with the exact bytes of "
              "`e2e/standins/upstreams.py` fast mode (chat completion with usage; the stream, one HTTP chunk per "
              "event, ends with the usage chunk and `data: [DONE]`) and its OpenAI headers, a fresh `x-request-id` each "
              "(Tally keys its events on it); bodies, headers and `nginx.conf` saved with the results. ")
    else:
        up = ("Upstream: `e2e/standins/upstreams.py serve --fast` (Python asyncio, one thread; its fixed "
              "`x-request-id` makes Tally store a single deduplicated event). ")
    L.append(up + f"The paced stream comes from the Python stand-in with `--chunk-delay {a.chunk_delay}`. LiteLLM "
             f"{m['litellm']} proxy: `litellm --config litellm-config.yaml` (uvicorn, "
             f"{f'--num_workers {a.litellm_workers}' if a.litellm_workers else 'its default of 1 worker'}, master key, "
             "no database, `LITELLM_LOG=ERROR`, `LITELLM_LOCAL_MODEL_COST_MAP=True`). Tally: `tally serve` on a fresh "
             "SQLite data dir, background sync off, log level warning; every request through it becomes a stored usage "
             "event (LiteLLM, with no database, stores nothing).")
    L.append("")
    L.append(f"Requests: `POST /v1/chat/completions` with `{json.dumps(CHAT_BODY)}`; streams with "
             f"`{json.dumps(STREAM_BODY)}` (the upstream's answers are in `bodies/`).")
    L.append("")
    # latency
    L.append("### Non-streaming `POST /v1/chat/completions`: latency (wrk, closed loop)")
    L.append("")
    L.append("| clients | direct p50 / p99 ms | Tally p50 / p99 ms | Tally added p50 / p99 | LiteLLM p50 / p99 ms | LiteLLM added p50 / p99 | goal (Tally added) |")
    L.append("|---|---|---|---|---|---|---|")
    for ph, c, goal in (("latency-c1", 1, "p50 ≤ 0.5 ms, p99 ≤ 2 ms"), ("latency-c32", 32, "p50 ≤ 0.5 ms, p99 ≤ 2 ms")):
        row = [str(c)]
        for t in ("direct", "tally", "litellm"):
            r = R.get((t, ph))
            row.append(f"{fmt(r['p50_ms'], 3)} / {fmt(r['p99_ms'], 3)}" if r else "–")
            if t != "direct":
                row.append(f"{signed(r.get('added_p50_ms'), 3)} / {signed(r.get('added_p99_ms'), 3)}" if r else "–")
        row.append(goal)
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("At 32 clients the closed loop saturates the two cores, so latency there is mostly queueing "
             "(≈ clients ÷ throughput); added = target percentile − direct percentile.")
    L.append("")
    # throughput
    L.append("### Throughput, 64 clients (wrk -t2 -c64)")
    L.append("")
    L.append("| target | body | req/s | p50 / p99 ms | proxy CPU per request | upstream CPU per request | machine busy | proxy RSS max | errors |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for ph, kind in (("throughput-c64", "JSON"), ("throughput-stream-c64", "stream")):
        for t in targets:
            r = R.get((t, ph))
            if not r:
                continue
            cpu = f"{r['proxy_cpu_us_per_req']:,.0f} µs" if r.get("proxy_cpu_us_per_req") is not None else "–"
            L.append(f"| {t} | {kind} | **{fmt(r['rps'], 0)}** | {fmt(r['p50_ms'], 2)} / {fmt(r['p99_ms'], 2)} | {cpu} | "
                     f"{fmt(r.get('upstream_cpu_us_per_req'), 1)} µs | {fmt(r.get('machine_busy_pct'), 0)} % | "
                     f"{(fmt(r['proxy_rss_max_mb'], 0) + ' MB') if r.get('proxy_rss_max_mb') else '–'} | "
                     f"{r['non_2xx'] + r['socket_errors']} |")
    tt, tl = R.get(("tally", "throughput-c64")), R.get(("litellm", "throughput-c64"))
    L.append("")
    if tt and tl and tl["rps"]:
        L.append(f"Tally ÷ LiteLLM throughput: **{tt['rps'] / tl['rps']:.1f}×** (goal ≥ 20×); per request Tally used "
                 f"{tt.get('proxy_cpu_us_per_req', 0):,.0f} µs of CPU, LiteLLM {tl.get('proxy_cpu_us_per_req', 0) / 1000:,.2f} ms "
                 f"({tl.get('proxy_cpu_us_per_req', 0) / max(tt.get('proxy_cpu_us_per_req', 0), 1e-9):.0f}×).")
    if (("tally", "check") in R) and notes.get("rss", {}).get("tally"):
        x = notes["rss"]["tally"]
        L.append(f"Tally RSS: sampled VmRSS max {x['rss_max_mb']} MB over its wrk phases, VmHWM {x['vmhwm_mb']} MB "
                 f"(goal ≤ 150 MB).")
    L.append("")
    # guardrails
    if any((t, "check") in R for t in ("tally-guarded", "tally-pg-guarded")):
        L.append("### Guardrails (issue 19): an enforced budget and rate limits on every call")
        L.append("")
        L.append("The `-guarded` targets add, on the benchmark's project, an enforced monthly budget and an enforced "
                 "policy with `requests_per_minute`, `tokens_per_minute` and `max_concurrent`, all far above the run, "
                 "so every call reserves across four counters before it is forwarded and settles after (none is "
                 "refused). Guard added = guarded − unguarded on the same store.")
        L.append("")
        L.append("| store | clients | unguarded p50 / p99 ms | guarded p50 / p99 ms | guard added p50 / p99 ms | goal |")
        L.append("|---|---|---|---|---|---|")
        for store, plain, guarded, goal in (("SQLite", "tally", "tally-guarded", "added p50 ≤ 0.3 ms"),
                                            ("PostgreSQL", "tally-pg", "tally-pg-guarded", "reported")):
            for ph, c in (("latency-c1", 1), ("latency-c32", 32)):
                u, g = R.get((plain, ph)), R.get((guarded, ph))
                if not (u and g):
                    continue
                L.append(f"| {store} | {c} | {fmt(u['p50_ms'], 3)} / {fmt(u['p99_ms'], 3)} | "
                         f"{fmt(g['p50_ms'], 3)} / {fmt(g['p99_ms'], 3)} | "
                         f"**{signed(g['p50_ms'] - u['p50_ms'], 3)}** / {signed(g['p99_ms'] - u['p99_ms'], 3)} | "
                         f"{goal if c == 1 else ''} |")
        L.append("")
        L.append("| store | body | unguarded req/s | guarded req/s | guarded CPU per request |")
        L.append("|---|---|---|---|---|")
        for store, plain, guarded in (("SQLite", "tally", "tally-guarded"), ("PostgreSQL", "tally-pg", "tally-pg-guarded")):
            for ph, kind in (("throughput-c64", "JSON"), ("throughput-stream-c64", "stream")):
                u, g = R.get((plain, ph)), R.get((guarded, ph))
                if not (u and g):
                    continue
                cpu = f"{g['proxy_cpu_us_per_req']:,.0f} µs" if g.get("proxy_cpu_us_per_req") is not None else "–"
                L.append(f"| {store} | {kind} | {fmt(u['rps'], 0)} | {fmt(g['rps'], 0)} | {cpu} |")
        L.append("")
    # content (issue 21)
    if ("tally-content", "check") in R:
        L.append("### Content (issue 21): redacted capture and three safety filters on every call")
        L.append("")
        L.append("`tally-content` is `tally` with the benchmark's project capturing bodies (`redacted`: every detector "
                 "over each body before it is sealed) and three filters on requests and answers (six detectors "
                 "redacting, three keywords blocking, two patterns flagging), none matching, so every call is screened, "
                 "its answer held and screened, both bodies redacted, sealed and stored with the event.")
        L.append("")
        L.append("| phase | tally p50 / p99 ms | content p50 / p99 ms | added p50 / p99 ms | tally req/s | content req/s | content CPU per request |")
        L.append("|---|---|---|---|---|---|---|")
        for ph in ("latency-c1", "latency-c32", "throughput-c64", "throughput-stream-c64"):
            u, g = R.get(("tally", ph)), R.get(("tally-content", ph))
            if not (u and g):
                continue
            cpu = f"{g['proxy_cpu_us_per_req']:,.0f} µs" if g.get("proxy_cpu_us_per_req") is not None else "–"
            L.append(f"| {ph} | {fmt(u['p50_ms'], 3)} / {fmt(u['p99_ms'], 3)} | {fmt(g['p50_ms'], 3)} / "
                     f"{fmt(g['p99_ms'], 3)} | **{signed(g['p50_ms'] - u['p50_ms'], 3)}** / "
                     f"{signed(g['p99_ms'] - u['p99_ms'], 3)} | {fmt(u['rps'], 0)} | {fmt(g['rps'], 0)} | {cpu} |")
        L.append("")
    # streaming
    L.append(f"### Streaming (`\"stream\": true`, `stream_options.include_usage`): time to first byte, 1 client, "
             f"{a.ttft_n} streams (Python raw-socket client)")
    L.append("")
    L.append("| target | first body byte p50 / p90 / p99 ms | added p50 | first SSE event p50 ms | whole stream p50 ms | goal |")
    L.append("|---|---|---|---|---|---|")
    for t in targets:
        r = R.get((t, "ttft"))
        if not r:
            continue
        L.append(f"| {t} | {fmt(r['ttfb_p50_ms'], 3)} / {fmt(r['ttfb_p90_ms'], 3)} / {fmt(r['ttfb_p99_ms'], 3)} | "
                 f"{signed(r.get('added_ttfb_p50_ms'), 3) if t != 'direct' else '–'} | {fmt(r['first_event_p50_ms'], 3)} | "
                 f"{fmt(r['total_p50_ms'], 3)} | {'added p50 ≤ 0.5 ms' if t == 'tally' else ''} |")
    L.append("")
    L.append(f"Paced stream ({a.paced_n} streams, the upstream waits {a.chunk_delay * 1000:.0f} ms between its 8 events):")
    L.append("")
    L.append("| target | events | first event p50 ms | first → last p50 (min) ms | vs direct | event arrivals after the first, p50 ms | streams incrementally |")
    L.append("|---|---|---|---|---|---|---|")
    for t in targets:
        r = R.get((t, "paced"))
        if not r:
            continue
        offs = ", ".join(f"{x:.0f}" for x in r["event_offsets_p50_ms"][1:])
        L.append(f"| {t} | {r['events']} | {fmt(r['first_event_p50_ms'])} | "
                 f"{fmt(r['span_p50_ms'])} ({fmt(r['span_min_ms'])}) | {fmt(r.get('span_vs_direct'), 3)} | {offs} | "
                 f"{'–' if t == 'direct' else ('yes' if r.get('streams_incrementally') else '**no**')} |")
    L.append("")
    for line in notes.get("lines", []):
        L.append(line)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(L) + "\n")


# ---------------------------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--binary", default=os.path.join(ROOT, ".build-release", "release", "tally"))
    p.add_argument("--seconds", type=int, default=10, help="length of each measured wrk phase")
    p.add_argument("--warmup", type=int, default=3, help="wrk -c64 seconds before measuring each target")
    p.add_argument("--ttft-n", type=int, default=500)
    p.add_argument("--paced-n", type=int, default=30)
    p.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between the paced upstream's events")
    p.add_argument("--targets", default="direct,tally,litellm",
                   help="comma-separated: direct, tally, tally-guarded (an enforced budget and rate limits on every "
                        "call), tally-pg, tally-pg-guarded (the same on PostgreSQL, --postgres), tally-content "
                        "(redacted capture and three safety filters on every call), litellm")
    p.add_argument("--postgres", default=os.environ.get("TALLY_TEST_POSTGRES_URL"),
                   help="a PostgreSQL URL whose server the tally-pg targets make a fresh database on "
                        "(default $TALLY_TEST_POSTGRES_URL, which scripts/with-postgres sets)")
    p.add_argument("--upstream", choices=("nginx", "python"), default="nginx",
                   help="nginx (default): the stand-in's bodies with a fresh x-request-id each; python: the stand-in "
                        "itself (fixed x-request-id, so Tally stores one deduplicated event)")
    p.add_argument("--litellm-venv", default=os.path.join(HERE, ".venv-litellm"))
    p.add_argument("--litellm-spec", default="litellm[proxy]")
    p.add_argument("--litellm-workers", type=int, default=None,
                   help="pass --num_workers to LiteLLM (default: not passed, its default of 1)")
    p.add_argument("--out", default=os.path.join(HERE, "results",
                                                 time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-gateway"))
    a = p.parse_args()
    targets = a.targets.split(",")
    if "direct" not in targets:
        targets.insert(0, "direct")  # the baseline of every added figure
    out = os.path.abspath(a.out)
    os.makedirs(os.path.join(out, "bodies"), exist_ok=True)
    if any(t.startswith("-") or t not in ("direct", "litellm") + TALLY_TARGETS for t in targets):
        raise SystemExit(f"--targets: one of direct, litellm, {', '.join(TALLY_TARGETS)}")
    if any("-pg" in t for t in targets) and not a.postgres:
        raise SystemExit("the tally-pg targets need --postgres URL (scripts/with-postgres sets $TALLY_TEST_POSTGRES_URL)")
    if not os.path.exists(a.binary) and any(t in TALLY_TARGETS for t in targets):
        raise SystemExit(f"no tally binary at {a.binary}")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background with SIGINT ignored

    ensure_wrk()
    if a.upstream == "nginx":
        ensure_nginx()
    litellm_version = ensure_litellm(a.litellm_venv, a.litellm_spec, out) if "litellm" in targets else None
    m = machine_txt(out, a, litellm_version)
    for name, body in (("chat", CHAT_BODY), ("stream", STREAM_BODY)):
        with open(os.path.join(out, "bodies", f"request-{name}.json"), "w") as f:
            json.dump(body, f)
    log(f"results -> {out}")

    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="tally-gateway-bench-")
    bench = Bench(a, out)
    notes = {"lines": []}
    interrupted = False
    try:
        paced_proc, paced = start_standin(procs, out, "upstream-paced", ["--chunk-delay", str(a.chunk_delay)])
        if a.upstream == "nginx":
            up, upstream = start_nginx(procs, out, tmp, int(paced.rsplit(":", 1)[1]))
        else:
            up, upstream = start_standin(procs, out, "upstream", [])
        time.sleep(0.2)
        bench.upstream_pids = tree_pids(up.pid)
        bench.emit({"phase": "setup", "upstream": a.upstream, "upstream_url": upstream, "upstream_processes":
                    len(bench.upstream_pids), "paced_upstream": paced, "chunk_delay_s": a.chunk_delay,
                    "seconds": a.seconds, "binary": m["binary"], "build": m["build"], "litellm": litellm_version,
                    "nproc": m["nproc"]})

        direct = Target("direct", int(upstream.rsplit(":", 1)[1]), "/v1/chat/completions",
                        {"Authorization": "Bearer " + UPSTREAM_KEY}, paced_port=int(paced.rsplit(":", 1)[1]))
        bench.run_target(direct)

        for name in (t for t in TALLY_TARGETS if t in targets):
            log(f"{name}: starting serve")
            t, data, database_url = start_tally(procs, a, out, tmp, upstream, paced, name)
            bench.sampler = Sampler(t.proc.pid, tree=False)
            bench.sampler.start()
            bench.sampler.active.set()
            try:
                bench.run_target(t)
            finally:
                bench.sampler.active.clear()
                bench.sampler.stopped.set()
            rss = {"rss_max_mb": bench.sampler.max_mb(0), "vmhwm_mb": bench.sampler.hwm_mb()}
            notes.setdefault("rss", {})[name] = rss
            peers = sorted(bench.sampler.peers)
            log(f"{name}: stopping (graceful: drains its event queue)")
            rc = procs.stop(t.proc, timeout=60)
            ev = postgres_events(database_url) if database_url else tally_events(data)
            bench.emit(dict({"phase": "tally-store", "target": name, "requests_completed": bench.completed.get(name),
                             "exit_code": rc, "external_peers": peers, "proxy_rss_max_mb": rss["rss_max_mb"],
                             "proxy_vmhwm_mb": rss["vmhwm_mb"]}, **ev))
            bench.sampler = None

        if "litellm" in targets:
            log(f"litellm {litellm_version}: starting proxy (uvicorn, "
                f"{a.litellm_workers or 'default'} workers)")
            lp, lport, argv, lg = start_litellm(procs, a, out, tmp, upstream, paced)
            sampler = Sampler(lp.pid, tree=True)
            sampler.start()
            sampler.active.set()  # watch its sockets while it starts
            t0 = time.monotonic()
            wait_ready(f"http://127.0.0.1:{lport}/health/liveliness", lp, 180, lg)
            startup = round(time.monotonic() - t0, 1)
            sampler.active.clear()
            bench.sampler = sampler
            auth = {"Authorization": "Bearer " + LITELLM_KEY}
            t = Target("litellm", lport, "/v1/chat/completions", auth, paced_model=PACED_MODEL_LITELLM, proc=lp, tree=True)
            try:
                bench.run_target(t)
            finally:
                sampler.stopped.set()
            workers = len(sampler.pids)
            hwm = sampler.hwm_mb()
            log("litellm: stopping")
            rc = procs.stop(lp, timeout=30)
            with open(lg, errors="replace") as f:
                text = f.read()
            urls = sorted({w.rstrip(".,);'\"") for w in text.split() if w.startswith(("http://", "https://"))
                           and "127.0.0.1" not in w and "github.com/BerriAI/litellm/issues" not in w})
            bench.emit({"phase": "litellm-run", "target": "litellm", "version": litellm_version,
                        "argv": " ".join(os.path.relpath(x, ROOT) if x.startswith(ROOT) else x for x in argv),
                        "processes": workers, "startup_s": startup, "exit_code": rc,
                        "external_peers": sorted(sampler.peers), "external_urls_in_log": urls,
                        "proxy_rss_max_mb": sampler.max_mb(0), "proxy_vmhwm_mb": hwm})
            bench.sampler = None
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: stopping everything started")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
        R = {(r.get("target"), r["phase"]): r for r in bench.results}
        for name in TALLY_TARGETS:
            st = R.get((name, "tally-store"))
            if st:
                notes["lines"].append(
                    f"`{name}` stored {st.get('events', 0):,} gateway events ({st.get('streamed_events') or 0:,} "
                    f"streamed) for {st['requests_completed']:,} requests completed by the clients (wrk stops "
                    "mid-request, so up to 64 more per wrk phase reached it)"
                    + (f"; counting them failed: {st['error']}" if st.get("error") else "") + ".")
        lr = R.get(("litellm", "litellm-run"))
        if lr:
            notes["lines"].append(
                f"LiteLLM: `{lr['argv']}`, {lr['processes']} process(es), ready after {lr['startup_s']} s; sockets to "
                f"non-loopback peers seen: {', '.join(lr['external_peers']) or 'none'}; non-local URLs in its log: "
                f"{', '.join(lr['external_urls_in_log']) or 'none'}.")
        if bench.results:
            summary_md(out, bench.results, m, a, notes)
            log(f"summary -> {os.path.join(out, 'summary.md')}")
    if interrupted:
        sys.exit(130)


if __name__ == "__main__":
    main()
