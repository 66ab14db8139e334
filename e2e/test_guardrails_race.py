"""The guardrails under a race (issue 19, Tests): 64 concurrent streaming and non-streaming calls through the official
SDKs, on SQLite (one server) and on PostgreSQL (two replicas on one database, the calls split between them), with the
stand-in upstreams counting what reaches them.

- An enforced budget with room for exactly 10 calls (by their actual cost): at most 10 reach the upstream, the spend
  recorded never passes the budget, every call is recorded (the blocked ones as `blocked:budget` events), and no
  reservation is left open afterwards.
- `max_concurrent`: the stand-ins never see more calls open at once than the limit.
- `requests_per_minute`: exactly the limit reaches the upstream within the minute.
- A crashed server's reservations expire (TALLY_GATEWAY_RESERVATION_TTL) and the budget frees.

Why the budget bounds hold (docs/guardrails.md, "Reservations"): each call reserves its worst case W (the body's
bytes as input tokens, max_tokens of output) before it is forwarded and settles to its actual cost A ≤ W, so k
admitted calls hold at least k × A of a budget of 10 × A: k ≤ 10. A call is refused only when what is held plus its W
passes the budget, which needs at least floor(budget / W) admitted calls (each holding at most W): a limit that
refuses too early fails the lower bound."""
import concurrent.futures
import threading
from decimal import Decimal

import anthropic
import openai
import pytest

from standins.upstreams import most_at_once
from test_guardrails import PROMPT, call, start_site, wait_for_minute_room
from conftest import wait_until

CALLS = 64
MAX_TOKENS = 1000
RATE_LIMITED = (openai.RateLimitError, anthropic.RateLimitError)

# gpt-4o-mini at the list price (openai.com/api/pricing): input $0.15, output $0.60 per million tokens. The stand-in
# counts ceil(1000 bytes / 4) = 250 input tokens and answers MAX_TOKENS output tokens (usage_override):
#   A = 250 × 0.15 + 1000 × 0.60 = 37.5 + 600 = 637.5 µ$
ACTUAL = Decimal("0.0006375")
BUDGET = 10 * ACTUAL  # room for exactly 10 calls


@pytest.fixture(params=["sqlite", "postgres"])
def racing(request, tmp_path, upstream_standins):
    site = start_site(request.param, tmp_path, upstream_standins, replicas=2 if request.param == "postgres" else 1)
    try:
        yield site
    finally:
        site.tally.stop_all()


def race(site, token, kinds):
    """Starts len(kinds) calls at once (a barrier), alternating between the site's servers; each kind is
    (provider, stream). Returns "ok" or "429" per call; any other outcome fails the test."""
    barrier = threading.Barrier(len(kinds))

    def one(i):
        provider, stream = kinds[i]
        server = site.servers[i % len(site.servers)]
        barrier.wait()
        try:
            call(server, token, provider, stream=stream, max_tokens=MAX_TOKENS)
            return "ok"
        except RATE_LIMITED as e:
            assert e.response.headers.get("x-should-retry") == "false", dict(e.response.headers)
            return "429"

    with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
        return list(pool.map(one, range(len(kinds))))


def mixed(providers=("openai", "anthropic")):
    return [(providers[i % len(providers)], (i // len(providers)) % 2 == 1) for i in range(CALLS)]


def reached(site):
    return [r for p in ("openai", "anthropic") for r in site.standins[p].recorded()]


def reserved(site, budget_id, server=None):
    r = site.api("GET", f"/api/v1/budgets/{budget_id}", server=server)
    assert r.status_code == 200, r.text
    return Decimal(r.json()["reserved_usd"])


def test_an_enforced_budget_holds_under_64_concurrent_calls(racing):
    site = racing
    standin = site.standins.openai
    standin.usage_override = {"output": MAX_TOKENS}
    standin.first_byte_delay = 0.2  # every call stays open a while, so they overlap
    b = site.budget(name="Ten calls", scope={"project": "guarded"}, period="month", amount_usd=str(BUDGET),
                    enforce=True)

    outcomes = race(site, site.gateway_token, mixed(("openai",)))

    records = standin.recorded()
    ok = outcomes.count("ok")
    assert ok == len(records), (outcomes, records)
    assert ok <= 10, f"{ok} calls reached the upstream; the budget has room for 10"
    # The lower bound: a refusal needs floor(BUDGET / W) admitted calls, W being the largest worst case.
    # (5 % above the bound, for any difference between what the stand-in received and what the gateway priced)
    worst = (max(r.body_size for r in records) * Decimal("0.00000015") + MAX_TOKENS * Decimal("0.0000006")) * Decimal("1.05")
    assert ok >= int(BUDGET / worst), f"only {ok} calls passed; {int(BUDGET / worst)} fit at their worst case"
    assert outcomes.count("429") == CALLS - ok

    # Every call is recorded once (the blocked ones at $0), and the spend is the admitted calls' actual cost.
    wait_until(lambda: len(site.events()) == CALLS, timeout=30, what=f"{CALLS} events")
    events = site.events()
    successes = [e for e in events if e["status"] == "success"]
    assert len(successes) == ok, events
    assert all(e["error_type"] == "blocked:budget" and Decimal(e["cost_usd"]) == 0
               for e in events if e["status"] != "success"), events
    spent = sum(Decimal(e["cost_usd"]) for e in successes)
    assert spent == ok * ACTUAL and spent <= BUDGET, (spent, ok)
    for server in site.servers:  # every replica sees every reservation settled
        wait_until(lambda: reserved(site, b["id"], server) == 0, timeout=15, what="no open reservation")

    # Calls one after another fill what is left: each passes while the spend plus its worst case fits, then the
    # budget refuses at once (after one attempt). At most 10 in all, and at least as many as fit at the worst case.
    total = ok
    for _ in range(11):
        try:
            call(site.servers[-1], site.gateway_token, "openai", max_tokens=MAX_TOKENS)
            total += 1
        except openai.RateLimitError as e:
            assert "Ten calls" in str(e), str(e)
            break
    assert len(standin.recorded()) == total <= 10, total
    assert total >= int((BUDGET - worst) / ACTUAL) + 1, f"the budget refused with room for another call ({total})"


def test_max_concurrent_holds_under_64_concurrent_calls(racing):
    site = racing
    for p in ("openai", "anthropic"):
        site.standins[p].first_byte_delay = 0.5
    site.policy(name="Four at once", scope={"project": "guarded"}, mode="enforce", rules={"max_concurrent": 4})

    outcomes = race(site, site.gateway_token, mixed())

    records = reached(site)
    assert outcomes.count("ok") == len(records) and outcomes.count("429") == CALLS - len(records), outcomes
    peak = most_at_once(records)
    assert peak <= 4, f"the stand-ins saw {peak} calls open at once; the limit is 4"
    assert peak >= 2, f"the calls never overlapped (peak {peak}): the race did not happen"
    # The slots are released: one call after another passes again.
    for server in site.servers:
        call(server, site.gateway_token, "anthropic", max_tokens=MAX_TOKENS)


def test_requests_per_minute_holds_under_64_concurrent_calls(racing):
    site = racing
    site.policy(name="Ten a minute", scope={"project": "guarded"}, mode="enforce", rules={"requests_per_minute": 10})
    wait_for_minute_room(40)  # the whole race inside one clock minute

    outcomes = race(site, site.gateway_token, mixed())

    assert outcomes.count("ok") == len(reached(site)) == 10, outcomes
    assert outcomes.count("429") == CALLS - 10


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_crashed_servers_reservations_expire(kind, tmp_path, upstream_standins):
    """A server dies with a call in flight: its reservation holds the budget until the TTL, then the budget frees (on
    PostgreSQL the surviving replica sweeps it; on SQLite the restarted server starts from what was spent)."""
    site = start_site(kind, tmp_path, upstream_standins, replicas=2 if kind == "postgres" else 1,
                      TALLY_GATEWAY_RESERVATION_TTL="5s")
    try:
        standin = site.standins.openai
        standin.usage_override = {"output": MAX_TOKENS}
        # One worst case (about 1,090 × 0.15 + 1000 × 0.60 = 764 µ$) fits, two do not.
        b = site.budget(name="One at a time", scope={"project": "guarded"}, period="month", amount_usd="0.0012",
                        enforce=True)
        standin.slow(first_byte=120)
        doomed = site.servers[0]
        failures = []

        def in_flight():
            try:
                call(doomed, site.gateway_token, "openai", max_tokens=MAX_TOKENS, max_retries=0)
            except Exception as e:  # noqa: BLE001 (the server is killed under it)
                failures.append(e)

        t = threading.Thread(target=in_flight)
        t.start()
        standin.wait_for_requests(1, timeout=15)
        assert reserved(site, b["id"]) > 0
        doomed.kill9()
        t.join(30)
        assert failures, "the call in flight should have failed with its server"

        if kind == "postgres":
            survivor = site.servers[1]
            # Held by the dead replica's reservation: refused, and nothing reaches the upstream.
            with pytest.raises(openai.RateLimitError):
                call(survivor, site.gateway_token, "openai", max_tokens=MAX_TOKENS)
            assert len(standin.recorded()) == 1
            wait_until(lambda: reserved(site, b["id"], survivor) == 0, timeout=30, what="the reservation expired")
        else:
            survivor = site.tally.serve()
        call(survivor, site.gateway_token, "openai", max_tokens=MAX_TOKENS)
        assert len(standin.recorded()) == 2
    finally:
        site.tally.stop_all()
