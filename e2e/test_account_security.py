"""Issue 14 (accounts): bursts of sign-ins against one account, addresses behind a trusted proxy, tokens of removed
members on every replica, names PostgreSQL would refuse, and owners demoting each other at the same moment."""
import concurrent.futures
import json

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Browser, assert_error, bearer, signed_in
from test_accounts import members, member_with_role, rows


def audit(admin, action):
    return [r for r in rows(admin.api("GET", "/api/v1/audit?limit=1000")) if r["action"] == action]


def detail(record):
    return record["detail"] if isinstance(record["detail"], dict) else json.loads(record["detail"])


def test_a_burst_of_wrong_passwords_is_verified_at_most_five_times(site):
    server = site.serve()
    admin = signed_in(server)
    victim = member_with_role(admin, "member")
    browsers = [Browser(server) for _ in range(40)]
    forms = [b.form("/login", want=("email", "password"))[1] for b in browsers]

    def attempt(i):
        fields = dict(forms[i], email=victim.email, password=f"wrong-password-{i:04d}")
        return browsers[i].post_form("/login", fields).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(attempt, range(40)))
    assert statuses.count(401) == 5 and statuses.count(429) == 35, sorted(statuses)
    assert len([r for r in audit(admin, "login_failed") if victim.email in r["actor"]]) == 5
    # The refused attempts recorded nothing: the address is not locked out for the people behind it.
    assert Browser(server).login(ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 303


def test_behind_a_trusted_proxy_the_address_is_the_one_it_appended(sqlite_site):
    direct = sqlite_site.serve()
    proxied = sqlite_site.serve(TALLY_TRUSTED_PROXIES="127.0.0.1/32,10.0.0.0/8")
    forged = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert Browser(direct).login(ADMIN_EMAIL, "not-the-password-0123", headers=forged).status_code == 401
    assert Browser(proxied).login(ADMIN_EMAIL, "not-the-password-0123", headers=forged).status_code == 401
    admin = signed_in(direct)
    addresses = sorted(detail(r)["address"] for r in audit(admin, "login_failed"))
    assert addresses == ["127.0.0.1", "203.0.113.7"], addresses

    bad = sqlite_site.serve(wait=False, TALLY_TRUSTED_PROXIES="10.0.0.0/8,proxy.internal")
    assert bad.proc.wait(timeout=30) != 0
    with open(bad.log_path) as f:
        assert "TALLY_TRUSTED_PROXIES" in f.read()


def test_a_removed_admins_tokens_stop_on_every_replica(site):
    one = site.serve()
    other = site.serve() if site.database_url else one
    owner = signed_in(one)
    admin = member_with_role(owner, "admin")
    assert admin.api("POST", "/api/v1/projects", json={"name": "web"}).status_code == 201
    made = admin.api("POST", "/api/v1/tokens", json={"project": "web", "scopes": ["admin"]})
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["secret"], made.json()["token"]["id"]
    assert Browser(other).get("/api/v1/events", headers=bearer(secret)).status_code == 200

    user_id = members(owner)[admin.email]["user_id"]
    demoted = owner.api("PATCH", f"/api/v1/members/{user_id}", json={"role": "viewer"})
    assert demoted.status_code == 200
    reinvite = Browser(other).request("POST", "/api/v1/invites", headers=bearer(secret),
                                      json={"email": "friend@example.test", "role": "admin"})
    assert_error(reinvite, 403, "forbidden")
    assert Browser(other).get("/api/v1/events", headers=bearer(secret)).status_code == 200

    removed = owner.api("DELETE", f"/api/v1/members/{user_id}")
    assert removed.status_code == 200, removed.text
    assert [t["id"] for t in removed.json()["revoked_tokens"]] == [token_id]
    assert secret not in removed.text
    for server in (one, other):
        assert Browser(server).get("/api/v1/events", headers=bearer(secret)).status_code == 401
    assert token_id in json.dumps(detail(audit(owner, "member.remove")[0]))


def test_names_with_nul_or_bidi_overrides_are_400_not_503(site):
    server = site.serve()
    admin = signed_in(server)
    for name in ("Acme\u0000", "Acme\u202egnp.exe", "line\u2028break"):
        r = admin.api("PATCH", "/api/v1/organization", json={"name": name})
        body = assert_error(r, 400)
        assert [d["field"] for d in r.json()["error"]["details"]] == ["name"], body
        r = admin.api("POST", "/api/v1/organizations", json={"name": name})
        assert_error(r, 400)
    r = admin.api("POST", "/api/v1/invites", json={"email": "nul\u0000@example.test", "role": "viewer"})
    assert_error(r, 400)
    assert r.json()["error"]["details"][0]["field"] == "email"
    # A sign-in with a NUL in the email is one more wrong attempt, not a database error.
    assert Browser(server).login("nul\u0000@example.test", "not-the-password-0123").status_code == 401
    r = admin.api("POST", "/api/v1/me/password", json={"current_password": ADMIN_PASSWORD,
                                                      "new_password": "long enough\u0000password"})
    assert_error(r, 400)
    assert r.json()["error"]["details"][0]["field"] == "new_password"


def test_owners_demoting_each_other_at_once_leave_one_owner(site):
    server = site.serve()
    first = signed_in(server)
    second = member_with_role(first, "owner")
    ids = {e: m["user_id"] for e, m in members(first).items()}
    for round_ in range(8):
        calls = [(first, ids[second.email]), (second, ids[ADMIN_EMAIL])]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            statuses = list(pool.map(lambda c: c[0].api("PATCH", f"/api/v1/members/{c[1]}",
                                                        json={"role": "admin"}).status_code, calls))
        owners = [e for e, m in members(first).items() if m["role"] == "owner"]
        assert len(owners) == 1, f"round {round_}: {statuses}, owners {owners}"
        assert sorted(statuses) == [200, 409] or sorted(statuses) == [200, 403], statuses
        survivor = first if owners == [ADMIN_EMAIL] else second
        demoted = ids[second.email] if survivor is first else ids[ADMIN_EMAIL]
        assert survivor.api("PATCH", f"/api/v1/members/{demoted}", json={"role": "owner"}).status_code == 200
