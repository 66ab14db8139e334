"""Price catalog updates without a new binary (issue 16): `tally prices update --from FILE|URL [--apply]`,
`POST /api/v1/prices/catalog`, TALLY_PRICES_URL, and replicas on PostgreSQL switching within their refresh interval.

Every candidate file is the repository's own prices/catalog.json with a later revision, gpt-4o's input rate raised to
$5 and one model the built-in catalog does not know, so the expected diff is exactly those two lines whatever else
the catalog holds."""
import copy
import datetime
import functools
import http.server
import json
import os
import threading

import pytest
import requests

from conftest import PG_URL, Tally, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPT4O = "openai:gpt-4o:2024-10-02"
ACME = {"id": "openai:acme-9:2026-01-01", "provider": "openai", "model": "acme-9", "from": "2026-01-01",
        "source": "https://example.com/acme", "prices": {"input": "1", "output": "1"}}


def built_in():
    with open(os.path.join(ROOT, "prices", "catalog.json")) as f:
        return json.load(f)


# An hour after the built-in revision: newer than the catalog in force, and not in the future (a revision dated ahead of
# the clock is refused).
NEW_REVISION = (datetime.datetime.fromisoformat(built_in()["revision"].replace("Z", "+00:00"))
                + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def candidate(revision=NEW_REVISION, acme_input="1"):
    doc = copy.deepcopy(built_in())
    doc["revision"] = revision
    entry = next(e for e in doc["entries"] if e["id"] == GPT4O)
    entry["prices"]["input"] = "5.00"
    acme = copy.deepcopy(ACME)
    acme["prices"]["input"] = acme_input
    doc["entries"].append(acme)
    return doc


def write(tmp_path, name, doc):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def event(event_id, model="gpt-4o"):
    # 900 input + 100 cached + 200 output: at gpt-4o's built-in rates 0.00225 + 0.000125 + 0.002 = 0.004375;
    # at $5 input 0.0045 + 0.000125 + 0.002 = 0.006625; acme-9 at $1/$1: 0.001 + 0.0002 = 0.0012.
    return {"id": event_id, "timestamp": "2026-11-20T10:15:00Z", "provider": "openai", "model": model,
            "input_tokens": 1000, "cached_input_tokens": 100, "output_tokens": 200}


EXPECTED_DIFF = {
    "added": [{"entry": "openai:acme-9:2026-01-01", "provider": "openai", "model": "acme-9", "from": "2026-01-01"}],
    "ended": [],
    "changed": [{"entry": GPT4O, "cell": "prices.input", "old": "2.50", "new": "5.00"}],
}


def served_catalog(server, token):
    r = requests.get(server.url + "/api/v1/prices/catalog", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    r.raise_for_status()
    return r.json()


class FileServer:
    """A local HTTP server (Python's http.server) serving one directory."""

    def __init__(self, directory):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def file_server(tmp_path):
    directory = tmp_path / "served"
    directory.mkdir()
    server = FileServer(str(directory))
    server.directory = directory
    yield server
    server.close()


def test_update_from_a_file_diff_apply_and_recompute_only_when_asked(any_tally, tmp_path):
    any_tally.base_env["TALLY_PRICES_REFRESH"] = "1"
    server = any_tally.serve()
    token = any_tally.token(scopes="ingest,read")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.post(server.url + "/api/v1/events", headers=headers,
                         json=[event("a"), event("b", model="acme-9")]).status_code == 200
    path = write(tmp_path, "newer.json", candidate())

    preview = json.loads(any_tally.cli("prices", "update", "--from", path, "--json").stdout)
    assert {k: preview[k] for k in ("added", "ended", "changed")} == EXPECTED_DIFF
    assert preview["revision"] == NEW_REVISION and preview["current_revision"] == built_in()["revision"]
    assert preview["recompute_impact"] == {"events": 2, "by_model": [{"model": "acme-9", "events": 1},
                                                                     {"model": "gpt-4o", "events": 1}]}
    assert preview["applied"] is False
    text = any_tally.cli("prices", "update", "--from", path).stdout.splitlines()
    assert text == [
        f"revision {NEW_REVISION} (in force: {built_in()['revision']})",
        "added    openai:acme-9:2026-01-01 (openai acme-9 from 2026-01-01)",
        f"changed  {GPT4O} prices.input: 2.50 → 5.00",
        "a recompute would change 2 stored events: acme-9 1, gpt-4o 1",
        "not applied (run with --apply to apply it)",
    ]
    assert served_catalog(server, token)["source"] == "built-in"

    applied = json.loads(any_tally.cli("prices", "update", "--from", path, "--apply", "--json").stdout)
    assert applied["applied"] is True
    # The running server re-reads the store within TALLY_PRICES_REFRESH (1 s here).
    wait_until(lambda: served_catalog(server, token)["revision"] == NEW_REVISION, what="the server to switch")
    assert served_catalog(server, token)["source"] == "stored"
    assert requests.post(server.url + "/api/v1/events", headers=headers, json=[event("c")]).status_code == 200
    assert requests.get(server.url + "/api/v1/events/c", headers=headers).json()["cost_usd"] == "0.006625"

    # Stored costs change only through recompute.
    assert requests.get(server.url + "/api/v1/events/a", headers=headers).json()["cost_usd"] == "0.004375"
    assert requests.get(server.url + "/api/v1/events/b", headers=headers).json()["cost_usd"] is None
    recomputed = json.loads(any_tally.cli("prices", "recompute", "--from", "2026-11-01", "--to", "2026-12-01").stdout)
    assert (recomputed["changed"], recomputed["applied"]) == (2, True)
    assert requests.get(server.url + "/api/v1/events/a", headers=headers).json()["cost_usd"] == "0.006625"
    assert requests.get(server.url + "/api/v1/events/b", headers=headers).json()["cost_usd"] == "0.0012"

    # The same file again changes nothing.
    again = any_tally.cli("prices", "update", "--from", path, "--apply").stdout
    assert "no change to the catalog in force" in again and "this revision is in force already" in again

    # A server started now prices with the stored revision from its first request (read before it listens).
    any_tally.base_env["TALLY_PRICES_REFRESH"] = "1h"
    restarted = any_tally.serve()
    assert served_catalog(restarted, token)["revision"] == NEW_REVISION


def test_a_malformed_entry_and_an_older_file_are_refused(sqlite_tally, tmp_path):
    server = sqlite_tally.serve()
    token = sqlite_tally.token(scopes="read")
    malformed = write(tmp_path, "bad.json", candidate(acme_input="one dollar"))
    r = sqlite_tally.cli("prices", "update", "--from", malformed, "--apply", check=False)
    index = len(built_in()["entries"])
    assert r.returncode == 1
    assert f'entries[{index}].prices.input entry "openai:acme-9:2026-01-01": must be a decimal string' in r.stderr

    older = write(tmp_path, "older.json", candidate(revision="2026-01-01T00:00:00Z"))
    r = sqlite_tally.cli("prices", "update", "--from", older, check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"tally: catalog revision 2026-01-01T00:00:00Z is older than the catalog in force, revision "
        f"{built_in()['revision']} (built-in); an older catalog is never applied")

    # Dated ahead of the clock it would keep out every real revision until then: refused by the CLI and the API.
    future = write(tmp_path, "future.json", candidate(revision="2999-01-01T00:00:00Z"))
    r = sqlite_tally.cli("prices", "update", "--from", future, "--apply", check=False)
    assert r.returncode == 1 and "revision" in r.stderr and "is in the future" in r.stderr, r.stderr
    admin = sqlite_tally.token(scopes="admin")
    r = requests.post(server.url + "/api/v1/prices/catalog", headers={"Authorization": f"Bearer {admin}"},
                      json=candidate(revision="2999-01-01T00:00:00Z"), timeout=30)
    assert r.status_code == 400 and r.json()["error"]["details"][0]["field"] == "revision", r.text
    assert served_catalog(server, token)["source"] == "built-in"


def test_update_from_a_local_http_server(sqlite_tally, tmp_path, file_server):
    sqlite_tally.serve()  # migrates the store; a preview only reads
    (file_server.directory / "catalog.json").write_text(json.dumps(candidate()))
    preview = json.loads(sqlite_tally.cli("prices", "update", "--from", file_server.url + "/catalog.json",
                                          "--json").stdout)
    assert {k: preview[k] for k in ("added", "ended", "changed")} == EXPECTED_DIFF
    applied = json.loads(sqlite_tally.cli("prices", "update", "--from", file_server.url + "/catalog.json",
                                          "--apply", "--json").stdout)
    assert applied["applied"] is True
    r = sqlite_tally.cli("prices", "update", "--from", file_server.url + "/missing.json?token=secret", check=False)
    assert r.returncode == 1 and "answered HTTP 404" in r.stderr and "secret" not in r.stderr
    (file_server.directory / "huge.json").write_bytes(b" " * (9 << 20))
    r = sqlite_tally.cli("prices", "update", "--from", file_server.url + "/huge.json", check=False)
    assert r.returncode == 1 and "sends more than 8 MiB" in r.stderr
    r = sqlite_tally.cli("prices", "update", "--from", "ftp://127.0.0.1/catalog.json", check=False)
    assert r.returncode == 1 and "only http and https URLs are read" in r.stderr
    assert "this revision is in force already" in sqlite_tally.cli(
        "prices", "update", "--from", file_server.url + "/catalog.json").stdout


def test_prices_url_applies_on_start_and_a_malformed_file_shows_on_readyz(tmp_path, file_server):
    (file_server.directory / "good.json").write_text(json.dumps(candidate()))
    (file_server.directory / "bad.json").write_text(json.dumps(candidate(acme_input="one dollar")))
    for name in ("good", "bad"):
        (tmp_path / name).mkdir()
    good = Tally(str(tmp_path / "good"))
    good.base_env["TALLY_PRICES_URL"] = file_server.url + "/good.json"
    bad = Tally(str(tmp_path / "bad"))
    bad.base_env["TALLY_PRICES_URL"] = file_server.url + "/bad.json?key=hunter2"
    try:
        server = good.serve()
        token = good.token(scopes="ingest,read")
        ready = wait_until(
            lambda: (lambda d: d if d["price_catalog"].get("url", {}).get("status") == "ok" else None)(
                requests.get(server.url + "/readyz", timeout=5).json()["details"]), what="the URL to be applied")
        assert ready["price_catalog"]["revision"] == NEW_REVISION and ready["price_catalog"]["source"] == "url"
        assert ready["price_catalog"]["url"]["revision"] == NEW_REVISION
        assert served_catalog(server, token)["source"] == "url"

        broken = bad.serve()
        bad_token = bad.token(scopes="ingest,read")
        details = wait_until(
            lambda: (lambda d: d if d["price_catalog"].get("url", {}).get("status") == "failed" else None)(
                requests.get(broken.url + "/readyz", timeout=5).json()["details"]), what="the failure to show")
        assert details["price_catalog"]["source"] == "built-in"
        error = details["price_catalog"]["url"]["error"]
        assert 'entry "openai:acme-9:2026-01-01"' in error and "prices.input" in error
        assert requests.get(broken.url + "/readyz", timeout=5).status_code == 200
        # Still serving, with the catalog it had.
        headers = {"Authorization": f"Bearer {bad_token}"}
        assert requests.post(broken.url + "/api/v1/events", headers=headers, json=[event("a")]).status_code == 200
        assert requests.get(broken.url + "/api/v1/events/a", headers=headers).json()["cost_usd"] == "0.004375"
        with open(broken.log_path if hasattr(broken, "log_path") else
                  os.path.join(bad.data_dir, f"serve-{broken.port}.log")) as f:
            log = f.read()
        assert "TALLY_PRICES_URL: kept the price catalog in force" in log and "hunter2" not in log
    finally:
        good.stop_all()
        bad.stop_all()


@pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")
def test_two_replicas_switch_within_their_refresh_interval(tmp_path):
    from conftest import fresh_postgres_url
    t = Tally(str(tmp_path), fresh_postgres_url())
    t.base_env["TALLY_PRICES_REFRESH"] = "2"
    try:
        a, b = t.serve(wait=False), t.serve(wait=False)
        a.wait_ready()
        b.wait_ready()
        admin = t.token(scopes="admin")
        ingest = t.token(scopes="ingest,read")
        r = requests.post(a.url + "/api/v1/prices/catalog?apply=true", data=json.dumps(candidate()),
                          headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
                          timeout=30)
        assert r.status_code == 200 and r.json()["applied"] is True, r.text
        assert served_catalog(a, ingest)["revision"] == NEW_REVISION
        wait_until(lambda: served_catalog(b, ingest)["revision"] == NEW_REVISION, timeout=10,
                   what="the other replica to switch")
        headers = {"Authorization": f"Bearer {ingest}"}
        assert requests.post(b.url + "/api/v1/events", headers=headers, json=[event("r")]).status_code == 200
        assert requests.get(b.url + "/api/v1/events/r", headers=headers).json()["cost_usd"] == "0.006625"
    finally:
        t.stop_all()


def test_a_url_that_stalls_mid_file_times_out(sqlite_tally):
    """The whole download is bounded, not only the answer's head: a server that sends its headers and part of the
    body, then nothing, is given up on after --timeout seconds."""
    sqlite_tally.serve()
    release = threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"revision": ')
            self.wfile.flush()
            release.wait(30)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        import time
        started = time.monotonic()
        r = sqlite_tally.cli("prices", "update", "--from", f"http://127.0.0.1:{httpd.server_address[1]}/c.json",
                             "--timeout", "2", check=False)
        assert r.returncode == 1 and "did not send the whole file within 2 s" in r.stderr, r.stderr
        assert time.monotonic() - started < 15
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
