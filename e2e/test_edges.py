"""The untested edges of accounts and ingestion (issue 25, point 5), end to end against real `tally serve` processes:
switching organizations, tokens and sessions used after they expire, the provider ledger and reconciliation refused
to project tokens, `X-Tally-Connection` naming another organization's connection, duplicate ids inside one batch,
deleting an organization, and walking the audit log page by page.

Expected values are written by hand: money from OpenAI's published list price for gpt-4o (since 2024-10-02: $2.50 per
million input tokens, $10.00 per million output tokens), ids and orders from what each test did. Event timestamps are
fixed in the past (2026-11-20), so no test depends on the hour or the day it runs."""
import datetime
import hashlib
import json
import sqlite3
import subprocess
import threading
import time
import urllib.parse

import requests

from conftest import Browser, api_token, assert_error, bearer, event, signed_in, wait_until
from standins.upstreams import UpstreamStandIn

DAY = {"from": "2026-11-20", "to": "2026-11-21"}


# ---------------------------------------------------------------------------------------------------------------
# Helpers

def sql(tally, query):
    """Rows of a query run straight in the Tally's database (SQLite file or PostgreSQL), as lists of strings."""
    if tally.database_url:
        parts = urllib.parse.urlsplit(tally.database_url)
        out = subprocess.run(["psql", "-q", "-At", "-F", "\t", "-h", parts.hostname, "-p", str(parts.port),
                              "-U", parts.username or "postgres", "-d", parts.path.lstrip("/"), "-v", "ON_ERROR_STOP=1",
                              "-c", query], capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]
    db = sqlite3.connect(f"{tally.data_dir}/tally.sqlite", timeout=30)
    try:
        rows = [[None if v is None else str(v) for v in r] for r in db.execute(query)]
        db.commit()
        return rows
    finally:
        db.close()


def tables_with_column(tally, column):
    if tally.database_url:
        return sorted(r[0] for r in sql(tally, "SELECT table_name FROM information_schema.columns WHERE table_schema = "
                                               f"current_schema() AND column_name = '{column}'"))
    names = [r[0] for r in sql(tally, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return sorted(t for t in names if column in [r[1] for r in sql(tally, f'PRAGMA table_info("{t}")')])


def ok(response, status=200):
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]}"
    return response.json() if response.content else None


def events_of(server, token, **params):
    body = ok(requests.get(server.url + "/api/v1/events", params={"limit": 1000, **params}, headers=bearer(token),
                           timeout=30))
    assert body["next_cursor"] is None
    return body["data"]


def summary(server, token, **params):
    return ok(requests.get(server.url + "/api/v1/usage/summary", params=params, headers=bearer(token), timeout=30))


def ingest(server, token, body, **kw):
    return requests.post(server.url + "/api/v1/events", json=body, headers=bearer(token), timeout=60, **kw)


def chat(server, token, headers=None, key_header="Authorization"):
    """One OpenAI chat completion through the gateway, the Tally token where the SDK puts its key."""
    h = dict(headers or {})
    if key_header == "Authorization":
        h["Authorization"] = f"Bearer {token}"
    return requests.post(server.url + "/gateway/openai/v1/chat/completions", headers=h, timeout=60,
                         json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]})


def add_connection(browser, name, standin):
    r = browser.api("POST", "/api/v1/provider-connections", json={
        "provider": "openai", "name": name, "api_key": standin.key, "base_url": standin.url, "validate": False})
    return ok(r, 201)


def new_organization(browser, name):
    """A new organization owned by the browser's person; the session switches to it."""
    org = ok(browser.api("POST", "/api/v1/organizations", json={"name": name}), 201)
    browser.me()
    return org


def switch(browser, org_id):
    r = browser.api("POST", f"/api/v1/organizations/{org_id}/switch")
    assert r.status_code == 204, f"switch: {r.status_code} {r.text[:300]}"
    return browser.me()


def join_by_invite(owner, email, role, browser=None, name="Second Person", password="second-password-0123"):
    """Invite `email` into the owner's current organization and accept: a new account through the form, or, with
    `browser` signed in as that email, the one-button join."""
    body = ok(owner.api("POST", "/api/v1/invites", json={"email": email, "role": role}), 201)
    path = urllib.parse.urlsplit(body["url"]).path
    if browser is None:
        browser = Browser(owner.server)
        r = browser.fill(path, name=name, password=password)
    else:
        r = browser.post_form(path, {"_csrf": browser.csrf})
    assert r.status_code == 303, f"accepting the invite: {r.status_code} {r.text[:300]}"
    browser.me()
    return browser


def usd(text):
    """A decimal string without trailing zeros ("0.003850" and "0.00385" are the same amount)."""
    return None if text is None else text.rstrip("0").rstrip(".") if "." in text else text


# ---------------------------------------------------------------------------------------------------------------
# 1. Switching organizations

def test_switching_organizations_moves_the_session_its_pages_and_api_and_refuses_a_foreign_one(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    first = owner.me()["organization"]

    # The first organization: a project, an admin token, an event, a provider connection.
    token_a = api_token(owner, project="alpha", scopes=("admin",), name="alpha-admin")
    token_a_id = [t["id"] for t in ok(owner.api("GET", "/api/v1/tokens"))["data"] if t["name"] == "alpha-admin"][0]
    alpha_id = [p["id"] for p in ok(owner.api("GET", "/api/v1/projects"))["data"] if p["name"] == "alpha"][0]
    assert ok(ingest(server, token_a, event("evt-alpha", project="alpha"))) == {"accepted": 1, "duplicates": 0}
    standin = UpstreamStandIn("openai").start()
    try:
        conn_a = add_connection(owner, "alpha-openai", standin)
    finally:
        standin.stop()

    # A second organization: created, the session follows it at once.
    beta = new_organization(owner, "Beta Org")
    me = owner.me()
    assert me["organization"]["id"] == beta["id"] and me["organization"]["name"] == "Beta Org"
    assert me["organization"]["role"] == "owner"
    assert sorted(o["id"] for o in me["organizations"]) == sorted([first["id"], beta["id"]])
    assert [p["name"] for p in ok(owner.api("GET", "/api/v1/projects"))["data"]] == []
    assert ok(owner.api("GET", "/api/v1/organization"))["id"] == beta["id"]
    # The first organization's objects are not found from here, in the API and in the pages.
    for method, path, body in (("GET", "/api/v1/events/evt-alpha", None),
                               ("PATCH", f"/api/v1/projects/{alpha_id}", {"name": "stolen"}),
                               ("GET", f"/api/v1/provider-connections/{conn_a['id']}", None),
                               ("DELETE", f"/api/v1/tokens/{token_a_id}", None)):
        assert_error(owner.api(method, path, json=body), 404, "not_found")
    assert owner.get("/events/evt-alpha").status_code == 404
    assert "evt-alpha" not in owner.get("/events").text
    beta_summary = ok(owner.api("GET", "/api/v1/usage/summary?from=2026-11-20&to=2026-11-21"))
    assert beta_summary["totals"]["requests"] == 0

    # Work in the second organization stays there.
    assert ok(owner.api("POST", "/api/v1/projects", json={"name": "beta-web"}), 201)["name"] == "beta-web"
    assert ok(owner.api("POST", "/api/v1/events", json=event("evt-beta", project="beta-web"))) == \
        {"accepted": 1, "duplicates": 0}
    assert [e["id"] for e in ok(owner.api("GET", "/api/v1/events"))["data"]] == ["evt-beta"]
    # A token belongs to its organization whatever the session chose: the first one's still reads only its own.
    assert [e["id"] for e in events_of(server, token_a)] == ["evt-alpha"]
    assert requests.get(server.url + "/api/v1/events/evt-beta", headers=bearer(token_a), timeout=10).status_code == 404

    # Back to the first: everything answers for it again, and the second's objects are the ones not found.
    switch(owner, first["id"])
    assert [e["id"] for e in ok(owner.api("GET", "/api/v1/events"))["data"]] == ["evt-alpha"]
    assert [p["name"] for p in ok(owner.api("GET", "/api/v1/projects"))["data"]] == ["alpha"]
    assert owner.get("/events/evt-alpha").status_code == 200
    assert_error(owner.api("GET", "/api/v1/events/evt-beta"), 404, "not_found")
    assert owner.get("/events/evt-beta").status_code == 404

    # One person, two roles: a viewer in the first organization, an admin in the second.
    second = join_by_invite(owner, "second@example.test", "viewer")
    assert (second.me()["organization"]["id"], second.me()["organization"]["role"]) == (first["id"], "viewer")
    switch(owner, beta["id"])
    join_by_invite(owner, "second@example.test", "admin", browser=second)
    switch(second, first["id"])
    assert second.me()["organization"]["role"] == "viewer"
    assert_error(second.api("POST", "/api/v1/projects", json={"name": "viewer-try"}), 403, "forbidden")
    assert second.get("/settings/providers").status_code == 403
    # The page form switches too (what the organization switcher posts).
    r = second.post_form("/organizations/switch", {"_csrf": second.csrf, "organization_id": beta["id"]})
    assert r.status_code == 303, r.text
    assert (second.me()["organization"]["id"], second.me()["organization"]["role"]) == (beta["id"], "admin")
    assert ok(second.api("POST", "/api/v1/projects", json={"name": "admin-did-this"}), 201)
    assert second.get("/settings/providers").status_code == 200
    assert sorted(p["name"] for p in ok(owner.api("GET", "/api/v1/projects"))["data"]) == ["admin-did-this", "beta-web"]
    # The page form without the session's CSRF token switches nothing.
    r = second.post_form("/organizations/switch", {"_csrf": "not-the-token", "organization_id": first["id"]})
    assert r.status_code == 403
    assert second.me()["organization"]["id"] == beta["id"]

    # An organization the person is not a member of (and one that does not exist) is refused, and nothing moves.
    gamma = new_organization(owner, "Gamma Org")
    for target in (gamma["id"], "org_does_not_exist_0000"):
        assert_error(second.api("POST", f"/api/v1/organizations/{target}/switch"), 404, "not_found")
        r = second.post_form("/organizations/switch", {"_csrf": second.csrf, "organization_id": target})
        assert r.status_code == 404, f"{r.status_code} {r.text[:300]}"
        assert second.me()["organization"]["id"] == beta["id"]
    assert gamma["id"] not in [o["id"] for o in second.me()["organizations"]]
    # A token cannot switch anything: it is bound to its organization.
    r = requests.post(server.url + f"/api/v1/organizations/{beta['id']}/switch", headers=bearer(token_a), timeout=10)
    assert_error(r, 403, "forbidden")
    assert [e["id"] for e in events_of(server, token_a)] == ["evt-alpha"]


# ---------------------------------------------------------------------------------------------------------------
# 2. Expired tokens and sessions

def test_a_token_past_its_expiry_answers_401_on_the_api_and_the_gateway_and_never_again(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    admin = api_token(owner, project="web", scopes=("admin",), name="admin")
    standin = UpstreamStandIn("openai").start()
    try:
        add_connection(owner, "openai", standin)
        # An expiry in the past is refused, naming the field.
        past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = owner.api("POST", "/api/v1/tokens", json={"project": "web", "scopes": ["read"], "expires_at": past})
        assert [d["field"] for d in assert_error(r, 400, "invalid_request")["details"]] == ["expires_at"]

        # A token that expires 3 to 4 seconds from now (whole seconds, as written): short enough that the gateway,
        # which remembers a token for 5 s, still has it in memory when it expires.
        expires = (datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
                   + datetime.timedelta(seconds=4))
        written = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        created = ok(owner.api("POST", "/api/v1/tokens", json={"name": "short", "project": "web", "expires_at": written,
                                                               "scopes": ["ingest", "read", "gateway"]}), 201)
        assert created["token"]["expires_at"] == written
        secret = created["secret"]

        # Before its expiry it works everywhere (and the gateway now remembers it for 5 s).
        assert ok(ingest(server, secret, event("before-expiry"))) == {"accepted": 1, "duplicates": 0}
        assert ok(chat(server, secret))["usage"]["completion_tokens"] > 0
        assert len(standin.recorded()) == 1
        assert datetime.datetime.now(datetime.timezone.utc) < expires, "the machine was too slow for this test"

        # It stops at its expiry, not before.
        def refused():
            r = requests.get(server.url + "/api/v1/events", headers=bearer(secret), timeout=10)
            if r.status_code == 200:
                return None
            return r, datetime.datetime.now(datetime.timezone.utc)
        r, seen_at = wait_until(refused, timeout=20, what="the token to expire")
        assert seen_at >= expires, f"refused at {seen_at}, before its expiry {expires}"
        err = assert_error(r, 401, "unauthorized")
        assert "valid API token" in err["message"]

        # And it is never accepted again: API, ingestion, the gateway (which remembered it 5 s ago), pass-through.
        for _ in range(3):
            assert_error(requests.get(server.url + "/api/v1/events", headers=bearer(secret), timeout=10), 401,
                         "unauthorized")
            assert_error(requests.get(server.url + "/api/v1/usage/summary", headers=bearer(secret), timeout=10), 401,
                         "unauthorized")
            assert_error(ingest(server, secret, event(f"after-expiry-{_}")), 401, "unauthorized")
            g = chat(server, secret)
            assert g.status_code == 401, g.text
            assert g.json()["error"]["code"] == "invalid_api_key" and "expired" in g.json()["error"]["message"]
            g = chat(server, secret, headers={"X-Tally-Token": secret, "Authorization": f"Bearer {standin.key}"},
                     key_header=None)
            assert g.status_code == 401, g.text
        assert len(standin.recorded()) == 1, "a call with the expired token reached the upstream"
        # Only what was sent before the expiry is stored (the gateway's call included).
        def both():
            got = sorted(e["id"] for e in events_of(server, admin))
            return got if len(got) >= 2 else None
        ids = wait_until(both, 15, what="the gateway's event")
        assert ids[0] == "before-expiry" and ids[1].startswith("gw_") and len(ids) == 2, ids
        listed = [t for t in ok(owner.api("GET", "/api/v1/tokens"))["data"] if t["id"] == created["token"]["id"]]
        assert listed[0]["expires_at"] == written and listed[0]["revoked_at"] is None
    finally:
        standin.stop()


def test_a_session_past_its_idle_or_absolute_limit_is_signed_out_for_good(sqlite_site):
    """Sessions end after TALLY_SESSION_IDLE_MINUTES without use or TALLY_SESSION_MAX_HOURS after sign-in. Rather than
    wait a minute, the test moves a session's times back in the database, by less and then by more than the limit."""
    server = sqlite_site.serve(TALLY_SESSION_IDLE_MINUTES="1", TALLY_SESSION_MAX_HOURS="1")
    idle, old, fresh = signed_in(server), signed_in(server), signed_in(server)
    ids = {}
    for name, b in (("idle", idle), ("old", old), ("fresh", fresh)):
        ids[name] = hashlib.sha256(b.session_cookie.encode()).hexdigest()
    assert len(sql(sqlite_site, f"SELECT id FROM sessions WHERE id IN ('{ids['idle']}', '{ids['old']}', "
                                f"'{ids['fresh']}')")) == 3, "sessions are stored by the SHA-256 of the cookie"

    def age(session, column, seconds):
        sql(sqlite_site, f"UPDATE sessions SET {column} = {column} - {seconds * 1_000_000} WHERE id = '{ids[session]}'")

    # Idle 40 s of a 60 s limit: still signed in. 40 s more (80 s): signed out.
    age("idle", "last_seen_us", 40)
    assert idle.get("/api/v1/me").status_code == 200
    age("idle", "last_seen_us", 40)
    assert_error(idle.get("/api/v1/me"), 401, "unauthorized")
    # Signed in 59 minutes ago and used just now: still in. Past the hour: out, however recently used.
    age("old", "created_us", 59 * 60)
    assert old.get("/api/v1/me").status_code == 200
    age("old", "created_us", 2 * 60)
    assert_error(old.get("/api/v1/me"), 401, "unauthorized")

    for b in (idle, old):
        # Never again: the page sends to sign-in, the API answers 401, a form post is refused, and the session row is
        # gone (so putting its times back could not revive it).
        r = b.get("/")
        assert r.status_code in (302, 303) and urllib.parse.urlsplit(r.headers["Location"]).path == "/login"
        assert_error(b.api("POST", "/api/v1/projects", json={"name": "late"}), 401, "unauthorized")
        assert_error(b.get("/api/v1/me"), 401, "unauthorized")
    assert sql(sqlite_site, f"SELECT id FROM sessions WHERE id IN ('{ids['idle']}', '{ids['old']}')") == []
    # The session nobody aged is untouched.
    assert fresh.get("/api/v1/me").status_code == 200
    assert ok(fresh.api("POST", "/api/v1/projects", json={"name": "fresh-one"}), 201)


# ---------------------------------------------------------------------------------------------------------------
# 3. The provider ledger and reconciliation are organization-wide: not for project tokens

def test_project_tokens_are_refused_the_provider_ledger_and_reconciliation(sqlite_site):
    server = sqlite_site.serve(TALLY_SYNC_INTERVAL="off")
    owner = signed_in(server)
    admin = api_token(owner, project="web", scopes=("admin",), name="admin")
    reader = api_token(owner, project="web", scopes=("read",), name="reader")
    everything_but_admin = api_token(owner, project="web", scopes=("read", "ingest", "gateway"), name="wide")
    assert ok(ingest(server, admin, event("seen-1", project="web"))) == {"accepted": 1, "duplicates": 0}
    viewer = join_by_invite(owner, "viewer@example.test", "viewer")

    provider_ledger = "/api/v1/usage/summary?ledger=provider&from=2026-11-20&to=2026-11-21"
    reconciliation = "/api/v1/reconciliation?from=2026-11-20&to=2026-11-21"
    for token in (reader, everything_but_admin):
        for path in (provider_ledger, provider_ledger + "&group_by=day,model", reconciliation,
                     reconciliation + "&group_by=day,project"):
            r = requests.get(server.url + path, headers=bearer(token), timeout=10)
            err = assert_error(r, 403, "forbidden")
            assert "admin token or a signed-in member" in err["message"], err
        # The observed ledger of its own project stays open to it.
        assert summary(server, token, **DAY)["totals"]["requests"] == 1
    # Who may read them: an admin-scoped token and any member, a viewer included.
    for path in (provider_ledger, reconciliation):
        assert requests.get(server.url + path, headers=bearer(admin), timeout=10).status_code == 200, path
        assert viewer.get(path).status_code == 200, path
    assert ok(requests.get(server.url + provider_ledger, headers=bearer(admin), timeout=10))["ledger"] == "provider"


# ---------------------------------------------------------------------------------------------------------------
# 4. X-Tally-Connection naming another organization's connection

def test_x_tally_connection_naming_another_organizations_connection_is_refused_nothing_forwarded_or_recorded(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    first = owner.me()["organization"]
    mine, theirs = UpstreamStandIn("openai").start(), UpstreamStandIn("openai", key="sk-proj-THEIR-key-000000000000").start()
    try:
        add_connection(owner, "ours", mine)
        admin_a = api_token(owner, project="app", scopes=("admin",), name="admin")
        gateway_a = api_token(owner, project="app", scopes=("gateway",), name="gw")
        new_organization(owner, "Other Org")
        their_conn = add_connection(owner, "theirs", theirs)
        admin_b = api_token(owner, project="their-app", scopes=("admin",), name="admin")
        switch(owner, first["id"])

        for choice in (their_conn["id"], their_conn["name"]):
            # Token mode: the connection is not this organization's, so there is none of that name: 401.
            r = chat(server, gateway_a, headers={"X-Tally-Connection": choice})
            assert r.status_code == 401, r.text
            body = r.json()["error"]
            assert body["code"] == "invalid_api_key" and f"no openai connection named '{choice}'" in body["message"], body
            # Pass-through mode (the app's own key, the Tally token in X-Tally-Token): refused alike, never sent to the
            # provider's public host instead.
            r = chat(server, gateway_a, key_header=None, headers={"X-Tally-Token": gateway_a,
                                                                  "Authorization": "Bearer sk-apps-own-key-0000",
                                                                  "X-Tally-Connection": choice})
            assert r.status_code == 401, r.text
            assert f"no openai connection named '{choice}'" in r.json()["error"]["message"], r.text
        assert theirs.recorded() == [] and mine.recorded() == []

        # A call on our own connection afterwards is the barrier: once its event is stored, anything recorded before
        # it is stored too (the recorder writes in order). Only it is there, in our organization; theirs has none.
        assert chat(server, gateway_a, headers={"X-Tally-Connection": "ours"}).status_code == 200
        assert len(mine.recorded()) == 1 and theirs.recorded() == []
        stored = wait_until(lambda: events_of(server, admin_a), 15, what="the barrier call's event")
        request_id = mine.last().response_headers.get("x-request-id")
        assert [e["id"] for e in stored] == ["gw_" + request_id], stored
        assert events_of(server, admin_b) == []
    finally:
        mine.stop()
        theirs.stop()


# ---------------------------------------------------------------------------------------------------------------
# 5. Duplicate ids inside one batch

def test_duplicate_ids_inside_one_batch_store_the_first_and_count_the_rest(site):
    """docs/api.md: an id the project already has is counted in `duplicates` and not stored again; the first
    occurrence wins, inside a batch as across batches, and every total counts it once."""
    server = site.serve()
    owner = signed_in(server)
    token = api_token(owner, project="web", scopes=("ingest", "read"), name="ingest")
    # gpt-4o at list price: $2.50 / M input, $10 / M output.
    first_a = event("dup-a", input_tokens=100, output_tokens=10, feature="first",
                    timestamp="2026-11-20T10:15:00Z")            # 0.00025 + 0.0001 = 0.00035
    b = event("dup-b", input_tokens=1000, output_tokens=100, timestamp="2026-11-20T10:20:00Z")  # 0.0025 + 0.001
    second_a = event("dup-a", input_tokens=400_000, output_tokens=7, feature="second",
                     timestamp="2026-11-20T13:45:00Z")           # would be 1.00007: never stored
    assert ok(ingest(server, token, [first_a, b, second_a])) == {"accepted": 2, "duplicates": 1}

    def check(want_ids, requests_, input_, output, cost):
        stored = sorted(events_of(server, token), key=lambda e: e["id"])
        assert [e["id"] for e in stored] == want_ids
        a = stored[0]
        assert (a["input_tokens"], a["output_tokens"], a["feature"], a["timestamp"]) == \
            (100, 10, "first", "2026-11-20T10:15:00Z"), a
        assert usd(a["cost_usd"]) == "0.00035", a
        # The whole day (hourly rollups), a range with edges off the hour (raw events at the edges, rollups between:
        # the refused 13:45 copy would show there), and grouped by day and feature.
        for params in (DAY, {"from": "2026-11-20T10:07:00Z", "to": "2026-11-20T16:31:00Z"},
                       dict(DAY, group_by="day,feature")):
            s = summary(server, token, **params)
            t = s["totals"]
            assert (t["requests"], t["input_tokens"], t["output_tokens"], usd(t["cost_usd"])) == \
                (requests_, input_, output, cost), (params, t)
            if "group_by" in params:
                features = {g["feature"]: g["requests"] for g in s["groups"]}
                assert "second" not in features and features.get("first") == 1, s["groups"]

    check(["dup-a", "dup-b"], 2, 1100, 110, "0.00385")

    # Again, with an id the project has and one repeated three times in the same NDJSON batch.
    c = event("dup-c", input_tokens=2000, output_tokens=0, timestamp="2026-11-20T11:00:00Z")   # 0.005
    lines = [dict(second_a), c, dict(c, input_tokens=9), dict(c, output_tokens=9)]
    r = requests.post(server.url + "/api/v1/events", data="\n".join(json.dumps(x) for x in lines) + "\n",
                      headers={**bearer(token), "Content-Type": "application/x-ndjson"}, timeout=30)
    assert ok(r) == {"accepted": 1, "duplicates": 3}
    check(["dup-a", "dup-b", "dup-c"], 3, 3100, 110, "0.00885")

    # The same new id sent by eight requests at once (they may share one group commit): stored once in all.
    d = event("dup-d", input_tokens=4000, output_tokens=1000, timestamp="2026-11-20T12:00:00Z")  # 0.01 + 0.01
    answers = []
    barrier = threading.Barrier(8)

    def send():
        barrier.wait()
        answers.append(ok(ingest(server, token, [d, d])))
    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted((a["accepted"], a["duplicates"]) for a in answers) == [(0, 2)] * 7 + [(1, 1)], answers
    check(["dup-a", "dup-b", "dup-c", "dup-d"], 4, 7100, 1110, "0.02885")


# ---------------------------------------------------------------------------------------------------------------
# 6. Deleting an organization

def test_deleting_an_organization_removes_all_of_it_kills_its_tokens_and_leaves_the_other_untouched(site):
    server = site.serve()
    owner = signed_in(server)
    keep = owner.me()["organization"]
    keep_admin = api_token(owner, project="keep-web", scopes=("admin",), name="keep-admin")
    assert ok(ingest(server, keep_admin, [event("keep-1", project="keep-web"), event("keep-2", project="keep-web")])) \
        == {"accepted": 2, "duplicates": 0}
    standin = UpstreamStandIn("openai").start()
    try:
        add_connection(owner, "keep-openai", standin)

        doomed = new_organization(owner, "Doomed Org")
        doomed_admin = api_token(owner, project="doomed-web", scopes=("admin",), name="doomed-admin")
        doomed_gw = api_token(owner, project="doomed-web", scopes=("gateway",), name="doomed-gw")
        conn = add_connection(owner, "doomed-openai", standin)
        assert ok(ingest(server, doomed_admin, [event("doom-1", project="doomed-web")])) == {"accepted": 1, "duplicates": 0}
        ok(owner.api("POST", "/api/v1/prices", json={"model": "gpt-4o", "from": "2026-11-10",
                                                     "prices": {"input": "2.00", "output": "8.00"}}), 201)
        ok(owner.api("POST", "/api/v1/invites", json={"email": "later@example.test", "role": "viewer"}), 201)
        only_here = join_by_invite(owner, "only-doomed@example.test", "member")
        assert chat(server, doomed_gw).status_code == 200   # the gateway now remembers the token and the key
        # Its event is stored (off the request path) before the deletion, so what follows is no race with the recorder.
        wait_until(lambda: len(events_of(server, doomed_admin)) == 2, 15, what="the gateway call's event")
        doomed_projects = [p["id"] for p in ok(owner.api("GET", "/api/v1/projects"))["data"]]

        # What the kept organization looks like before.
        def snapshot():
            return {
                "events": sorted(e["id"] for e in events_of(server, keep_admin)),
                "summary": summary(server, keep_admin, **DAY)["totals"],
                "projects": ok(requests.get(server.url + "/api/v1/projects", headers=bearer(keep_admin), timeout=10)),
                "tokens": sorted(t["id"] for t in ok(requests.get(server.url + "/api/v1/tokens",
                                                                  headers=bearer(keep_admin), timeout=10))["data"]),
                "connections": [c["id"] for c in ok(requests.get(server.url + "/api/v1/provider-connections",
                                                                 headers=bearer(keep_admin), timeout=10))["data"]],
                "members": ok(requests.get(server.url + "/api/v1/members", headers=bearer(keep_admin), timeout=10)),
                "audit": [a["id"] for a in ok(requests.get(server.url + "/api/v1/audit?limit=1000",
                                                           headers=bearer(keep_admin), timeout=10))["data"]],
            }
        before = snapshot()
        assert before["events"] == ["keep-1", "keep-2"] and before["summary"]["requests"] == 2

        # Only the owner, only with the name repeated; a token never.
        assert_error(owner.api("DELETE", "/api/v1/organization", json={"confirm": "doomed org"}), 400, "invalid_request")
        assert_error(requests.delete(server.url + "/api/v1/organization", json={"confirm": "Doomed Org"},
                                     headers=bearer(doomed_admin), timeout=10), 403, "forbidden")
        assert_error(only_here.api("DELETE", "/api/v1/organization", json={"confirm": "Doomed Org"}), 403, "forbidden")
        assert requests.get(server.url + "/api/v1/events", headers=bearer(doomed_admin), timeout=10).status_code == 200

        calls_before = len(standin.recorded())
        assert owner.api("DELETE", "/api/v1/organization", json={"confirm": "Doomed Org"}).status_code == 204

        # Its tokens are dead at once: the API and the gateway (which remembered the token a moment ago).
        assert_error(requests.get(server.url + "/api/v1/events", headers=bearer(doomed_admin), timeout=10), 401,
                     "unauthorized")
        assert_error(ingest(server, doomed_admin, [event("doom-2", project="doomed-web")]), 401, "unauthorized")
        g = chat(server, doomed_gw)
        assert g.status_code == 401, f"the deleted organization's gateway token still works: {g.status_code} {g.text}"
        assert len(standin.recorded()) == calls_before, "a call went upstream with the deleted organization's key"
        # Its sessions end (a person who was only in it is signed out).
        assert_error(only_here.get("/api/v1/me"), 401, "unauthorized")

        # Nothing of it is left in any table.
        for table in tables_with_column(site, "org_id"):
            left = sql(site, f"SELECT * FROM {table} WHERE org_id = '{doomed['id']}'")
            assert left == [], (table, left)
        assert sql(site, f"SELECT count(*) FROM organizations WHERE id = '{doomed['id']}'") == [["0"]]
        for table in tables_with_column(site, "project_id"):
            ids = ", ".join(f"'{p}'" for p in doomed_projects)
            assert sql(site, f"SELECT count(*) FROM {table} WHERE project_id IN ({ids})") == [["0"]], table
        for table in tables_with_column(site, "connection_id"):
            assert sql(site, f"SELECT count(*) FROM {table} WHERE connection_id = '{conn['id']}'") == [["0"]], table

        # The other organization is exactly as it was (compared before anyone signs in again: a sign-in is audited).
        assert snapshot() == before
        owner = signed_in(server)
        assert [o["id"] for o in owner.me()["organizations"]] == [keep["id"]]
        assert_error(owner.api("POST", f"/api/v1/organizations/{doomed['id']}/switch"), 404, "not_found")
    finally:
        standin.stop()


# ---------------------------------------------------------------------------------------------------------------
# 7. Audit paging

def test_audit_pages_walk_every_entry_once_newest_first_and_never_another_organizations(site):
    server = site.serve()
    owner = signed_in(server)
    first = owner.me()["organization"]
    admin_a = api_token(owner, project="web", scopes=("admin",), name="admin-a")
    new_organization(owner, "Neighbour Org")
    admin_b = api_token(owner, project="web", scopes=("admin",), name="admin-b")
    switch(owner, first["id"])

    def audit(token, **params):
        return ok(requests.get(server.url + "/api/v1/audit", params=params, headers=bearer(token), timeout=10))["data"]

    def create_token(token, name):
        r = requests.post(server.url + "/api/v1/tokens", json={"name": name, "project": "web", "scopes": ["read"]},
                          headers=bearer(token), timeout=10)
        return ok(r, 201)["token"]["id"]

    # 23 token creations here, interleaved with 23 in the neighbour organization, whose entries fall between ours.
    ours, theirs = [], []
    for i in range(23):
        ours.append(create_token(admin_a, f"ours-{i:02}"))
        theirs.append(create_token(admin_b, f"theirs-{i:02}"))
    everything = audit(admin_a, limit=1000)
    neighbours = audit(admin_b, limit=1000)
    assert not {e["id"] for e in everything} & {e["id"] for e in neighbours}
    created = [e["detail"]["id"] for e in everything if e["action"] == "token.create"]
    # Newest first: the 23 tokens in the reverse order of creation, then the earlier ones (admin-a's).
    assert created[:23] == list(reversed(ours)), created
    assert not set(created) & set(theirs)

    for limit in (5, 7, 23, 1):
        pages, before = [], None
        while True:
            params = {"limit": limit, **({"before": before} if before else {})}
            page = audit(admin_a, **params)
            assert len(page) <= limit
            if not page:
                break
            pages.append(page)
            before = page[-1]["at"]
            assert len(pages) <= len(everything) + 1, "the walk does not end"
        walked = [e for p in pages for e in p]
        ids = [e["id"] for e in walked]
        assert len(ids) == len(set(ids)), f"limit {limit}: entries repeated"
        assert ids == [e["id"] for e in everything], f"limit {limit}: entries missing or out of order"
        ats = [e["at"] for e in walked]
        assert ats == sorted(ats, key=lambda a: datetime.datetime.fromisoformat(a.replace("Z", "+00:00")),
                             reverse=True)
        assert all(len(p) == limit for p in pages[:-1])


def test_audit_entries_sharing_a_moment_are_not_lost_at_a_page_boundary(site):
    """Two replicas (or two requests at once) can write audit entries in the same microsecond. The next page starts
    `before` the last entry's time, so a page must not end inside such a group. The database is given one: five
    entries moved to one moment, straddling where a 5-entry page would end."""
    server = site.serve()
    owner = signed_in(server)
    admin = api_token(owner, project="web", scopes=("admin",), name="admin")
    made = [ok(requests.post(server.url + "/api/v1/tokens", json={"name": f"t-{i:02}", "project": "web",
                                                                  "scopes": ["read"]},
                             headers=bearer(admin), timeout=10), 201)["token"]["id"] for i in range(12)]

    def audit(**params):
        return ok(requests.get(server.url + "/api/v1/audit", params=params, headers=bearer(admin), timeout=10))["data"]

    newest_first = [e for e in audit(limit=1000) if e["action"] == "token.create" and e["detail"]["id"] in made]
    assert [e["detail"]["id"] for e in newest_first] == list(reversed(made))
    group = [e["id"] for e in newest_first[3:8]]     # the 4th to 8th newest: a 5-entry page ends at the 5th
    ids = ", ".join(f"'{i}'" for i in group)
    sql(site, f"UPDATE audit_log SET at_us = (SELECT at_us FROM audit_log WHERE id = '{group[0]}') WHERE id IN ({ids})")
    everything = audit(limit=1000)
    assert len({e["at"] for e in everything if e["id"] in group}) == 1
    tie = next(e["at"] for e in everything if e["id"] in group)
    # Newest first, and within one moment by id (descending), as the list has it.
    assert [e["id"] for e in everything if e["at"] == tie] == sorted(group, reverse=True)

    for limit in (5, 4, 6, 2):
        walked, before = [], None
        for _ in range(len(everything) + 1):
            page = audit(limit=limit, **({"before": before} if before else {}))
            if not page:
                break
            walked += page
            before = page[-1]["at"]
        assert [e["id"] for e in walked] == [e["id"] for e in everything], \
            f"limit {limit}: missing {[e['id'] for e in everything if e not in walked]}"
