#!/usr/bin/env bash
# Tally benchmarks. Self-contained: starts `tally serve` on a temp SQLite data dir and on a temp PostgreSQL
# cluster (initdb into a temp dir, loopback only), measures, and stops/removes everything it started (trap).
#
#   bench/run.sh [--binary .build/release/tally] [--batch-events 600000] [--threads 4]
#                [--single-seconds 20] [--single-conns 64] [--seed-target 10000000] [--seed-seconds 600]
#                [--summary-n 50] [--latest-n 200] [--raw-rows 1000000] [--no-pg] [--no-seed] [--out DIR]
#
# Phases (per backend): batch ingest (1,000 events per POST, N Python threads, keep-alive), single-event posts
# (wrk -t2 -c64, bench/single.lua, unique id per request). SQLite only: raw sqlite3 INSERT…SELECT ceiling,
# seeding the store over 30 days via the batched API, then summary (30 days, group_by=day,model) and
# latest-100 latencies, and the dashboard pages (overview, usage explorer, events) signed in as the admin. Server RSS (VmRSS max sampled every 100 ms, VmHWM) is recorded per phase.
# Needs: python3, wrk, sqlite3, PostgreSQL 15 binaries (PGBIN), run as root (PostgreSQL runs as `postgres`).
# Results: one JSON object per phase in $OUT/results.jsonl; wrk output in $OUT/wrk-*.txt.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/.." && pwd)
BIN=$ROOT/.build/release/tally; BATCH_EVENTS=600000; THREADS=4; SINGLE_SECONDS=20; SINGLE_CONNS=64
SEED_TARGET=10000000; SEED_SECONDS=600; SUMMARY_N=50; LATEST_N=200; RAW_ROWS=1000000; DO_PG=1; DO_SEED=1
OUT=$HERE/results/$(date -u +%Y%m%dT%H%M%SZ); PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
SQLITE_PORT=$(free_port); PGAPI_PORT=$(free_port); PG_PORT=$(free_port)  # loopback ports picked free
while [ $# -gt 0 ]; do case $1 in
  --binary) BIN=$2; shift;; --batch-events) BATCH_EVENTS=$2; shift;; --threads) THREADS=$2; shift;;
  --single-seconds) SINGLE_SECONDS=$2; shift;; --single-conns) SINGLE_CONNS=$2; shift;;
  --seed-target) SEED_TARGET=$2; shift;; --seed-seconds) SEED_SECONDS=$2; shift;;
  --summary-n) SUMMARY_N=$2; shift;; --latest-n) LATEST_N=$2; shift;; --raw-rows) RAW_ROWS=$2; shift;;
  --no-pg) DO_PG=0;; --no-seed) DO_SEED=0;; --out) OUT=$2; shift;;
  -h|--help) sed -n '2,15p' "$0"; exit 0;; *) echo "unknown flag $1" >&2; exit 2;; esac; shift; done

# What the benchmark needs beyond scripts/install-deps: wrk for the many-clients phase.
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; }
mkdir -p "$OUT"; RES=$OUT/results.jsonl; : > "$RES"
TMP=$(mktemp -d /tmp/tally-bench.XXXXXX); chmod 755 "$TMP"
SERVE_PID=""; PGDATA=""
cleanup() {
  [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null || true
  if [ -n "$PGDATA" ] && [ -f "$PGDATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
py() { python3 "$HERE/tally_bench.py" "$@" | tee -a "$RES"; }

{ echo "date: $(date -u +%FT%TZ)"; echo "nproc: $(nproc)"; lscpu | grep 'Model name' || true
  free -g | sed -n 2p; "$BIN" --version 2>/dev/null || true; file "$BIN" | cut -c1-200; wrk --version 2>&1 | head -1
  sqlite3 --version; "$PGBIN/postgres" --version; git -C "$ROOT" rev-parse HEAD; } > "$OUT/machine.txt" 2>&1 || true

start_serve() { # $1 port, $2 data dir, $3 database url or ""
  local args=(serve --host 127.0.0.1 --port "$1" --data-dir "$2" --log-level warning)
  [ -n "$3" ] && args+=(--database-url "$3")
  TALLY_ADMIN_EMAIL=bench@example.com TALLY_ADMIN_PASSWORD=bench-password-123 \
    "$BIN" "${args[@]}" > "$OUT/serve-$1.log" 2>&1 & SERVE_PID=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.2; done
  echo "tally serve did not become ready" >&2; cat "$OUT/serve-$1.log" >&2; exit 1
}
session_cookie() { # $1 port: signs in through the login form (double-submit CSRF cookie), prints "tally_session=…"
  local jar=$TMP/cookies-$1 csrf
  curl -sf -c "$jar" "http://127.0.0.1:$1/login" | grep -o 'name="_csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//' > "$TMP/csrf"
  csrf=$(cat "$TMP/csrf")
  curl -sf -b "$jar" -c "$jar" -o /dev/null --data-urlencode "_csrf=$csrf" --data-urlencode email=bench@example.com \
    --data-urlencode password=bench-password-123 "http://127.0.0.1:$1/login"
  awk '$6=="tally_session"{print "tally_session="$7}' "$jar"
}
stop_serve() { kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""; }
make_token() { # $1 data dir, $2 database url or ""
  local db=(); [ -n "$2" ] && db=(--database-url "$2")
  "$BIN" projects create bench --data-dir "$1" "${db[@]}" >/dev/null
  "$BIN" tokens create --project bench --scopes ingest,read --data-dir "$1" "${db[@]}" | tail -1
}
run_single() { # $1 label, $2 port, $3 token
  local ts; ts=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
  python3 "$HERE/tally_bench.py" rss --pid "$SERVE_PID" --label "single-$1" < <(sleep "$((SINGLE_SECONDS + 3))") >> "$RES" &
  local rp=$!
  TALLY_TOKEN=$3 BENCH_TS=$ts BENCH_RUN=$1$RANDOM wrk -t2 -c"$SINGLE_CONNS" -d"${SINGLE_SECONDS}s" --timeout 10s --latency \
    -s "$HERE/single.lua" "http://127.0.0.1:$2/" | tee "$OUT/wrk-single-$1.txt" >&2
  wait $rp
}
phases() { # $1 label, $2 port, $3 data dir, $4 url
  local tok; start_serve "$2" "$3" "$4"; tok=$(make_token "$3" "$4")
  log "$1: batched ingest ($BATCH_EVENTS events, $THREADS threads)"
  py batch --port "$2" --token "$tok" --pid "$SERVE_PID" --label "$1" --events "$BATCH_EVENTS" --threads "$THREADS"
  log "$1: single-event posts (wrk -t2 -c$SINGLE_CONNS ${SINGLE_SECONDS}s)"
  run_single "$1" "$2" "$tok"
  if [ "$1" = sqlite ] && [ "$DO_SEED" = 1 ]; then
    local have; have=$(sqlite3 "$3/tally.sqlite" 'select count(*) from usage_events')
    log "sqlite: seeding to $SEED_TARGET events (have $have, budget ${SEED_SECONDS}s)"
    py seed --port "$2" --token "$tok" --pid "$SERVE_PID" --label sqlite --target "$((SEED_TARGET - have))" \
       --seconds "$SEED_SECONDS" --threads "$THREADS"
    echo "{\"phase\":\"store\",\"label\":\"sqlite\",\"events\":$(sqlite3 "$3/tally.sqlite" 'select count(*) from usage_events'),\"file_mb\":$(du -sm "$3" | cut -f1)}" | tee -a "$RES"
  fi
  local from to; from=$(date -u -d '-29 days' +%F); to=$(date -u -d '+1 day' +%F)
  log "$1: summary x$SUMMARY_N, latest-100 x$LATEST_N"
  py query --port "$2" --token "$tok" --pid "$SERVE_PID" --label "$1-summary" --n "$SUMMARY_N" \
     --path "/api/v1/usage/summary?from=$from&to=$to&group_by=day,model"
  py query --port "$2" --token "$tok" --pid "$SERVE_PID" --label "$1-latest" --n "$LATEST_N" --path "/api/v1/events?limit=100"
  local cookie; cookie=$(session_cookie "$2")
  log "$1: dashboard pages x$SUMMARY_N (overview, usage explorer by model per day, by feature)"
  py query --port "$2" --cookie "$cookie" --pid "$SERVE_PID" --label "$1-page-overview" --n "$SUMMARY_N" --path "/"
  py query --port "$2" --cookie "$cookie" --pid "$SERVE_PID" --label "$1-page-usage" --n "$SUMMARY_N" --path "/usage"
  py query --port "$2" --cookie "$cookie" --pid "$SERVE_PID" --label "$1-page-usage-feature" --n "$SUMMARY_N" \
     --path "/usage?group_by=feature&grain=none"
  py query --port "$2" --cookie "$cookie" --pid "$SERVE_PID" --label "$1-page-events" --n "$LATEST_N" --path "/events"
  grep -E '^(VmHWM|VmRSS)' "/proc/$SERVE_PID/status" | tr -s ' ' | sed "s/^/$1 final /" >> "$OUT/machine.txt"
  stop_serve
}

raw_ceiling() { # sqlite3 CLI, same columns, WAL + synchronous=FULL like the server, one INSERT…SELECT
  local db=$TMP/raw.sqlite
  for variant in noindex indexed; do
    rm -f "$db"*
    local idx=""; [ $variant = indexed ] && idx="UNIQUE (org_id, project_id, event_id)"
    sqlite3 "$db" "PRAGMA journal_mode=WAL;" >/dev/null
    sqlite3 "$db" "CREATE TABLE usage_events (seq INTEGER PRIMARY KEY, org_id TEXT NOT NULL, project_id TEXT NOT NULL,
      event_id TEXT NOT NULL, ts_us INTEGER NOT NULL, received_us INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
      operation TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_input_tokens INTEGER NOT NULL,
      cache_write_input_tokens INTEGER NOT NULL, cache_write_1h_input_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
      input_audio_tokens INTEGER NOT NULL, output_audio_tokens INTEGER NOT NULL, requests INTEGER NOT NULL, feature TEXT,
      user_id TEXT, api_key TEXT, environment TEXT, tags TEXT, status TEXT NOT NULL, http_status INTEGER, error_type TEXT,
      latency_ms INTEGER, ttft_ms INTEGER, streamed INTEGER, retries INTEGER, finish_reason TEXT, batch INTEGER NOT NULL,
      service_tier TEXT, provider_cost_nanos INTEGER, cost_nanos INTEGER, price_id TEXT, source TEXT NOT NULL,
      cached_input_audio_tokens INTEGER NOT NULL DEFAULT 0${idx:+, $idx});"
    [ $variant = indexed ] && sqlite3 "$db" "CREATE INDEX usage_events_org_ts ON usage_events (org_id, ts_us, seq);"
    local t0 t1
    t0=$(date +%s.%N)
    sqlite3 "$db" "PRAGMA synchronous=FULL; WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM g WHERE i < $RAW_ROWS - 1)
      INSERT INTO usage_events (org_id, project_id, event_id, ts_us, received_us, provider, model, operation, input_tokens,
        output_tokens, cached_input_tokens, cache_write_input_tokens, cache_write_1h_input_tokens, reasoning_tokens,
        input_audio_tokens, output_audio_tokens, requests, feature, user_id, api_key, environment, status, http_status,
        latency_ms, streamed, batch, source)
      SELECT 'org_default', 'prj_bench', 'raw-' || i, 1763000000000000 + (i * 2591) % 2592000000000, 1763000000000000 + i,
        'openai', 'model-' || (i % 20), 'chat', 1000 + i % 5000, 10 + i % 900, i % 500, 0, 0, 0, 0, 0, 1,
        'feature-' || (i % 10), 'u-' || (i % 200), 'key-' || (i % 20), 'env-' || (i % 3),
        CASE WHEN i % 33 = 0 THEN 'error' ELSE 'success' END, 200, 100 + i % 3000, 1, 0, 'api' FROM g;"
    t1=$(date +%s.%N)
    python3 -c "import json;s=$t1-$t0;print(json.dumps({'phase':'raw','label':'sqlite3-cli-$variant','rows':$RAW_ROWS,'seconds':round(s,2),'rows_per_s':round($RAW_ROWS/s)}))" | tee -a "$RES"
  done
  rm -f "$db"*
}

log "results -> $OUT"
log "raw sqlite3 ceiling ($RAW_ROWS rows)"; raw_ceiling
mkdir -p "$TMP/sqlite"; phases sqlite "$SQLITE_PORT" "$TMP/sqlite" ""
if [ "$DO_PG" = 1 ]; then
  PGDATA=$TMP/pg; mkdir -p "$PGDATA" "$TMP/pgsock"; chown postgres "$PGDATA" "$TMP/pgsock"
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$TMP/pgsock/pg.log" \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $TMP/pgsock -c max_connections=200" start >/dev/null
  "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres tally
  mkdir -p "$TMP/pgdata-dir"
  phases postgres "$PGAPI_PORT" "$TMP/pgdata-dir" "postgres://postgres@127.0.0.1:$PG_PORT/tally?sslmode=disable"
  cp "$TMP/pgsock/pg.log" "$OUT/pg.log" 2>/dev/null || true
fi
log "done: $RES"
