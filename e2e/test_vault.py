"""The provider-key vault: connections validated against stand-ins of the providers' list-models endpoints,
keys that never leave Tally in plaintext (responses, logs, the SQLite files, a pg_dump), and master key rotation."""
import base64
import os
import re
import sqlite3
import subprocess
import urllib.parse
import uuid

import pytest
import requests

from conftest import (BIN, Browser, api_token, assert_error, bearer, free_port, new_master_key, signed_in)
from standins.provider_models import PROVIDERS, RATE_LIMIT, REJECTION, expected_validation_call

CONNECTION_FIELDS = {"id", "provider", "name", "base_url", "api_key", "admin_key", "validated", "validated_at",
                     "validation_error", "created_at", "updated_at"}
PREFIX = {"openai": "sk-proj-", "anthropic": "sk-ant-api03-", "google": "AIza"}


def provider_key(provider, kind):
    """A key the stand-in treats as `kind` (good, bad, limited), random enough to be searched for byte by byte."""
    return f"{PREFIX[provider]}{kind}-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"


def mask(key):
    return key[:3] + "\u2026" + key[-4:]


def needles(key):
    """Ways a leaked key would show: itself, the middle a mask hides, and the encodings a database dump uses."""
    middle = key[3:-4]
    return {key.encode(), middle.encode(), middle.encode().hex().encode(), base64.b64encode(key.encode())}


def leaked(blob, keys):
    if isinstance(blob, str):
        blob = blob.encode()
    return [k for k in keys if any(n in blob for n in needles(k))]


def rows(response):
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    body = response.json()
    return body["data"] if isinstance(body, dict) else body


def create(who, provider, standin, key, **extra):
    body = {"provider": provider, "name": extra.pop("name", f"{provider} prod"), "api_key": key,
            "base_url": standin.url, **extra}
    if isinstance(who, Browser):
        return who.api("POST", "/api/v1/provider-connections", json=body)
    return requests.post(who[0].url + "/api/v1/provider-connections", json=body, headers=bearer(who[1]), timeout=30)


def test_each_provider_validates_keys_against_its_list_models_endpoint(sqlite_site, provider_standins):
    server = sqlite_site.serve()
    owner = signed_in(server)
    for provider in PROVIDERS:
        standin = provider_standins[provider]

        good = provider_key(provider, "good")
        r = create(owner, provider, standin, good)
        assert r.status_code == 201, f"{provider}: {r.status_code} {r.text[:300]}"
        conn = r.json()
        assert CONNECTION_FIELDS <= set(conn), conn
        assert conn["provider"] == provider and conn["base_url"] == standin.url
        assert conn["api_key"] == mask(good) and conn["admin_key"] is None
        assert conn["validated"] is True and conn["validated_at"] and conn["validation_error"] is None
        calls = standin.recorded()
        assert len(calls) == 1, f"{provider}: validation is one request, got {calls}"
        assert expected_validation_call(provider, calls[0], good) == [], calls[0]

        listed = rows(owner.api("GET", "/api/v1/provider-connections"))
        assert [c["id"] for c in listed if c["provider"] == provider] == [conn["id"]]
        one = owner.api("GET", f"/api/v1/provider-connections/{conn['id']}")
        assert one.status_code == 200 and one.json()["api_key"] == mask(good)
        tested = owner.api("POST", f"/api/v1/provider-connections/{conn['id']}/test")
        assert tested.status_code == 200, tested.text
        assert tested.json()["ok"] is True and tested.json()["error"] is None
        assert tested.json()["connection"]["validated"] is True
        assert standin.key_of(standin.recorded()[-1]) == good

        for kind, (status, message) in (("bad", REJECTION[provider]), ("limited", RATE_LIMIT[provider])):
            standin.clear()
            key = provider_key(provider, kind)
            r = create(owner, provider, standin, key, name=f"{provider} {kind}")
            error = assert_error(r, 422, "provider_rejected_key")
            # "openai answered 401: <the provider's message>" (the contract), or with the field named:
            # "openai answered 401 for the api_key: …"
            assert re.match(rf"{provider} answered {status}\b", error["message"]), error["message"]
            assert message in error["message"], error["message"]
            assert leaked(r.text, [key]) == []
            assert len(standin.recorded()) == 1 and standin.key_of(standin.recorded()[0]) == key
            names = [c["name"] for c in rows(owner.api("GET", "/api/v1/provider-connections"))]
            assert f"{provider} {kind}" not in names, "a refused key is not saved"

        # validate: false saves without asking; the test endpoint then reports what the provider says.
        standin.clear()
        bad = provider_key(provider, "bad")
        r = create(owner, provider, standin, bad, name=f"{provider} later", validate=False)
        assert r.status_code == 201, r.text
        later = r.json()
        assert later["validated"] is False and later["validated_at"] is None and later["api_key"] == mask(bad)
        assert standin.recorded() == [], "validate: false must not call the provider"
        tested = owner.api("POST", f"/api/v1/provider-connections/{later['id']}/test")
        assert tested.status_code == 200, tested.text
        result = tested.json()
        assert result["ok"] is False and result["connection"]["validated"] is False
        assert f"{provider} answered {REJECTION[provider][0]}" in result["error"] and leaked(tested.text, [bad]) == []

        fixed = provider_key(provider, "good")
        r = owner.api("PATCH", f"/api/v1/provider-connections/{later['id']}", json={"api_key": fixed})
        assert r.status_code == 200, r.text
        assert r.json()["api_key"] == mask(fixed) and leaked(r.text, [fixed, bad]) == []
        tested = owner.api("POST", f"/api/v1/provider-connections/{later['id']}/test")
        assert tested.json()["ok"] is True and tested.json()["connection"]["validated"] is True
        assert standin.key_of(standin.recorded()[-1]) == fixed

        assert owner.api("DELETE", f"/api/v1/provider-connections/{later['id']}").status_code == 204
        assert_error(owner.api("GET", f"/api/v1/provider-connections/{later['id']}"), 404, "not_found")


def test_who_may_manage_connections(sqlite_site, provider_standins):
    server = sqlite_site.serve()
    owner = signed_in(server)
    admin_token = api_token(owner, scopes=("admin",), name="ops")
    read_token = api_token(owner, scopes=("ingest", "read"), name="app")
    standin = provider_standins["openai"]
    r = create((server, admin_token), "openai", standin, provider_key("openai", "good"))
    assert r.status_code == 201, r.text
    assert requests.get(server.url + "/api/v1/provider-connections", headers=bearer(admin_token), timeout=10).status_code == 200
    assert_error(create((server, read_token), "openai", standin, provider_key("openai", "good")), 403, "forbidden")
    assert_error(requests.get(server.url + "/api/v1/provider-connections", headers=bearer(read_token), timeout=10),
                 403, "forbidden")
    assert_error(requests.get(server.url + "/api/v1/provider-connections", timeout=10), 401, "unauthorized")
    unknown = owner.api("POST", "/api/v1/provider-connections",
                        json={"provider": "openia", "name": "typo", "api_key": "sk-x", "validate": False})
    assert unknown.status_code == 400 and any(d.get("field") == "provider" for d in unknown.json()["error"]["details"])


def database_bytes(tally):
    """Everything the database holds, as an attacker with a copy would see it."""
    if tally.database_url:
        parts = urllib.parse.urlsplit(tally.database_url)
        return subprocess.run(["pg_dump", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                               "--no-owner", parts.path.lstrip("/")], capture_output=True, check=True).stdout
    blob = b""
    for root, _, files in os.walk(tally.data_dir):
        for name in files:  # tally.sqlite, -wal, -shm, master.key: every byte in the data directory but the logs
            if name.endswith(".log"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                blob += f.read() + b"\n"
    db = sqlite3.connect(f"file:{tally.data_dir}/tally.sqlite?mode=ro", uri=True, timeout=30)
    try:  # and every value, read through the WAL (a value split across pages would escape the byte search)
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for v in row:
                    blob += (v if isinstance(v, bytes) else str(v).encode()) + b"\n"
    finally:
        db.close()
    return blob


def test_plaintext_keys_never_leave_tally(site, provider_standins):
    server = site.serve(TALLY_LOG_LEVEL="trace")
    owner = signed_in(server)
    token = api_token(owner, scopes=("admin",), name="ops")
    keys, answers, ids, goods = [], [], {}, {}

    def keep(r):
        answers.append(r.text)
        return r

    for provider in PROVIDERS:
        standin = provider_standins[provider]
        good, bad, limited = (provider_key(provider, k) for k in ("good", "bad", "limited"))
        # Admin keys (OpenAI and Anthropic have them) are validated with an admin read; the stand-in answers it.
        admin_key = {"openai": "sk-admin-good-", "anthropic": "sk-ant-admin01-good-"}.get(provider)
        admin_key = admin_key and admin_key + uuid.uuid4().hex + uuid.uuid4().hex[:8]
        keys += [good, bad, limited] + ([admin_key] if admin_key else [])
        extra = {"admin_key": admin_key} if admin_key else {}
        r = keep(create(owner, provider, standin, good, **extra))
        assert r.status_code == 201, r.text
        ids[provider], goods[provider] = r.json()["id"], good
        assert r.json()["admin_key"] == (mask(admin_key) if admin_key else None)
        assert keep(create(owner, provider, standin, bad, name=f"{provider} bad")).status_code == 422
        assert keep(create((server, token), provider, standin, limited, name=f"{provider} limited")).status_code == 422
        unchecked = provider_key(provider, "bad")
        keys.append(unchecked)
        r = keep(create((server, token), provider, standin, unchecked, name=f"{provider} unchecked",
                        validate=False))
        assert r.status_code == 201
        keep(owner.api("POST", f"/api/v1/provider-connections/{r.json()['id']}/test"))
        replacement = provider_key(provider, "good")
        keys.append(replacement)
        r = keep(owner.api("PATCH", f"/api/v1/provider-connections/{r.json()['id']}",
                           json={"api_key": replacement, "name": f"{provider} replaced"}))
        assert r.status_code == 200 and r.json()["api_key"] == mask(replacement)

    for provider, cid in ids.items():
        keep(owner.api("GET", f"/api/v1/provider-connections/{cid}"))
        t = keep(owner.api("POST", f"/api/v1/provider-connections/{cid}/test"))
        assert t.json()["ok"] is True, t.text
    keep(owner.api("GET", "/api/v1/provider-connections"))
    keep(requests.get(server.url + "/api/v1/provider-connections", headers=bearer(token), timeout=10))
    audit = keep(owner.api("GET", "/api/v1/audit"))
    assert "connection.create" in {e["action"] for e in audit.json()["data"]}
    for page in ("/", "/api/v1/me"):
        keep(owner.get(page))

    assert leaked("\n".join(answers), keys) == [], "a key came back in an API response"
    assert leaked(database_bytes(site), keys) == [], "a key is stored in plaintext (while the server runs)"
    assert leaked(site.logs(), keys) == [], "a key was logged"

    # The keys are stored, just not in plaintext: after a restart Tally still sends the right ones.
    server.stop()
    assert leaked(database_bytes(site), keys) == [], "a key is stored in plaintext (after a checkpoint)"
    restarted = site.serve()
    owner = signed_in(restarted)
    for provider, cid in ids.items():
        r = owner.api("POST", f"/api/v1/provider-connections/{cid}/test")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
        standin = provider_standins[provider]
        # The test re-validates every stored key (the api_key, then an admin_key if any): the api_key went out.
        assert goods[provider] in [standin.key_of(req) for req in standin.recorded()[-2:]]
    assert leaked(site.logs(), keys) == []


def write_key_file(directory, name, key):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    return path


def test_master_key_rotation(site, provider_standins, tmp_path):
    old_key, new_key, other_key = new_master_key(), new_master_key(), new_master_key()
    old_file = write_key_file(str(tmp_path), "old.key", old_key)
    new_file = write_key_file(str(tmp_path), "new.key", new_key)
    other_file = write_key_file(str(tmp_path), "other.key", other_key)
    with_old = {"TALLY_MASTER_KEY": None, "TALLY_MASTER_KEY_FILE": old_file}
    with_new = {"TALLY_MASTER_KEY": None, "TALLY_MASTER_KEY_FILE": new_file}
    master_keys = [old_key, new_key, other_key]

    server = site.serve(**with_old)
    owner = signed_in(server)
    keys, ids = {}, {}
    for provider in PROVIDERS:
        keys[provider] = provider_key(provider, "good")
        r = create(owner, provider, provider_standins[provider], keys[provider])
        assert r.status_code == 201, r.text
        ids[provider] = r.json()["id"]
    server.stop()
    if not site.database_url:
        assert not os.path.exists(os.path.join(site.data_dir, "master.key")), "a key was given: none is made up"

    r = site.cli_env("keys", "rotate-master", "--new-key-file", new_file, check=False, **with_old)
    assert r.returncode == 0, r.stderr
    assert leaked(r.stdout + r.stderr, list(keys.values())) == []
    assert not any(k in r.stdout + r.stderr for k in master_keys), "rotate-master printed a master key"

    # With the new key everything opens, and the providers get the same keys as before.
    server = site.serve(**with_new)
    owner = signed_in(server)
    listed = {c["id"]: c for c in rows(owner.api("GET", "/api/v1/provider-connections"))}
    for provider in PROVIDERS:
        assert listed[ids[provider]]["api_key"] == mask(keys[provider])
        r = owner.api("POST", f"/api/v1/provider-connections/{ids[provider]}/test")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
        standin = provider_standins[provider]
        assert standin.key_of(standin.recorded()[-1]) == keys[provider]
    server.stop()

    # With the old key the secrets cannot be opened: a clean error naming the master key, never a 5xx or a secret.
    server = site.serve(**with_old)
    owner = signed_in(server)
    for provider in PROVIDERS:
        standin = provider_standins[provider]
        before = len(standin.recorded())
        r = owner.api("POST", f"/api/v1/provider-connections/{ids[provider]}/test")
        assert r.status_code < 500, f"{r.status_code} {r.text[:300]}"
        assert "master key" in r.text.lower(), r.text
        if r.status_code == 200:
            assert r.json()["ok"] is False
        assert leaked(r.text, list(keys.values())) == [] and not any(k in r.text for k in master_keys)
        assert len(standin.recorded()) == before, "nothing can be sent to the provider without the key"
    assert owner.api("GET", "/api/v1/provider-connections").status_code < 500
    server.stop()

    # Rotating with the wrong current key fails and changes nothing (one transaction).
    r = site.cli_env("keys", "rotate-master", "--new-key-file", other_file, check=False, **with_old)
    assert r.returncode != 0 and "master key" in r.stderr.lower(), r.stderr
    assert not any(k in r.stdout + r.stderr for k in master_keys)
    bad_file = write_key_file(str(tmp_path), "short.key", base64.b64encode(os.urandom(16)).decode())
    r = site.cli_env("keys", "rotate-master", "--new-key-file", bad_file, check=False, **with_new)
    assert r.returncode != 0, "a new key that is not 32 bytes must be refused"
    server = site.serve(**with_new)
    owner = signed_in(server)
    for provider in PROVIDERS:
        r = owner.api("POST", f"/api/v1/provider-connections/{ids[provider]}/test")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text

    logs = site.logs()
    assert leaked(logs, list(keys.values())) == [] and not any(k in logs for k in master_keys)


def test_sqlite_makes_its_own_master_key_once(sqlite_site, provider_standins):
    server = sqlite_site.serve()
    path = os.path.join(sqlite_site.data_dir, "master.key")
    assert os.path.exists(path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with open(path) as f:
        content = f.read()
    assert len(base64.b64decode(content.strip(), validate=True)) == 32
    first_log = open(server.log_path).read()
    assert first_log.count("created a master key at") == 1 and path in first_log, first_log
    assert content.strip() not in first_log, "the master key itself is never logged"

    owner = signed_in(server)
    key = provider_key("anthropic", "good")
    r = create(owner, "anthropic", provider_standins["anthropic"], key)
    assert r.status_code == 201, r.text
    server.stop()

    again = sqlite_site.serve()
    assert "created a master key" not in open(again.log_path).read()
    assert open(path).read() == content, "an existing master key is never replaced"
    owner = signed_in(again)
    r = owner.api("POST", f"/api/v1/provider-connections/{r.json()['id']}/test")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert provider_standins["anthropic"].key_of(provider_standins["anthropic"].recorded()[-1]) == key


def test_a_bad_master_key_stops_start_up_with_one_line(tmp_path):
    short = base64.b64encode(os.urandom(16)).decode()
    missing = str(tmp_path / "no-such.key")
    for variable, value in [("TALLY_MASTER_KEY", "not base64!"), ("TALLY_MASTER_KEY", short),
                            ("TALLY_MASTER_KEY_FILE", missing)]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        env.update(TALLY_DATA_DIR=str(tmp_path / "data"), TALLY_PORT=str(free_port()), **{variable: value})
        try:
            r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tally serve started with {variable}={value!r}")
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and variable in lines[0], r.stderr
        if variable == "TALLY_MASTER_KEY":
            assert value not in r.stderr, "a (nearly) secret value is not echoed"


def test_rotation_of_the_embedded_default_key_replaces_master_key(sqlite_site, provider_standins, tmp_path):
    """SQLite with neither variable: rotate-master swaps $TALLY_DATA_DIR/master.key itself (docs/security.md)."""
    server = sqlite_site.serve()
    default = os.path.join(sqlite_site.data_dir, "master.key")
    with open(default) as f:
        old_key = f.read().strip()
    owner = signed_in(server)
    key = provider_key("openai", "good")
    r = create(owner, "openai", provider_standins["openai"], key)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    server.stop()

    new_key = new_master_key()
    new_file = write_key_file(str(tmp_path), "new.key", new_key)
    r = sqlite_site.cli_env("keys", "rotate-master", "--new-key-file", new_file, check=False)
    assert r.returncode == 0, r.stderr
    assert old_key not in r.stdout + r.stderr and new_key not in r.stdout + r.stderr
    with open(default) as f:
        assert f.read().strip() == new_key
    assert oct(os.stat(default).st_mode & 0o777) == "0o600"
    with open(default + ".old") as f:
        assert f.read().strip() == old_key, "the old key is kept beside it (for old backups)"

    server = sqlite_site.serve()  # no variable: reads the replaced master.key
    assert "created a master key" not in open(server.log_path).read()
    r = signed_in(server).api("POST", f"/api/v1/provider-connections/{cid}/test")
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert provider_standins["openai"].key_of(provider_standins["openai"].recorded()[-1]) == key
