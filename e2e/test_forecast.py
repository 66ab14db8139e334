"""Forecasts and anomalies end to end (issue 18) against real `tally serve` processes on SQLite and PostgreSQL:
the forecast's JSON shape, a budget at high risk, `forecast_overrun` and `anomaly` alerts mailed through a real SMTP
server once each and not twice, an injected anomaly found with its contributor, another organization's budget, and
hostile input refused with 400 naming the field.

History is ingested with past timestamps: $2.00 a day of gpt-4o input (catalog price $2.50 per million input
tokens: 800,000 tokens) on each of the 40 days before yesterday, and yesterday $2.00 plus $30.00 from feature
'burst'."""
import datetime
import tempfile
import time
import zoneinfo

import pytest
import requests

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, api_token, assert_error, bearer, signed_in)

TOKENS_PER_DOLLAR = 400_000
ENV = {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD, "TALLY_ALERT_INTERVAL": "off"}
FORECAST_KEYS = {"method", "history", "forecast", "period_end", "budget", "backtest"}


def ok(r, status=200):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
    return r.json() if r.content else None


@pytest.fixture(params=["sqlite", "postgres"])
def forecast_site(request, smtp_sink):
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally(request.param, d, dict(ENV, TALLY_SMTP_URL=smtp_sink.url()))
        yield t
        t.stop_all()


class History:
    """A signed-in admin, an ingest token of project web, and the organization's local days."""

    def __init__(self, server):
        self.server = server
        self.browser = signed_in(server)
        self.token = api_token(self.browser, project="web", scopes=("ingest", "read"), name="forecast-e2e")
        zone = ok(self.browser.api("GET", "/api/v1/me"))["organization"]["time_zone"]
        self.zone = zoneinfo.ZoneInfo(zone)
        self.today = datetime.datetime.now(self.zone).date()
        self.yesterday = self.today - datetime.timedelta(days=1)

    def noon(self, day):
        return datetime.datetime(day.year, day.month, day.day, 12, tzinfo=self.zone).astimezone(
            datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ingest(self, events):
        r = self.browser.http.post(self.server.url + "/api/v1/events", json=events, headers=bearer(self.token),
                                   timeout=60)
        assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text

    def seed(self):
        events = []
        for back in range(1, 42):
            day = self.today - datetime.timedelta(days=back)
            events.append({"id": f"day-{day}", "timestamp": self.noon(day), "provider": "openai", "model": "gpt-4o",
                           "feature": "search", "input_tokens": 2 * TOKENS_PER_DOLLAR, "output_tokens": 0})
        events.append({"id": "burst", "timestamp": self.noon(self.yesterday), "provider": "openai",
                       "model": "gpt-4o", "feature": "burst", "input_tokens": 30 * TOKENS_PER_DOLLAR,
                       "output_tokens": 0})
        self.ingest(events)

    def api(self, method, path, **kw):
        return self.browser.api(method, path, **kw)


def test_forecast_shape_risk_alerts_once_and_anomalies(forecast_site, smtp_sink):
    site = History(forecast_site.serve())
    site.seed()
    channel = ok(site.api("POST", "/api/v1/alert-channels",
                          json={"name": "finance", "type": "email", "to": ["finance@example.test"]}), 201)["id"]
    ok(site.api("PUT", "/api/v1/alert-rules", json={"channels": [channel], "spike": {"enabled": False}}))
    # $20 a month: whatever day of the month it is, the month ends far over it; thresholds never reach 1000%.
    budget = ok(site.api("POST", "/api/v1/budgets", json={
        "name": "Search", "scope": {"project": "web"}, "period": "month", "amount_usd": "20.00",
        "thresholds": [1000], "channels": [channel]}), 201)

    # The forecast of the organization: exactly the contract's members (plus spent_today_usd).
    plain = ok(site.api("GET", "/api/v1/forecast?horizon=10"))
    assert FORECAST_KEYS <= set(plain) and set(plain) - FORECAST_KEYS == {"spent_today_usd"}, sorted(plain)
    assert plain["budget"] is None
    assert plain["history"][-1] == {"day": str(site.yesterday), "cost_usd": "32.00"}
    assert plain["history"][-2]["cost_usd"] == "2.00" and len(plain["history"]) == 182
    assert len(plain["forecast"]) == 10 and plain["forecast"][0]["day"] == str(site.today)
    assert set(plain["forecast"][0]) == {"day", "p1", "p10", "p50", "p90", "p99"}
    assert {"day", "p10", "p50", "p90"} <= set(plain["period_end"])
    assert set(plain["backtest"]) == {"mase", "mape", "coverage_p10_p90", "days"}
    month_end = (site.today.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1)
    assert plain["period_end"]["day"] == str(month_end)
    for q in ("p1", "p10", "p50", "p90", "p99"):
        assert "." in plain["forecast"][0][q] and "e" not in plain["forecast"][0][q].lower()

    # The budget's forecast: its period, high risk, a crossing day.
    with_budget = ok(site.api("GET", f"/api/v1/forecast?budget={budget['id']}"))
    outlook = with_budget["budget"]
    assert set(outlook) >= {"id", "amount_usd", "risk", "exceed_day_p50", "days_until_exceeded"}
    assert outlook["id"] == budget["id"] and outlook["amount_usd"] == "20.00" and outlook["risk"] == "high"
    assert outlook["exceed_day_p50"] is not None
    crossed = datetime.date.fromisoformat(outlook["exceed_day_p50"])
    assert outlook["days_until_exceeded"] == (crossed - site.today).days

    # The anomaly: yesterday, with feature 'burst' as its top contributor (+$30.00 on a usual $0).
    found = ok(site.api("GET", f"/api/v1/anomalies?from={site.today - datetime.timedelta(days=20)}"
                               f"&to={site.today + datetime.timedelta(days=1)}"))
    assert {a["day"] for a in found["anomalies"]} == {str(site.yesterday)}, found
    whole = next(a for a in found["anomalies"] if a["dimension"] is None)
    assert whole["cost_usd"] == "32.00" and set(whole["expected"]) == {"p1", "p10", "p50", "p90", "p99"}
    # The same $30 shows in each dimension: feature 'burst' (from a usual $0) and model gpt-4o ($2 → $32).
    assert {"dimension": "feature", "value": "burst", "cost_usd": "30.00", "baseline_usd": "0.00",
            "delta_usd": "30.00"} in whole["contributors"]
    assert {"dimension": "model", "value": "gpt-4o", "cost_usd": "32.00", "baseline_usd": "2.00",
            "delta_usd": "30.00"} in whole["contributors"]
    project = next(a for a in found["anomalies"] if a["dimension"] == "project")
    assert project["value"] == "web"  # projects by name, as the summary speaks them
    # The overview's and the explorer's daily charts mark the day, naming its cost.
    for page in ("/", "/usage?grain=day"):
        html = site.browser.get(page).text
        assert html.count('class="anomaly"') == 1, page
        assert "Unusual day: " in html and " cost $32.00, expected $" in html, page
    # Within a filter that leaves the burst out, there is none.
    quiet = ok(site.api("GET", f"/api/v1/anomalies?from={site.today - datetime.timedelta(days=20)}&feature=search"))
    assert [a for a in quiet["anomalies"] if a["dimension"] is None] == []

    # The alerts: forecast_overrun to the budget's channel, anomaly to the rules' channels, each once.
    fired = ok(site.api("POST", "/api/v1/alerts/check"))["fired"]
    overrun = [a for a in fired if a["type"] == "forecast_overrun"]
    assert len(overrun) == 1 and overrun[0]["budget_id"] == budget["id"]
    assert overrun[0]["figures"]["summary"].startswith("Budget 'Search' is forecast to end the month at $")
    assert "over its $20.00; cross" in overrun[0]["figures"]["summary"]
    anomalies = {a["dedupe_key"]: a for a in fired if a["type"] == "anomaly"}
    organization = anomalies[f"anomaly:organization::{site.yesterday}"]
    assert "; most from " in organization["figures"]["summary"] and "+$30.00" in organization["figures"]["summary"]
    mails = smtp_sink.wait_for(1 + len(anomalies))
    assert len([m for m in mails if "is forecast to end the month" in m["text"]]) == 1
    assert len([m for m in mails if "Spend of the organization on" in m["text"]]) == 1
    assert ok(site.api("POST", "/api/v1/alerts/check"))["fired"] == []
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 1 + len(anomalies)


def test_another_organizations_budget_and_hostile_input(forecast_site):
    site = History(forecast_site.serve())
    home = ok(site.api("GET", "/api/v1/me"))["organization"]["id"]
    other = ok(site.api("POST", "/api/v1/organizations", json={"name": "Elsewhere"}), 201)
    theirs = ok(site.api("POST", "/api/v1/budgets", json={
        "name": "Theirs", "scope": {}, "period": "month", "amount_usd": "5.00"}), 201)["id"]
    assert other["id"] != home
    ok(site.api("POST", f"/api/v1/organizations/{home}/switch"), 204)
    site.browser.me()
    assert_error(site.api("GET", f"/api/v1/forecast?budget={theirs}"), 404, "not_found")
    assert_error(site.api("GET", "/api/v1/forecast?budget=bud_nope"), 404, "not_found")

    for query, field in [
        ("horizon=0", "horizon"), ("horizon=367", "horizon"), ("horizon=abc", "horizon"),
        ("horizon=99999999999999999999999", "horizon"), ("ledger=guess", "ledger"), ("budget=bud%00x", "budget"),
        ("feature=a%00b", "feature"), ("model=%01", "model"), ("bogus=1", "bogus"),
        ("ledger=provider&feature=x", "feature"),
    ]:
        error = assert_error(site.api("GET", "/api/v1/forecast?" + query), 400, "invalid_request")
        assert error["details"][0]["field"] == field, (query, error)
    for query, field in [
        ("from=yesterday", "from"), ("to=2026-13-45", "to"), ("from=2026-01-01&to=2026-12-01", "from"),
        ("from=2026-12-01&to=2026-11-01", "from"), ("feature=%00", "feature"), ("horizon=3", "horizon"),
    ]:
        error = assert_error(site.api("GET", "/api/v1/anomalies?" + query), 400, "invalid_request")
        assert error["details"][0]["field"] == field, (query, error)


def test_a_project_token_reads_within_its_project(forecast_site):
    site = History(forecast_site.serve())
    site.seed()
    reader = api_token(site.browser, project="web", scopes=("read",), name="reader")
    r = site.browser.http.get(site.server.url + "/api/v1/forecast", headers=bearer(reader), timeout=30)
    assert r.status_code == 200 and r.json()["history"][-1]["cost_usd"] == "32.00", r.text
    r = site.browser.http.get(site.server.url + "/api/v1/forecast?ledger=provider", headers=bearer(reader), timeout=30)
    assert_error(r, 403, "forbidden")
    r = site.browser.http.get(site.server.url + "/api/v1/anomalies", headers=bearer(reader), timeout=30)
    assert r.status_code == 200, r.text
    assert_error(requests.get(site.server.url + "/api/v1/forecast", timeout=30), 401)
