#!/usr/bin/env bash
# bench/profile_batch.sh BINARY LABEL [EVENTS]: the server's CPU for one batched ingest on a fresh SQLite store.
# Starts `tally serve` on a temporary data directory, posts EVENTS (default 200,000) in 1,000-event bodies from 4
# threads (bench/tally_bench.py batch), and samples the server with `perf record -e cpu-clock` (software clock:
# machines without hardware counters have it too). Prints the throughput line and perf's CPU total and the share of
# pricing; keeps the profile in /tmp/perf-LABEL.data for `perf report -i`. CPU per event is steadier than
# throughput on a shared machine: compare binaries by it, alternating, two runs each.
set -u
BIN=$1; LABEL=$2; EVENTS=${3:-200000}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v perf >/dev/null || { echo "perf is missing (Debian: linux-perf)" >&2; exit 2; }
DATA=$(mktemp -d); PORT=$((18100 + RANDOM % 800))
TALLY_ADMIN_EMAIL=bench@example.com TALLY_ADMIN_PASSWORD=bench-password-123 \
  "$BIN" serve --host 127.0.0.1 --port "$PORT" --data-dir "$DATA" --log-level warning > "/tmp/profile-$LABEL.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
"$BIN" projects create bench --data-dir "$DATA" >/dev/null
TOKEN=$("$BIN" tokens create --project bench --scopes ingest,read --data-dir "$DATA" | tail -1)
perf record -e cpu-clock -F 499 -g -p "$SERVER" -o "/tmp/perf-$LABEL.data" >/dev/null 2>&1 &
PERF=$!
python3 "$HERE/tally_bench.py" batch --port "$PORT" --token "$TOKEN" --pid "$SERVER" --label "$LABEL" \
  --events "$EVENTS" --threads 4
kill -INT "$PERF"; wait "$PERF" 2>/dev/null
kill "$SERVER"; wait "$SERVER" 2>/dev/null; rm -rf "$DATA"
perf report -i "/tmp/perf-$LABEL.data" --stdio --no-children -g none --sort dso 2>/dev/null \
  | grep -E '^# Event count' | sed "s/^# Event count (approx.):/$LABEL: server CPU (ns):/"
perf report -i "/tmp/perf-$LABEL.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -E 'CatalogPricerC5quote|CatalogPricerC7resolve|CostEngineO5price' | awk -v l="$LABEL" '{print l": "$1" "$4}'
