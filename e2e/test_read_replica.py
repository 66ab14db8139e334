"""`TALLY_DATABASE_READ_URL` against a real PostgreSQL streaming replica (issue 24).

scripts/with-postgres starts a hot standby beside the test server (`pg_basebackup -R`); the replica is made to lag on
purpose by pausing its replay. Summaries (reads that may lag) go to the replica while it is within
TALLY_DATABASE_READ_MAX_LAG; an event's own page (a read of one's own write) and every write stay on the primary; a
replica that lags too far, or cannot be reached, sends the reads to the primary without failing any request."""
import os
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests

from conftest import PG_URL, Tally, bearer, event, free_port, fresh_postgres_url, wait_until

REPLICA_URL = os.environ.get("TALLY_TEST_POSTGRES_REPLICA_URL")
pytestmark = pytest.mark.skipif(not (PG_URL and REPLICA_URL), reason="no PostgreSQL primary and streaming replica")


def on_replica(primary_url):
    """The same database on the replica."""
    replica = urllib.parse.urlsplit(REPLICA_URL)
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(primary_url)._replace(netloc=replica.netloc))


def psql(url, sql, check=True):
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=check, timeout=30).stdout


def requests_counted(server, token):
    r = requests.get(server.url + "/api/v1/usage/summary", params={"from": "2026-11-01", "to": "2026-12-01"},
                     headers=bearer(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["totals"]["requests"]


def post(server, token, *events):
    r = requests.post(server.url + "/api/v1/events", json=list(events), headers=bearer(token), timeout=30)
    assert r.status_code == 200, r.text


@pytest.fixture
def replicated():
    """A fresh database on the primary, present on the replica, and a Tally on it; replay resumed at the end."""
    url = fresh_postgres_url()
    wait_until(lambda: psql(on_replica(url), "SELECT 1", check=False).strip() == "1", timeout=30,
               what="the replica to have it")
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d, url)
        try:
            yield t, url
        finally:
            psql(REPLICA_URL, "SELECT pg_wal_replay_resume()")
            t.stop_all()


def test_summaries_are_read_on_the_replica_while_it_keeps_up(replicated):
    t, url = replicated
    token = t.token("web", "admin")
    t.base_env = dict(t.base_env, TALLY_DATABASE_READ_URL=on_replica(url), TALLY_DATABASE_READ_MAX_LAG="60")
    server = t.serve()
    post(server, token, *[event(f"a{i}") for i in range(10)])
    wait_until(lambda: requests_counted(server, token) == 10, timeout=30, what="the replica to catch up")

    # Replay paused: the replica stops where it is, a few seconds behind at most, well within 60 s.
    psql(REPLICA_URL, "SELECT pg_wal_replay_pause()")
    post(server, token, event("late"))
    # The event's own page reads the primary: a caller sees what it just wrote.
    r = requests.get(server.url + "/api/v1/events/late", headers=bearer(token), timeout=30)
    assert r.status_code == 200, r.text
    # The summary is the replica's: it does not have the event yet. (Were it read on the primary, it would count 11.)
    for _ in range(5):
        assert requests_counted(server, token) == 10
        time.sleep(0.2)
    psql(REPLICA_URL, "SELECT pg_wal_replay_resume()")
    wait_until(lambda: requests_counted(server, token) == 11, timeout=30, what="the replica to replay the event")


def test_a_lagging_replica_sends_reads_to_the_primary(replicated):
    t, url = replicated
    token = t.token("web", "admin")
    t.base_env = dict(t.base_env, TALLY_DATABASE_READ_URL=on_replica(url), TALLY_DATABASE_READ_MAX_LAG="1")
    server = t.serve()
    post(server, token, *[event(f"b{i}") for i in range(5)])
    wait_until(lambda: requests_counted(server, token) == 5, timeout=30, what="the replica to catch up")
    psql(REPLICA_URL, "SELECT pg_wal_replay_pause()")
    post(server, token, event("behind"))
    # Within a few seconds the replica is more than 1 s behind: the summary comes from the primary, complete.
    wait_until(lambda: requests_counted(server, token) == 6, timeout=15, what="reads to fall back to the primary")
    r = requests.get(server.url + "/api/v1/events", headers=bearer(token), timeout=30)
    assert r.status_code == 200 and len(r.json()["data"]) == 6, r.text


def test_an_unreachable_replica_never_fails_a_request(replicated):
    t, url = replicated
    token = t.token("web", "admin")
    closed = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(netloc=f"127.0.0.1:{free_port()}"))
    t.base_env = dict(t.base_env, TALLY_DATABASE_READ_URL=closed)
    server = t.serve()
    post(server, token, *[event(f"c{i}") for i in range(3)])
    assert requests_counted(server, token) == 3
    r = requests.get(server.url + "/api/v1/events", headers=bearer(token), timeout=30)
    assert r.status_code == 200 and len(r.json()["data"]) == 3


def test_a_read_url_without_a_postgresql_primary_is_refused():
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d)
        t.base_env = dict(t.base_env, TALLY_DATABASE_READ_URL=REPLICA_URL)
        r = t.cli("projects", "list", check=False)
        assert r.returncode == 1
        assert "TALLY_DATABASE_READ_URL" in r.stderr and "TALLY_DATABASE_URL" in r.stderr
        assert REPLICA_URL not in r.stderr
