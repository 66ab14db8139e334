"""The live API (issue 22): `GET /api/v1/live` as a WebSocket, with the `websockets` client from PyPI against a real
`tally serve` on SQLite and PostgreSQL.

What a user relies on: each new event of their projects arrives as `usage_update` (another organization's, or another
project's for a project token, never does); `metrics_update` comes at once and every 5 s with today's and the cycle's
totals, equal to the summary API's; a refused socket is closed before any data with a code saying why (4401, 4403,
4429; a plain GET answers 401, 403, 426, 429); a revoked token
loses its socket; a session socket must come from Tally's own origin (cross-site WebSocket hijacking)."""
import contextlib
import datetime
import json
import time
import uuid

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import api_token, bearer, signed_in
from test_accounts import member_with_role, members
from test_edges import new_organization, switch

UTC = datetime.timezone.utc


def now_rfc3339():
    return datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ws_url(server):
    return server.url.replace("http://", "ws://") + "/api/v1/live"


def open_socket(server, token=None, **kw):
    headers = dict(bearer(token)) if token else {}
    headers.update(kw.pop("headers", {}))
    return connect(ws_url(server), additional_headers=headers, open_timeout=10, **kw)


def messages(ws, want, timeout=15.0):
    """Messages until `want(received)` holds (or the time is up: then what arrived, for the assertion to show)."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline and not want(got):
        try:
            got.append(json.loads(ws.recv(timeout=max(0.05, deadline - time.time()))))
        except TimeoutError:
            break
    return got


def usage_ids(got):
    return [m["event"]["id"] for m in got if m["type"] == "usage_update"]


def post(server, token, *events):
    r = requests.post(server.url + "/api/v1/events", json=list(events), headers=bearer(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def event(project=None, **fields):
    e = {"id": "live-" + uuid.uuid4().hex[:12], "timestamp": now_rfc3339(), "provider": "openai", "model": "gpt-4o",
         "input_tokens": 1000, "output_tokens": 100}
    if project:
        e["project"] = project
    e.update(fields)
    return e


@pytest.fixture
def live(site):
    """A served site, its owner signed in, an admin token (project web) and a project token (mobile: ingest, read)."""
    server = site.serve()
    owner = signed_in(server)
    admin = api_token(owner, project="web", scopes=("admin",), name="ops")
    mobile = api_token(owner, project="mobile", scopes=("ingest", "read"), name="mobile-bot")
    return server, owner, admin, mobile


def test_usage_updates_reach_only_the_callers_projects_and_organization(live):
    server, owner, admin, mobile = live
    home = owner.me()["organization"]["id"]
    with open_socket(server, admin) as everything, open_socket(server, mobile) as own:
        # metrics_update comes at once: the socket is serving before anything is posted.
        for ws in (everything, own):
            first = messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
            assert first and first[-1]["type"] == "metrics_update", first
        web_event, mobile_event = event("web"), event()
        post(server, admin, web_event)
        post(server, mobile, mobile_event)
        # Another organization's event, posted while both sockets are open.
        new_organization(owner, "Elsewhere " + uuid.uuid4().hex[:6])
        other_admin = api_token(owner, project="web", scopes=("admin",), name="elsewhere")
        stranger = event("web")
        post(server, other_admin, stranger)
        switch(owner, home)
        seen_all = usage_ids(messages(everything, lambda g: {web_event["id"], mobile_event["id"]} <= set(usage_ids(g))))
        seen_own = usage_ids(messages(own, lambda g: mobile_event["id"] in usage_ids(g)))
        # Two more polls, so a leak that comes late would show.
        seen_all += usage_ids(messages(everything, lambda g: False, timeout=2.5))
        seen_own += usage_ids(messages(own, lambda g: False, timeout=2.5))
    assert sorted(seen_all) == sorted([web_event["id"], mobile_event["id"]]), seen_all
    assert seen_own == [mobile_event["id"]], seen_own
    assert stranger["id"] not in seen_all + seen_own


def test_an_update_carries_the_event_as_the_api_shows_it(live):
    server, owner, admin, _ = live
    with open_socket(server, admin) as ws:
        messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
        e = event("web", feature="search", user="u-7", tags={"team": "red"})
        post(server, admin, e)
        got = messages(ws, lambda g: e["id"] in usage_ids(g))
    update = next(m for m in got if m["type"] == "usage_update" and m["event"]["id"] == e["id"])
    api = requests.get(server.url + f"/api/v1/events/{e['id']}", headers=bearer(admin), timeout=30).json()
    for field in ("id", "timestamp", "provider", "model", "project", "feature", "user", "tags", "input_tokens",
                  "output_tokens", "cost_usd", "source", "status"):
        assert update["event"][field] == api[field], field
    assert api["cost_usd"] is not None


def test_metrics_updates_equal_the_summary_api(live):
    server, owner, admin, _ = live
    post(server, admin, event("web", requests=4), event("web", status="error", http_status=500))
    with open_socket(server, admin) as ws:
        got = messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
        first = next(m for m in got if m["type"] == "metrics_update")
        post(server, admin, event("web", input_tokens=5000, output_tokens=700))
        # The next tick (every 5 s) counts the new event.
        got = messages(ws, lambda g: sum(m["type"] == "metrics_update" for m in g) >= 1, timeout=12)
        second = [m for m in got if m["type"] == "metrics_update"][-1]
    m = second["metrics"]
    if m["day"] == first["metrics"]["day"]:  # a UTC midnight between the two ticks starts a new day's count
        assert m["requests"] == first["metrics"]["requests"] + 1, (first, second)
    day_start = m["day"] + "T00:00:00Z"  # the organization's zone is UTC here
    assert m["time_zone"] == "UTC"
    summary = requests.get(server.url + "/api/v1/usage/summary", params={"from": day_start, "to": second["at"]},
                           headers=bearer(admin), timeout=30).json()["totals"]
    for field in ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced_requests"):
        assert m[field] == summary[field], (field, m, summary)
    assert m["errors"] >= 1 and m["requests"] >= 6
    cycle = requests.get(server.url + "/api/v1/usage/summary", params={"from": m["cycle"]["from"], "to": second["at"]},
                         headers=bearer(admin), timeout=30).json()["totals"]
    assert m["cycle"]["requests"] == cycle["requests"] and m["cycle"]["cost_usd"] == cycle["cost_usd"]


def handshake_status(server, token=None, **kw):
    """101 when the socket serves (its first metrics_update arrives), else the close code Tally refused it with:
    4401 (no or bad credentials), 4403 (forbidden), 4429 (too many sockets). The close comes before any data."""
    with open_socket(server, token, **kw) as ws:
        try:
            first = json.loads(ws.recv(timeout=10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, closed
            return closed.rcvd.code
        assert first["type"] == "metrics_update", first
        return 101


def test_refusals_say_why_and_send_nothing(live):
    server, owner, admin, mobile = live
    assert handshake_status(server) == 4401
    assert handshake_status(server, "tly_" + "x" * 40) == 4401
    ingest_only = api_token(owner, project="mobile", scopes=("ingest",), name="writer")
    assert handshake_status(server, ingest_only) == 4403
    # Without an upgrade, the route says it is a WebSocket.
    r = requests.get(server.url + "/api/v1/live", headers=bearer(admin), timeout=10)
    assert r.status_code == 426 and r.json()["error"]["code"] == "websocket_required", r.text
    assert requests.get(server.url + "/api/v1/live", timeout=10).status_code == 401
    assert requests.get(server.url + "/api/v1/live", headers=bearer(ingest_only), timeout=10).status_code == 403
    # At most 4 sockets per token: the fifth is refused (and a plain GET says 429), a closed one frees its place.
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(open_socket(server, mobile)) for _ in range(4)]
        for ws in sockets:  # each is serving: its first metrics_update arrived
            assert messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
        assert handshake_status(server, mobile) == 4429
        assert requests.get(server.url + "/api/v1/live", headers=bearer(mobile), timeout=10).status_code == 429
        assert handshake_status(server, admin) == 101, "the limit is per token"
        sockets[0].close()
        time.sleep(1.5)
        assert handshake_status(server, mobile) == 101


def test_a_session_socket_must_come_from_tallys_own_origin(live):
    server, owner, _, _ = live
    cookie = "tally_session=" + owner.session_cookie
    own = server.url
    assert handshake_status(server, headers={"Cookie": cookie}, origin=own) == 101
    # A page elsewhere opening a socket with the person's cookies (the browser sends them) is refused.
    assert handshake_status(server, headers={"Cookie": cookie}, origin="http://evil.example") == 4403
    assert handshake_status(server, headers={"Cookie": cookie}, origin=own + ".evil.example") == 4403
    # Signed out, the cookie admits nothing.
    owner.logout()
    assert handshake_status(server, headers={"Cookie": cookie}, origin=own) == 4401


def test_a_revoked_token_loses_its_socket(live):
    server, owner, _, _ = live
    r = owner.api("POST", "/api/v1/tokens", json={"name": "short-lived", "project": "web", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    token, token_id = r.json()["secret"], r.json()["token"]["id"]
    with open_socket(server, token) as ws:
        messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
        assert owner.api("DELETE", f"/api/v1/tokens/{token_id}").status_code in (200, 204)
        started = time.time()
        with pytest.raises(ConnectionClosed) as closed:
            while time.time() - started < 15:
                ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, closed.value
        assert time.time() - started < 12


def test_a_session_switched_away_and_removed_loses_the_old_organizations_socket(live):
    """Found by review: the re-check admitted the session (now another organization's) and the socket went on
    streaming the first organization's events to a removed member. It must close once the credentials no longer
    stand for the organization the socket serves."""
    server, owner, admin, _ = live
    home = owner.me()["organization"]["id"]
    member = member_with_role(owner, "member")
    new_organization(member, "Mine " + uuid.uuid4().hex[:6])
    mine = member.me()["organization"]["id"]
    switch(member, home)
    cookie = "tally_session=" + member.session_cookie
    with open_socket(server, headers={"Cookie": cookie}, origin=server.url) as ws:
        messages(ws, lambda g: any(m["type"] == "metrics_update" for m in g))
        switch(member, mine)  # the session now stands for the member's own organization
        user_id = members(owner)[member.email]["user_id"]
        assert owner.api("DELETE", f"/api/v1/members/{user_id}").status_code in (200, 204)
        time.sleep(6)  # more than one re-check (every 5 s)
        secret = event("web", feature="after-removal")
        post(server, admin, secret)
        got = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                got.append(json.loads(ws.recv(timeout=15)))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, closed.value
        assert secret["id"] not in usage_ids(got), got


def test_handshakes_count_against_the_api_rate_limit(site):
    """Found by review: the WebSocket router had no rate limit; handshakes (each a token lookup and two summary
    queries) went on after the API answered 429."""
    # Setting up costs 3 API requests from this address (/me, a project, a token); 8 leave room for 5 handshakes.
    server = site.serve(TALLY_API_RATE_LIMIT="8/1h")
    owner = signed_in(server)
    token = api_token(owner, project="web", scopes=("read",), name="reader")
    codes = [handshake_status(server, token) for _ in range(7)]
    assert codes[:5] == [101] * 5 and codes[5:] == [4429, 4429], codes
    # The HTTP API and the handshakes share one budget.
    r = requests.get(server.url + "/api/v1/usage/summary", headers=bearer(token), timeout=10)
    assert r.status_code == 429, r.text
