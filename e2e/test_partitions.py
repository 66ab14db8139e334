"""PostgreSQL's monthly event partitions through the real binary (issue 24).

A new database is partitioned from the start (`tally partition-events` has nothing to copy); an import makes a
partition for each month its events fall in and none for the months between; the same import again stores nothing
twice; `tally retention` drops the months wholly before its cut-off, and an event of a dropped month sent again is
still a duplicate. On SQLite the command says partitions are for PostgreSQL. (The in-place conversion of a populated
table made before partitioning is EventPartitioningContractTests, against the same real server.)"""
import datetime
import json
import re
import subprocess

import clock
from conftest import any_tally, tally_cli  # noqa: F401 (fixture)


def months_ago(n, day=15):
    t = clock.now().astimezone(datetime.timezone.utc)
    index = t.year * 12 + t.month - 1 - n
    return datetime.datetime(index // 12, index % 12 + 1, day, 10, 30, tzinfo=datetime.timezone.utc)


def partition(t):
    return f"usage_events_y{t.year:04d}m{t.month:02d}"


def partitions(database_url):
    r = subprocess.run(["psql", database_url, "-Atc",
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = to_regclass('usage_events') ORDER BY 1"],
                       capture_output=True, text=True, check=True, timeout=30)
    return r.stdout.split()


def test_partition_events_and_retention_by_month(any_tally):
    t = any_tally
    r = tally_cli(t, "partition-events")
    if not t.database_url:
        assert r.returncode == 1 and "partitions are for PostgreSQL" in r.stderr, r.stderr
        return
    assert r.returncode == 0, r.stderr
    assert re.match(r"events are partitioned by month \(0 copied in [0-9.]+ s\)", r.stdout), r.stdout
    # Made ahead: this month and the next two.
    made = partitions(t.database_url)
    assert {partition(months_ago(-k)) for k in range(3)} <= set(made), made

    t.cli("projects", "create", "web")
    far, near = months_ago(6), months_ago(3)
    recent = clock.now().astimezone(datetime.timezone.utc) - datetime.timedelta(days=2)
    times = [far] * 3 + [near] * 4 + [recent] * 5 + [datetime.datetime(2019, 5, 1, tzinfo=datetime.timezone.utc)]
    lines = "".join(json.dumps({
        "id": f"e{i}", "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "provider": "openai", "model": "gpt-4o",
        "project": "web", "input_tokens": 100 + i, "output_tokens": 10}) + "\n" for i, ts in enumerate(times))
    r = tally_cli(t, "import", "--ndjson", "-", stdin=lines)
    assert r.returncode == 0 and "imported 13 events" in r.stdout, r.stdout + r.stderr
    made = partitions(t.database_url)
    assert partition(far) in made and partition(near) in made and "usage_events_before" in made
    between = [partition(months_ago(k)) for k in (4, 5)]
    assert not set(between) & set(made), made

    # The same lines again: every one already stored.
    r = tally_cli(t, "import", "--ndjson", "-", stdin=lines)
    assert r.returncode == 0 and "13 already stored" in r.stdout, r.stdout

    # 30 days: the far and near months (and 2019) go whole, the recent events stay.
    r = tally_cli(t, "retention", "--event-days", "30")
    assert r.returncode == 0 and r.stdout.startswith("deleted 8 raw events"), r.stdout + r.stderr
    made = partitions(t.database_url)
    assert partition(far) not in made and partition(near) not in made, made
    assert "usage_events_before" in made, "kept (emptied) for events before 2020"
    # Sent again, an event of a dropped month is a duplicate still: its rollup counts it already.
    r = tally_cli(t, "import", "--ndjson", "-", stdin=lines.splitlines()[0] + "\n")
    assert r.returncode == 0 and "imported 0 events from 1 lines: 1 already stored" in r.stdout, r.stdout
    # A new event of a dropped month is counted but not kept: the month does not come back.
    late = json.dumps({"id": "late", "timestamp": far.strftime("%Y-%m-%dT%H:%M:%SZ"), "provider": "openai",
                       "model": "gpt-4o", "project": "web", "input_tokens": 1})
    r = tally_cli(t, "import", "--ndjson", "-", stdin=late + "\n")
    assert r.returncode == 0 and "imported 1 events" in r.stdout, r.stdout
    assert partition(far) not in partitions(t.database_url)
