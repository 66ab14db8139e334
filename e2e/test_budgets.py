"""Budgets (issue 17) end to end against real `tally serve` processes: the API's create/list/get/patch/delete, the
live status of each period kind in non-UTC time zones (America/New_York across a month end, Asia/Kolkata across
its midnight at 18:30Z), billing cycle day 15, weeks, custom periods, the provider ledger fed by a sync of the cost
report stand-in, isolation between organizations and roles, hostile input, and the Budgets page in a real browser.

Period edges need "now" at a chosen instant: those servers run with TALLY_CLOCK_OFFSET_SECONDS (the injected test
clock, e2e/clock.py) so that their now is a few seconds after the instant named, and the events straddle the local
midnights around it. Money is OpenAI's list price for gpt-4o ($2.50 per million input tokens, $10.00 per million
output): an event with 1,000·m input tokens and 100 output tokens costs m × $0.0025 + $0.001 (m a power of two, so
a sum names its events)."""
import datetime as dt
import tempfile
import time
from decimal import Decimal

import pytest
import requests

import clock
from selenium.webdriver.common.by import By

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, api_token, assert_error, bearer, signed_in
from test_accounts import member_with_role
from test_dashboard import fill, sign_in, submit

BUDGET_FIELDS = {"id", "name", "scope", "period", "from", "to", "amount_usd", "thresholds", "ledger", "channels",
                 "enabled", "enforce", "reserved_usd", "muted_until", "project_id", "created_at", "updated_at", "status"}
STATUS_FIELDS = {"period_start", "period_end", "spent_usd", "percent", "remaining_usd", "thresholds"}


def cost(m):
    return Decimal(m) * Decimal("0.0025") + Decimal("0.001")


def ev(event_id, timestamp, m, **fields):
    e = {"id": event_id, "timestamp": timestamp, "provider": "openai", "model": "gpt-4o",
         "input_tokens": 1000 * m, "output_tokens": 100}
    e.update(fields)
    return e


def serve_at(site, when, **env):
    """A server whose clock reads `when` (RFC 3339) plus the seconds since this call."""
    target = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    return site.serve(TALLY_CLOCK_OFFSET_SECONDS=str(round(target - time.time())), **env)


def post_events(server, token, events):
    r = requests.post(server.url + "/api/v1/events", json=events, headers=bearer(token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), f"{r.status_code} {r.text[:500]}"


def create(browser, status=201, **body):
    r = browser.api("POST", "/api/v1/budgets", json=body)
    assert r.status_code == status, f"POST /api/v1/budgets {body}: {r.status_code} {r.text[:500]}"
    return r.json()


def get(browser, budget_id):
    r = browser.api("GET", f"/api/v1/budgets/{budget_id}")
    assert r.status_code == 200, f"GET /api/v1/budgets/{budget_id}: {r.status_code} {r.text[:500]}"
    return r.json()


def set_org(browser, **fields):
    r = browser.api("PATCH", "/api/v1/organization", json=fields)
    assert r.status_code == 200, f"PATCH /api/v1/organization {fields}: {r.status_code} {r.text[:300]}"


# ---------------------------------------------------------------------------------------------------------------
# The API's shape, on SQLite and PostgreSQL


def test_create_list_get_patch_delete(site):
    server = site.serve()
    owner = signed_in(server)
    api_token(owner, project="web")
    b = create(owner, name="Search", scope={"project": "web", "model": ["gpt-4o", "o3"]}, period="month",
               amount_usd="250.00")
    assert set(b) == BUDGET_FIELDS and set(b["status"]) == STATUS_FIELDS, b
    assert b["id"].startswith("bud_") and b["scope"] == {"project": ["web"], "model": ["gpt-4o", "o3"]}, b
    assert (b["amount_usd"], b["thresholds"], b["ledger"], b["channels"], b["enabled"]) == \
        ("250.00", [80, 90, 100], "observed", [], True), b
    assert b["status"]["spent_usd"] == "0.00" and b["status"]["percent"] == "0.00", b["status"]
    assert b["status"]["remaining_usd"] == "250.00"
    assert b["status"]["thresholds"] == [{"percent": p, "fired_at": None} for p in (80, 90, 100)]

    other = create(owner, name="All", period="day", amount_usd="5", thresholds=[100, 50])
    assert other["scope"] == {} and other["thresholds"] == [50, 100] and other["amount_usd"] == "5.00"
    r = owner.api("GET", "/api/v1/budgets")
    assert r.status_code == 200 and [x["name"] for x in r.json()["data"]] == ["All", "Search"], r.text
    assert get(owner, b["id"]) == {**b, "status": get(owner, b["id"])["status"]}

    r = owner.api("PATCH", f"/api/v1/budgets/{b['id']}",
                  json={"amount_usd": "300.5", "enabled": False, "muted_until": "2030-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    changed = r.json()
    assert (changed["amount_usd"], changed["enabled"], changed["muted_until"], changed["name"]) == \
        ("300.50", False, "2030-01-01T00:00:00Z", "Search"), changed
    r = owner.api("PATCH", f"/api/v1/budgets/{b['id']}", json={"muted_until": None})
    assert r.status_code == 200 and r.json()["muted_until"] is None

    assert_error(owner.api("POST", "/api/v1/budgets", json={"name": "All", "period": "day", "amount_usd": "1"}),
                 409, "conflict")
    assert_error(owner.api("PATCH", f"/api/v1/budgets/{b['id']}", json={"name": "All"}), 409, "conflict")

    r = owner.api("DELETE", f"/api/v1/budgets/{b['id']}")
    assert r.status_code == 204, r.text
    assert_error(owner.api("GET", f"/api/v1/budgets/{b['id']}"), 404, "not_found")
    assert_error(owner.api("DELETE", f"/api/v1/budgets/{b['id']}"), 404, "not_found")
    r = owner.api("GET", "/api/v1/audit?limit=50")
    assert r.status_code == 200, r.text
    actions = [a["action"] for a in r.json()["data"] if a["action"].startswith("budget.")]
    assert sorted(actions) == ["budget.create", "budget.create", "budget.delete", "budget.update",
                               "budget.update"], actions


def test_a_projects_monthly_budget(site):
    server = site.serve()
    owner = signed_in(server)
    api_token(owner, project="web")
    project = next(p for p in owner.api("GET", "/api/v1/projects").json()["data"] if p["name"] == "web")
    path = f"/api/v1/projects/{project['id']}/budget"
    assert_error(owner.api("GET", path), 404, "not_found")
    assert_error(owner.api("PATCH", path, json={"thresholds": [50]}), 400, "invalid_request")  # amount required first
    r = owner.api("PATCH", path, json={"amount_usd": "100", "thresholds": [90, 50]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["amount_usd"], body["thresholds"], body["project_id"]) == ("100.00", [50, 90], project["id"]), body
    assert set(body["status"]) == STATUS_FIELDS
    r = owner.api("PATCH", path, json={"amount_usd": "120.25"})
    assert r.status_code == 200 and r.json()["amount_usd"] == "120.25" and r.json()["thresholds"] == [50, 90]
    assert owner.api("GET", path).json()["id"] == body["id"]
    listed = owner.api("GET", "/api/v1/budgets").json()["data"]
    assert [(x["name"], x["period"], x["scope"], x["project_id"]) for x in listed] == \
        [("web monthly", "month", {"project": ["web"]}, project["id"])], listed
    assert_error(owner.api("PATCH", path, json={"amount_usd": "1", "name": "x"}), 400, "invalid_request")
    # Its project's tokens read it: its scope and period stay the project's month.
    for change, field in (({"scope": {}}, "scope"), ({"period": "week"}, "period")):
        error = assert_error(owner.api("PATCH", f"/api/v1/budgets/{body['id']}", json=change), 400, "invalid_request")
        assert field in [d["field"] for d in error["details"]], error
    assert owner.api("GET", path).json()["amount_usd"] == "120.25"
    assert_error(owner.api("GET", "/api/v1/projects/prj_nope/budget"), 404, "not_found")
    assert_error(owner.api("PATCH", "/api/v1/projects/prj_nope/budget", json={"amount_usd": "1"}), 404, "not_found")


# ---------------------------------------------------------------------------------------------------------------
# Periods in the organization's time zone

NY_NOW = "2026-12-01T04:50:00Z"  # Monday 2026-11-30 23:50 EST
NY_EVENTS = [
    ev("n1", "2026-11-01T03:59:59Z", 1, feature="ny"),    # Sat 10-31 23:59:59 EDT: October
    ev("n2", "2026-11-01T04:00:00Z", 2, feature="ny"),    # Sun 11-01 00:00 EDT: November's first instant
    ev("n3", "2026-11-15T04:59:59Z", 4, feature="ny"),    # Sat 11-14 23:59:59 EST: before cycle day 15
    ev("n4", "2026-11-15T05:00:00Z", 8, feature="ny"),    # Sun 11-15 00:00 EST: the cycle's first instant
    ev("n5", "2026-11-29T12:00:00Z", 16, feature="ny"),   # Sun 11-29 07:00 EST: the week before
    ev("n6", "2026-11-30T12:00:00Z", 32, feature="ny"),   # Mon 11-30 07:00 EST
    ev("n7", "2026-12-01T04:49:00Z", 64, feature="ny"),   # Mon 11-30 23:49 EST (December in UTC)
    ev("n8", "2026-12-01T05:00:00Z", 128, feature="ny"),  # Tue 12-01 00:00 EST: ten minutes ahead of now
]


def spent_of(budget):
    return Decimal(budget["status"]["spent_usd"])


def test_periods_in_new_york_across_a_month_end(site):
    server = serve_at(site, NY_NOW)
    owner = signed_in(server)
    set_org(owner, time_zone="America/New_York")
    post_events(server, api_token(owner, scopes=("ingest", "read")), NY_EVENTS)
    scope = {"feature": "ny"}

    month = create(owner, name="month", scope=scope, period="month", amount_usd="0.3")
    assert (month["status"]["period_start"], month["status"]["period_end"]) == \
        ("2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z"), month["status"]  # EDT at its start, EST at its end
    assert spent_of(month) == sum(cost(m) for m in (2, 4, 8, 16, 32, 64)), month["status"]

    day = create(owner, name="day", scope=scope, period="day", amount_usd="1")
    assert (day["status"]["period_start"], day["status"]["period_end"]) == \
        ("2026-11-30T05:00:00Z", "2026-12-01T05:00:00Z"), day["status"]
    assert spent_of(day) == cost(32) + cost(64)

    week = create(owner, name="week", scope=scope, period="week", amount_usd="1")
    assert (week["status"]["period_start"], week["status"]["period_end"]) == \
        ("2026-11-30T05:00:00Z", "2026-12-07T05:00:00Z"), week["status"]  # Monday to Monday
    assert spent_of(week) == cost(32) + cost(64) + cost(128)

    set_org(owner, billing_cycle_day=15)
    cycle = create(owner, name="cycle", scope=scope, period="billing_cycle", amount_usd="1")
    assert (cycle["status"]["period_start"], cycle["status"]["period_end"]) == \
        ("2026-11-15T05:00:00Z", "2026-12-15T05:00:00Z"), cycle["status"]
    assert spent_of(cycle) == sum(cost(m) for m in (8, 16, 32, 64, 128))

    # A custom period is its own local days, inclusive; outside them the status shows them (here: October's end).
    custom = create(owner, name="custom", scope=scope, period="custom", **{"from": "2026-11-29", "to": "2026-11-30"},
                    amount_usd="1")
    assert (custom["status"]["period_start"], custom["status"]["period_end"]) == \
        ("2026-11-29T05:00:00Z", "2026-12-01T05:00:00Z")
    assert spent_of(custom) == cost(16) + cost(32) + cost(64)
    past = create(owner, name="october", scope=scope, period="custom", **{"from": "2026-10-31", "to": "2026-10-31"},
                  amount_usd="1")
    assert spent_of(past) == cost(1) and past["status"]["period_start"] == "2026-10-31T04:00:00Z"

    # The percent is exact and truncated; the remainder never goes below zero.
    assert spent_of(month) == Decimal("0.321") and month["status"]["percent"] == "107.00", month["status"]
    assert month["status"]["remaining_usd"] == "0.00"
    assert (day["status"]["percent"], day["status"]["remaining_usd"]) == ("24.20", "0.758"), day["status"]


KOLKATA_NOW = "2026-12-31T18:20:00Z"  # 12-31 23:50 IST
KOLKATA_EVENTS = [
    ev("k1", "2026-11-30T18:29:59Z", 1, feature="in"),   # 11-30 23:59:59 IST: November
    ev("k2", "2026-11-30T18:30:00Z", 2, feature="in"),   # 12-01 00:00 IST: December's first instant
    ev("k3", "2026-12-30T18:29:59Z", 4, feature="in"),   # 12-30 23:59:59 IST
    ev("k4", "2026-12-30T18:30:00Z", 8, feature="in"),   # 12-31 00:00 IST
    ev("k5", "2026-12-30T20:00:00Z", 16, feature="in"),  # 12-31 01:30 IST: a whole UTC hour (from the rollups)
    ev("k6", "2026-12-31T18:19:00Z", 32, feature="in"),  # 12-31 23:49 IST
    ev("k7", "2026-12-31T18:30:00Z", 64, feature="in"),  # 2027-01-01 00:00 IST: ten minutes ahead of now
]


def test_periods_in_kolkata_across_its_midnight(site):
    server = serve_at(site, KOLKATA_NOW)
    owner = signed_in(server)
    set_org(owner, time_zone="Asia/Kolkata")
    post_events(server, api_token(owner, scopes=("ingest", "read")), KOLKATA_EVENTS)
    day = create(owner, name="day", scope={"feature": "in"}, period="day", amount_usd="0.1")
    assert (day["status"]["period_start"], day["status"]["period_end"]) == \
        ("2026-12-30T18:30:00Z", "2026-12-31T18:30:00Z"), day["status"]
    assert spent_of(day) == cost(8) + cost(16) + cost(32)
    month = create(owner, name="month", scope={"feature": "in"}, period="month", amount_usd="0.1")
    assert month["status"]["period_start"] == "2026-11-30T18:30:00Z"
    assert spent_of(month) == sum(cost(m) for m in (2, 4, 8, 16, 32))
    # Week of Monday 2026-12-28 to Sunday 2027-01-03 (IST): it crosses the year end.
    week = create(owner, name="week", scope={"feature": "in"}, period="week", amount_usd="0.1")
    assert (week["status"]["period_start"], week["status"]["period_end"]) == \
        ("2026-12-27T18:30:00Z", "2027-01-03T18:30:00Z"), week["status"]
    assert spent_of(week) == sum(cost(m) for m in (4, 8, 16, 32, 64))


# ---------------------------------------------------------------------------------------------------------------
# The provider ledger


def test_a_provider_ledger_budget_counts_what_the_cost_reports_bill(sqlite_site, usage_report_standins):
    server = sqlite_site.serve(TALLY_SYNC_INTERVAL="off")
    owner = signed_in(server)
    standin = usage_report_standins["openai"]
    r = owner.api("POST", "/api/v1/provider-connections",
                  json={"provider": "openai", "name": "openai org", "admin_key": "sk-admin-" + "b" * 40,
                        "base_url": standin.url})
    assert r.status_code == 201, r.text
    conn = r.json()
    data = standin.dataset
    r = owner.api("POST", f"/api/v1/provider-connections/{conn['id']}/sync",
                  json={"from": dt.datetime.fromtimestamp(data.first_day_ts, dt.timezone.utc).strftime("%Y-%m-%d"),
                        "to": dt.datetime.fromtimestamp(data.end_ts, dt.timezone.utc).strftime("%Y-%m-%d")},
                  timeout=180)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text

    b = create(owner, name="billed", scope={"provider": "openai"}, period="month", ledger="provider",
               amount_usd="1000000")
    start = b["status"]["period_start"]
    month_start = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    assert month_start == dt.datetime.combine(clock.today().replace(day=1), dt.time(), dt.timezone.utc), start
    # The same figure as the provider ledger's summary over the month's days so far...
    tomorrow = clock.today() + dt.timedelta(days=1)  # `to` is the start of that day: today included
    path = f"/api/v1/usage/summary?ledger=provider&from={month_start:%Y-%m-%d}&to={tomorrow:%Y-%m-%d}&provider=openai"
    r = owner.api("GET", path)
    assert r.status_code == 200, r.text
    billed = Decimal(r.json()["totals"]["provider_cost_usd"])
    assert billed > 0 and spent_of(b) == billed, (b["status"], r.json()["totals"])
    # ...and the stand-in's own sum of its cost lines (each line rounded once to the nano-dollar by Tally).
    expected = sum(Decimal(str(m["amount"])) for m in standin.expected_totals(
        "costs", max(data.first_day_ts, int(month_start.timestamp())), data.end_ts).values())
    assert abs(spent_of(b) - expected) < Decimal("0.000001"), (spent_of(b), expected)
    # An observed budget of the same scope sees none of it: the ledgers are never added.
    assert spent_of(create(owner, name="observed", scope={"provider": "openai"}, period="month",
                           amount_usd="1")) == 0
    # The cost reports cannot split by feature: such a provider-ledger budget is refused.
    error = assert_error(owner.api("POST", "/api/v1/budgets", json={
        "name": "by feature", "scope": {"feature": "chat"}, "period": "month", "ledger": "provider",
        "amount_usd": "1"}), 400, "invalid_request")
    assert [d["field"] for d in error["details"]] == ["scope.feature"], error


# ---------------------------------------------------------------------------------------------------------------
# Isolation and roles


def test_another_organizations_budget_is_not_found_and_viewers_cannot_write(site):
    server = site.serve()
    owner = signed_in(server)
    api_token(owner, project="web")
    ours = create(owner, name="ours", period="month", amount_usd="10")
    viewer = member_with_role(owner, "viewer")
    # A viewer reads budgets, and writes none.
    assert [x["name"] for x in viewer.api("GET", "/api/v1/budgets").json()["data"]] == ["ours"]
    assert get(viewer, ours["id"])["amount_usd"] == "10.00"
    assert_error(viewer.api("POST", "/api/v1/budgets", json={"name": "v", "period": "day", "amount_usd": "1"}), 403,
                 "forbidden")
    assert_error(viewer.api("PATCH", f"/api/v1/budgets/{ours['id']}", json={"amount_usd": "1"}), 403, "forbidden")
    assert_error(viewer.api("DELETE", f"/api/v1/budgets/{ours['id']}"), 403, "forbidden")
    project = next(p for p in owner.api("GET", "/api/v1/projects").json()["data"] if p["name"] == "web")
    assert_error(viewer.api("PATCH", f"/api/v1/projects/{project['id']}/budget", json={"amount_usd": "1"}), 403,
                 "forbidden")
    assert get(owner, ours["id"])["amount_usd"] == "10.00"

    # A token without `admin` reads its own project's budgets only.
    webs = create(owner, name="web only", scope={"project": "web"}, period="month", amount_usd="5")
    reader = bearer(api_token(owner, project="web", scopes=("read",), name="reader"))
    r = requests.get(server.url + "/api/v1/budgets", headers=reader, timeout=10)
    assert r.status_code == 200 and [x["id"] for x in r.json()["data"]] == [webs["id"]], r.text
    assert requests.get(server.url + f"/api/v1/budgets/{ours['id']}", headers=reader, timeout=10).status_code == 404
    assert requests.post(server.url + "/api/v1/budgets", headers=reader, timeout=10,
                         json={"name": "t", "period": "day", "amount_usd": "1"}).status_code == 403

    # Another organization sees none of it: every route with the id answers 404, the list is empty.
    r = owner.api("POST", "/api/v1/organizations", json={"name": "Other", "time_zone": "UTC"})
    assert r.status_code == 201, r.text
    owner.me()  # the session is in the other organization now
    assert owner.api("GET", "/api/v1/budgets").json()["data"] == []
    for method, body in (("GET", None), ("PATCH", {"amount_usd": "1"}), ("DELETE", None),
                         ("PATCH", {"amount_usd": "-1"})):
        assert_error(owner.api(method, f"/api/v1/budgets/{ours['id']}", json=body), 404, "not_found")
    for method, body in (("GET", None), ("PATCH", {"amount_usd": "1"})):
        assert_error(owner.api(method, f"/api/v1/projects/{project['id']}/budget", json=body), 404, "not_found")
    theirs = create(owner, name="ours", period="month", amount_usd="20")  # the same name in another organization
    assert theirs["id"] != ours["id"]
    assert get(viewer, ours["id"])["amount_usd"] == "10.00"


# ---------------------------------------------------------------------------------------------------------------
# Hostile input: 400 naming the field, nothing stored

HOSTILE = [
    ({"amount_usd": "1e999"}, "amount_usd"),
    ({"amount_usd": "-1"}, "amount_usd"),
    ({"amount_usd": "NaN"}, "amount_usd"),
    ({"amount_usd": "0"}, "amount_usd"),
    ({"amount_usd": "1" * 40}, "amount_usd"),
    ({"amount_usd": "1000000000.000000001"}, "amount_usd"),
    ({"amount_usd": 250}, "amount_usd"),
    ({"name": "bad\u0000name"}, "name"),
    ({"name": "line\nbreak"}, "name"),
    ({"name": "\u202eevil"}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": ""}, "name"),
    ({"thresholds": [0]}, "thresholds"),
    ({"thresholds": [1001]}, "thresholds"),
    ({"thresholds": [80, 80]}, "thresholds"),
    ({"thresholds": []}, "thresholds"),
    ({"thresholds": [9223372036854775808]}, "thresholds"),
    ({"scope": {"color": "red"}}, "scope.color"),
    ({"scope": {"source": "api"}}, "scope.source"),
    ({"scope": {"project": "no-such-project"}}, "scope.project"),
    ({"scope": {"model": [1]}}, "scope.model"),
    ({"scope": {"feature": "a\u0000b"}}, "scope.feature"),
    ({"scope": "everything"}, "scope"),
    ({"period": "fortnight"}, "period"),
    ({"period": "custom"}, "from"),
    ({"period": "custom", "from": "2026-12-10", "to": "2026-12-01"}, "to"),
    ({"period": "custom", "from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2026-12-01"}, "from"),
    ({"ledger": "invoice"}, "ledger"),
    ({"channels": ["ch_nope"]}, "channels"),
    ({"channels": "ch_nope"}, "channels"),
    ({"channels": [f"ch_{i}" for i in range(51)]}, "channels"),
    ({"channels": ["ch_a\u0000b"]}, "channels"),  # never looked up: PostgreSQL refuses NUL in text
    ({"scope": {"user": "u1", "feature": "chat"}}, "scope.user"),  # no rollup keeps user with feature
    ({"enabled": "yes"}, "enabled"),
    ({"muted_until": "tomorrow"}, "muted_until"),
    ({"unknown": 1}, "unknown"),
]


@pytest.fixture(scope="module")
def hostile_owner():
    """One server for the hostile inputs (each test leaves no budget behind)."""
    with tempfile.TemporaryDirectory() as d:
        tally = _accounts_tally("sqlite", d, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        try:
            owner = signed_in(tally.serve())
            api_token(owner, project="web")
            yield owner
        finally:
            tally.stop_all()


@pytest.mark.parametrize("change,field", HOSTILE, ids=[f for _, f in HOSTILE])
def test_hostile_input_is_refused_naming_the_field(hostile_owner, change, field):
    owner = hostile_owner
    body = {"name": "hostile", "period": "month", "amount_usd": "10", **change}
    error = assert_error(owner.api("POST", "/api/v1/budgets", json=body), 400, "invalid_request")
    assert field in [d["field"] for d in error["details"]], error
    assert owner.api("GET", "/api/v1/budgets").json()["data"] == []
    kept = create(owner, name="kept", scope={"project": "web"}, period="month", amount_usd="10")
    try:
        error = assert_error(owner.api("PATCH", f"/api/v1/budgets/{kept['id']}", json=change), 400,
                             "invalid_request")
        assert field in [d["field"] for d in error["details"]], error
        assert get(owner, kept["id"]) == {**kept, "status": get(owner, kept["id"])["status"]}, "nothing changed"
    finally:
        assert owner.api("DELETE", f"/api/v1/budgets/{kept['id']}").status_code == 204


# ---------------------------------------------------------------------------------------------------------------
# The page, in a real browser


def test_the_budgets_page_creates_a_budget_and_draws_its_bar(driver, sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    token = api_token(owner, scopes=("ingest", "read"))
    post_events(server, token, [ev("p1", clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), 4096, feature="chat")])  # $10.241
    hostile = '<img src=x onerror=alert(1)>"budget'
    sign_in(driver, server)
    driver.get(server.url + "/budgets")
    form = driver.wait_css("form#budget-new")
    fill(form, name=hostile, amount_usd="12.00", period="day", thresholds="50, 80, 200", **{"scope.feature": "chat"})
    submit(form)
    card = driver.wait_css("section.budget", timeout=15)
    assert card.find_element(By.CSS_SELECTOR, "h2").text == hostile
    fill_rect = card.find_element(By.CSS_SELECTOR, "svg.budget-bar rect.fill")
    assert fill_rect.get_attribute("class") == "fill near"
    # $10.241 of $12 is 85.34%, on a bar scaled to the 200% threshold: 42.67 of 100.
    assert fill_rect.get_attribute("width") == "42.67", fill_rect.get_attribute("width")
    marks = card.find_elements(By.CSS_SELECTOR, "svg.budget-bar line.mark")
    assert [m.get_attribute("data-threshold") for m in marks] == ["50", "80", "200"]
    assert "1 day left" in card.text and "85.34%" in card.text, card.text
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0

    # A field error lands beside its field, and nothing is stored.
    form = driver.css("form#budget-new")
    fill(form, name="second", amount_usd="-5")
    submit(form)
    error = driver.wait_for(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "form#budget-new [data-error-for=amount_usd]")
                        if e.text.strip()), None), 15, "the amount_usd error")
    assert "greater than 0" in error.text, error.text
    assert [b["name"] for b in owner.api("GET", "/api/v1/budgets").json()["data"]] == [hostile]
    r = owner.get("/")
    assert 'id="budgets-alert"' in r.text and "&lt;img src=x" in r.text, "the overview lists it above 80%"

    # Edit: the form is prefilled; a new amount redraws the bar.
    budget_id = card.get_attribute("data-budget-id")
    edit = driver.css(f"form#budget-{budget_id}")
    assert edit.find_element(By.CSS_SELECTOR, "[name=amount_usd]").get_attribute("value") == "12"
    assert edit.find_element(By.CSS_SELECTOR, "[name='scope.feature']").get_attribute("value") == "chat"
    fill(edit, amount_usd="20.482")
    submit(edit)
    driver.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, 'section.budget .amount[data-value="20.482"]'), 15,
                    "the new amount on the page")
    assert driver.css("section.budget svg.budget-bar rect.fill").get_attribute("width") == "25.00"  # 50% of 200%
    assert get(owner, budget_id)["status"]["percent"] == "50.00"

    # Delete, after the confirmation.
    driver.execute_script("window.confirm = () => true;")
    driver.css(f"section.budget[data-budget-id='{budget_id}'] button[data-action=delete]").click()
    driver.wait_css("#no-budgets", timeout=15)
    assert owner.api("GET", "/api/v1/budgets").json()["data"] == []
    # The refused POST is logged by the browser as a failed resource; nothing else may be.
    errors = [m for m in driver.js_errors() if "favicon" not in m and "/api/v1/budgets - " not in m]
    assert errors == [], driver.js_errors()
