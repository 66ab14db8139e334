"""The CLI as a user runs it, beside a running server, and start-up configuration errors."""
import os
import subprocess

import requests

from conftest import BIN


def test_token_secret_printed_once_and_never_listed(sqlite_tally):
    sqlite_tally.cli("projects", "create", "web")
    out = sqlite_tally.cli("tokens", "create", "--project", "web", "--scopes", "ingest,read", "--name", "ci").stdout
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tly_")
    listing = sqlite_tally.cli("tokens", "list").stdout
    assert "ci" in listing and lines[0] not in listing
    assert oct(os.stat(sqlite_tally.data_dir).st_mode & 0o777) in ("0o700", "0o755")


def test_cli_works_while_the_server_runs_and_revocation_is_immediate(sqlite_tally):
    server = sqlite_tally.serve()
    token = sqlite_tally.token(scopes="read")
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(server.url + "/api/v1/events", headers=headers).status_code == 200
    forbidden = requests.post(server.url + "/api/v1/events", headers=headers, json={})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    token_id = sqlite_tally.cli("tokens", "list").stdout.splitlines()[1].split("\t")[0]
    sqlite_tally.cli("tokens", "revoke", token_id)
    assert requests.get(server.url + "/api/v1/events", headers=headers).status_code == 401
    missing = requests.get(server.url + "/api/v1/events")
    assert missing.status_code == 401 and set(missing.json()["error"]) == {"code", "message", "details"}


def run_serve_with(env_overrides, tmp_path):
    env = dict(os.environ, TALLY_DATA_DIR=str(tmp_path), **env_overrides)
    return subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)


def test_bad_configuration_stops_start_up_with_one_line(tmp_path):
    for variable, value in [("TALLY_PORT", "abc"), ("TALLY_TIME_ZONE", "Mars/Base"),
                            ("TALLY_DATABASE_URL", "mysql://x"), ("TALLY_LOG_LEVEL", "loud")]:
        r = run_serve_with({variable: value}, tmp_path)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and variable in lines[0], r.stderr


def test_flags_override_environment(sqlite_tally, tmp_path):
    env = dict(os.environ, TALLY_TIME_ZONE="Mars/Base")
    r = subprocess.run([BIN, "migrate", "--time-zone", "UTC", "--data-dir", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # the flag wins over the bad environment value
    r = subprocess.run([BIN, "serve", "--port", "0x", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--port" in r.stderr
