"""`tally backup`, `tally restore` and `tally import --ndjson` against real `tally serve` processes (issue 24).

A backup taken while 32 clients ingest holds every event acknowledged before it started, and a store restored from it
serves exactly what it holds; an import stores what the HTTP API stores for the same events (the summaries are
identical), is idempotent, reads standard input, and reports invalid lines by number and field."""
import datetime
import json
import os
import random
import re
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time

import pytest
import requests

import clock
from conftest import BIN, Tally, all_event_ids, bearer, event, tally_cli, wait_until

BACKED_UP = re.compile(r"^backed up (\d+) events \([0-9.]+ MB, schema (\d+)\) to (.+)$")
RESTORED = re.compile(r"^restored (\d+) events \([0-9.]+ MB, schema (\d+)\) from (.+)$")
IMPORTED = re.compile(r"^imported (\d+) events from (\d+) lines: (\d+) already stored, (\d+) invalid$")


@pytest.fixture
def tallies():
    """Makes SQLite Tallies in private temporary directories; stops their servers at the end."""
    made, dirs = [], []

    def make(data_dir=None):
        """`data_dir`: a directory that need not exist yet (a restore creates it); else a new temporary one."""
        if data_dir is None:
            d = tempfile.TemporaryDirectory()
            dirs.append(d)
            data_dir = d.name
        t = Tally(str(data_dir))
        made.append(t)
        return t

    yield make
    for t in made:
        t.stop_all()
    for d in dirs:
        d.cleanup()


def ok(response):
    assert 200 <= response.status_code < 300, f"{response.request.method} {response.url}: " \
                                              f"{response.status_code} {response.text[:500]}"
    return response


def summary(server, token, **params):
    return ok(requests.get(server.url + "/api/v1/usage/summary", params=params, headers=bearer(token),
                           timeout=60)).json()


def error_lines(stderr):
    lines = stderr.strip().splitlines()
    assert lines and all(line.startswith("tally: ") for line in lines), stderr
    return lines


def backup_ids(path):
    """The event ids a backup file holds, read with SQLite itself (read-only: the file is not touched)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in db.execute("SELECT event_id FROM usage_events")]
    finally:
        db.close()
    assert len(rows) == len(set(rows)), "an event id is stored twice in the backup"
    return set(rows)


def parse_imported(stdout):
    lines = stdout.strip().splitlines()
    assert len(lines) == 1, stdout
    m = IMPORTED.match(lines[0])
    assert m, stdout
    stored, lines_read, duplicates, invalid = map(int, m.groups())
    return {"stored": stored, "lines": lines_read, "duplicates": duplicates, "invalid": invalid}


# -- 1. backup under load -----------------------------------------------------------------------------------------

CLIENTS = 32
BATCH = 4


def test_backup_while_32_clients_ingest_loses_nothing_acknowledged(tallies, tmp_path):
    original = tallies()
    token = original.token(project="web", scopes="ingest,read")
    server = original.serve()
    # One hour of the test clock, an hour ago: a summary over [hour - 1 h, hour + 2 h) holds every event.
    hour = clock.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=1)
    stamp = (hour + datetime.timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    window = {"from": (hour - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "to": (hour + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}

    acknowledged = []  # (time.monotonic() when the 2xx arrived, ids of the batch)
    attempted = set()
    failures = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}"})
        i = 0
        while not stop.is_set():
            ids = [f"c{n}-{i}-{k}" for k in range(BATCH)]
            i += 1
            with lock:
                attempted.update(ids)
            try:
                r = session.post(server.url + "/api/v1/events", json=[event(x, timestamp=stamp) for x in ids],
                                 timeout=30)
            except requests.RequestException as e:
                with lock:
                    failures.append(repr(e))
                return
            arrived = time.monotonic()
            if 200 <= r.status_code < 300:
                with lock:
                    acknowledged.append((arrived, ids))
            else:
                with lock:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    def acknowledged_count(after=None):
        with lock:
            return sum(len(ids) for t, ids in acknowledged if after is None or t > after)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: acknowledged_count() >= 2000, 40, "2000 acknowledged events before the backup")
        backup = str(tmp_path / "tally.backup")
        started = time.monotonic()
        r = tally_cli(original, "backup", "--to", backup)
        finished = time.monotonic()
        # The clients go on after it: at least one more batch from most of them.
        wait_until(lambda: acknowledged_count(after=finished) >= CLIENTS * BATCH, 30,
                   "acknowledgements after the backup")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert failures == [], f"{len(failures)} requests failed while the backup ran: {failures[:5]}"
    assert r.returncode == 0, r.stderr
    m = BACKED_UP.match(r.stdout.strip())
    assert m and m.group(3) == backup, r.stdout
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert [p for p in os.listdir(tmp_path) if ".partial" in p] == [], "the backup left its partial file"

    before = {i for t, ids in acknowledged if t < started for i in ids}
    everything = {i for _, ids in acknowledged for i in ids}
    in_backup = backup_ids(backup)
    assert len(before) >= 2000
    assert int(m.group(1)) == len(in_backup), (r.stdout, len(in_backup))
    missing = before - in_backup
    assert missing == set(), f"{len(missing)} events acknowledged before the backup started are not in it"
    assert in_backup <= attempted, "the backup holds events nobody sent"
    # A snapshot of one moment: whole batches only (a batch is one transaction), never part of one.
    for _, ids in acknowledged:
        assert len(in_backup.intersection(ids)) in (0, len(ids)), f"half a batch in the backup: {ids}"

    # Restore into a new data directory, then serve it: the same events, and totals that agree with them.
    restored = tallies(tmp_path / "restored")
    r = tally_cli(restored, "restore", "--from", backup)
    assert r.returncode == 0, r.stderr
    m = RESTORED.match(r.stdout.strip())
    assert m and int(m.group(1)) == len(in_backup), r.stdout
    assert stat.S_IMODE(os.stat(restored.data_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(restored.data_dir, "tally.sqlite")).st_mode) == 0o600
    served = restored.serve()
    stored = all_event_ids(served, token)  # the token came with the backup
    assert len(stored) == len(set(stored)), "an event is listed twice after the restore"
    assert set(stored) == in_backup
    totals = summary(served, token, **window)["totals"]
    assert totals["requests"] == len(in_backup), totals
    assert totals["input_tokens"] == 100 * len(in_backup) and totals["output_tokens"] == 10 * len(in_backup)
    assert totals["unpriced_requests"] == 0 and totals["cost_usd"] is not None, totals
    for event_id in sorted(before)[::max(1, len(before) // 20)]:
        got = ok(requests.get(f"{served.url}/api/v1/events/{event_id}", headers=bearer(token), timeout=10))
        assert got.json()["id"] == event_id
    # The restored store takes new events.
    assert ok(requests.post(served.url + "/api/v1/events", json=[event("after-restore", timestamp=stamp)],
                            headers=bearer(token), timeout=10)).json() == {"accepted": 1, "duplicates": 0}
    restored.stop_all()  # a restore needs every server of the store stopped

    # Restoring over a store that is not empty needs --force; the store is left as it was.
    r = tally_cli(restored, "restore", "--from", backup)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "--force" in "\n".join(error_lines(r.stderr)), r.stderr
    served = restored.serve()
    ok(requests.get(served.url + "/api/v1/events/after-restore", headers=bearer(token), timeout=10))
    assert summary(served, token, **window)["totals"]["requests"] == len(in_backup) + 1
    restored.stop_all()

    # A second backup to the same file needs --force too. With it, now that the clients have stopped, the backup
    # holds every acknowledged event.
    size = os.stat(backup).st_size
    r = tally_cli(original, "backup", "--to", backup)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "--force" in "\n".join(error_lines(r.stderr)), r.stderr
    assert os.stat(backup).st_size == size and backup_ids(backup) == in_backup
    r = tally_cli(original, "backup", "--to", backup, "--force")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    final = backup_ids(backup)
    assert everything <= final, f"{len(everything - final)} acknowledged events are not in the second backup"

    r = tally_cli(restored, "restore", "--from", backup, "--force")
    assert r.returncode == 0, r.stderr
    served = restored.serve()
    stored = all_event_ids(served, token)
    assert set(stored) == final and len(stored) == len(final)  # "after-restore" was replaced with the rest
    assert summary(served, token, **window)["totals"]["requests"] == len(final)


def test_restore_refuses_what_is_not_a_tally_backup(tallies, tmp_path):
    target = tallies()
    target.token(project="web")  # a store with a project and a token
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("this is not a database\n" * 200)
    foreign = tmp_path / "other.sqlite"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO things (name) VALUES ('x')")
    db.commit()
    db.close()
    # A backup of a newer Tally: one migration this binary does not know.
    newer = tmp_path / "newer.backup"
    r = tally_cli(target, "backup", "--to", str(newer))
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(newer)
    db.execute("INSERT INTO schema_migrations (version, name, applied_us) VALUES (99999, 'from the future', 0)")
    db.commit()
    db.close()
    for path, says in ((not_sqlite, "not an SQLite database"), (foreign, "not a Tally database"),
                       (tmp_path / "missing.backup", "missing.backup"), (newer, "newer version")):
        for force in ((), ("--force",)):
            r = tally_cli(target, "restore", "--from", str(path), *force)
            assert r.returncode == 1, (path, force, r.stdout, r.stderr)
            assert says in "\n".join(error_lines(r.stderr)), (path, force, r.stderr)
    # The store is untouched: its project and its token are still there.
    assert "web" in tally_cli(target, "projects", "list").stdout
    assert len(tally_cli(target, "tokens", "list").stdout.strip().splitlines()) == 2


# -- 2. import against the HTTP API --------------------------------------------------------------------------------

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5"),
          ("google", "gemini-2.5-flash"), ("ollama", "llama3.1:8b")]  # the last one has no price
FEATURES = ["search", "chat", "summarize", None]
TEAMS = ["growth", "core", "infra"]


def historical_events(count, seed, today):
    """`count` events spread over the 30 days before `today` (a UTC midnight), half of them with ids, and three
    identical lines without one (distinct calls that happened to look alike)."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        moment = today - datetime.timedelta(days=rng.randrange(1, 31), seconds=-rng.randrange(86400))
        e = {"timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "provider": provider, "model": model}
        if i % 2 == 0:
            e["id"] = f"hist-{i}"
        inputs = rng.randrange(1, 60000)
        e["input_tokens"] = inputs
        e["output_tokens"] = rng.randrange(0, 4000)
        if rng.random() < 0.4:
            e["cached_input_tokens"] = rng.randrange(0, inputs // 2 + 1)
        if provider == "anthropic" and rng.random() < 0.3:
            e["cache_write_input_tokens"] = rng.randrange(0, inputs // 3 + 1)
        feature = FEATURES[rng.randrange(len(FEATURES))]
        if feature:
            e["feature"] = feature
        if rng.random() < 0.5:
            e["user"] = f"u-{rng.randrange(40)}"
        if rng.random() < 0.1:
            e["tags"] = {"team": TEAMS[rng.randrange(len(TEAMS))]}
        if rng.random() < 0.05:
            e["status"] = "error"
            e["http_status"] = 500
        if rng.random() < 0.1:
            e["latency_ms"] = rng.randrange(50, 20000)
        events.append(e)
    twin = {"timestamp": (today - datetime.timedelta(days=3, hours=-5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "provider": "openai", "model": "gpt-4o", "input_tokens": 1234, "output_tokens": 56, "feature": "chat"}
    for position in (10, 1500, 2990):
        events[position] = dict(twin)
    return events


def ndjson(events):
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def test_import_matches_the_http_api(tallies, tmp_path):
    today = datetime.datetime.combine(clock.today(), datetime.time(), datetime.timezone.utc)
    events = historical_events(3000, 2411, today)
    path = tmp_path / "history.ndjson"
    path.write_text(ndjson(events))
    project = "historical"
    window = {"from": (today - datetime.timedelta(days=31)).strftime("%Y-%m-%d"),
              "to": (today + datetime.timedelta(days=1)).strftime("%Y-%m-%d")}
    groupings = ["day,model", "project,feature,tag:team", "provider,status,source"]

    a, b, c = tallies(), tallies(), tallies()
    for t in (a, b, c):
        t.cli("projects", "create", project)
    token_a = a.token(project=project, scopes="read")
    token_b = b.token(project=project, scopes="ingest,read")
    token_c = c.token(project=project, scopes="read")
    server_a, server_b = a.serve(), b.serve()

    # A: `tally import` beside the running server. B: the same events through the HTTP API.
    r = tally_cli(a, "import", "--ndjson", str(path), "--project", project)
    assert r.returncode == 0, r.stderr
    assert parse_imported(r.stdout) == {"stored": 3000, "lines": 3000, "duplicates": 0, "invalid": 0}
    for start in range(0, len(events), 500):
        batch = [dict(e, project=project) for e in events[start:start + 500]]
        answer = ok(requests.post(server_b.url + "/api/v1/events", json=batch, headers=bearer(token_b), timeout=60))
        assert answer.json() == {"accepted": len(batch), "duplicates": 0}

    by_day_model = summary(server_a, token_a, group_by="day,model", **window)
    assert by_day_model == summary(server_b, token_b, group_by="day,model", **window)
    totals = by_day_model["totals"]
    assert totals["requests"] == 3000, totals
    assert totals["unpriced_requests"] == sum(1 for e in events if e["provider"] == "ollama"), totals
    assert totals["cost_usd"] not in (None, "0"), totals
    assert totals["input_tokens"] == sum(e["input_tokens"] for e in events), totals
    assert totals["cached_input_tokens"] == sum(e.get("cached_input_tokens", 0) for e in events), totals
    assert totals["errors"] == sum(1 for e in events if e.get("status") == "error"), totals
    for grouping in groupings[1:]:
        sa = summary(server_a, token_a, group_by=grouping, **window)
        sb = summary(server_b, token_b, group_by=grouping, **window)
        if "source" in grouping:  # the only difference: how the events came in
            assert {g["source"] for g in sa["groups"]} == {"import"}, sa["groups"][:3]
            assert {g["source"] for g in sb["groups"]} == {"api"}, sb["groups"][:3]
            for g in sa["groups"] + sb["groups"]:
                del g["source"]
        assert sa == sb, grouping

    # The ids given are kept as they are.
    got = ok(requests.get(server_a.url + "/api/v1/events/hist-42", headers=bearer(token_a), timeout=10)).json()
    assert got["id"] == "hist-42" and got["project"] == project and got["model"] == events[42]["model"]

    # Again, from the file and from standard input: nothing is stored twice, the summary does not move.
    r = tally_cli(a, "import", "--ndjson", str(path), "--project", project)
    assert r.returncode == 0, r.stderr
    assert parse_imported(r.stdout) == {"stored": 0, "lines": 3000, "duplicates": 3000, "invalid": 0}
    r = tally_cli(a, "import", "--ndjson", "-", "--project", project, stdin=path.read_text())
    assert r.returncode == 0, r.stderr
    assert parse_imported(r.stdout) == {"stored": 0, "lines": 3000, "duplicates": 3000, "invalid": 0}
    assert summary(server_a, token_a, group_by="day,model", **window) == by_day_model
    assert len(all_event_ids(server_a, token_a)) == 3000

    # Standard input into a third store (with the server stopped, and small batches): the same summary.
    r = tally_cli(c, "import", "--ndjson", "-", "--project", project, "--batch-size", "700",
                  stdin=path.read_text())
    assert r.returncode == 0, r.stderr
    assert parse_imported(r.stdout) == {"stored": 3000, "lines": 3000, "duplicates": 0, "invalid": 0}
    server_c = c.serve()
    assert summary(server_c, token_c, group_by="day,model", **window) == by_day_model


# -- 3. invalid lines ----------------------------------------------------------------------------------------------

def valid_line(n, moment):
    return {"id": f"line-{n}", "timestamp": moment, "provider": "openai", "model": "gpt-4o-mini",
            "input_tokens": 100 + n, "output_tokens": n % 50}


def test_import_reports_invalid_lines(tallies, tmp_path):
    moment = (clock.now() - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    project = "web"
    t = tallies()
    token = t.token(project=project, scopes="read")
    server = t.serve()

    total = 2500
    lines = {n: json.dumps(valid_line(n, moment)) for n in range(1, total + 1)}
    lines[10] = ""  # a blank line: counted, not an event
    missing_model = valid_line(1400, moment)
    del missing_model["model"]
    lines[1400] = json.dumps(missing_model)
    lines[1800] = json.dumps(dict(valid_line(1800, moment), project="no-such-project"))
    lines[2200] = json.dumps(dict(valid_line(2200, moment), timestamp="yesterday"))
    lines[2300] = '{"id": "line-2300", "provider": "openai", '  # not JSON
    path = tmp_path / "broken.ndjson"
    path.write_text("".join(lines[n] + "\n" for n in range(1, total + 1)))
    invalid = {1400: "model", 1800: "project", 2200: "timestamp", 2300: None}
    events = {f"line-{n}" for n in range(1, total + 1) if n != 10 and n not in invalid}

    # Without --skip-invalid: stops at line 1400; the lines before it are stored (over several transactions).
    r = tally_cli(t, "import", "--ndjson", str(path), "--project", project, "--batch-size", "300")
    assert r.returncode == 1, (r.stdout, r.stderr)
    counts = parse_imported(r.stdout)
    assert (counts["stored"], counts["duplicates"], counts["invalid"]) == (1398, 0, 1), r.stdout
    errors = error_lines(r.stderr)
    assert any(re.search(r"\bline 1400\b.*\bmodel\b", line) for line in errors), r.stderr
    assert any("stopped at line 1400" in line for line in errors), r.stderr
    assert not any(re.search(r"\bline (1800|2200|2300)\b", line) for line in errors), r.stderr
    before = {f"line-{n}" for n in range(1, 1400) if n != 10}
    assert set(all_event_ids(server, token)) == before

    # With --skip-invalid: every valid line is stored, each invalid one named; the exit status still says so.
    r = tally_cli(t, "import", "--ndjson", str(path), "--project", project, "--batch-size", "300",
                  "--skip-invalid")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert parse_imported(r.stdout) == {"stored": len(events) - len(before), "lines": total,
                                        "duplicates": len(before), "invalid": 4}, r.stdout
    errors = error_lines(r.stderr)
    for number, field in invalid.items():
        pattern = rf"\bline {number}\b" + (rf".*\b{field}\b" if field else "")
        assert any(re.search(pattern, line) for line in errors), (number, field, r.stderr)
    assert not any("stopped at" in line for line in errors), r.stderr
    stored = all_event_ids(server, token)
    assert len(stored) == len(set(stored)) and set(stored) == events

    # An unknown --project is refused before anything is read.
    r = tally_cli(t, "import", "--ndjson", str(path), "--project", "nope")
    assert r.returncode == 1 and "nope" in "\n".join(error_lines(r.stderr)), r.stderr


def test_import_stops_at_the_first_invalid_line_also_when_its_project_is_unknown(tallies):
    """Line 5 names an unknown project (found when the lines' projects are looked up), line 12 is not JSON (found as
    it is decoded, before line 5's project is looked up). The import stops at line 5: lines 1-4 are stored, and
    neither line 12 nor any line after 5 is counted or reported."""
    moment = (clock.now() - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    t = tallies()
    token = t.token(project="web", scopes="read")
    lines = [json.dumps(dict(valid_line(n, moment), id=f"q-{n}")) for n in range(1, 21)]
    lines[4] = json.dumps(dict(valid_line(5, moment), id="q-5", project="no-such-project"))
    lines[11] = "{oops"
    r = tally_cli(t, "import", "--ndjson", "-", "--project", "web", stdin="".join(line + "\n" for line in lines))
    assert r.returncode == 1, (r.stdout, r.stderr)
    errors = error_lines(r.stderr)
    assert any(re.search(r"\bline 5\b.*\bproject\b", line) for line in errors), r.stderr
    assert any("stopped at line 5" in line for line in errors), r.stderr
    server = t.serve()
    # What is stored is right (this holds today)...
    assert set(all_event_ids(server, token)) == {f"q-{n}" for n in range(1, 5)}
    # ...what is reported is not: "imported 4 events from 12 lines: 0 already stored, 2 invalid" and
    # "tally: line 12: line is not valid JSON…" before "tally: line 5: project unknown project…".
    assert not any(re.search(r"\bline 12\b", line) for line in errors), r.stderr
    counts = parse_imported(r.stdout)
    assert (counts["stored"], counts["duplicates"], counts["invalid"]) == (4, 0, 1), r.stdout
