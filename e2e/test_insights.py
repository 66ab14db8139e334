"""Insights (issue 18, items 4 and 5) end to end against real `tally serve` processes on SQLite and PostgreSQL: usage
sent through the ingest API with past timestamps (the servers' clock set by TALLY_CLOCK_OFFSET_SECONDS), insights
computed by `POST /api/v1/insights/check`, their figures checked by hand, dismissing, the settings' refusals, roles,
the /insights page with a hostile feature name, and the weekly digest received by a real SMTP server (aiosmtpd).

Money is OpenAI's list price for gpt-4o ($2.50 per million input tokens, $10.00 per million output): a batch of 1,000
short requests of 300 input and 50 output tokens each costs $0.75 + $0.50 = $1.25; a failed call of 400,000 input
tokens costs $1.00."""
import datetime as dt
import time
from decimal import Decimal

import requests

from conftest import api_token, assert_error, bearer, signed_in
from test_accounts import member_with_role

HOSTILE = "<script>alert(1)</script>"
INSIGHT_FIELDS = {"id", "kind", "title", "detail", "evidence", "explorer_url", "status", "first_seen", "last_seen"}


def serve_at(site, when, **env):
    target = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    return site.serve(TALLY_CLOCK_OFFSET_SECONDS=str(round(target - time.time())), **env)


def seed(server, token):
    """20 days of short gpt-4o requests from the hostile feature ($1.25 a day), 10 days of failed calls ($1 each)."""
    events = []
    for day in range(1, 21):
        events.append({"id": f"short-{day}", "timestamp": f"2026-11-{day:02d}T10:00:00Z", "provider": "openai",
                       "model": "gpt-4o", "requests": 1000, "input_tokens": 300_000, "output_tokens": 50_000,
                       "feature": HOSTILE})
    for day in range(10, 20):
        events.append({"id": f"failed-{day}", "timestamp": f"2026-11-{day:02d}T11:00:00Z", "provider": "openai",
                       "model": "gpt-4o", "input_tokens": 400_000, "output_tokens": 0, "status": "error",
                       "feature": "agent"})
    r = requests.post(server.url + "/api/v1/events", json=events, headers=bearer(token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), f"{r.status_code} {r.text[:500]}"


def by_kind(items):
    return {i["kind"]: i for i in items}


def test_insights_from_ingested_usage(site):
    server = serve_at(site, "2026-11-25T12:00:00Z", TALLY_INSIGHT_INTERVAL="off")
    owner = signed_in(server)
    seed(server, api_token(owner, project="web"))
    assert owner.api("GET", "/api/v1/insights").json() == {"data": []}
    r = owner.api("PUT", "/api/v1/insight-settings", json={"floor_usd": "1"})
    assert r.status_code == 200 and r.json()["floor_usd"] == "1.00", r.text

    r = owner.api("POST", "/api/v1/insights/check")
    assert r.status_code == 200, r.text
    first = r.json()["data"]
    found = by_kind(first)
    assert {"concentration", "expensive_model_for_simple_tasks", "error_spend"} <= set(found), list(found)
    for insight in found.values():
        assert INSIGHT_FIELDS <= set(insight) and insight["status"] == "new", insight
        assert insight["explorer_url"].startswith("/usage?"), insight

    # 10 failed calls of $1 of $35 in all (20 × $1.25 + 10 × $1).
    errors = found["error_spend"]
    assert errors["estimated_monthly_savings_usd"] == "10.00"
    assert errors["evidence"] == {"failed_requests": 10, "error_cost_usd": "10.00", "total_cost_usd": "35.00",
                                  "share_percent": "28.6"}, errors
    assert errors["title"] == "$10.00 of the last 30 days' cost went to failed requests (28.6% of $35.00)"

    concentration = found["concentration"]
    assert concentration["evidence"]["value"] == "openai" and concentration["evidence"]["share_percent"] == "100.0"

    # 20,000 short requests on gpt-4o: $25.00; the saving is that minus the cheaper model's price of the same tokens.
    expensive = found["expensive_model_for_simple_tasks"]
    ev = expensive["evidence"]
    assert ev["value"] == HOSTILE and ev["model"] == "gpt-4o" and ev["requests"] == 20_000
    assert ev["average_input_tokens"] == 300 and ev["average_output_tokens"] == 50
    assert ev["cost_usd"] == "25.00"
    cheaper = Decimal(ev["cheaper_cost_usd"])
    assert cheaper * 3 <= Decimal("25") and cheaper > 0
    assert Decimal(expensive["estimated_monthly_savings_usd"]) == Decimal("25") - cheaper
    assert "feature=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in expensive["explorer_url"], expensive["explorer_url"]

    # The same data: the same insights, the same ids.
    again = owner.api("POST", "/api/v1/insights/check").json()["data"]
    assert sorted(i["id"] for i in again) == sorted(i["id"] for i in first)

    # Dismiss: stays dismissed when computed again; junk and unknown ids are 404.
    r = owner.api("POST", f"/api/v1/insights/{errors['id']}/dismiss")
    assert r.status_code == 200 and r.json()["status"] == "dismissed", r.text
    owner.api("POST", "/api/v1/insights/check")
    dismissed = owner.api("GET", "/api/v1/insights?status=dismissed").json()["data"]
    assert [i["id"] for i in dismissed] == [errors["id"]]
    assert errors["id"] not in [i["id"] for i in owner.api("GET", "/api/v1/insights?status=new").json()["data"]]
    for junk in ["in_000000000000000000000000", "in_%00", "nope"]:
        assert_error(owner.api("POST", f"/api/v1/insights/{junk}/dismiss"), 404)
    assert_error(owner.api("GET", "/api/v1/insights?status=open"), 400)

    # Settings: each wrong value is a 400 naming its field, and changes nothing.
    before = owner.api("GET", "/api/v1/insight-settings").json()
    for body, field in [({"growth_percent": 0}, "growth_percent"), ({"floor_usd": "abc"}, "floor_usd"),
                        ({"batch_features": ["a\u0000b"]}, "batch_features"),
                        ({"concentration_percent": 10 ** 30}, "concentration_percent"), ({"x": 1}, "x")]:
        error = assert_error(owner.api("PUT", "/api/v1/insight-settings", json=body), 400)
        assert error["details"][0]["field"] == field, (body, error)
    assert owner.api("GET", "/api/v1/insight-settings").json() == before

    # A viewer reads, but neither dismisses nor changes the settings nor computes.
    viewer = member_with_role(owner, "viewer")
    assert viewer.api("GET", "/api/v1/insights").status_code == 200
    assert viewer.api("POST", f"/api/v1/insights/{concentration['id']}/dismiss").status_code == 403
    assert viewer.api("PUT", "/api/v1/insight-settings", json={"growth_percent": 60}).status_code == 403
    assert viewer.api("POST", "/api/v1/insights/check").status_code == 403

    # The page: the cards, the hostile name escaped, the link to the explorer.
    page = owner.get("/insights?status=all")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert f'data-insight-id="{concentration["id"]}"' in page.text
    assert 'class="insight-explorer" href="/usage?' in page.text
    assert f'data-api="POST /api/v1/insights/{concentration["id"]}/dismiss"' in page.text


def test_weekly_digest_is_mailed_once_per_channel_and_week(site, smtp_sink):
    # Monday 09:00 UTC: the digest of the week of 2026-11-23 is due (the organization's zone is UTC).
    server = serve_at(site, "2026-11-23T09:00:00Z", TALLY_INSIGHT_INTERVAL="1s",
                      TALLY_SMTP_URL=smtp_sink.url("digest@example.test"), TALLY_PUBLIC_URL="https://tally.example.test")
    owner = signed_in(server)
    seed(server, api_token(owner, project="web"))
    owner.api("PUT", "/api/v1/insight-settings", json={"floor_usd": "1"})
    assert owner.api("POST", "/api/v1/insights/check").status_code == 200
    r = owner.api("POST", "/api/v1/alert-channels",
                  json={"name": "Finance", "type": "email", "to": ["fin@example.test"], "weekly_digest": True})
    assert r.status_code == 201 and r.json()["weekly_digest"] is True, r.text
    error = assert_error(owner.api("POST", "/api/v1/alert-channels",
                                   json={"type": "webhook", "url": "https://example.test/h", "weekly_digest": True}), 400)
    assert error["details"][0]["field"] == "weekly_digest"

    [mail] = smtp_sink.wait_for(1)
    message = mail["message"]
    assert mail["rcpt_tos"] == ["fin@example.test"]
    assert message["Subject"] == "[Tally] Weekly digest, week of 2026-11-23"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Month-end forecast" in text and "This month is forecast to end at $" in text
    assert "went to failed requests" in text and "https://tally.example.test/usage?" in text
    assert HOSTILE in text, "the plain text carries the name as it is"
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    time.sleep(4)
    assert len(smtp_sink.messages) == 1, "one digest per channel and week"


def test_the_insights_page_dismisses_and_saves_thresholds(driver, sqlite_site):
    from selenium.webdriver.common.by import By
    from test_dashboard import fill, sign_in, submit

    server = serve_at(sqlite_site, "2026-11-25T12:00:00Z", TALLY_INSIGHT_INTERVAL="off")
    owner = signed_in(server)
    seed(server, api_token(owner, project="web"))
    owner.api("PUT", "/api/v1/insight-settings", json={"floor_usd": "1"})
    found = by_kind(owner.api("POST", "/api/v1/insights/check").json()["data"])
    expensive = found["expensive_model_for_simple_tasks"]

    sign_in(driver, server)
    driver.get(server.url + "/insights")
    card = driver.wait_css(f"section.insight[data-insight-id='{expensive['id']}']")
    assert card.find_element(By.CSS_SELECTOR, "h2").text == expensive["title"]
    assert HOSTILE in expensive["title"]
    link = card.find_element(By.CSS_SELECTOR, "a.insight-explorer").get_attribute("href")
    assert link == server.url + expensive["explorer_url"], link

    card.find_element(By.CSS_SELECTOR, "button[data-action=dismiss]").click()
    driver.wait_for(
        lambda d: not d.find_elements(By.CSS_SELECTOR, f"section.insight[data-insight-id='{expensive['id']}']"), 15,
        "the dismissed card gone from the new ones")
    dismissed = owner.api("GET", "/api/v1/insights?status=dismissed").json()["data"]
    assert [i["id"] for i in dismissed] == [expensive["id"]]

    form = driver.css("form#insight-settings")
    fill(form, growth_percent="0")
    submit(form)
    error = driver.wait_for(
        lambda d: next((e for e in d.find_elements(
            By.CSS_SELECTOR, "form#insight-settings [data-error-for=growth_percent]") if e.text.strip()), None),
        15, "the growth_percent error")
    assert "from 1 to 100000" in error.text, error.text
    form = driver.css("form#insight-settings")
    fill(form, growth_percent="75")
    submit(form)
    driver.wait_for(lambda d: owner.api("GET", "/api/v1/insight-settings").json()["growth_percent"] == 75, 15,
                    "the threshold saved")
    errors = [m for m in driver.js_errors() if "favicon" not in m and "/api/v1/insight-settings - " not in m]
    assert errors == [], driver.js_errors()
