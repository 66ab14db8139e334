"""Accounts as a person meets them: first-run setup, the unattended owner, sign-in and sign-out, cookie flags,
CSRF, throttling, the four roles, invites (accept, reuse, revoke, expiry, mail through a real SMTP server),
session revocation seen by every replica, and the last owner."""
import datetime
import sqlite3
import subprocess
import urllib.parse
import uuid

import pytest
import requests

import clock
from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, PG_URL, AccountsTally, Browser, api_token, assert_error, bearer,
                      event, fresh_postgres_url, location_path, new_master_key, set_cookies, signed_in)

WRONG = "Wrong email or password."


def session_cookie_of(response):
    found = [c for c in set_cookies(response) if c[0] == "tally_session" and c[1]]
    assert len(found) == 1, f"expected one tally_session cookie, got {set_cookies(response)}"
    return found[0]


def invite(owner, email, role):
    r = owner.api("POST", "/api/v1/invites", json={"email": email, "role": role})
    assert r.status_code == 201, f"POST /api/v1/invites: {r.status_code} {r.text[:300]}"
    return r.json()


def invite_path(url):
    path = urllib.parse.urlsplit(url).path
    assert path.startswith("/invites/") and len(path) > len("/invites/") + 16, url
    return path


def accept(server, url, name, password):
    """Open the invite link in a new browser, fill in the form, and return the signed-in browser."""
    b = Browser(server)
    r = b.fill(invite_path(url), name=name, password=password)
    assert r.status_code == 303 and location_path(r) == "/", f"accepting: {r.status_code} {r.text[:300]}"
    session_cookie_of(r)
    b.me()
    return b


def member_with_role(owner, role, password="member-password-0123"):
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.test"
    body = invite(owner, email, role)
    b = accept(owner.server, body["url"], f"A {role}", password)
    b.email = email
    return b


def rows(response):
    """The items of a list answer: `{"data": [...]}` (the contract spells it out for members and audit only)."""
    assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
    body = response.json()
    return body["data"] if isinstance(body, dict) else body


def members(browser):
    r = browser.api("GET", "/api/v1/members")
    assert r.status_code == 200, r.text
    return {m["email"]: m for m in r.json()["data"]}


# -- first run ---------------------------------------------------------------------------------------------------

def test_first_run_goes_through_setup_once(fresh_site):
    server = fresh_site.serve()
    b = Browser(server)
    for path in ("/", "/login"):
        r = b.get(path)
        assert r.status_code == 303 and location_path(r) == "/setup", (path, r.status_code, r.headers)

    r, form = b.form("/setup", want=("organization", "name", "email", "password"))
    assert {"organization", "name", "email", "password", "_csrf"} <= set(form), form
    assert form["_csrf"] and form["_csrf"] == b.http.cookies.get("tally_csrf"), "double-submit cookie and field differ"

    fields = dict(form, organization="Acme Research", name="Olive Owner", email="olive@example.test")
    assert b.post_form("/setup", {**fields, "password": "correct horse battery staple", "_csrf": ""}).status_code == 403
    too_short = b.post_form("/setup", {**fields, "password": "short-pw-11"})  # 11 characters
    assert too_short.status_code != 303 and "tally_session" not in [c[0] for c in set_cookies(too_short)]
    assert Browser(server).get("/setup").status_code == 200, "a refused setup must not create anybody"

    r = b.post_form("/setup", {**fields, "password": "correct horse battery staple"})
    assert r.status_code == 303 and location_path(r) == "/", (r.status_code, r.text[:300])
    session_cookie_of(r)
    assert b.get("/").status_code == 200
    me = b.me()
    assert me["user"]["email"] == "olive@example.test" and me["user"]["name"] == "Olive Owner"
    assert me["organization"]["name"] == "Acme Research" and me["organization"]["role"] == "owner"
    assert {"id", "name", "time_zone", "role"} <= set(me["organization"])
    assert [o["role"] for o in me["organizations"] if o["id"] == me["organization"]["id"]] == ["owner"]

    stranger = Browser(server)
    assert stranger.get("/setup").status_code == 404
    assert stranger.get("/").status_code == 303 and location_path(stranger.get("/")) == "/login"
    _, login_form = stranger.form("/login", want=("email", "password"))  # sets the tally_csrf cookie
    again = stranger.post_form("/setup", {"organization": "Evil", "name": "Mallory", "email": "mallory@example.test",
                                          "password": "mallory-password-0123", "_csrf": login_form["_csrf"]})
    assert again.status_code == 404
    assert stranger.login("mallory@example.test", "mallory-password-0123").status_code == 401

    server.stop()
    restarted = fresh_site.serve()
    assert Browser(restarted).get("/setup").status_code == 404
    assert signed_in(restarted, "olive@example.test", "correct horse battery staple").me()["user"]["name"] == "Olive Owner"


def test_unattended_owner_from_the_environment(site):
    server = site.serve()
    b = Browser(server)
    r = b.get("/")
    assert r.status_code == 303 and location_path(r) == "/login"
    assert b.get("/setup").status_code == 404
    owner = signed_in(server)
    me = owner.me()
    assert me["user"]["email"] == ADMIN_EMAIL and me["organization"]["role"] == "owner"

    # Only when no user exists: a restart with another password changes nothing.
    server.stop()
    again = site.serve(TALLY_ADMIN_PASSWORD="another-password-0123")
    assert Browser(again).login(ADMIN_EMAIL, "another-password-0123").status_code == 401
    owner = signed_in(again)
    assert list(members(owner)) == [ADMIN_EMAIL]


@pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")
def test_two_replicas_starting_together_create_one_owner(tmp_path):
    t = AccountsTally(str(tmp_path), fresh_postgres_url(),
                      {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                       "TALLY_MASTER_KEY": new_master_key()})
    try:
        a, b = t.serve(wait=False), t.serve(wait=False)
        a.wait_ready()
        b.wait_ready()
        ms = members(signed_in(b))
        assert list(ms) == [ADMIN_EMAIL] and ms[ADMIN_EMAIL]["role"] == "owner"
        assert len(members(signed_in(a))) == 1
    finally:
        t.stop_all()


# -- signing in and out ------------------------------------------------------------------------------------------

def test_login_sets_a_strict_session_cookie_and_logout_ends_it(site):
    server = site.serve()
    b = Browser(server)
    r, form = b.form("/login", want=("email", "password"))
    assert {"email", "password", "_csrf"} <= set(form)
    assert b.get("/").status_code == 303 and location_path(b.get("/")) == "/login"

    fixated = Browser(server)
    fixated.http.cookies.set("tally_session", "fixated-by-an-attacker", domain="127.0.0.1", path="/")
    r = fixated.login()
    assert r.status_code == 303 and session_cookie_of(r)[1] != "fixated-by-an-attacker", "login must issue a new id"

    r = b.login()
    assert r.status_code == 303 and location_path(r) == "/"
    _, value, attrs = session_cookie_of(r)
    assert attrs.get("path") == "/" and attrs.get("httponly") is True
    assert str(attrs.get("samesite", "")).lower() == "lax"
    assert "secure" not in attrs, "Secure over plain http would stop the browser from sending the cookie back"
    assert b.get("/").status_code == 200
    me = b.me()
    assert {"id", "email", "name"} <= set(me["user"]) and me["csrf_token"]

    second = Browser(server).sign_in()
    assert second.session_cookie != b.session_cookie, "every login gets its own session"

    behind_tls = Browser(server).login(headers={"X-Forwarded-Proto": "https"})
    assert behind_tls.status_code == 303
    _, _, tls_attrs = session_cookie_of(behind_tls)
    assert tls_attrs.get("secure") is True and str(tls_attrs.get("samesite", "")).lower() == "lax"

    old = b.session_cookie
    assert b.post_form("/logout", {}).status_code == 403, "logout without _csrf"
    assert b.post_form("/logout", {"_csrf": "not-the-token"}).status_code == 403
    assert b.get("/api/v1/me").status_code == 200, "a refused logout must leave the session alone"
    r = b.logout()
    assert r.status_code == 303 and location_path(r) == "/login"
    assert requests.get(server.url + "/api/v1/me", cookies={"tally_session": old}, timeout=10).status_code == 401
    r = requests.get(server.url + "/", cookies={"tally_session": old}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and location_path(r) == "/login"
    assert second.get("/api/v1/me").status_code == 200, "logging out ends that session only"


def test_wrong_email_and_wrong_password_look_the_same(site):
    server = site.serve()
    unknown = Browser(server).login("nobody@example.test", ADMIN_PASSWORD)
    wrong = Browser(server).login(ADMIN_EMAIL, "not-the-password-0123")
    assert unknown.status_code == wrong.status_code == 401
    assert WRONG in unknown.text and WRONG in wrong.text
    for r in (unknown, wrong):
        assert "tally_session" not in [c[0] for c in set_cookies(r) if c[1]]


def test_login_throttling_per_email(site):
    server = site.serve()
    for _ in range(5):
        r = Browser(server).login(ADMIN_EMAIL, "not-the-password-0123")
        assert r.status_code == 401, r.status_code
    for password in ("not-the-password-0123", ADMIN_PASSWORD):
        r = Browser(server).login(ADMIN_EMAIL, password)
        assert r.status_code == 429, f"6th attempt: {r.status_code}"
        retry = int(r.headers["Retry-After"])
        assert 0 < retry <= 15 * 60
        assert "tally_session" not in [c[0] for c in set_cookies(r) if c[1]]
    # Another email from the same address is not locked out by this one's failures.
    assert Browser(server).login("someone-else@example.test", "not-the-password-0123").status_code == 401


def test_login_throttling_per_address(sqlite_site):
    server = sqlite_site.serve()
    for n in range(100):
        r = Browser(server).login(f"guess-{n // 4}@example.test", "not-the-password-0123")  # 4 per email
        assert r.status_code == 401, f"attempt {n + 1}: {r.status_code}"
    r = Browser(server).login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_csrf_is_required_on_forms_and_cookie_authenticated_api_calls(sqlite_site):
    server = sqlite_site.serve()
    b = Browser(server)
    _, form = b.form("/login", want=("email", "password"))
    creds = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    assert b.post_form("/login", creds).status_code == 403, "no _csrf"
    assert b.post_form("/login", {**creds, "_csrf": form["_csrf"] + "x"}).status_code == 403, "wrong _csrf"
    cookieless = requests.post(server.url + "/login", data={**creds, "_csrf": form["_csrf"]},
                               allow_redirects=False, timeout=10)
    assert cookieless.status_code == 403, "a _csrf without its double-submit cookie"
    assert "tally_session" not in [c[0] for c in set_cookies(cookieless) if c[1]]

    owner = signed_in(server)
    missing = owner.api("POST", "/api/v1/projects", json={"name": "web"}, csrf=False)
    assert_error(missing, 403, "csrf_failed")
    wrong = owner.api("POST", "/api/v1/projects", json={"name": "web"}, csrf=False, headers={"X-CSRF-Token": "nope"})
    assert_error(wrong, 403, "csrf_failed")
    assert owner.api("GET", "/api/v1/projects").status_code == 200, "GET needs no CSRF token"
    assert owner.api("POST", "/api/v1/projects", json={"name": "web"}).status_code == 201
    # A bearer token is not sent by browsers on their own, so it needs no CSRF token.
    token = api_token(owner, project="web", scopes=("admin",))
    r = requests.post(server.url + "/api/v1/projects", json={"name": "api"}, headers=bearer(token), timeout=10)
    assert r.status_code == 201, r.text


# -- roles -------------------------------------------------------------------------------------------------------

def test_each_role_may_do_what_it_should_and_nothing_more(site):
    server = site.serve()
    owner = signed_in(server)
    assert owner.api("POST", "/api/v1/projects", json={"name": "web"}).status_code == 201
    admin = member_with_role(owner, "admin")
    member = member_with_role(owner, "member")
    viewer = member_with_role(owner, "viewer")
    for b, role in ((admin, "admin"), (member, "member"), (viewer, "viewer")):
        assert b.me()["organization"]["role"] == role
    ms = members(owner)
    assert {e: m["role"] for e, m in ms.items()} == {ADMIN_EMAIL: "owner", admin.email: "admin",
                                                     member.email: "member", viewer.email: "viewer"}
    assert all({"user_id", "email", "name", "role", "joined_at"} <= set(m) for m in ms.values())

    # viewer: reads only
    assert viewer.api("GET", "/api/v1/projects").status_code == 200
    assert viewer.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01").status_code == 200
    for method, path, body in (("POST", "/api/v1/tokens", {"name": "v", "project": "web", "scopes": ["read"]}),
                               ("POST", "/api/v1/projects", {"name": "viewer-project"}),
                               ("POST", "/api/v1/invites", {"email": "x@example.test", "role": "viewer"}),
                               ("PATCH", f"/api/v1/members/{ms[member.email]['user_id']}", {"role": "viewer"})):
        assert_error(viewer.api(method, path, json=body), 403, "forbidden")

    # member: its own tokens, never an admin-scoped one; nothing of an admin's
    r = member.api("POST", "/api/v1/tokens", json={"name": "laptop", "project": "web", "scopes": ["ingest", "read"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("tly_") and set(created["token"]["scopes"]) == {"ingest", "read"}
    assert {"id", "name", "project", "scopes", "hint", "created_by", "created_at", "expires_at", "last_used_at",
            "revoked_at"} <= set(created["token"])
    assert created["secret"] not in member.api("GET", "/api/v1/tokens").text
    ingest = requests.post(server.url + "/api/v1/events", json=event("m-1"), headers=bearer(created["secret"]), timeout=10)
    assert ingest.status_code == 200, ingest.text
    assert_error(member.api("POST", "/api/v1/tokens", json={"name": "root", "project": "web", "scopes": ["admin"]}),
                 403, "forbidden")
    for method, path, body in (("POST", "/api/v1/projects", {"name": "member-project"}),
                               ("POST", "/api/v1/invites", {"email": "y@example.test", "role": "viewer"}),
                               ("PATCH", f"/api/v1/members/{ms[viewer.email]['user_id']}", {"role": "member"}),
                               ("DELETE", f"/api/v1/members/{ms[viewer.email]['user_id']}", None),
                               ("POST", "/api/v1/provider-connections",
                                {"provider": "openai", "name": "x", "api_key": "sk-x", "validate": False}),
                               ("GET", "/api/v1/audit", None)):
        assert_error(member.api(method, path, json=body), 403, "forbidden")
    admins_token = api_token(admin, project="web", scopes=("read",), name="admins")
    admins_token_id = [t["id"] for t in rows(admin.api("GET", "/api/v1/tokens")) if t["name"] == "admins"][0]
    assert member.api("DELETE", f"/api/v1/tokens/{admins_token_id}").status_code in (403, 404)
    assert requests.get(server.url + "/api/v1/events", headers=bearer(admins_token), timeout=10).status_code == 200
    assert member.api("DELETE", f"/api/v1/tokens/{created['token']['id']}").status_code == 204
    assert requests.get(server.url + "/api/v1/events", headers=bearer(created["secret"]), timeout=10).status_code == 401

    # admin: projects, members, invites, provider connections, prices; not ownership
    assert admin.api("POST", "/api/v1/projects", json={"name": "admin-project"}).status_code == 201
    assert admin.api("POST", "/api/v1/tokens", json={"name": "ops", "project": "web", "scopes": ["admin"]}).status_code == 201
    assert admin.api("POST", "/api/v1/invites", json={"email": "z@example.test", "role": "member"}).status_code == 201
    assert admin.api("PATCH", f"/api/v1/members/{ms[viewer.email]['user_id']}", json={"role": "member"}).status_code in (200, 204)
    assert members(owner)[viewer.email]["role"] == "member"
    r = admin.api("POST", "/api/v1/provider-connections",
                  json={"provider": "openai", "name": "prod", "api_key": "sk-test-not-checked-0000", "validate": False})
    assert r.status_code == 201, r.text
    r = admin.api("POST", "/api/v1/prices", json={"model": "gpt-4o", "from": "2026-11-10",
                                                  "prices": {"input": "2.00", "output": "8.00"}})
    assert r.status_code == 201, r.text
    assert admin.api("GET", "/api/v1/audit").status_code == 200
    assert_error(admin.api("PATCH", f"/api/v1/members/{ms[member.email]['user_id']}", json={"role": "owner"}),
                 403, "forbidden")
    assert_error(admin.api("PATCH", f"/api/v1/members/{ms[ADMIN_EMAIL]['user_id']}", json={"role": "viewer"}),
                 403, "forbidden")
    assert_error(admin.api("DELETE", f"/api/v1/members/{ms[ADMIN_EMAIL]['user_id']}"), 403, "forbidden")
    assert members(owner)[ADMIN_EMAIL]["role"] == "owner"

    # A removed member's session no longer reaches the organization.
    assert admin.api("DELETE", f"/api/v1/members/{ms[member.email]['user_id']}").status_code == 200
    assert member.email not in members(owner)
    assert member.api("GET", "/api/v1/projects").status_code in (401, 403)

    invalid = owner.api("POST", "/api/v1/invites", json={"email": "w@example.test", "role": "superuser"})
    assert invalid.status_code == 400 and any(d.get("field") == "role" for d in invalid.json()["error"]["details"])

    audit = owner.api("GET", "/api/v1/audit")
    assert audit.status_code == 200
    entries = audit.json()["data"]
    assert all({"id", "at", "actor", "action", "detail"} <= set(e) for e in entries)
    actions = {e["action"] for e in entries}
    assert {"login", "invite.create", "token.create", "token.revoke", "member.role", "connection.create",
            "price.add"} <= actions, actions


def test_the_last_owner_cannot_leave_or_be_demoted(site):
    server = site.serve()
    owner = signed_in(server)
    admin = member_with_role(owner, "admin")
    ms = members(owner)
    me, other = ms[ADMIN_EMAIL]["user_id"], ms[admin.email]["user_id"]
    assert_error(owner.api("PATCH", f"/api/v1/members/{me}", json={"role": "admin"}), 409)
    assert_error(owner.api("DELETE", f"/api/v1/members/{me}"), 409)
    assert members(owner)[ADMIN_EMAIL]["role"] == "owner"

    # Ownership passes on: then the first owner may step down, and the new one is the last.
    assert owner.api("PATCH", f"/api/v1/members/{other}", json={"role": "owner"}).status_code in (200, 204)
    assert owner.api("PATCH", f"/api/v1/members/{me}", json={"role": "admin"}).status_code in (200, 204)
    assert admin.me()["organization"]["role"] == "owner"
    assert_error(admin.api("PATCH", f"/api/v1/members/{other}", json={"role": "member"}), 409)
    assert_error(admin.api("DELETE", f"/api/v1/members/{other}"), 409)
    assert {m["role"] for m in members(admin).values()} == {"owner", "admin"}


# -- invites -----------------------------------------------------------------------------------------------------

def expire_invites(tally):
    """Move every invite's expiry (and creation time) into the past, straight in the database."""
    if tally.database_url:
        parts = urllib.parse.urlsplit(tally.database_url)
        psql = ["psql", "-q", "-At", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                "-d", parts.path.lstrip("/"), "-v", "ON_ERROR_STOP=1"]
        cols = subprocess.run(psql + ["-F", "\t", "-c",
                                      "SELECT table_name, column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = current_schema() AND table_name LIKE '%invit%' "
                                      "AND (column_name LIKE '%expire%' OR column_name LIKE 'created%')"],
                              capture_output=True, text=True, check=True).stdout.split("\n")
        updates = []
        for line in filter(None, cols):
            table, column, kind = line.split("\t")
            if kind.startswith("timestamp") or kind == "date":
                updates.append(f'UPDATE "{table}" SET "{column}" = "{column}" - interval \'3650 days\'')
            elif kind in ("bigint", "integer", "numeric", "double precision", "real"):
                updates.append(f'UPDATE "{table}" SET "{column}" = 1')
            else:
                updates.append(f'UPDATE "{table}" SET "{column}" = \'2000\' || substr("{column}", 5)')
        assert any("expire" in u for u in updates), f"no invite expiry column found: {cols}"
        for u in updates:
            subprocess.run(psql + ["-c", u], check=True, capture_output=True)
        return
    db = sqlite3.connect(f"{tally.data_dir}/tally.sqlite", timeout=30)
    try:
        found = False
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%invit%'")]
        for table in tables:
            for column in [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]:
                if "expire" not in column and not column.startswith("created"):
                    continue
                found = found or "expire" in column
                db.execute(f'UPDATE "{table}" SET "{column}" = CASE typeof("{column}") '
                           f'WHEN \'text\' THEN \'2000\' || substr("{column}", 5) WHEN \'null\' THEN NULL ELSE 1 END')
        db.commit()
        assert found, f"no invite expiry column found in {tables}"
    finally:
        db.close()


def test_invite_accept_then_reuse_revoked_and_expired_links_are_gone(site):
    server = site.serve()
    owner = signed_in(server)
    body = invite(owner, "ivy@example.test", "member")
    assert body["mailed"] is False, "no TALLY_SMTP_URL: nothing can be mailed"
    assert body["url"].startswith(server.url + "/invites/"), "TALLY_PUBLIC_URL defaults to http://HOST:PORT"
    inv = body["invite"]
    assert {"id", "email", "role", "expires_at", "created_by"} <= set(inv)
    assert inv["email"] == "ivy@example.test" and inv["role"] == "member"
    expires = datetime.datetime.fromisoformat(inv["expires_at"].replace("Z", "+00:00"))
    assert expires > clock.now()
    listed = owner.api("GET", "/api/v1/invites")
    assert inv["id"] in [i["id"] for i in rows(listed)]

    path = invite_path(body["url"])
    _, form = Browser(server).form(path, want=("name", "password"))
    assert {"name", "password", "_csrf"} <= set(form)
    forged = Browser(server)
    forged.form(path)
    assert forged.post_form(path, {"name": "Ivy", "password": "ivy-password-01234"}).status_code == 403

    ivy = accept(server, body["url"], "Ivy", "ivy-password-01234")
    me = ivy.me()
    assert me["user"]["email"] == "ivy@example.test" and me["organization"]["role"] == "member"
    assert ivy.get("/").status_code == 200
    assert members(owner)["ivy@example.test"]["role"] == "member"
    assert Browser(server).login("ivy@example.test", "ivy-password-01234").status_code == 303

    # Used: the link is gone, for reading and for posting.
    late = Browser(server)
    assert late.get(path).status_code == 410
    _, login_form = late.form("/login", want=("email", "password"))
    reuse = late.post_form(path, {"name": "Eve", "password": "eve-password-012345", "_csrf": login_form["_csrf"]})
    assert reuse.status_code == 410
    assert "tally_session" not in [c[0] for c in set_cookies(reuse) if c[1]]

    # Revoked.
    revoked = invite(owner, "rex@example.test", "viewer")
    assert owner.api("DELETE", f"/api/v1/invites/{revoked['invite']['id']}").status_code == 204
    assert Browser(server).get(invite_path(revoked["url"])).status_code == 410
    assert "rex@example.test" not in members(owner)

    # Expired.
    stale = invite(owner, "stan@example.test", "viewer")
    expire_invites(site)
    assert Browser(server).get(invite_path(stale["url"])).status_code == 410
    other = site.serve() if site.database_url else server
    assert Browser(other).get(invite_path(stale["url"])).status_code == 410
    assert "stan@example.test" not in members(owner)
    assert Browser(server).get("/invites/not-a-real-invite-secret-000000").status_code in (404, 410)


def test_invite_is_mailed_through_smtp_with_the_public_url(sqlite_site, smtp_sink):
    server = sqlite_site.serve(TALLY_SMTP_URL=smtp_sink.url("tally@example.test"),
                               TALLY_PUBLIC_URL="https://tally.example.test")
    owner = signed_in(server)
    body = invite(owner, "mia@example.test", "viewer")
    assert body["mailed"] is True
    assert body["url"].startswith("https://tally.example.test/invites/")
    mails = smtp_sink.wait_for(1)
    assert len(mails) == 1, "exactly one mail per invite"
    mail = mails[0]
    assert mail["rcpt_tos"] == ["mia@example.test"]
    assert mail["mail_from"] == "tally@example.test"
    assert "mia@example.test" in str(mail["message"]["To"])
    assert mail["message"]["Subject"], "the mail has a subject"
    assert body["url"] in mail["text"], mail["text"]

    # The link in the mail works against the server (the public URL is only the base of links).
    mia = accept(server, body["url"], "Mia", "mia-password-01234")
    assert mia.me()["organization"]["role"] == "viewer"


# -- sessions across replicas ------------------------------------------------------------------------------------

def test_password_change_revokes_the_other_sessions(site):
    server = site.serve()
    keep = signed_in(server)
    other = signed_in(server)
    wrong = keep.api("POST", "/api/v1/me/password",
                     json={"current_password": "not-the-password-0123", "new_password": "brand-new-password-0123"})
    assert 400 <= wrong.status_code < 500 and wrong.status_code != 404
    assert other.get("/api/v1/me").status_code == 200, "a refused change revokes nothing"
    r = keep.api("POST", "/api/v1/me/password",
                 json={"current_password": ADMIN_PASSWORD, "new_password": "brand-new-password-0123"})
    assert r.status_code == 204, r.text
    assert keep.get("/api/v1/me").status_code == 200, "the session that changed the password stays"
    assert other.get("/api/v1/me").status_code == 401
    assert Browser(server).login(ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 401
    assert Browser(server).login(ADMIN_EMAIL, "brand-new-password-0123").status_code == 303


@pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")
def test_logout_and_password_change_are_seen_by_every_replica(tmp_path):
    t = AccountsTally(str(tmp_path), fresh_postgres_url(),
                      {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                       "TALLY_MASTER_KEY": new_master_key()})
    try:
        a, b = t.serve(), t.serve()
        on_a = signed_in(a)
        on_b = on_a.at(b)
        assert on_b.get("/").status_code == 200 and on_b.me()["user"]["email"] == ADMIN_EMAIL
        old = on_a.session_cookie
        assert on_a.logout().status_code == 303
        r = requests.get(b.url + "/", cookies={"tally_session": old}, allow_redirects=False, timeout=10)
        assert r.status_code == 303 and location_path(r) == "/login"
        assert requests.get(b.url + "/api/v1/me", cookies={"tally_session": old}, timeout=10).status_code == 401

        first = signed_in(a)          # signed in at replica A
        second = signed_in(b)         # another browser, at replica B
        assert second.at(a).get("/api/v1/me").status_code == 200
        r = first.at(b).api("POST", "/api/v1/me/password",
                            json={"current_password": ADMIN_PASSWORD, "new_password": "replica-password-0123"})
        assert r.status_code == 204, r.text
        for server in (a, b):
            assert second.at(server).get("/api/v1/me").status_code == 401
            assert first.at(server).get("/api/v1/me").status_code == 200
            assert Browser(server).login(ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 401
        assert Browser(a).login(ADMIN_EMAIL, "replica-password-0123").status_code == 303
    finally:
        t.stop_all()
