"""Guardrails in the gateway (issue 19), end to end: real `tally serve` processes, the official `openai` and
`anthropic` SDKs as clients, the stand-in upstreams (standins/upstreams.py) behind them, counting every call that
reaches them.

- Each kind of block raises the SDK's own exception (BadRequestError, PermissionDeniedError, RateLimitError) with the
  policy or budget named, after exactly ONE attempt although the SDKs retry 429s by default (Tally answers
  `x-should-retry: false`), and the blocked call never reaches the stand-in.
- Every block is an event (`status: error`, `error_type: blocked:<rule>`, cost 0), a `/metrics` count and at most one
  `policy_block` alert per policy per hour.
- Monitor mode blocks nothing and records each would-be block; switched to enforce, it blocks.
- `TALLY_API_RATE_LIMIT` on Tally's own API: RateLimit-* headers, then 429 with Retry-After.

The races (64 concurrent calls, two replicas) are in test_guardrails_race.py."""
import re
import time
from decimal import Decimal

import anthropic
import openai
import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, bearer, signed_in, wait_until

# 1000 UTF-8 bytes: the stand-ins count ceil(bytes / 4) = 250 input tokens.
PROMPT = "abcd" * 250
MODEL = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
SDK_ERRORS = {
    "openai": (openai.BadRequestError, openai.PermissionDeniedError, openai.RateLimitError),
    "anthropic": (anthropic.BadRequestError, anthropic.PermissionDeniedError, anthropic.RateLimitError),
}


class Site:
    """One `tally serve` (or several on one PostgreSQL database) with its owner's admin token, a gateway token of the
    project `guarded`, and provider connections pointing at the stand-ins."""

    def __init__(self, tally, servers, admin, standins):
        self.tally, self.servers, self.admin, self.standins = tally, servers, admin, standins
        self.server = servers[0]
        self.token_id, self.gateway_token = self.new_token("guarded")

    def api(self, method, path, token=None, server=None, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, (server or self.server).url + path, headers=bearer(token or self.admin), **kw)

    def new_token(self, project):
        r = self.api("POST", "/api/v1/projects", json={"name": project})
        assert r.status_code in (201, 409), r.text
        r = self.api("POST", "/api/v1/tokens", json={"name": "gw", "project": project, "scopes": ["gateway", "read"]})
        assert r.status_code == 201, r.text
        return r.json()["token"]["id"], r.json()["secret"]

    def policy(self, status=201, **body):
        r = self.api("POST", "/api/v1/policies", json=body)
        assert r.status_code == status, f"POST /api/v1/policies {body}: {r.status_code} {r.text}"
        return r.json()

    def budget(self, **body):
        r = self.api("POST", "/api/v1/budgets", json=body)
        assert r.status_code == 201, f"POST /api/v1/budgets {body}: {r.status_code} {r.text}"
        return r.json()

    def events(self, project="guarded", **params):
        r = self.api("GET", "/api/v1/events", params={"project": project, "limit": 1000, **params})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def hits(self, policy_id):
        r = self.api("GET", f"/api/v1/policies/{policy_id}/hits", params={"limit": 500})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def metric(self, name, **labels):
        text = requests.get(self.server.url + "/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line)
            if m and m.group(1) == name:
                have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
                if all(have.get(k) == v for k, v in labels.items()):
                    total += float(m.group(3))
        return total


def start_site(kind, tmp_path, standins, replicas=1, **env):
    tally = _accounts_tally(kind, str(tmp_path), {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
                                                   "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                                   "TALLY_SYNC_INTERVAL": "off", **env})
    servers = [tally.serve(wait=False) for _ in range(replicas)]
    for s in servers:
        s.wait_ready()
    owner = signed_in(servers[0])
    r = owner.api("POST", "/api/v1/tokens", json={"name": "ops", "project": "ops", "scopes": ["admin"]})
    assert r.status_code == 201, r.text
    site = Site(tally, servers, r.json()["secret"], standins)
    site.owner = owner
    for provider in ("openai", "anthropic"):
        s = standins[provider]
        r = site.api("POST", "/api/v1/provider-connections",
                     json={"provider": provider, "name": provider, "base_url": s.url, "api_key": s.key})
        assert r.status_code == 201 and r.json()["validated"] is True, r.text
        s.clear()
    return site


@pytest.fixture
def site(tmp_path, upstream_standins):
    s = start_site("sqlite", tmp_path, upstream_standins)
    try:
        yield s
    finally:
        s.tally.stop_all()


def call(server, token, provider, *, max_tokens=64, model=None, stream=False, max_retries=2):
    """One chat call with the SDK's own default of 2 retries (so a retry would show at the stand-in)."""
    model = model or MODEL[provider]
    messages = [{"role": "user", "content": PROMPT}]
    if provider == "openai":
        c = openai.OpenAI(api_key=token, base_url=server.url + "/gateway/openai/v1", max_retries=max_retries)
        if stream:
            return list(c.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, stream=True,
                                                  stream_options={"include_usage": True}))
        return c.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens)
    c = anthropic.Anthropic(api_key=token, base_url=server.url + "/gateway/anthropic", max_retries=max_retries)
    if stream:
        with c.messages.stream(model=model, max_tokens=max_tokens, messages=messages) as s:
            return s.get_final_message()
    return c.messages.create(model=model, max_tokens=max_tokens, messages=messages)


def blocked(site, provider, exception, **kw):
    """Makes one call that must be blocked: the SDK raises `exception`, Tally said not to retry, nothing reached the
    stand-in. Returns the SDK's exception."""
    standin = site.standins[provider]
    before = len(standin.recorded())
    with pytest.raises(exception) as raised:
        call(site.server, site.gateway_token, provider, **kw)
    error = raised.value
    assert error.response.headers.get("x-should-retry") == "false", dict(error.response.headers)
    assert len(standin.recorded()) == before, "a blocked call reached the upstream"
    return error


def passes(site, provider, **kw):
    standin = site.standins[provider]
    before = len(standin.recorded())
    call(site.server, site.gateway_token, provider, **kw)
    assert len(standin.recorded()) == before + 1, "the SDK did not make exactly one attempt"


def wait_for_minute_room(seconds_needed=20):
    """Rate limits use fixed clock minutes: start a test that needs `seconds_needed` inside one minute early enough."""
    if time.time() % 60 > 60 - seconds_needed:
        time.sleep(60 - time.time() % 60 + 0.5)


def body_of(error):
    return error.response.json()


def kind_of(error, provider):
    """What the provider's own error body calls the error: Anthropic's `error.type`, OpenAI's `error.code` (its
    `type` is the broader class, e.g. invalid_request_error)."""
    e = body_of(error)["error"]
    return e["type"] if provider == "anthropic" else e["code"]


# ---------------------------------------------------------------------------------------------------------------
# What the SDKs see

@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_each_block_is_the_sdks_own_exception_after_one_attempt(site, provider):
    bad_request, permission_denied, rate_limited = SDK_ERRORS[provider]
    passes(site, provider)

    # max_output_tokens: 400, the limit named.
    p = site.policy(name="Short answers", scope={"project": "guarded"}, mode="enforce", rules={"max_output_tokens": 100})
    e = blocked(site, provider, bad_request, max_tokens=1000)
    assert "Short answers" in str(e) and "max_output_tokens: 100" in str(e) and "1000" in str(e), str(e)
    assert kind_of(e, provider) == ("invalid_request_error" if provider == "anthropic" else "invalid_request")
    passes(site, provider, max_tokens=100)
    assert site.api("DELETE", f"/api/v1/policies/{p['id']}").status_code == 204

    # models_deny: 403 permission_denied / permission_error.
    p = site.policy(name="No minis", scope={"token": site.token_id}, mode="enforce",
                    rules={"models_deny": ["gpt-4o-mini*", "claude-haiku-*"]})
    e = blocked(site, provider, permission_denied)
    assert "No minis" in str(e) and MODEL[provider] in str(e), str(e)
    assert kind_of(e, provider) == ("permission_error" if provider == "anthropic" else "permission_denied")
    assert site.api("DELETE", f"/api/v1/policies/{p['id']}").status_code == 204

    # models_allow: a model outside the list.
    p = site.policy(name="Only big ones", mode="enforce", rules={"models_allow": ["gpt-5*", "claude-opus-*"]})
    e = blocked(site, provider, permission_denied)
    assert "Only big ones" in str(e), str(e)
    assert site.api("DELETE", f"/api/v1/policies/{p['id']}").status_code == 204

    # max_cost_per_request_usd: the worst case (1,000+ input bytes, 64 output tokens) is above a tenth of a cent.
    p = site.policy(name="Pennies", scope={"project": "guarded"}, mode="enforce",
                    rules={"max_cost_per_request_usd": "0.00001"})
    e = blocked(site, provider, permission_denied)
    assert "Pennies" in str(e) and "could cost up to" in str(e), str(e)
    assert site.api("DELETE", f"/api/v1/policies/{p['id']}").status_code == 204

    # requests_per_minute: the second call of the minute is 429 with Retry-After; the SDK would retry a 429, but not
    # this one.
    wait_for_minute_room()
    p = site.policy(name="One a minute", scope={"project": "guarded"}, mode="enforce",
                    rules={"requests_per_minute": 1})
    passes(site, provider)
    e = blocked(site, provider, rate_limited)
    assert "One a minute" in str(e) and "requests_per_minute: 1 per minute" in str(e), str(e)
    retry_after = int(e.response.headers["retry-after"])
    assert 1 <= retry_after <= 60, retry_after
    if provider == "openai":
        assert body_of(e)["error"]["code"] == "rate_limit_exceeded", body_of(e)
    blocked(site, provider, rate_limited)  # a second block in the same hour: still one alert (below)
    mine = lambda: [a for a in alerts(site) if "One a minute" in a["figures"]["summary"]]  # noqa: E731
    wait_until(mine, timeout=30, what="the policy_block alert")
    time.sleep(6)  # one more maintenance round (5 s): it must not raise a second alert for the same policy
    assert len(mine()) == 1, alerts(site)
    assert site.api("DELETE", f"/api/v1/policies/{p['id']}").status_code == 204

    # An enforced budget on a project of its own. Its amount, $0.002, holds one call's worst case (about 1,090 body
    # bytes as input tokens plus max_tokens of output at the list price) but not two: the first call passes and
    # settles at its actual cost, the second is 429 budget_exceeded.
    _, capped = site.new_token("capped")
    b = site.budget(name="Team cap", scope={"project": "capped"}, period="month", amount_usd="0.002", enforce=True)
    worst_case_tokens = {"openai": 3000, "anthropic": 150}[provider]  # 1090 × $0.15 + 3000 × $0.60 per M; 1090 × $1 + 150 × $5
    standin = site.standins[provider]
    before = len(standin.recorded())
    call(site.server, capped, provider, max_tokens=worst_case_tokens)
    with pytest.raises(rate_limited) as raised:
        call(site.server, capped, provider, max_tokens=worst_case_tokens)
    e = raised.value
    assert len(standin.recorded()) == before + 1, "the budget let a second call through, or the SDK retried"
    assert e.response.headers.get("x-should-retry") == "false"
    assert "Team cap" in str(e) and "exhausted" in str(e), str(e)
    if provider == "openai":
        assert body_of(e)["error"]["code"] == "budget_exceeded", body_of(e)
    assert "retry-after" not in e.response.headers  # waiting does not free a budget
    got = site.api("GET", f"/api/v1/budgets/{b['id']}").json()
    assert got["enforce"] is True and Decimal(got["reserved_usd"]) == 0, got
    capped_events = wait_until(lambda: len(site.events("capped")) == 2 and site.events("capped"), timeout=15,
                               what="both calls recorded (the recorder flushes within a second)")
    assert sorted((e["status"], e.get("error_type")) for e in capped_events) == [
        ("error", "blocked:budget"), ("success", None)], capped_events
    assert sum(Decimal(e["cost_usd"] or "0") for e in capped_events) <= Decimal("0.002"), capped_events

    # Every block is an event at $0 with no usage, and counted on /metrics.
    blocks = 6  # max_output_tokens, models_deny, models_allow, max_cost_per_request_usd, requests_per_minute × 2
    events = wait_until(lambda: len([e for e in site.events() if e["status"] == "error"]) == blocks and site.events(),
                        timeout=15, what=f"{blocks} block events")
    kinds = sorted(e["error_type"] for e in events if e["status"] == "error")
    assert kinds == sorted(f"blocked:{rule}" for rule in ("max_output_tokens", "models_deny", "models_allow",
                                                           "max_cost_per_request_usd", "requests_per_minute",
                                                           "requests_per_minute")), kinds
    for e in events:
        if e["status"] == "error":
            assert Decimal(e["cost_usd"]) == 0 and e["input_tokens"] == 0 and e["output_tokens"] == 0, e
    assert site.metric("tally_gateway_blocked_total", rule="requests_per_minute", mode="enforce") >= 2
    assert site.metric("tally_gateway_blocked_total", rule="budget", mode="enforce") >= 1


def alerts(site):
    r = site.api("GET", "/api/v1/alerts", params={"type": "policy_block", "limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_monitor_mode_blocks_nothing_and_records_each_would_be_block(site):
    wait_for_minute_room(30)
    deny = site.policy(name="Dry run models", scope={"project": "guarded"}, rules={"models_deny": ["gpt-4o-mini"]})
    rate = site.policy(name="Dry run rate", scope={"project": "guarded"}, rules={"requests_per_minute": 1})
    assert deny["mode"] == rate["mode"] == "monitor", (deny, rate)
    for _ in range(3):
        passes(site, "openai")
    # 3 calls: each is a denied model (3 would-be blocks), and the 2nd and 3rd are past the rate (2 more).
    wait_until(lambda: len(site.hits(deny["id"])) == 3 and len(site.hits(rate["id"])) == 2, timeout=15,
               what="3 + 2 monitor hits")
    for p, rule, n in ((deny, "models_deny", 3), (rate, "requests_per_minute", 2)):
        hits = site.hits(p["id"])
        assert [h["rule"] for h in hits] == [rule] * n, hits
        assert all(h["mode"] == "monitor" and h["project"] == "guarded" and h["model"] == "gpt-4o-mini" for h in hits)
        assert all(p["name"] in h["message"] for h in hits), hits
        got = site.api("GET", f"/api/v1/policies/{p['id']}").json()
        assert got["hits_7d"] == {"enforce": 0, "monitor": n}, got
    events = site.events()
    assert len(events) == 3 and all(e["status"] == "success" for e in events), events
    assert site.metric("tally_gateway_blocked_total", rule="models_deny", mode="monitor") == 3
    assert site.metric("tally_gateway_blocked_total", rule="requests_per_minute", mode="monitor") == 2
    assert site.metric("tally_gateway_blocked_total", rule="models_deny", mode="enforce") == 0
    assert alerts(site) == []  # monitor mode raises no alert

    # Switched to enforce (on this server at once; another replica within its 2 s cache): the same call is blocked.
    r = site.api("PATCH", f"/api/v1/policies/{deny['id']}", json={"mode": "enforce"})
    assert r.status_code == 200 and r.json()["mode"] == "enforce", r.text
    e = blocked(site, "openai", openai.PermissionDeniedError)
    assert "Dry run models" in str(e), str(e)
    wait_until(lambda: site.api("GET", f"/api/v1/policies/{deny['id']}").json()["hits_7d"]["enforce"] == 1,
               timeout=15, what="the enforced hit counted")


def test_another_organizations_policies_neither_show_nor_apply(site):
    ours = site.policy(name="Ours", rules={"max_concurrent": 3})
    owner = site.owner
    r = owner.api("POST", "/api/v1/organizations", json={"name": "Other", "time_zone": "UTC"})
    assert r.status_code == 201, r.text
    owner.me()  # the session is in the other organization now
    assert owner.api("GET", "/api/v1/policies").json()["data"] == []
    for method, body in (("GET", None), ("PATCH", {"mode": "enforce"}), ("DELETE", None)):
        r = owner.api(method, f"/api/v1/policies/{ours['id']}", json=body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
    assert owner.api("GET", f"/api/v1/policies/{ours['id']}/hits").status_code == 404
    # The other organization denies every model in enforce mode (an empty scope: its whole organization); the first
    # organization's gateway calls are not its business.
    r = owner.api("POST", "/api/v1/policies", json={"name": "Nothing", "mode": "enforce", "rules": {"models_deny": ["*"]}})
    assert r.status_code == 201, r.text
    passes(site, "openai")
    passes(site, "anthropic")
    # A token without `admin` of the first organization reads no policy either.
    _, reader = site.new_token("readers")
    assert site.api("GET", "/api/v1/policies", token=reader).status_code == 403
    assert site.api("GET", f"/api/v1/policies/{ours['id']}", token=reader).status_code == 403


def test_api_rate_limit(tmp_path, upstream_standins):
    wait_for_minute_room(20)
    s = start_site("sqlite", tmp_path, upstream_standins, TALLY_API_RATE_LIMIT="40/1m")
    try:
        seen = []
        while True:
            r = s.api("GET", "/api/v1/policies")
            if r.status_code == 429:
                break
            assert r.status_code == 200, r.text
            assert r.headers["RateLimit-Limit"] == "40", dict(r.headers)
            seen.append(int(r.headers["RateLimit-Remaining"]))
            assert len(seen) <= 40, seen
        assert seen == sorted(seen, reverse=True) and seen[-1] == 0, seen
        assert r.json()["error"]["code"] == "rate_limited", r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60 and r.headers["RateLimit-Remaining"] == "0", dict(r.headers)
        # The address is counted too: another token from the same address is refused until the window ends.
        other = s.api("GET", "/api/v1/policies", token=s.gateway_token)
        assert other.status_code == 429, other.text
        # The gateway, the pages and the health checks are not Tally's API: they still answer.
        assert requests.get(s.server.url + "/healthz", timeout=10).status_code == 200
        passes(s, "openai")
    finally:
        s.tally.stop_all()
