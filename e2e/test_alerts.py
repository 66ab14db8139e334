"""Alerts end to end (issue 17) against real `tally serve` processes: budget thresholds mailed through a real SMTP
server exactly once each, a dry run that changes nothing, two replicas on one PostgreSQL evaluating at the same moment,
spike and unpriced-model rules, acknowledging, another organization's alert, the rules' validation, and the Alerts page
in a real browser.

Spend is made exact with gpt-4o's catalog price ($2.50 per million input tokens): 400,000 input tokens are $1.00."""
import datetime
import tempfile
import threading
import time

import pytest

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, PG_URL, _accounts_tally, api_token, assert_error, bearer,
                      signed_in, wait_until)

UTC = datetime.timezone.utc
TOKENS_PER_DOLLAR = 400_000
QUIET = {"TALLY_ALERT_INTERVAL": "off"}  # the tests evaluate through POST /api/v1/alerts/check
ADMIN = {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD}


def ok(r, status=200):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
    return r.json() if r.content else None


def now_text(offset_seconds=0):
    t = datetime.datetime.now(UTC) + datetime.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Site:
    """A signed-in admin on one server, an ingest token, and helpers for the alert routes."""

    def __init__(self, server, browser=None):
        self.server = server
        self.browser = browser or signed_in(server)
        self.token = api_token(self.browser, project="web", scopes=("ingest", "read"), name="alerts-e2e")
        self.sent = 0

    def spend(self, dollars, when=None, model="gpt-4o", feature=None):
        """Ingests one event costing `dollars` (whole or with two decimals) of gpt-4o input."""
        self.sent += 1
        e = {"id": f"spend-{self.sent}-{time.monotonic_ns()}", "timestamp": when or now_text(),
             "provider": "openai", "model": model, "input_tokens": int(round(dollars * TOKENS_PER_DOLLAR)),
             "output_tokens": 0}
        if feature:
            e["feature"] = feature
        r = self.browser.http.post(self.server.url + "/api/v1/events", json=[e], headers=bearer(self.token),
                                   timeout=30)
        assert r.status_code == 200, r.text

    def check(self, dry_run=False, browser=None):
        b = browser or self.browser
        return ok(b.api("POST", "/api/v1/alerts/check" + ("?dry_run=true" if dry_run else "")))

    def alerts(self, query=""):
        return ok(self.browser.api("GET", "/api/v1/alerts" + query))["data"]

    def email_channel(self, to="finance@example.test", name="finance"):
        return ok(self.browser.api("POST", "/api/v1/alert-channels",
                                   json={"name": name, "type": "email", "to": [to]}), 201)["id"]

    def budget(self, amount="10.00", channels=(), thresholds=(80, 90, 100), name="Monthly"):
        return ok(self.browser.api("POST", "/api/v1/budgets", json={
            "name": name, "scope": {}, "period": "month", "amount_usd": amount, "thresholds": list(thresholds),
            "channels": list(channels)}), 201)["id"]


def budget_thresholds(fired):
    return sorted(a["figures"]["threshold"] for a in fired if a["type"] == "budget_threshold")


@pytest.fixture
def mail_site(smtp_sink):
    """A SQLite Tally that mails through the SMTP sink and evaluates only when asked."""
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("sqlite", d, dict(ADMIN, TALLY_SMTP_URL=smtp_sink.url(), **QUIET))
        yield t
        t.stop_all()


def test_each_threshold_is_mailed_once_and_a_dry_run_changes_nothing(mail_site, smtp_sink):
    site = Site(mail_site.serve())
    budget = site.budget(channels=[site.email_channel()])
    site.spend(8.50)  # 85%

    preview = site.check(dry_run=True)
    assert preview["dry_run"] is True and budget_thresholds(preview["fired"]) == [80]
    assert all(a["deliveries"] == [] for a in preview["fired"])
    assert site.alerts() == []
    time.sleep(1)
    assert smtp_sink.messages == []

    fired = site.check()
    assert fired["dry_run"] is False and budget_thresholds(fired["fired"]) == [80]
    alert = next(a for a in fired["fired"] if a["type"] == "budget_threshold")
    assert alert["budget_id"] == budget and alert["status"] == "open"
    assert alert["figures"]["spent_usd"] == "8.50" and alert["figures"]["amount_usd"] == "10.00"
    assert alert["figures"]["percent"] == "85.00"
    assert [d["status"] for d in alert["deliveries"]] in (["pending"], ["delivered"])
    smtp_sink.wait_for(1)
    assert "80%" in smtp_sink.messages[0]["message"]["Subject"] + smtp_sink.messages[0]["text"]

    site.spend(1.00)  # 95%: two evaluations, one more mail (90), never a second 80
    assert budget_thresholds(site.check()["fired"]) == [90]
    assert budget_thresholds(site.check()["fired"]) == []
    smtp_sink.wait_for(2)
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 2
    history = site.alerts("?type=budget_threshold")
    assert sorted(a["figures"]["threshold"] for a in history) == [80, 90]
    wait_until(lambda: all(d["status"] == "delivered" for a in site.alerts("?type=budget_threshold")
                           for d in a["deliveries"]), what="both deliveries delivered")


def test_crossing_two_thresholds_between_evaluations_fires_both_once(mail_site, smtp_sink):
    site = Site(mail_site.serve())
    site.budget(channels=[site.email_channel()])
    site.spend(9.50)
    assert budget_thresholds(site.check()["fired"]) == [80, 90]
    assert budget_thresholds(site.check()["fired"]) == []
    smtp_sink.wait_for(2)
    time.sleep(1.5)
    assert len(smtp_sink.messages) == 2
    texts = sorted(m["message"]["Subject"] + m["text"] for m in smtp_sink.messages)
    assert any("80%" in t for t in texts) and any("90%" in t for t in texts)


def test_the_background_evaluation_mails_without_being_asked(smtp_sink):
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("sqlite", d, dict(ADMIN, TALLY_SMTP_URL=smtp_sink.url(), TALLY_ALERT_INTERVAL="1s"))
        try:
            site = Site(t.serve())
            site.budget(channels=[site.email_channel()], thresholds=[50])
            site.spend(6.00)
            smtp_sink.wait_for(1, timeout=30)
            assert [a["figures"]["threshold"] for a in site.alerts("?type=budget_threshold")] == [50]
        finally:
            t.stop_all()


@pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")
def test_two_replicas_checking_at_once_record_one_alert_per_threshold(smtp_sink):
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("postgres", d, dict(ADMIN, TALLY_SMTP_URL=smtp_sink.url(), **QUIET))
        try:
            a, b = t.serve(), t.serve()
            site = Site(a)
            site.budget(channels=[site.email_channel()])
            site.spend(10.00)  # 100%: 80, 90 and 100 all due
            browsers = [site.browser, site.browser.at(b)]
            barrier = threading.Barrier(8)
            fired, errors = [], []

            def check(n):
                try:
                    barrier.wait(timeout=30)
                    fired.extend(site.check(browser=browsers[n % 2])["fired"])
                except Exception as e:  # noqa: BLE001 (reported below)
                    errors.append(e)

            threads = [threading.Thread(target=check, args=(n,)) for n in range(8)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            assert errors == []
            assert budget_thresholds(fired) == [80, 90, 100]
            assert sorted(x["figures"]["threshold"] for x in site.alerts("?type=budget_threshold")) == [80, 90, 100]
            smtp_sink.wait_for(3)
            time.sleep(2)
            assert len(smtp_sink.messages) == 3
        finally:
            t.stop_all()


def test_spike_and_unpriced_model_fire_once(sqlite_alerts_site):
    site = Site(sqlite_alerts_site.serve())
    for days_ago in range(1, 8):
        site.spend(1.00, when=now_text(-86_400 * days_ago), feature="search")
    site.spend(5.00, feature="search")
    site.spend(0, model="tally-e2e-unpriced-model")
    fired = site.check()["fired"]
    kinds = sorted((a["type"], tuple(sorted(a["scope"]))) for a in fired)
    assert kinds == [("spike", ()), ("spike", ("feature",)), ("spike", ("project",)),
                     ("unpriced_model", ("model", "provider"))], kinds
    spike = next(a for a in fired if a["type"] == "spike" and a["scope"] == {"project": ["web"]})
    assert spike["figures"]["spent_usd"] == "5.00" and spike["figures"]["amount_usd"] == "1.00"
    unpriced = next(a for a in fired if a["type"] == "unpriced_model")
    assert unpriced["scope"] == {"provider": ["openai"], "model": ["tally-e2e-unpriced-model"]}
    assert site.check()["fired"] == []
    assert len(site.alerts()) == 4


@pytest.fixture
def sqlite_alerts_site():
    with tempfile.TemporaryDirectory() as d:
        t = _accounts_tally("sqlite", d, dict(ADMIN, **QUIET))
        yield t
        t.stop_all()


def test_acknowledge_and_another_organizations_alert_is_not_found(sqlite_alerts_site):
    site = Site(sqlite_alerts_site.serve())
    site.budget(thresholds=[10])
    site.spend(2.00)
    alert = next(a for a in site.check()["fired"] if a["type"] == "budget_threshold")
    acknowledged = ok(site.browser.api("POST", f"/api/v1/alerts/{alert['id']}/acknowledge"))
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == f"user:{ADMIN_EMAIL}"
    assert acknowledged["acknowledged_at"]
    # Again: unchanged.
    assert ok(site.browser.api("POST", f"/api/v1/alerts/{alert['id']}/acknowledge"))["acknowledged_at"] == \
        acknowledged["acknowledged_at"]
    assert [a["id"] for a in site.alerts("?status=acknowledged")] == [alert["id"]]
    assert site.alerts("?status=open&type=budget_threshold") == []
    audit = ok(site.browser.api("GET", "/api/v1/audit"))["data"]
    assert any(r["action"] == "alert.acknowledge" for r in audit)
    # Without the CSRF token a session's POST is refused.
    assert site.browser.api("POST", f"/api/v1/alerts/{alert['id']}/acknowledge", csrf=False).status_code == 403

    ok(site.browser.api("POST", "/api/v1/organizations", json={"name": "Elsewhere"}), 201)
    site.browser.me()
    assert_error(site.browser.api("POST", f"/api/v1/alerts/{alert['id']}/acknowledge"), 404, "not_found")
    assert ok(site.browser.api("GET", "/api/v1/alerts"))["data"] == []
    # A project's own token does not read the organization's alerts.
    r = site.browser.http.get(site.server.url + "/api/v1/alerts", headers=bearer(site.token), timeout=10)
    assert_error(r, 403)


def test_alert_rules_are_validated_by_field(sqlite_alerts_site):
    site = Site(sqlite_alerts_site.serve())
    rules = ok(site.browser.api("GET", "/api/v1/alert-rules"))
    assert rules == {"spike": {"enabled": True, "threshold_percent": 100, "floor_usd": "1.00"},
                     "provider_connection": {"enabled": True}, "unpriced_model": {"enabled": True},
                     "forecast_overrun": {"enabled": True}, "anomaly": {"enabled": True},
                     "channels": [], "muted_until": {}}
    for body, field in [
        ({"spike": {"threshold_percent": 10 ** 30}}, "spike.threshold_percent"),
        ({"spike": {"threshold_percent": -5}}, "spike.threshold_percent"),
        ({"spike": {"floor_usd": "1e400"}}, "spike.floor_usd"),
        ({"spike": {"floor_usd": "12\u0000"}}, "spike.floor_usd"),
        ({"channels": ["ch_does_not_exist"]}, "channels"),
        ({"channels": ["<img src=x onerror=alert(1)>"]}, "channels"),
        ({"muted_until": {"budget": "2027-01-01"}}, "muted_until.budget"),
        ({"muted_until": {"spike": "tomorrow"}}, "muted_until.spike"),
    ]:
        error = assert_error(site.browser.api("PUT", "/api/v1/alert-rules", json=body), 400)
        assert field in [d.get("field") for d in error["details"]], (body, error)
    saved = ok(site.browser.api("PUT", "/api/v1/alert-rules", json={
        "spike": {"threshold_percent": 300, "floor_usd": "2.50"}, "muted_until": {"unpriced_model": "2030-01-01"}}))
    assert saved["spike"] == {"enabled": True, "threshold_percent": 300, "floor_usd": "2.50"}
    assert saved["muted_until"] == {"unpriced_model": "2030-01-01T00:00:00Z"}
    assert ok(site.browser.api("GET", "/api/v1/alert-rules")) == saved
    # A muted rule fires nothing.
    site.spend(0, model="tally-e2e-unpriced-model")
    assert [a for a in site.check()["fired"] if a["type"] == "unpriced_model"] == []


def test_the_alerts_page_shows_an_alert_and_acknowledges_it(sqlite_alerts_site, driver):
    from selenium.webdriver.common.by import By
    server = sqlite_alerts_site.serve()
    site = Site(server)
    site.budget(name="Search <b>budget</b>", thresholds=[50])
    site.spend(6.00)
    alert = next(a for a in site.check()["fired"] if a["type"] == "budget_threshold")

    driver.get(server.url + "/login")
    form = driver.wait_css("input[name=password]").find_element(By.XPATH, "./ancestor::form")
    form.find_element(By.CSS_SELECTOR, "[name=email]").send_keys(ADMIN_EMAIL)
    form.find_element(By.CSS_SELECTOR, "[name=password]").send_keys(ADMIN_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    driver.wait_path("/")
    driver.get(server.url + "/alerts")
    card = driver.wait_css(f"[data-alert-id='{alert['id']}']")
    assert "Search <b>budget</b>" in card.text  # shown as text, never as markup
    assert "Budget threshold" in card.text and "50%" in card.text
    assert card.get_attribute("data-alert-status") == "open"
    card.find_element(By.CSS_SELECTOR, "button[data-action='acknowledge']").click()
    driver.wait_for(lambda d: d.find_element(By.CSS_SELECTOR, f"[data-alert-id='{alert['id']}']")
                    .get_attribute("data-alert-status") == "acknowledged", message="the alert acknowledged")
    assert site.alerts("?status=acknowledged")[0]["id"] == alert["id"]
    # The filters narrow the list.
    driver.get(server.url + "/alerts?status=open&type=budget_threshold")
    driver.wait_css("#no-alerts")
