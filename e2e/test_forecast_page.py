"""The Forecast page (issue 18) in a real browser against a real `tally serve`: five weeks of a weekday-heavy feature
ingested through the API, then /forecast with a month budget on that feature. The page must draw the history, the
p50 line, the p10–p90 band and the budget line, say in words the day the budget is crossed (the day the API names),
show the period end's p10/p50/p90 as the API answers them and the scope's own backtest in plain words; a feature
name and a budget name made of HTML stay text.

Data is built from the test clock (e2e/clock.py), so "today" agrees with the server's."""
import datetime as dt
import urllib.parse
from decimal import Decimal

import requests
from selenium.webdriver.common.by import By

import clock
from conftest import api_token, bearer, signed_in
from test_dashboard import sign_in

HOSTILE = '<img src=x onerror=alert(1)>"search'
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def history(days=35):
    """One gpt-4o event per past day at noon UTC: 4,096k input tokens on weekdays ($10.241), 1,024k at weekends
    ($2.561)."""
    today = clock.now().date()
    events = []
    for back in range(days, 0, -1):
        day = today - dt.timedelta(days=back)
        m = 4096 if day.weekday() < 5 else 1024
        events.append({"id": f"fc-{day}", "timestamp": f"{day}T12:00:00Z", "provider": "openai", "model": "gpt-4o",
                       "input_tokens": 1000 * m, "output_tokens": 100, "feature": HOSTILE})
    return events


def in_words(day, today):
    d = dt.date.fromisoformat(day)
    return f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]}" + ("" if d.year == today.year else f" {d.year}")


def test_the_forecast_page_draws_the_band_the_budget_and_says_when_it_is_crossed(driver, sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    token = api_token(owner, scopes=("ingest", "read"))
    events = history()
    r = requests.post(server.url + "/api/v1/events", json=events, headers=bearer(token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text[:500]
    # A month budget on the feature, a little above what was spent so far in the month: crossed within it at p50
    # unless the month is nearly over, which the expected words below follow either way.
    r = owner.api("POST", "/api/v1/budgets", json={"name": HOSTILE, "amount_usd": "150.00", "period": "month",
                                                    "scope": {"feature": HOSTILE}})
    assert r.status_code == 201, r.text[:500]
    budget_id = r.json()["id"]
    r = owner.api("GET", f"/api/v1/forecast?budget={budget_id}&horizon=30")
    assert r.status_code == 200, r.text[:500]
    answer = r.json()

    sign_in(driver, server)
    driver.get(server.url + f"/forecast?budget={budget_id}")
    driver.wait_css("#outlook")
    assert driver.css('#main-nav a[aria-current="page"]').text == "Forecast"
    # The chart: history, p50 line and band per day; the period summed against the budget line.
    daily = driver.css("section[aria-labelledby=daily-heading] svg.band-chart")
    points = daily.find_element(By.CSS_SELECTOR, "polyline.history").get_attribute("points").split()
    assert len(points) == len(answer["history"][-90:]) and len(points) >= 35
    assert len(daily.find_element(By.CSS_SELECTOR, "polyline.p50").get_attribute("points").split()) == 30
    assert daily.find_element(By.CSS_SELECTOR, "polygon.band").get_attribute("points").count(",") == 60
    period = driver.css("section[aria-labelledby=period-heading] svg.band-chart")
    assert period.find_element(By.CSS_SELECTOR, "line.level title").get_attribute("textContent") == "Budget $150.00"

    # The words: risk, the crossing day (the API's), the period end's band (the API's figures), the backtest.
    today = clock.now().date()
    outlook = answer["budget"]
    assert driver.css("#budget-outlook").get_attribute("data-risk") == outlook["risk"]
    crossing = driver.css("#crossing").text
    if outlook["exceed_day_p50"] is None:
        assert crossing == "Stays under the budget."
    else:
        assert in_words(outlook["exceed_day_p50"], today) in crossing, (crossing, outlook)
        assert crossing.startswith("Crossed" if outlook["days_until_exceeded"] < 0 else "Crosses")
    end = answer["period_end"]
    for q in ("p10", "p50", "p90"):
        shown = driver.css(f"#period-end .{q}").get_attribute("data-value")
        assert Decimal(shown) == Decimal(end[q]), (q, shown, end)
    backtest = driver.css("#backtest").text
    assert backtest.startswith(f"Over the last {answer['backtest']['days']} days"), (backtest, answer["backtest"])
    assert "% of days fell inside the shaded range" in backtest

    # Hostile names stay text: the budget's name in the select and the outlook, the feature in the filter field.
    assert driver.css("#budget-outlook strong").text == HOSTILE
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    driver.get(server.url + "/forecast?" + urllib.parse.urlencode({"feature": HOSTILE, "horizon": "14"}, quote_via=urllib.parse.quote))
    driver.wait_css("#outlook")
    assert driver.css("#filter-feature").get_attribute("value") == HOSTILE
    assert len(driver.css("section[aria-labelledby=daily-heading] polyline.p50").get_attribute("points").split()) == 14
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    # A bad horizon is named beside its field.
    driver.get(server.url + "/forecast?horizon=9999")
    error = driver.wait_css("[data-error-for=horizon]")
    assert "from 1 to 366" in error.text, error.text
    assert [m for m in driver.js_errors() if "favicon" not in m and "forecast?horizon=9999" not in m] == []
