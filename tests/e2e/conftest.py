"""Fixtures that run real `tally serve` processes on SQLite files or fresh PostgreSQL databases."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

BIN = os.path.abspath(os.environ.get("TALLY_BIN", ".build/debug/tally"))
PG_URL = os.environ.get("TALLY_TEST_POSTGRES_URL")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_postgres_url():
    """A new, empty database on the test PostgreSQL server."""
    parts = urllib.parse.urlsplit(PG_URL)
    name = "tally_e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", "-q", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                    "-d", "tally", "-c", f"CREATE DATABASE {name}"], check=True)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


class Tally:
    """One data location (a SQLite dir or a PostgreSQL URL), its CLI, and any servers started on it."""

    def __init__(self, data_dir, database_url=None):
        self.data_dir = data_dir
        self.database_url = database_url
        self.servers = []

    def store_args(self):
        args = ["--data-dir", self.data_dir]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def cli(self, *args, check=True):
        r = subprocess.run([BIN, *args, *self.store_args()], capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"tally {' '.join(args)} failed: {r.stderr}")
        return r

    def token(self, project="web", scopes="ingest,read"):
        self.cli("projects", "create", project, check=False)
        out = self.cli("tokens", "create", "--project", project, "--scopes", scopes).stdout
        return out.strip()

    def serve(self, wait=True):
        port = free_port()
        log = open(os.path.join(self.data_dir, f"serve-{port}.log"), "w")
        proc = subprocess.Popen([BIN, "serve", "--port", str(port), *self.store_args()], stdout=log, stderr=log)
        server = Server(proc, port)
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self):
        for s in self.servers:
            s.stop()


class Server:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tally serve exited with {self.proc.returncode}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError("tally serve did not become ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def sqlite_tally():
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d)
        yield t
        t.stop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def any_tally(request):
    if request.param == "postgres" and not PG_URL:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d, fresh_postgres_url() if request.param == "postgres" else None)
        yield t
        t.stop_all()


def event(event_id, **fields):
    e = {"id": event_id, "timestamp": "2026-11-20T10:15:00Z", "provider": "openai", "model": "gpt-4o",
         "input_tokens": 100, "output_tokens": 10}
    e.update(fields)
    return e


def all_event_ids(server, token):
    r = requests.get(server.url + "/api/v1/events/export?format=ndjson",
                     headers={"Authorization": f"Bearer {token}"}, timeout=60)
    r.raise_for_status()
    import json
    return [json.loads(line)["id"] for line in r.text.splitlines() if line]
