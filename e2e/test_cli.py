"""The CLI as a user runs it, beside a running server, and start-up configuration errors."""
import os
import subprocess

import requests

from conftest import BIN, free_port


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


def test_every_wrong_setting_is_reported_at_once(tmp_path):
    r = run_serve_with({"TALLY_PORT": "abc", "TALLY_LOG_LEVEL": "loud", "TALLY_TIME_ZONE": "Mars/Base",
                        "TALLY_MIGRATE": "sometimes"}, tmp_path)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    variables = ["TALLY_PORT", "TALLY_LOG_LEVEL", "TALLY_TIME_ZONE", "TALLY_MIGRATE"]
    assert len(lines) == len(variables), r.stderr
    for variable, line in zip(variables, lines):
        assert line.startswith(f"tally: {variable} "), r.stderr


def test_commands_that_only_read_never_migrate_and_say_so(any_tally):
    # A new database: every migration is pending. Each command refuses, so none of them migrated it for the next.
    for args in [("projects", "list"), ("tokens", "list"), ("prices", "list"),
                 ("prices", "recompute", "--from", "2026-11-01", "--to", "2026-12-01", "--dry-run")]:
        r = any_tally.cli(*args, check=False)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "schema is behind" in lines[0] and "tally migrate" in lines[0], (args, r.stderr)
    assert any_tally.cli("migrate").stdout.strip() == "migrations applied"
    assert any_tally.cli("projects", "list").stdout == ""
    assert any_tally.cli("tokens", "list").stdout.startswith("ID\t")


def test_with_migrate_off_serve_leaves_migrations_to_tally_migrate(any_tally):
    """Rolling upgrades: replicas start with TALLY_MIGRATE=off and refuse a schema that `tally migrate` has not
    brought up to date; commands that write refuse too and change nothing."""
    any_tally.base_env["TALLY_MIGRATE"] = "off"
    r = subprocess.run([BIN, "serve", "--port", str(free_port()), *any_tally.store_args()], env=any_tally.base_env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    # One line of error (on SQLite, the first start's master key notice is logged before it).
    errors = [line for line in r.stderr.splitlines() if line.startswith("tally: ")]
    assert len(errors) == 1 and "TALLY_MIGRATE is off" in errors[0] and "tally migrate" in errors[0], r.stderr
    r = any_tally.cli("projects", "create", "web", check=False)
    assert r.returncode == 1 and "tally migrate" in r.stderr, r.stderr
    assert any_tally.cli("migrate").returncode == 0
    server = any_tally.serve()
    token = any_tally.token(scopes="read")
    assert requests.get(server.url + "/api/v1/events", headers={"Authorization": f"Bearer {token}"}).status_code == 200
