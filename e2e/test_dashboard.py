"""The web dashboard in a real browser (headless chromium), held to e2e/DASHBOARD.md: first-run setup and
sign-in, the getting-started snippet, the overview cards against the JSON API, the usage explorer and its exports,
the events list (live updates) and an event's cost breakdown, provider connections and tokens in the settings,
the theme, narrow screens, accessibility and colour contrast, and the README's screenshots.

Two servers for the whole module: `fresh_server` (no account yet; first run, then an empty organization) and
`site` (the unattended owner, with `data`'s events posted through the API)."""
import csv
import datetime
import decimal
import io
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

import clock
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, AccountsTally, Browser, api_token, bearer, signed_in
from standins.provider_models import REJECTION
from webdriver import png_size

ROOT = Path(__file__).resolve().parents[1]
# The README's screenshots are refreshed only on purpose (TALLY_REFRESH_SCREENSHOTS=1); an ordinary run writes its
# screenshots to an ignored build folder, so running the tests leaves the tracked files alone.
SCREENSHOTS = ROOT / "docs" / "screenshots" if os.environ.get("TALLY_REFRESH_SCREENSHOTS") == "1" \
    else ROOT / ".build-e2e" / "screenshots"
UTC = datetime.timezone.utc

SETUP = {"organization": "Acme Research", "name": "Olive Owner", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
UNPRICED_MODEL = "tally-e2e-unpriced-model"
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5"),
          ("google", "gemini-2.5-flash"), ("openai", UNPRICED_MODEL)]
PATTERN = [0, 2, 0, 1, 2, 0, 3, 2, 0, 1, 4]  # 12 gpt-4o-mini, 9 claude, 6 gpt-4o, 3 gemini, 3 unpriced (of 33)
FEATURES = ["chat", "search", "summarize"]
PROJECTS = ["web", "batch"]
CSV_METRICS = ["requests", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "errors",
               "cost_usd", "unpriced_requests"]
THEME_VARS = ["--bg", "--surface", "--ink", "--muted", "--accent", "--accent-ink", "--bad"]
CONTRAST_PAIRS = [("--ink", "--bg"), ("--ink", "--surface"), ("--muted", "--bg"), ("--muted", "--surface"),
                  ("--accent", "--bg"), ("--accent", "--surface"), ("--accent-ink", "--accent"), ("--bad", "--surface")]
SETTINGS = ["/settings/providers", "/settings/projects", "/settings/tokens", "/settings/members", "/settings/prices",
            "/settings/organization", "/settings/alert-channels"]


# -- servers and data ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fresh_server():
    """A Tally with no account yet; test_first_run_setup_* sets it up in the browser."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {})
        yield t.serve()
        t.stop_all()


def ensure_set_up(server):
    """First-run setup over plain HTTP, unless it has been done (by the browser test, when it ran first)."""
    b = Browser(server)
    if b.get("/setup").status_code == 200:
        r = b.fill("/setup", **SETUP)
        assert r.status_code == 303, f"setup over HTTP: {r.status_code} {r.text[:300]}"


@pytest.fixture(scope="module")
def site():
    """A Tally whose owner is ADMIN_EMAIL (from the environment)."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t.serve()
        t.stop_all()


class Data:
    """The events posted to `site`, and the JSON API read with an admin token."""

    def __init__(self, server, token, events):
        self.server = server
        self.token = token
        self.events = events

    def get(self, path, **params):
        r = requests.get(self.server.url + path, params=params, headers=bearer(self.token), timeout=30)
        assert r.status_code == 200, f"GET {path} {params}: {r.status_code} {r.text[:300]}"
        return r.json()

    def summary(self, frm, to, group_by=None, **filters):
        params = {"from": frm, "to": to, **filters}
        if group_by:
            params["group_by"] = group_by
        return self.get("/api/v1/usage/summary", **params)

    def post(self, events):
        r = requests.post(self.server.url + "/api/v1/events", json=events, headers=bearer(self.token), timeout=30)
        assert r.status_code == 200, f"POST /api/v1/events: {r.status_code} {r.text[:500]}"
        assert r.json() == {"accepted": len(events), "duplicates": 0}, r.text
        self.events.extend(events)


def rfc3339(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_events(now, run):
    """33 events: 12 in the last 80 minutes (this billing cycle, today), the rest 2 to 42 days back."""
    events = []
    # Today's events stay after today's UTC midnight at any hour: in the first 80 minutes of a day they are squeezed
    # between midnight and now (the tests compare "today" and "this cycle" with the API).
    since_midnight = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(33):
        provider, model = MODELS[PATTERN[i % len(PATTERN)]]
        if i < 12:
            t = now - min(datetime.timedelta(minutes=3 + 7 * i), since_midnight * (3 + 7 * i) / 81)
        else:
            t = now - datetime.timedelta(days=2 * (i - 11), minutes=11 * i)
        e = {"id": f"dash-{run}-{i:02d}", "timestamp": rfc3339(t), "provider": provider, "model": model,
             "project": PROJECTS[i % 2], "feature": FEATURES[i % 3], "user": f"u-{i % 4}", "environment": "prod",
             "input_tokens": 1000 + 137 * i, "output_tokens": 200 + 31 * i, "latency_ms": 150 + 13 * i}
        if provider == "anthropic":
            e.update(cached_input_tokens=300 + i, cache_write_input_tokens=100)
        elif model == "gpt-4o":
            e["cached_input_tokens"] = 128
        if i % 7 == 3:
            e.update(status="error", http_status=500)
        events.append(e)
    return events


@pytest.fixture(scope="module")
def data(site):
    owner = signed_in(site)
    token = api_token(owner, project="web", scopes=("admin",), name="dashboard tests")
    r = owner.api("POST", "/api/v1/projects", json={"name": "batch"})
    assert r.status_code in (201, 409), r.text
    d = Data(site, token, [])
    # This module reads "today" and "this cycle" back for a few minutes: events posted just before a UTC midnight were
    # yesterday's for the tests after it (scripts/test-at-clock 2026-12-31T23:59:00Z). Post them on the next day then,
    # and not in its first 15 s: today's 12 events, squeezed after midnight at whole seconds, shared timestamps there
    # (so "newest first" had no single answer).
    clock.clear_of_midnight(180, settle_seconds=15)  # at most 195 s, inside the first test's 300 s timeout
    now = clock.now().replace(microsecond=0)
    d.post(build_events(now, uuid.uuid4().hex[:6]))
    today = now.date()
    totals = d.summary(today.isoformat(), (today + datetime.timedelta(days=1)).isoformat())["totals"]
    assert totals["unpriced_requests"] > 0 and totals["errors"] > 0 and totals["cost_usd"], \
        f"the test data should have unpriced, failed and priced requests today: {totals}"
    return d


def today_utc():
    return clock.today()


def custom_range(days_back=45):
    """A usage explorer range (inclusive dates) holding every posted event, and the same range for the API."""
    today = today_utc()
    page = {"preset": "custom", "from": (today - datetime.timedelta(days=days_back)).isoformat(),
            "to": today.isoformat()}
    api = (page["from"], (today + datetime.timedelta(days=1)).isoformat())
    return page, api


# -- browser helpers -----------------------------------------------------------------------------------------------

def query(url):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)


USAGE_DEFAULTS = {"group_by": "model", "grain": "day", "preset": "30d", "sort": "cost", "dir": "desc"}


def usage_state(url):
    """The usage explorer's state a URL stands for: its parameters over the defaults (which a URL may leave out)."""
    state = dict(USAGE_DEFAULTS)
    state.update({k: v[-1] for k, v in query(url).items()})
    return state


def carries(url, params):
    state = usage_state(url)
    return {k: state.get(k) for k in params} == dict(params)


def path_of(url):
    return urllib.parse.urlsplit(url).path


def loaded(d):
    return d.execute_script("return document.readyState") == "complete"


def choose(select_el, wanted):
    """Pick the option whose value, or else whose text, is `wanted` (case-insensitive)."""
    s = Select(select_el)
    for o in s.options:
        if o.get_attribute("value") == wanted:
            s.select_by_value(wanted)
            return
    for o in s.options:
        if o.text.strip().lower() == wanted.lower():
            s.select_by_visible_text(o.text)
            return
    raise AssertionError(f"select[name={select_el.get_attribute('name')}] has no option {wanted!r}: "
                         f"{[(o.get_attribute('value'), o.text) for o in s.options]}")


def fill(form, **fields):
    """Type into (or choose in) the form's fields by name."""
    for name, value in fields.items():
        found = form.find_elements(By.CSS_SELECTOR, f"[name='{name}']")
        assert found, f"the form has no field named {name!r}"
        el = found[0]
        if not el.is_displayed():  # a field inside a closed <details> (advanced options): open it as a person would
            summary = el.find_elements(By.XPATH, "./ancestor::details[not(@open)]/summary")
            if summary:
                summary[0].click()
        if el.tag_name == "select":
            choose(el, value)
        else:
            el.clear()
            el.send_keys(value)


def submit(form):
    buttons = form.find_elements(By.CSS_SELECTOR, "button[type=submit], button:not([type]), input[type=submit]")
    assert buttons, "the form has no submit button"
    buttons[0].click()


def sign_in(driver, server, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
    driver.get(server.url + "/login")
    form = driver.wait_css("input[name=password]").find_element(By.XPATH, "./ancestor::form")
    fill(form, email=email, password=password)
    submit(form)
    driver.wait_path("/")


def me(driver, server):
    """GET /api/v1/me with the browser's cookies: (status, body)."""
    r = driver.requests_session().get(server.url + "/api/v1/me", timeout=10)
    return r.status_code, (r.json() if r.headers.get("Content-Type", "").startswith("application/json") else None)


ROWS_JS = """
return Array.from(document.querySelectorAll(arguments[0])).map(tr => {
  const row = {__id: tr.getAttribute('data-event-id')};
  for (const td of tr.querySelectorAll('td[data-col], th[data-col]'))
    row[td.getAttribute('data-col')] = {text: td.textContent.replace(/\\s+/g, ' ').trim(),
                                        value: td.getAttribute('data-value')};
  return row;
});"""

TOP_JS = """
return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map(tr => {
  const name = tr.querySelector('td.name'), cost = tr.querySelector('td.cost');
  return [name && name.textContent.replace(/\\s+/g, ' ').trim(), cost && cost.getAttribute('data-value')];
});"""


FOOT_JS = """
const table = document.querySelector(arguments[0]);
const first = table && table.querySelector('tbody tr'), foot = table && table.querySelector('tfoot tr');
if (!first || !foot) return null;
const cols = Array.from(first.children).map(td => td.getAttribute('data-col'));
const row = {};
Array.from(foot.children).forEach((td, i) => {
  const col = td.getAttribute('data-col') || cols[i];
  if (col) row[col] = {text: td.textContent.replace(/\\s+/g, ' ').trim(), value: td.getAttribute('data-value')};
});
return row;"""


def table_rows(driver, css):
    return driver.execute_script(ROWS_JS, css)


def cell(row, col):
    assert col in row, f"the row has no td[data-col={col}]: {sorted(k for k in row if k != '__id')}"
    return row[col]


def cell_int(row, col):
    """A whole-number cell: its data-value when it has one, else its text without digit grouping."""
    c = cell(row, col)
    if c["value"] not in (None, ""):
        return int(c["value"])
    text = re.sub(r"[,\s\u00a0\u202f'_]", "", c["text"])
    assert re.fullmatch(r"\d+", text), f"td[data-col={col}] shows {c['text']!r}, not the whole number"
    return int(text)


def cell_money(row, col):
    """A cost cell's data-value (the API's decimal string; empty when unpriced)."""
    c = cell(row, col)
    assert c["value"] is not None, f"td[data-col={col}] has no data-value (text {c['text']!r})"
    return c["value"]


def cell_label(row, col):
    c = cell(row, col)
    return c["value"] if c["value"] not in (None, "") else c["text"]


def api_money(value):
    return "" if value is None else value


def cost_key(value):
    """Highest cost first, unpriced (empty) last."""
    return decimal.Decimal(value) if value not in (None, "") else decimal.Decimal(-1)


def number_in(text):
    m = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    assert m, f"no number in {text!r}"
    return decimal.Decimal(m.group(0).replace(",", ""))


def usage_url(server, **params):
    return server.url + "/usage?" + urllib.parse.urlencode(params)


def usage_table(driver, dims):
    """The usage table's rows as (labels of `dims`, requests, input, output, cost data-value), in page order."""
    driver.wait_css("table#usage-table")
    return [(tuple(cell_label(r, d) for d in dims), cell_int(r, "requests"), cell_int(r, "input_tokens"),
             cell_int(r, "output_tokens"), cell_money(r, "cost_usd"))
            for r in table_rows(driver, "table#usage-table tbody tr")]


def api_usage(groups, dims, api_dims=None):
    api_dims = api_dims or dims
    return [(tuple(g[a] for a in api_dims), g["requests"], g["input_tokens"], g["output_tokens"],
             api_money(g["cost_usd"])) for g in groups]


def wait_query(driver, **expected):
    """Wait for a navigation whose URL carries the `expected` parameters, and for its page to load."""
    def ok(d):
        q = query(d.current_url)
        return all(q.get(k) == [v] for k, v in expected.items()) and loaded(d)
    driver.wait_for(ok, 15, f"a URL with {expected}")


def selected(driver, css):
    return Select(driver.css(css)).first_selected_option.get_attribute("value")


# -- first run -----------------------------------------------------------------------------------------------------

A11Y_JS = r"""
const problems = [];
const text = el => (el.textContent || '').replace(/\s+/g, ' ').trim();
const shown = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
                    && getComputedStyle(el).visibility !== 'hidden';
const byIds = ids => (ids || '').split(/\s+/).map(id => document.getElementById(id)).filter(Boolean)
                    .map(text).join(' ').trim();
const brief = el => el.outerHTML.slice(0, 160);
for (const el of document.querySelectorAll('input, select, textarea')) {
  const type = (el.getAttribute('type') || '').toLowerCase();
  if (el.tagName === 'INPUT' && ['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
  if (!shown(el)) continue;
  const named = Array.from(el.labels || []).some(l => text(l)) || (el.getAttribute('aria-label') || '').trim()
                || byIds(el.getAttribute('aria-labelledby'));
  if (!named) problems.push('a field without a label: ' + brief(el));
}
const h1 = document.querySelectorAll('h1').length;
if (h1 !== 1) problems.push(h1 + ' h1 elements (expected exactly one)');
let previous = 1;
for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
  const level = +h.tagName[1];
  if (level > previous + 1) problems.push(`h${level} "${text(h).slice(0, 50)}" after h${previous}`);
  previous = level;
}
for (const b of document.querySelectorAll('button, input[type=submit], input[type=button], input[type=reset], [role=button]')) {
  const name = text(b) || (b.getAttribute('aria-label') || '').trim() || byIds(b.getAttribute('aria-labelledby'))
               || (b.getAttribute('title') || '').trim() || (b.tagName === 'INPUT' ? (b.value || '').trim() : '')
               || Array.from(b.querySelectorAll('img[alt]')).map(i => i.alt).join('').trim();
  if (!name) problems.push('a button without an accessible name: ' + brief(b));
}
return problems;
"""


def a11y_problems(driver):
    return driver.execute_script(A11Y_JS)


def test_first_run_setup_then_logout_and_login_in_the_browser(driver, fresh_server):
    server = fresh_server
    driver.get(server.url + "/")
    driver.wait_path("/setup")
    form = driver.wait_css("input[name=organization]").find_element(By.XPATH, "./ancestor::form")
    assert a11y_problems(driver) == [], "/setup"
    fill(form, **SETUP)
    submit(form)
    driver.wait_path("/")
    driver.wait_css("h1")
    status, body = me(driver, server)
    assert status == 200, body
    assert body["user"]["email"] == ADMIN_EMAIL and body["user"]["name"] == SETUP["name"]
    assert body["organization"]["name"] == SETUP["organization"] and body["organization"]["role"] == "owner"
    assert driver.css("meta[name=csrf-token]").get_attribute("content") == body["csrf_token"]

    # Sign out with the header's form (POST /logout).
    logout = driver.css_all("form[action='/logout']")
    assert logout, "no form[action='/logout'] on the signed-in page"
    submit(logout[0])
    driver.wait_path("/login")
    assert me(driver, server)[0] == 401, "signed out, /api/v1/me must answer 401"

    form = driver.wait_css("input[name=password]").find_element(By.XPATH, "./ancestor::form")
    assert a11y_problems(driver) == [], "/login"
    fill(form, email=ADMIN_EMAIL, password="not-the-password-0123")
    submit(form)
    driver.wait_for(lambda d: loaded(d) and "Wrong email or password." in d.find_element(By.TAG_NAME, "body").text,
                    10, "the sign-in failure message")
    assert path_of(driver.current_url) == "/login" and me(driver, server)[0] == 401

    form = driver.wait_css("input[name=password]").find_element(By.XPATH, "./ancestor::form")
    fill(form, email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    submit(form)
    driver.wait_path("/")
    status, body = me(driver, server)
    assert status == 200 and body["user"]["email"] == ADMIN_EMAIL, body


def test_getting_started_snippet_posts_an_event(driver, fresh_server):
    server = fresh_server
    ensure_set_up(server)
    owner = signed_in(server)
    assert owner.api("GET", "/api/v1/events").json()["data"] == [], "this test needs an organization without events"
    sign_in(driver, server)
    driver.get(server.url + "/")
    section = driver.wait_css("section#getting-started")
    assert not driver.css_all("#card-spend"), "an empty organization shows getting started instead of the cards"
    assert a11y_problems(driver) == [], "/ (getting started)"
    pre = driver.css("section#getting-started pre#first-event-curl")
    before = pre.get_property("textContent")
    assert "curl" in before and "/api/v1/events" in before and "$TALLY_TOKEN" in before, before
    assert section.find_elements(By.CSS_SELECTOR, "button.copy[data-copy-target='first-event-curl']")

    driver.css("button#create-snippet-token").click()
    snippet_now = lambda: driver.css("pre#first-event-curl").get_property("textContent")  # noqa: E731
    driver.wait_for(lambda d: re.search(r"tly_[A-Za-z0-9_-]{8,}", snippet_now()), 10,
                    "the new token's secret in pre#first-event-curl")
    snippet = snippet_now()
    secret = re.search(r"tly_[A-Za-z0-9_-]+", snippet).group(0)
    tokens = owner.api("GET", "/api/v1/tokens").json()
    tokens = tokens["data"] if isinstance(tokens, dict) else tokens
    made = [t for t in tokens if t["project"] == "default" and "ingest" in t["scopes"] and not t.get("revoked_at")]
    assert len(made) == 1 and made[0]["hint"].strip("\u2026.") and secret.endswith(made[0]["hint"].strip("\u2026.")), \
        f"expected one ingest token for project default, the one in the snippet: {tokens}"

    env = {k: v for k, v in os.environ.items() if k != "TALLY_TOKEN"}
    ran = subprocess.run(["bash", "-c", snippet], capture_output=True, text=True, timeout=30, env=env)
    assert ran.returncode == 0, f"the snippet failed ({ran.returncode}): {ran.stderr}\n{snippet}"
    answers = [json.loads(line) for line in ran.stdout.splitlines() if line.strip().startswith("{")]
    assert answers and answers[-1] == {"accepted": 1, "duplicates": 0}, f"{ran.stdout}\n{snippet}"
    events = owner.api("GET", "/api/v1/events").json()["data"]
    assert len(events) == 1 and events[0]["project"] == "default", events

    driver.get(server.url + "/")
    cycle = driver.wait_css("#cycle")
    assert not driver.css_all("section#getting-started"), "getting started stays after the first event"
    totals = owner.api("GET", "/api/v1/usage/summary?" + urllib.parse.urlencode(
        {"from": cycle.get_attribute("data-from"), "to": cycle.get_attribute("data-to")})).json()["totals"]
    assert driver.css("#card-requests .value").get_attribute("data-value") == str(totals["requests"])


# -- overview ------------------------------------------------------------------------------------------------------

def test_overview_cards_and_top_tables_equal_the_api(driver, site, data):
    sign_in(driver, site)
    asked = clock.now()
    driver.get(site.url + "/")
    cycle = driver.wait_css("#cycle")
    answered = clock.now()
    frm, to = cycle.get_attribute("data-from"), cycle.get_attribute("data-to")
    start, end = datetime.datetime.fromisoformat(frm), datetime.datetime.fromisoformat(to)
    assert start.astimezone(UTC).time() == datetime.time(0, 0), f"the cycle starts at local midnight (UTC): {frm}"
    assert asked - datetime.timedelta(seconds=2) <= end <= answered + datetime.timedelta(seconds=2), \
        f"#cycle data-to {to} is not the moment the page was computed ({asked}…{answered})"
    assert start <= end and end - start < datetime.timedelta(days=32)

    totals = data.summary(frm, to)["totals"]
    assert totals["requests"] > 0, f"the posted events should fall in the cycle {frm}…{to}"
    value = lambda card: driver.css(f"#card-{card} .value").get_attribute("data-value")  # noqa: E731
    assert value("spend") == api_money(totals["cost_usd"])
    assert value("tokens") == str(totals["input_tokens"] + totals["output_tokens"])
    assert value("requests") == str(totals["requests"])
    assert value("error-rate") == str(totals["errors"])
    assert value("unpriced") == str(totals["unpriced_requests"])
    rate = number_in(driver.css("#card-error-rate .value").text)
    assert "%" in driver.css("#card-error-rate .value").text
    assert abs(rate - decimal.Decimal(100 * totals["errors"]) / totals["requests"]) <= decimal.Decimal("0.5"), \
        f"error rate shown {driver.css('#card-error-rate .value').text!r}, totals {totals}"
    assert driver.execute_script(
        "const c = document.querySelector('#card-unpriced');"
        "return !!(c.closest('a[href=\"/settings/prices#unpriced\"]') || c.querySelector('a[href=\"/settings/prices#unpriced\"]'))"), \
        "#card-unpriced links to /settings/prices#unpriced"
    for card in ("spend", "tokens", "requests", "error-rate", "unpriced"):
        compare = driver.css_all(f"#card-{card} .compare")
        assert compare and compare[0].text.strip(), f"#card-{card} has no .compare line"
    note = driver.css(".estimate-note").text.lower()
    assert "estimate" in note and "invoice" in note, note

    for table, dim in (("top-models", "model"), ("top-projects", "project"), ("top-features", "feature")):
        shown = driver.execute_script(TOP_JS, f"table#{table}")
        groups = data.summary(frm, to, group_by=dim)["groups"]
        expected = sorted(([g[dim], api_money(g["cost_usd"])] for g in groups),
                          key=lambda r: cost_key(r[1]), reverse=True)
        assert len(shown) >= min(len(expected), 5), f"table#{table}: {shown} (the API has {expected})"
        assert shown == expected[:len(shown)], f"table#{table}: {shown} != the API's {expected}"


def test_overview_chart(driver, site, data):
    sign_in(driver, site)
    driver.get(site.url + "/")
    figure = driver.wait_css("figure#chart-daily")
    chart = driver.execute_script("""
      const svg = document.querySelector('figure#chart-daily svg');
      if (!svg) return null;
      const title = svg.querySelector(':scope > title');
      return {role: svg.getAttribute('role'), title: title && title.textContent.trim(),
              bars: Array.from(svg.querySelectorAll('rect')).filter(r => r.querySelector('title'))
                         .map(r => r.querySelector('title').textContent.trim()),
              table: !!document.querySelector('figure#chart-daily details table')};""")
    assert chart, "figure#chart-daily has no svg"
    assert chart["role"] == "img" and chart["title"], chart
    assert chart["table"], "the chart's figures are in a table inside details"
    week = today_utc() - datetime.timedelta(days=6)
    providers = {e["provider"] for e in data.events if datetime.date.fromisoformat(e["timestamp"][:10]) >= week}
    titles = " ".join(chart["bars"]).lower()
    assert all(t for t in chart["bars"]) and all(p in titles for p in providers), \
        f"one titled rect per provider per day; providers {providers}, titles {chart['bars'][:10]}"
    assert figure.find_elements(By.CSS_SELECTOR, "a[href='/?days=7']") or driver.css_all("a[href='/?days=7']")
    driver.css("a[href='/?days=7']").click()
    wait_query(driver, days="7")
    week_bars = driver.execute_script(
        "return Array.from(document.querySelectorAll('figure#chart-daily svg rect')).filter(r => r.querySelector('title')).length")
    assert 0 < week_bars <= len(chart["bars"]) and week_bars <= 7 * 3, (week_bars, len(chart["bars"]))
    assert driver.css_all("a[href='/?days=30']")


# -- usage explorer ------------------------------------------------------------------------------------------------

def test_usage_explorer_by_model_and_by_feature_with_history(driver, site, data):
    page, (frm, to) = custom_range()
    sign_in(driver, site)
    driver.get(usage_url(site, grain="none", **page))
    driver.wait_css("table#usage-table")
    assert driver.css("form#usage-form").get_attribute("method").lower() == "get"
    assert selected(driver, "select#group_by") == "model", "group_by defaults to model"
    by_model = usage_table(driver, ["model"])
    expected = api_usage(data.summary(frm, to, group_by="model")["groups"], ["model"])
    assert sorted(by_model) == sorted(expected)
    costs = [r[4] for r in by_model]
    assert costs == sorted(costs, key=cost_key, reverse=True), f"sorted by cost (the default): {costs}"

    choose(driver.css("select#group_by"), "feature")
    wait_query(driver, group_by="feature")
    assert carries(driver.current_url, dict(grain="none", **page)), \
        f"changing group_by keeps the rest of the state: {driver.current_url}"
    driver.wait_css("table#usage-table td[data-col=feature]")
    by_feature = usage_table(driver, ["feature"])
    assert sorted(by_feature) == sorted(api_usage(data.summary(frm, to, group_by="feature")["groups"], ["feature"]))
    assert {r[0][0] for r in by_feature} >= set(FEATURES)

    driver.back()
    driver.wait_for(lambda d: usage_state(d.current_url)["group_by"] == "model" and loaded(d), 10,
                    "the previous URL after going back")
    driver.wait_css("table#usage-table td[data-col=model]")
    assert selected(driver, "select#group_by") == "model", "going back shows the previous state in the form too"
    assert sorted(usage_table(driver, ["model"])) == sorted(expected)


def test_usage_sorts_by_header_links(driver, site, data):
    page, (frm, to) = custom_range()
    sign_in(driver, site)
    driver.get(usage_url(site, grain="none", group_by="model", **page))
    before = usage_table(driver, ["model"])
    driver.css("table#usage-table th a[data-sort=requests]").click()
    wait_query(driver, sort="requests")
    assert carries(driver.current_url, dict(group_by="model", grain="none", **page)), \
        f"the sort link keeps the state: {driver.current_url}"
    desc = usage_state(driver.current_url)["dir"] == "desc"
    rows = usage_table(driver, ["model"])
    assert sorted(rows) == sorted(before)
    requests_shown = [r[1] for r in rows]
    assert requests_shown == sorted(requests_shown, reverse=desc), f"{driver.current_url}: {rows}"
    assert [r[0] for r in rows] != [r[0] for r in before], "the test data sorts differently by requests and by cost"

    driver.css("table#usage-table th a[data-sort=name]").click()
    wait_query(driver, sort="name")
    assert carries(driver.current_url, dict(group_by="model", grain="none", **page)), driver.current_url
    desc = usage_state(driver.current_url)["dir"] == "desc"
    names = [r[0][0] for r in usage_table(driver, ["model"])]
    assert names == sorted(names, reverse=desc), f"{driver.current_url}: {names}"


def test_usage_exports_equal_the_table(driver, site, data):
    page, (frm, to) = custom_range()
    params = dict(group_by="model", grain="day", **page)
    sign_in(driver, site)
    driver.get(usage_url(site, **params))
    shown = table_rows(driver, "table#usage-table tbody tr")
    assert len(shown) > 5, shown
    assert driver.css_all("figure#usage-chart svg[role=img]"), "figure#usage-chart with its svg (grain=day)"

    groups = data.summary(frm, to, group_by="day,model")["groups"]
    table = sorted((cell_label(r, "period"), cell_label(r, "model"), cell_int(r, "requests"),
                    cell_int(r, "input_tokens"), cell_int(r, "output_tokens"), cell_money(r, "cost_usd"))
                   for r in shown)
    assert table == sorted((g["day"], g["model"], g["requests"], g["input_tokens"], g["output_tokens"],
                            api_money(g["cost_usd"])) for g in groups)
    totals = data.summary(frm, to)["totals"]
    foot = driver.execute_script(FOOT_JS, "table#usage-table")
    assert foot and cell_int(foot, "requests") == totals["requests"], foot
    assert cell_money(foot, "cost_usd") == api_money(totals["cost_usd"]), foot

    session = driver.requests_session()
    href = driver.css("a#export-csv").get_attribute("href")
    q = query(href)
    assert path_of(href) == "/usage/export" and q.get("format") == ["csv"], href
    assert carries(href, params), f"{href} does not carry {params}"
    anonymous = requests.get(href, allow_redirects=False, timeout=10)
    assert anonymous.status_code in (302, 303, 401), f"an export needs a session: {anonymous.status_code}"
    r = session.get(href, timeout=30)
    assert r.status_code == 200 and "csv" in r.headers.get("Content-Type", ""), (r.status_code, r.headers)
    records = list(csv.reader(io.StringIO(r.text)))
    header = records[0]
    assert header == ["period", "model"] + CSV_METRICS, header
    body = [dict(zip(header, rec)) for rec in records[1:]]
    assert len(body) == len(shown), f"{len(body)} CSV rows, {len(shown)} in the table"
    for i, (row, rec) in enumerate(zip(shown, body)):
        assert (rec["period"], rec["model"], int(rec["requests"]), int(rec["input_tokens"]),
                int(rec["output_tokens"]), rec["cost_usd"]) == \
            (cell_label(row, "period"), cell_label(row, "model"), cell_int(row, "requests"),
             cell_int(row, "input_tokens"), cell_int(row, "output_tokens"), cell_money(row, "cost_usd")), \
            f"CSV row {i} differs from the table's"
    by_key = {(g["day"], g["model"]): g for g in groups}
    for rec in body:
        g = by_key[(rec["period"], rec["model"])]
        assert {k: rec[k] for k in CSV_METRICS} == {k: str(api_money(g[k])) for k in CSV_METRICS}, rec

    href = driver.css("a#export-json").get_attribute("href")
    q = query(href)
    assert path_of(href) == "/usage/export" and q.get("format") == ["json"], href
    assert carries(href, params), f"{href} does not carry {params}"
    r = session.get(href, timeout=30)
    assert r.status_code == 200 and "json" in r.headers.get("Content-Type", ""), (r.status_code, r.headers)
    doc = r.json()
    assert {"from", "to", "time_zone", "group_by", "grain", "rows", "totals"} <= set(doc), sorted(doc)
    assert doc["group_by"] == "model" and doc["grain"] == "day" and doc["time_zone"] == "UTC", \
        {k: doc[k] for k in ("group_by", "grain", "time_zone")}
    assert [{k: str(api_money(row.get(k))) for k in header} for row in doc["rows"]] == body, \
        "the JSON rows differ from the CSV rows"
    api_totals = data.summary(doc["from"], doc["to"])["totals"]
    assert doc["totals"] and {k: doc["totals"][k] for k in doc["totals"] if k in api_totals} == \
        {k: api_totals[k] for k in doc["totals"] if k in api_totals}


# -- events --------------------------------------------------------------------------------------------------------

def test_events_newest_first_and_an_event_cost_breakdown(driver, site, data):
    sign_in(driver, site)
    driver.get(site.url + "/events")
    driver.wait_css("table#events-table tbody tr[data-event-id]")
    rows = table_rows(driver, "table#events-table tbody tr[data-event-id]")
    api = data.get("/api/v1/events", limit=100)["data"]
    assert [r["__id"] for r in rows] == [e["id"] for e in api], "the events table is the API's newest first"
    posted = [e["id"] for e in sorted(data.events, key=lambda e: e["timestamp"], reverse=True)]
    assert [r["__id"] for r in rows if r["__id"] in set(posted)] == posted
    for row, e in zip(rows, api):
        assert cell(row, "model")["text"] == e["model"] and cell(row, "project")["text"] == e["project"], row
        assert e["provider"] in cell(row, "provider")["text"].lower(), row
        for col in ("time", "feature", "user", "tokens", "cost", "latency", "status"):
            cell(row, col)
    assert driver.css(".estimate-note")

    chosen = next(e for e in api if e["provider"] == "anthropic")
    link = driver.css(f"tr[data-event-id='{chosen['id']}'] td[data-col=time] a")
    assert path_of(link.get_attribute("href")) == f"/events/{chosen['id']}"
    link.click()
    driver.wait_path(f"/events/{chosen['id']}")
    one = data.get(f"/api/v1/events/{chosen['id']}")
    breakdown = one["cost_breakdown"]
    assert one["cost_usd"] and breakdown and len(breakdown["lines"]) >= 3, one
    driver.wait_css("table#cost-breakdown")
    foot = driver.css("table#cost-breakdown tfoot td[data-col=cost]").get_attribute("data-value")
    assert foot == one["cost_usd"], f"tfoot cost {foot!r}, the API's cost_usd {one['cost_usd']!r}"
    lines = table_rows(driver, "table#cost-breakdown tbody tr")
    assert [(cell_int(r, "tokens"), number_in(cell(r, "rate")["text"]), cell_money(r, "cost")) for r in lines] == \
        [(ln["tokens"], decimal.Decimal(ln["usd_per_million"]), ln["cost_usd"]) for ln in breakdown["lines"]]
    assert all(cell(r, "class")["text"] for r in lines)
    assert breakdown["price_effective_from"] in driver.css("#price-date").text
    assert driver.css(".estimate-note")


def test_a_new_event_appears_on_the_events_page_without_reload(driver, site, data):
    sign_in(driver, site)
    driver.get(site.url + "/events")
    driver.wait_css("table#events-table tbody tr[data-event-id]")
    driver.execute_script("window.__notReloaded = 42")
    # The page's script says so once its /events/live stream is open (EventSource "open"): only then post.
    driver.wait_for(lambda d: d.execute_script("const s = document.getElementById('live-status'); "
                                               "return s && s.textContent.startsWith('Live:')"),
                    15, "#live-status saying the /events/live stream is open")
    event_id = "live-" + uuid.uuid4().hex[:10]
    data.post([{"id": event_id, "timestamp": rfc3339(clock.now()), "provider": "google",
                "model": "gemini-2.5-flash", "project": "web", "feature": "live", "input_tokens": 4321,
                "output_tokens": 321}])
    first = "const tr = document.querySelector('table#events-table tbody tr[data-event-id]'); return tr && tr.dataset.eventId"
    driver.wait_for(lambda d: d.execute_script(first) == event_id, 15, f"{event_id} at the top of table#events-table")
    assert driver.execute_script("return window.__notReloaded") == 42, "the page was reloaded"
    row = table_rows(driver, f"table#events-table tbody tr[data-event-id='{event_id}']")[0]
    assert cell(row, "model")["text"] == "gemini-2.5-flash" and cell(row, "feature")["text"] == "live", row


def test_the_overview_cards_follow_the_live_api(driver, site, data):
    """Issue 22: the overview's cards update from the live API's metrics_update, without a reload, to what the summary
    API says for the billing cycle."""
    sign_in(driver, site)
    driver.get(site.url + "/")
    opened = ("const s = document.querySelector('section[data-live-metrics]'); "
              "return s && s.dataset.liveState === 'open' && !!s.dataset.liveAt")
    driver.wait_for(lambda d: d.execute_script(opened), 20, "the overview's live socket open, a first metrics_update in")
    driver.execute_script("window.__notReloaded = 7")
    before = int(driver.css("#card-requests .value").get_attribute("data-value"))
    event_id = "live-card-" + uuid.uuid4().hex[:10]
    data.post([{"id": event_id, "timestamp": rfc3339(clock.now()), "provider": "openai", "model": "gpt-4o",
                "project": "web", "feature": "live", "input_tokens": 1000, "output_tokens": 100, "requests": 3,
                "status": "error", "http_status": 500}])
    requests_now = "return document.querySelector('#card-requests .value').dataset.value"
    driver.wait_for(lambda d: d.execute_script(requests_now) == str(before + 3), 20,
                    f"#card-requests going from {before} to {before + 3} by itself")
    assert driver.execute_script("return window.__notReloaded") == 7, "the page was reloaded"
    cycle_from = driver.css("#cycle").get_attribute("data-from")
    totals = data.get("/api/v1/usage/summary", **{"from": cycle_from})["totals"]
    cards = {c: driver.css(f"#{c} .value").get_attribute("data-value")
             for c in ("card-spend", "card-tokens", "card-requests", "card-error-rate", "card-unpriced")}
    assert cards == {"card-spend": totals["cost_usd"] or "",
                     "card-tokens": str(totals["input_tokens"] + totals["output_tokens"]),
                     "card-requests": str(totals["requests"]), "card-error-rate": str(totals["errors"]),
                     "card-unpriced": str(totals["unpriced_requests"])}, (cards, totals)
    # The text beside the raw value is formatted as the server formats it.
    spend = driver.css("#card-spend .value").text
    assert spend.startswith("$") and "," not in spend.split(".")[-1], spend


# -- settings ------------------------------------------------------------------------------------------------------

def test_add_a_provider_connection_in_the_browser(driver, site, data, provider_standins):
    standin = provider_standins["openai"]
    sign_in(driver, site)
    driver.get(site.url + "/settings/providers")
    form = driver.wait_css("form#add-connection")
    good = f"sk-proj-good-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
    name = "OpenAI from the browser"
    fill(form, name=name, provider="openai", api_key=good, base_url=standin.url, gateway_endpoints="all")
    submit(form)

    def row_named(d):
        for tr in d.find_elements(By.CSS_SELECTOR, "table#connections tbody tr[data-connection-id]"):
            if name in tr.text:
                return tr
        return None
    row = driver.wait_for(row_named, 15, f"a row for {name!r} in table#connections")
    masked = good[:3] + "\u2026" + good[-4:]
    assert row.find_element(By.CSS_SELECTOR, ".mask").text.strip() == masked
    listed = data.get("/api/v1/provider-connections")
    listed = listed["data"] if isinstance(listed, dict) else listed
    mine = [c for c in listed if c["name"] == name]
    assert len(mine) == 1 and mine[0]["id"] == row.get_attribute("data-connection-id"), mine
    assert mine[0]["api_key"] == masked and mine[0]["validated"] is True and mine[0]["base_url"] == standin.url
    assert good not in driver.page_source and good[3:-4] not in driver.page_source
    assert row.find_elements(By.CSS_SELECTOR, "button[data-action=test]")
    assert row.find_elements(By.CSS_SELECTOR, "button[data-action=delete]")
    # The gateway may use this key on every endpoint (chosen above); an admin narrows it back per connection.
    assert mine[0]["gateway_endpoints"] == "all" and "Gateway: every endpoint" in row.text
    endpoints = row.find_element(By.CSS_SELECTOR, f"form#endpoints-{mine[0]['id']}")
    fill(endpoints, gateway_endpoints="inference")
    submit(endpoints)

    def narrowed(d):
        listed = data.get("/api/v1/provider-connections")
        listed = listed["data"] if isinstance(listed, dict) else listed
        return [c for c in listed if c["name"] == name and c["gateway_endpoints"] == "inference"] or None
    driver.wait_for(narrowed, 15, "gateway_endpoints back to inference")

    def row_narrowed(d):
        tr = row_named(d)
        return tr if tr is not None and "Gateway: every endpoint" not in tr.text else None
    driver.wait_for(row_narrowed, 15, f"the row for {name!r} without 'Gateway: every endpoint'")

    form = driver.css("form#add-connection")
    bad = f"sk-proj-bad-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
    fill(form, name="OpenAI rejected", provider="openai", api_key=bad, base_url=standin.url)
    submit(form)
    status, message = REJECTION["openai"]

    def field_error(d):
        for el in d.find_elements(By.CSS_SELECTOR, "form#add-connection [data-error-for=api_key]"):
            if el.is_displayed() and el.text.strip():
                return el
        return None
    error = driver.wait_for(field_error, 15, "[data-error-for=api_key] with the provider's refusal")
    assert str(status) in error.text or message in error.text, error.text
    form = driver.css("form#add-connection")
    assert form.find_element(By.CSS_SELECTOR, "[name=name]").get_attribute("value") == "OpenAI rejected"
    assert driver.execute_script("""
      const form = document.querySelector('form#add-connection');
      const field = form.querySelector('[name=api_key]'), error = form.querySelector('[data-error-for=api_key]');
      let box = field.parentElement;
      while (box && !box.contains(error)) box = box.parentElement;
      return !!box && box !== form && !box.querySelector('[name=name]');"""), \
        "the api_key error is not beside its field (it shares a box only with other fields, or the form)"
    listed = data.get("/api/v1/provider-connections")
    listed = listed["data"] if isinstance(listed, dict) else listed
    assert "OpenAI rejected" not in [c["name"] for c in listed]


def test_create_and_revoke_a_token_in_settings(driver, site, data):
    sign_in(driver, site)
    driver.get(site.url + "/settings/tokens")
    form = driver.wait_css("form#create-token")
    name = "browser-" + uuid.uuid4().hex[:8]
    fill(form, name=name, project="web")
    for box in form.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=scopes]"):
        if box.is_selected() != (box.get_attribute("value") in ("ingest", "read")):
            box.click()
    submit(form)
    secret_el = driver.wait_css("#new-token code#new-token-secret", 15, visible=True)
    secret = secret_el.text.strip()
    assert secret.startswith("tly_"), secret
    assert driver.css("#new-token button#copy-new-token").is_displayed()
    r = requests.get(site.url + "/api/v1/usage/summary", headers=bearer(secret), timeout=10)
    assert r.status_code == 200, f"the new token as a bearer token: {r.status_code} {r.text[:200]}"
    tokens = data.get("/api/v1/tokens")
    tokens = tokens["data"] if isinstance(tokens, dict) else tokens
    made = [t for t in tokens if t["name"] == name]
    assert len(made) == 1 and made[0]["project"] == "web" and sorted(made[0]["scopes"]) == ["ingest", "read"], made

    driver.css("a#new-token-done").click()
    driver.wait_for(lambda d: loaded(d) and secret not in d.page_source, 10, "the page without the secret")
    row = driver.wait_css(f"table#tokens tbody tr[data-token-id='{made[0]['id']}']")
    driver.execute_script("window.confirm = () => true")
    row.find_element(By.CSS_SELECTOR, "button[data-action=revoke]").click()
    deadline = time.time() + 10
    while time.time() < deadline:
        status = requests.get(site.url + "/api/v1/usage/summary", headers=bearer(secret), timeout=10).status_code
        if status == 401:
            break
        time.sleep(0.2)
    assert status == 401, f"after revoking in the browser the token still gets {status}"


# -- theme, narrow screens, accessibility ----------------------------------------------------------------------------

def theme_state(driver):
    return driver.execute_script("""
      const s = getComputedStyle(document.documentElement);
      return {theme: document.documentElement.dataset.theme || null,
              stored: localStorage.getItem('tally-theme'),
              bg: s.getPropertyValue('--bg').trim(),
              body: [document.body, document.documentElement].map(e => getComputedStyle(e).backgroundColor)
                    .find(c => c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') || null};""")


def test_theme_toggle_switches_and_persists(driver, site, data):
    sign_in(driver, site)
    driver.emulate_color_scheme("light")
    driver.execute_script("localStorage.removeItem('tally-theme')")
    driver.refresh()
    driver.wait_css("button#theme-toggle")
    light = theme_state(driver)
    assert light["theme"] in (None, "light") and light["stored"] is None, light

    driver.css("button#theme-toggle").click()
    driver.wait_for(lambda d: theme_state(d)["theme"] == "dark", 5, "data-theme=dark after the toggle")
    dark = theme_state(driver)
    assert dark["stored"] == "dark" and dark["bg"] != light["bg"], (light, dark)
    driver.wait_for(lambda d: theme_state(d)["body"] != light["body"], 5, "the page background to change")
    driver.refresh()
    driver.wait_css("button#theme-toggle")
    assert theme_state(driver)["theme"] == "dark" and theme_state(driver)["bg"] == dark["bg"], \
        "the dark choice survives a reload (even when the system prefers light)"

    driver.css("button#theme-toggle").click()
    driver.wait_for(lambda d: theme_state(d)["theme"] == "light", 5, "data-theme=light after toggling back")
    assert theme_state(driver)["bg"] == light["bg"] and theme_state(driver)["stored"] == "light"
    driver.emulate_color_scheme("dark")
    driver.refresh()
    driver.wait_css("button#theme-toggle")
    assert theme_state(driver)["theme"] == "light" and theme_state(driver)["bg"] == light["bg"], \
        "an explicit light choice wins over a dark system preference"

    driver.execute_script("localStorage.removeItem('tally-theme')")
    driver.refresh()
    driver.wait_css("button#theme-toggle")
    assert theme_state(driver)["bg"] == dark["bg"], "with no choice the page follows prefers-color-scheme: dark"


def hex_rgb(value):
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", value), f"{value!r} is not #rrggbb"
    return tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))


def luminance(rgb):
    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    la, lb = sorted((luminance(hex_rgb(a)), luminance(hex_rgb(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def theme_colours(driver, theme):
    driver.execute_script("localStorage.setItem('tally-theme', arguments[0])", theme)
    driver.refresh()
    driver.wait_css("button#theme-toggle")
    assert driver.execute_script("return document.documentElement.dataset.theme") == theme
    return driver.execute_script(
        "const s = getComputedStyle(document.documentElement);"
        "return Object.fromEntries(arguments[0].map(v => [v, s.getPropertyValue(v).trim()]))", THEME_VARS)


def test_theme_colours_reach_wcag_aa_contrast(driver, site, data):
    sign_in(driver, site)
    failures, palettes = [], {}
    for theme in ("light", "dark"):
        colours = palettes[theme] = theme_colours(driver, theme)
        for fg, bg in CONTRAST_PAIRS:
            ratio = contrast(colours[fg], colours[bg])
            if ratio < 4.5:
                failures.append(f"{theme}: {fg} {colours[fg]} on {bg} {colours[bg]} is {ratio:.2f}:1")
    assert failures == [], failures
    assert palettes["light"]["--bg"] != palettes["dark"]["--bg"] and \
        palettes["light"]["--ink"] != palettes["dark"]["--ink"], palettes


OVERFLOW_JS = """
const w = document.documentElement.clientWidth;
return Array.from(document.querySelectorAll('body *')).filter(el => el.getBoundingClientRect().right > w + 0.5)
  .slice(0, 5).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
       (el.className && typeof el.className === 'string' ? '.' + el.className.trim().replace(/\\s+/g, '.') : '') +
       ' right=' + Math.round(el.getBoundingClientRect().right));"""


def test_pages_fit_a_375px_screen(driver, site, data):
    sign_in(driver, site)
    driver.set_viewport(375, 812)
    wide = {}
    for path in ("/", "/usage", "/events"):
        driver.get(site.url + path)
        driver.wait_css("h1")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        if width > 375:
            wide[path] = (width, driver.execute_script(OVERFLOW_JS))
    assert wide == {}, f"pages wider than 375 px (scrollWidth, elements past the edge): {wide}"


def test_pages_are_accessible_and_keep_the_layout(driver, site, data):
    sign_in(driver, site)
    event_id = data.get("/api/v1/events", limit=1)["data"][0]["id"]
    nav = {"/": "/", "/usage": "/usage", "/events": "/events", "/settings/providers": "/settings/providers"}
    problems = {}
    for path in ["/", "/usage", "/events", f"/events/{event_id}", *SETTINGS]:
        driver.get(site.url + path)
        driver.wait_css("h1")
        found = list(a11y_problems(driver))
        if not (driver.css_all("meta[name=csrf-token]") and
                driver.css("meta[name=csrf-token]").get_attribute("content")):
            found.append("no <meta name=csrf-token>")
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('nav#main-nav a')).map(a => "
            "[a.getAttribute('href'), a.getAttribute('aria-current')])")
        if not {"/", "/usage", "/events", "/settings/providers"} <= {h for h, _ in links}:
            found.append(f"nav#main-nav links: {links}")
        if path in nav and [h for h, c in links if c == "page"] != [nav[path]]:
            found.append(f"aria-current=page on {[h for h, c in links if c == 'page']}, expected {nav[path]}")
        if path.startswith("/settings/"):
            hrefs = driver.execute_script(
                "return Array.from(document.querySelectorAll('nav#settings-nav a')).map(a => a.getAttribute('href'))")
            if not set(SETTINGS) <= set(hrefs):
                found.append(f"nav#settings-nav links: {hrefs}")
        toggle = driver.css_all("button#theme-toggle")
        if not toggle:
            found.append("no button#theme-toggle")
        errors = [m for m in driver.js_errors() if "favicon" not in m]
        if errors:
            found.append(f"console errors: {errors}")
        if found:
            problems[path] = found
    assert problems == {}, json.dumps(problems, indent=1)


# -- screenshots -----------------------------------------------------------------------------------------------------

def overview_with_data(driver, site, theme):
    driver.execute_script("localStorage.setItem('tally-theme', arguments[0])", theme)
    driver.get(site.url + "/")
    driver.wait_css("#card-requests .value")
    assert driver.execute_script("return document.documentElement.dataset.theme") == theme
    assert int(driver.css("#card-requests .value").get_attribute("data-value")) > 0
    assert driver.css_all("table#top-models tbody tr"), "the screenshot should show data"
    driver.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)  # let a theme transition finish


def test_screenshots_for_the_readme(driver, site, data):
    sign_in(driver, site)
    for theme in ("light", "dark"):
        driver.emulate_color_scheme(theme)
        driver.set_viewport(1280, 900)
        overview_with_data(driver, site, theme)
        size = driver.save_screenshot_png(SCREENSHOTS / f"overview-{theme}.png")
        assert size == (1280, 900), size
    driver.emulate_color_scheme("light")
    driver.set_viewport(375, 812)
    overview_with_data(driver, site, "light")
    height = min(max(812, driver.execute_script("return document.documentElement.scrollHeight")), 2400)
    driver.set_viewport(375, height)
    time.sleep(0.3)
    size = driver.save_screenshot_png(SCREENSHOTS / "overview-mobile.png")
    assert size == (375, height), size
    for name in ("overview-light.png", "overview-dark.png", "overview-mobile.png"):
        with open(SCREENSHOTS / name, "rb") as f:
            png_size(f.read())
