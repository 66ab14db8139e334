"""Hostile numbers and hostile attribution, end to end (issue 14, items 5, 9 and 12c), on SQLite and PostgreSQL.

Swift traps on integer overflow, and a trap ends the whole `tally serve` process: every request of every tenant.
These tests send what used to crash or poison it, then check the server is still up and answers exactly:

- a quote with 10^15 output tokens (400 naming output_tokens; it used to overflow the cost and trap),
- `provider_cost_usd` of "9999999999" (400; parsing it used to overflow and trap) and "9000000000" (400: above the
  10^9 USD cap per event),
- ten events of 10^9 USD in one hour: the tenth would pass what an Int64 of nano-dollars holds, so it is refused with
  422 total_too_large and the summary still answers 200 with the exact integer total (SQLite used to turn the rollup
  into a float and answer 503 for good),
- a summary whose total cannot be held (422 total_too_large) and one of more than 10,000 groups (400 too_many_groups),
- a gateway call with `"user": "\\u0000"` on PostgreSQL: it used to fail the recorder's batch at every flush, so no
  other gateway event was recorded again; now the user is left out (as the API would refuse it), and the other
  projects' calls are recorded within seconds; /metrics has tally_gateway_events_failed_total.

Request bodies are written as raw JSON text, so the numbers reach Tally exactly as written (`1e15`, 19-digit ints)."""
import json
import tempfile
import time

import pytest
import requests

from conftest import PG_URL, AccountsTally, Tally, bearer, fresh_postgres_url

BILLION = "1000000000"


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def served(request):
    """One server per store for the module, with an ingest+read token and a read-only one."""
    if request.param == "postgres" and not PG_URL:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d, fresh_postgres_url() if request.param == "postgres" else None)
        token = t.token("web", "ingest,read")
        server = t.serve()
        yield server, token
        t.stop_all()


def post(server, token, path, body, content_type="application/json"):
    return requests.post(server.url + path, data=body.encode(), timeout=30,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})


def get(server, token, path, **params):
    return requests.get(server.url + path, params=params, headers=bearer(token), timeout=60)


def event_text(event_id, timestamp="2026-11-20T10:15:00Z", **raw):
    """An event as JSON text; `raw` values are inserted verbatim (numbers as written)."""
    fields = [f'"id":"{event_id}"', f'"timestamp":"{timestamp}"', '"provider":"openai"', '"model":"gpt-4o"',
              '"input_tokens":100', '"output_tokens":10']
    fields += [f'"{k}":{v}' for k, v in raw.items()]
    return "{" + ",".join(fields) + "}"


def assert_error(r, status, code, field):
    assert r.status_code == status, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["code"] == code, r.text
    assert field in [d["field"] for d in error["details"]], r.text
    assert field in error["message"], r.text


def assert_up(server):
    assert server.proc.poll() is None, "tally serve exited"
    assert requests.get(server.url + "/readyz", timeout=5).status_code == 200


def test_a_quote_of_ten_to_the_fifteen_output_tokens_is_refused_and_the_server_stays_up(served):
    server, token = served
    for literal in ("1e15", "1000000000000000", "9223372036854775807", "1000000000001"):
        body = '{"provider":"openai","model":"gpt-4o","input_tokens":10,"output_tokens":%s}' % literal
        r = post(server, token, "/api/v1/prices/quote", body)
        assert_error(r, 400, "invalid_request", "output_tokens")
        assert_up(server)
    # The limit itself prices: 10^12 output tokens of gpt-4o at $10/M is $10,000,000, exactly.
    r = post(server, token, "/api/v1/prices/quote",
             '{"provider":"openai","model":"gpt-4o","timestamp":"2026-11-20T10:00:00Z","output_tokens":1000000000000}')
    assert r.status_code == 200, r.text
    assert r.json()["cost_usd"] == "10000000"


def test_an_exponent_at_the_edge_of_int_in_a_query_is_a_400_not_a_crash():
    """`abs(Int.min)` traps: USD(literal:) took the absolute value of the exponent, and any signed-in viewer reaches it
    with one GET (a link is enough: no CSRF check on GET)."""
    with tempfile.TemporaryDirectory() as d:
        t = Tally(d)
        token = t.token("web", "admin")
        server = t.serve()
        try:
            for literal in ("1e-9223372036854775808", "1e9223372036854775807", "1e-41"):
                r = get(server, token, "/api/v1/reconciliation", threshold_percent=literal)
                assert_error(r, 400, "invalid_request", "threshold_percent")
                assert_up(server)
            assert get(server, token, "/api/v1/reconciliation", threshold_percent="25e-1").status_code == 200
        finally:
            t.stop_all()


@pytest.mark.parametrize("literal", ['"9999999999"', '"9000000000"', "9999999999", '"1000000000.000000001"',
                                     '"99999999999999999999999"', '"-1"', "1e308"])
def test_a_provider_cost_beyond_a_billion_dollars_is_refused_by_name(served, literal):
    server, token = served
    r = post(server, token, "/api/v1/events", event_text("cost-" + literal.strip('"'), provider_cost_usd=literal))
    assert_error(r, 400, "invalid_request", "provider_cost_usd")
    assert_up(server)


def test_an_hours_total_that_cannot_be_held_is_refused_and_the_summary_stays_exact(served):
    server, token = served
    hour = "2026-11-18T07:%02d:00Z"
    for i in range(9):
        r = post(server, token, "/api/v1/events", event_text(f"billion-{i}", hour % i, provider_cost_usd=f'"{BILLION}"'))
        assert r.status_code == 200, r.text
    # The tenth billion in that hour (with a harmless event beside it): refused whole, 422, naming the field.
    body = "[" + event_text("tenth", hour % 30, provider_cost_usd=f'"{BILLION}"') + "," + event_text("beside", hour % 31) + "]"
    r = post(server, token, "/api/v1/events", body)
    assert_error(r, 422, "total_too_large", "provider_cost_usd")
    assert_up(server)
    for params in ({"from": "2026-11-18T00:00:00Z", "to": "2026-11-19T00:00:00Z"},
                   {"from": "2026-11-18T07:00:00Z", "to": "2026-11-18T07:30:00Z", "group_by": "model"}):
        r = get(server, token, "/api/v1/usage/summary", **params)
        assert r.status_code == 200, r.text
        totals = r.json()["totals"]
        assert totals["provider_cost_usd"] == "9000000000", totals
        assert totals["requests"] == 9 and isinstance(totals["input_tokens"], int) and totals["input_tokens"] == 900
    ids = {json.loads(line)["id"] for line in get(server, token, "/api/v1/events/export", format="ndjson").text.splitlines()}
    assert "tenth" not in ids and "beside" not in ids


def test_a_summary_whose_total_cannot_be_held_says_so(served):
    server, token = served
    # Nine billions on one day and one on the next: every stored row fits, the two days' total does not.
    for i in range(9):
        assert post(server, token, "/api/v1/events",
                    event_text(f"d1-{i}", "2026-10-01T10:00:00Z", provider_cost_usd=f'"{BILLION}"')).status_code == 200
    assert post(server, token, "/api/v1/events",
                event_text("d2", "2026-10-02T10:00:00Z", provider_cost_usd=f'"{BILLION}"')).status_code == 200
    r = get(server, token, "/api/v1/usage/summary", **{"from": "2026-10-01", "to": "2026-10-03"})
    assert_error(r, 422, "total_too_large", "provider_cost_usd")
    assert_up(server)
    r = get(server, token, "/api/v1/usage/summary", **{"from": "2026-10-02", "to": "2026-10-03"})
    assert r.status_code == 200 and r.json()["totals"]["provider_cost_usd"] == BILLION, r.text


def test_a_summary_of_more_than_ten_thousand_groups_is_refused(served):
    server, token = served
    for chunk in range(11):
        lines = [event_text(f"g{chunk}-{i}", "2026-09-01T10:00:00Z", user=f'"user-{chunk}-{i}"') for i in range(1000)]
        r = post(server, token, "/api/v1/events", "\n".join(lines) + "\n", content_type="application/x-ndjson")
        assert r.status_code == 200, r.text
    params = {"from": "2026-09-01", "to": "2026-09-02", "group_by": "user"}
    r = get(server, token, "/api/v1/usage/summary", **params)
    assert_error(r, 400, "too_many_groups", "group_by")
    r = get(server, token, "/api/v1/usage/summary", **{"from": "2026-09-01", "to": "2026-09-02", "group_by": "model"})
    assert r.status_code == 200 and r.json()["totals"]["requests"] == 11_000, r.text


# ---------------------------------------------------------------------------------------------------------------
# The gateway on PostgreSQL

def metric(text, name):
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if not line.startswith("#") and (line.startswith(name + " ") or line.startswith(name + "{"))]
    return sum(values) if values else None


@pytest.fixture(scope="module")
def postgres_gateway_server():
    if not PG_URL:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    from conftest import new_master_key
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, fresh_postgres_url(), {"TALLY_SYNC_INTERVAL": "off", "TALLY_MASTER_KEY": new_master_key()})
        admin = t.token("ops", "admin")
        server = t.serve()
        yield t, server, admin
        t.stop_all()


def test_a_nul_user_through_the_gateway_does_not_stop_recording_on_postgres(postgres_gateway_server, upstream_standins):
    from test_gateway import OPENAI_MODEL, Gateway
    tally, server, admin = postgres_gateway_server
    hostile = Gateway(tally, server, admin, upstream_standins)
    hostile.point_connections()
    other = Gateway(tally, server, admin, upstream_standins)  # another project, its own gateway token
    messages = [{"role": "user", "content": "hello"}]

    hostile.openai().chat.completions.create(model=OPENAI_MODEL, messages=messages, user="\u0000")
    hostile.openai().chat.completions.create(model=OPENAI_MODEL, messages=messages,
                                             extra_headers={"X-Tally-Environment": "e" * 65, "X-Tally-Feature": "ok"})
    started = time.monotonic()
    for i in range(3):
        other.openai().chat.completions.create(model=OPENAI_MODEL, messages=messages, user=f"customer-{i}")
    # The other project's calls are recorded within a few seconds...
    events = other.events(3, timeout=5.0, settle=0.2)
    assert time.monotonic() - started < 6
    assert sorted(e["user"] for e in events) == ["customer-0", "customer-1", "customer-2"]
    # ...and so are the hostile ones, with the values the API would refuse left out and named.
    bad = {e["feature"]: e for e in hostile.events(2, timeout=5.0, settle=0.2)}
    assert bad[None]["user"] is None and bad[None]["tags"]["tally_refused_attribution"] == "user"
    assert bad["ok"]["environment"] is None and bad["ok"]["tags"]["tally_refused_attribution"] == "environment"
    assert all(e["input_tokens"] > 0 and e["cost_usd"] is not None for e in bad.values())

    text = requests.get(server.url + "/metrics", timeout=10).text
    assert metric(text, "tally_gateway_events_failed_total") == 0, text[:2000]
    assert metric(text, "tally_gateway_events_stored_total") >= 5
    assert "\u0000" not in tally.logs() and "\\u0000" not in tally.logs()


def test_absurd_usage_from_an_upstream_is_recorded_as_an_error_not_a_crash(postgres_gateway_server, upstream_standins):
    from test_gateway import OPENAI_MODEL, Gateway
    tally, server, admin = postgres_gateway_server
    gw = Gateway(tally, server, admin, upstream_standins)
    gw.point_connections()
    # The stand-in answers prompt_tokens near Int64.max (its cached tokens, plus the text): the sum used to trap.
    gw.openai().chat.completions.create(model=OPENAI_MODEL, messages=[
        {"role": "user", "content": "[[usage cached=9223372036854775000]] hello"}])
    gw.openai().chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hello"}])
    assert_up(server)
    events = {e["status"]: e for e in gw.events(2, timeout=5.0, settle=0.2)}
    marked = events["error"]
    assert marked["error_type"] == "usage_out_of_bounds" and marked["tags"]["tally_refused_usage"] == "input_tokens"
    assert marked["input_tokens"] == 0 and marked["cost_usd"] is None
    assert events["success"]["input_tokens"] > 0
