"""The gateway on PostgreSQL with two replicas (issue 25, point 5): two `tally serve` processes on one database, the
official SDKs calling each one's gateway, the stand-in upstreams (standins/upstreams.py) behind both.

- A call through either replica is recorded exactly once, with the upstream's tokens and the cost at the published
  list prices (written here by hand, never asked of Tally), and both replicas' totals show it.
- A token revoked, or a member removed, through replica A stops working at A's gateway at once and at B's gateway
  within the 5 s it remembers credentials (GatewayCredentials.ttl; docs/api.md, Authentication): waited for on the
  condition with a deadline.
- Calls made concurrently to both replicas lose no event and count none twice.

"Exactly once" is checked after a barrier that needs no sleep: both replicas are stopped with SIGTERM (which commits
every event in flight before the process exits 0) and a third replica started on the same database reads them."""
import threading
import time
import uuid
from decimal import Decimal

import anthropic
import openai
import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, bearer, signed_in

# 4000 UTF-8 bytes: the stand-ins count ceil(bytes / 4) = 1000 input tokens; every answer has 500 output tokens
# (usage_override), so each call's usage is known before it is made.
PROMPT = "abcd" * 1000
INPUT_TOKENS, OUTPUT_TOKENS = 1000, 500

# Published list prices, US dollars per million tokens (openai.com/api/pricing, anthropic.com/pricing):
#   gpt-4o-mini        input 0.15, output 0.60:  1000 × 0.15 + 500 × 0.60 = 150 + 300    = 450 µ$    = $0.00045
#   claude-haiku-4-5   input 1.00, output 5.00:  1000 × 1    + 500 × 5    = 1000 + 2500  = 3500 µ$   = $0.0035
COST = {"openai": Decimal("0.00045"), "anthropic": Decimal("0.0035")}
MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
ANSWERED = {"openai": "gpt-4o-mini-2024-07-18", "anthropic": "claude-haiku-4-5-20251001"}

CREDENTIAL_TTL = 5.0  # seconds, GatewayCredentials(ttl: .seconds(5)), docs/api.md
SLACK = 1.5           # one poll, one request and scheduling on a busy two-core machine


# ---------------------------------------------------------------------------------------------------------------
# Fixtures

class Pair:
    """Two replicas on one fresh PostgreSQL database, the owner's admin token, connections to the stand-ins."""

    def __init__(self, tally, a, b, admin, standins):
        self.tally, self.a, self.b, self.admin, self.standins = tally, a, b, admin, standins

    def api(self, server, method, path, token=None, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, server.url + path, headers=bearer(token or self.admin), **kw)

    def project_token(self, project, scopes=("gateway", "read")):
        r = self.api(self.a, "POST", "/api/v1/projects", json={"name": project})
        assert r.status_code in (201, 409), r.text
        r = self.api(self.a, "POST", "/api/v1/tokens", json={"name": "gw", "project": project, "scopes": list(scopes)})
        assert r.status_code == 201, r.text
        return r.json()["token"]["id"], r.json()["secret"]

    def events(self, server, project):
        r = self.api(server, "GET", "/api/v1/events", params={"project": project, "limit": 1000})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def totals(self, server, project):
        now = time.time()
        fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
        r = self.api(server, "GET", "/api/v1/usage/summary",
                     params={"project": project, "from": fmt(now - 86400), "to": fmt(now + 86400)})
        assert r.status_code == 200, r.text
        return r.json()["totals"]

    def stop_both_and_read_from_a_third(self):
        """The barrier: SIGTERM commits every event in flight; a new replica then sees all there will ever be."""
        for s in (self.a, self.b):
            s.stop()
            assert s.proc.returncode == 0, f"replica on port {s.port} did not stop cleanly: {s.proc.returncode}"
        return self.tally.serve()


@pytest.fixture
def pair(tmp_path, upstream_standins):
    t = _accounts_tally("postgres", str(tmp_path), {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
                                                    "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                                    "TALLY_SYNC_INTERVAL": "off"})
    try:
        a, b = t.serve(wait=False), t.serve(wait=False)
        a.wait_ready()
        b.wait_ready()
        admin = signed_in(a)
        r = admin.api("POST", "/api/v1/tokens", json={"name": "ops", "project": "ops", "scopes": ["admin"]})
        assert r.status_code == 201, r.text
        p = Pair(t, a, b, r.json()["secret"], upstream_standins)
        for provider in ("openai", "anthropic"):
            s = upstream_standins[provider]
            r = p.api(a, "POST", "/api/v1/provider-connections",
                      json={"provider": provider, "name": provider, "base_url": s.url, "api_key": s.key})
            assert r.status_code == 201 and r.json()["validated"] is True, r.text
            s.clear()
            s.usage_override = {"output": OUTPUT_TOKENS}
        yield p
    finally:
        t.stop_all()


# ---------------------------------------------------------------------------------------------------------------
# Calls through the official SDKs

def call(server, token, provider, stream=False):
    """One chat call through `server`'s gateway; checks the usage the SDK got back."""
    if provider == "openai":
        c = openai.OpenAI(api_key=token, base_url=server.url + "/gateway/openai/v1", max_retries=0)
        messages = [{"role": "user", "content": PROMPT}]
        if stream:
            chunks = list(c.chat.completions.create(model=MODEL[provider], messages=messages, stream=True,
                                                    stream_options={"include_usage": True}))
            usage = chunks[-1].usage
        else:
            usage = c.chat.completions.create(model=MODEL[provider], messages=messages).usage
        assert (usage.prompt_tokens, usage.completion_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS), usage
    else:
        c = anthropic.Anthropic(api_key=token, base_url=server.url + "/gateway/anthropic", max_retries=0)
        kw = dict(model=MODEL[provider], max_tokens=1024, messages=[{"role": "user", "content": PROMPT}])
        if stream:
            with c.messages.stream(**kw) as s:
                usage = s.get_final_message().usage
        else:
            usage = c.messages.create(**kw).usage
        assert (usage.input_tokens, usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS), usage


def refused(server, token):
    """True when `server`'s gateway answers 401 to `token` (a chat call that would otherwise succeed)."""
    try:
        call(server, token, "openai")
        return False
    except openai.AuthenticationError:
        return True


def upstream_event_ids(pair):
    """The id Tally gives each answered upstream call: gw_ + the provider's request id."""
    ids = []
    for provider in ("openai", "anthropic"):
        for rec in pair.standins[provider].recorded():
            rid = rec.response_headers.get("x-request-id") or rec.response_headers.get("request-id")
            assert rid, rec
            ids.append("gw_" + rid)
    return ids


def check_recorded(pair, server, project, expected):
    """`expected`: {provider: number of calls}. Each event exactly once, tokens and cost by hand."""
    events = pair.events(server, project)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event id is listed twice"
    assert sorted(ids) == sorted(upstream_event_ids(pair)), "events do not match the upstream calls one to one"
    by_provider = {}
    for e in events:
        by_provider[e["provider"]] = by_provider.get(e["provider"], 0) + 1
        where = (e["id"], e["provider"])
        assert e["source"] == "gateway" and e["project"] == project and e["status"] == "success", where
        assert e["model"] == ANSWERED[e["provider"]], (where, e["model"])
        assert (e["input_tokens"], e["output_tokens"], e["cached_input_tokens"], e["cache_write_input_tokens"],
                e["reasoning_tokens"], e["requests"]) == (INPUT_TOKENS, OUTPUT_TOKENS, 0, 0, 0, 1), (where, e)
        assert e["cost_usd"] is not None and Decimal(e["cost_usd"]) == COST[e["provider"]], (where, e["cost_usd"])
    assert by_provider == {k: v for k, v in expected.items() if v}, by_provider
    calls = sum(expected.values())
    want_cost = sum(COST[p] * n for p, n in expected.items())
    totals = pair.totals(server, project)
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"], totals["errors"],
            totals["unpriced_requests"]) == (calls, calls * INPUT_TOKENS, calls * OUTPUT_TOKENS, 0, 0), totals
    assert Decimal(totals["cost_usd"]) == want_cost, (totals["cost_usd"], want_cost)


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------------------
# Recording

def test_a_call_through_either_replica_is_recorded_once_at_list_price_and_seen_by_both(pair):
    project = "gw-" + uuid.uuid4().hex[:8]
    _, token = pair.project_token(project)
    call(pair.a, token, "openai")
    call(pair.b, token, "anthropic")
    call(pair.a, token, "anthropic", stream=True)
    call(pair.b, token, "openai", stream=True)
    expected = {"openai": 2, "anthropic": 2}

    # Each replica sees the other's events once the recorders commit (waited for, then checked in full).
    for server in (pair.a, pair.b):
        wait_until(lambda: len(pair.events(server, project)) >= 4, 20, f"4 events visible on {server.url}")
        check_recorded(pair, server, project, expected)

    # Nothing more arrives later: after both stop cleanly, a third replica reads the same.
    c = pair.stop_both_and_read_from_a_third()
    check_recorded(pair, c, project, expected)


def test_concurrent_calls_to_both_replicas_lose_no_event(pair):
    project = "gw-" + uuid.uuid4().hex[:8]
    _, token = pair.project_token(project)
    plan = [(n, k) for n in range(8) for k in range(8)]  # 8 threads × 8 calls
    counts = {"openai": 0, "anthropic": 0}
    lock = threading.Lock()
    failures = []

    def worker(n):
        try:
            for k in range(8):
                provider = "openai" if (n + k) % 2 else "anthropic"
                call(pair.a if n % 2 else pair.b, token, provider, stream=k % 3 == 0)
                with lock:
                    counts[provider] += 1
        except Exception as e:  # noqa: BLE001  (reported below, on the test's thread)
            failures.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=240)
    assert not any(th.is_alive() for th in threads), "a caller hung"
    assert failures == [], failures
    assert sum(counts.values()) == len(plan) and counts["openai"] == counts["anthropic"] == 32, counts

    c = pair.stop_both_and_read_from_a_third()
    check_recorded(pair, c, project, counts)


# ---------------------------------------------------------------------------------------------------------------
# Revocation across replicas, within the credential cache

def assert_refused_at_b_within_ttl(pair, token, revoked_at):
    wait_until(lambda: refused(pair.b, token), revoked_at + CREDENTIAL_TTL + SLACK - time.monotonic(),
               "replica B's gateway still accepts a revoked credential past its 5 s cache")
    return time.monotonic() - revoked_at


def test_a_token_revoked_through_one_replica_stops_at_the_others_gateway_within_5_s(pair):
    project = "gw-" + uuid.uuid4().hex[:8]
    token_id, token = pair.project_token(project)
    call(pair.a, token, "openai")
    call(pair.b, token, "openai")  # B now remembers the token

    revoked_at = time.monotonic()
    r = pair.api(pair.a, "DELETE", f"/api/v1/tokens/{token_id}")
    assert r.status_code == 204, r.text
    assert refused(pair.a, token), "the replica that revoked the token still accepts it"
    elapsed = assert_refused_at_b_within_ttl(pair, token, revoked_at)
    print(f"replica B refused the revoked token {elapsed:.2f} s after the revocation")
    # And it stays refused (a cache refilled from a stale read would let it back in).
    assert refused(pair.b, token) and refused(pair.a, token)


def test_a_member_removed_through_one_replica_loses_the_others_gateway_within_5_s(pair):
    owner = signed_in(pair.a)
    project = "gw-" + uuid.uuid4().hex[:8]
    r = owner.api("POST", "/api/v1/projects", json={"name": project})
    assert r.status_code == 201, r.text
    email = f"mo-{uuid.uuid4().hex[:6]}@example.test"
    r = owner.api("POST", "/api/v1/invites", json={"email": email, "role": "member"})
    assert r.status_code == 201, r.text
    from test_accounts import accept  # the invite form, filled in by a browser
    member = accept(pair.a, r.json()["url"], "Mo", "member-password-0123")
    r = member.api("POST", "/api/v1/tokens", json={"name": "mine", "project": project, "scopes": ["gateway"]})
    assert r.status_code == 201, r.text
    token = r.json()["secret"]
    user_id = member.me()["user"]["id"]
    call(pair.a, token, "anthropic")
    call(pair.b, token, "openai")  # B now remembers the member's token

    removed_at = time.monotonic()
    r = owner.api("DELETE", f"/api/v1/members/{user_id}")
    assert r.status_code == 200, r.text
    assert [t["project"] for t in r.json()["revoked_tokens"]] == [project], r.json()
    assert refused(pair.a, token), "the replica that removed the member still accepts their token"
    elapsed = assert_refused_at_b_within_ttl(pair, token, removed_at)
    print(f"replica B refused the removed member's token {elapsed:.2f} s after the removal")
    assert refused(pair.b, token)
