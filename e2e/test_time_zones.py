"""Local days, weeks and months through the API and the dashboard in time zones other than UTC (issue 25, point 3).

An organization's `time_zone` decides where the summary's day/week/month buckets begin, what a `YYYY-MM-DD` bound
of `from`/`to` means, the usage explorer's ranges and periods, and the events page's ranges and times. Four
organizations on one server hold the same events: one in America/New_York, one in Asia/Kolkata (UTC+05:30), one in
America/Santiago (daylight saving starts at midnight) and the Default one in UTC, whose answers show that the events
really straddle the edges in question. Every expected bucket below is written by hand:

- Local times come from the published rules, worked out by hand in the comments: New York is UTC-5 (EST) until
  2026-03-08T07:00Z (02:00 EST becomes 03:00 EDT, so March 8 has 23 hours), UTC-4 (EDT) until 2026-11-01T06:00Z
  (02:00 EDT becomes 01:00 EST, so November 1 has 25 hours), then UTC-5; Kolkata is UTC+05:30 all year, so its
  midnight is 18:30Z, in the middle of a UTC hour; Santiago is UTC-4 until 2026-09-06T04:00Z, when 00:00 becomes
  01:00 UTC-3, so September 6 has no midnight and 23 hours.
- Money is OpenAI's published list price for gpt-4o (https://openai.com/api/pricing/): $2.50 per million input
  tokens, $10.00 per million output tokens. Every event has 1,000·m input tokens (m a power of two, so a bucket's
  input names its events) and 100 output tokens: it costs m × $0.0025 + $0.001.

The events are at fixed past instants (2026-03 to 2026-11; ingestion refuses only timestamps more than 24 hours in the
future), so the answers do not depend on the hour or day the tests run. The summary API buckets by day, week and
month only (no hourly grain); the hours of the 23- and 25-hour days are checked through the range a one-day
`from`/`to` stands for, and events inside whole UTC hours of a local day (s5, f5, a2, j6) come from the hourly
rollups, whose local day Tally computes in SQL from the zone's offset.
"""
import html.parser
import tempfile
from decimal import Decimal

import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, api_token, bearer, signed_in

NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"
SANTIAGO = "America/Santiago"


def ev(event_id, timestamp, m):
    return {"id": event_id, "timestamp": timestamp, "provider": "openai", "model": "gpt-4o",
            "input_tokens": 1000 * m, "output_tokens": 100}


EVENTS = [
    # New York, spring forward.
    ev("s1", "2026-03-08T04:59:59Z", 1),    # Sat 03-07 23:59:59 EST
    ev("s2", "2026-03-08T05:00:00Z", 2),    # Sun 03-08 00:00 EST
    ev("s3", "2026-03-08T06:59:59Z", 4),    # 03-08 01:59:59 EST, the last second before the change
    ev("s4", "2026-03-08T07:00:00Z", 8),    # 03-08 03:00 EDT
    ev("s5", "2026-03-09T03:59:59Z", 16),   # 03-08 23:59:59 EDT (Monday 03-09 in UTC; 22:59:59 were it still EST)
    ev("s6", "2026-03-09T04:00:00Z", 32),   # Mon 03-09 00:00 EDT (still 03-08 were it EST)
    # New York, a month end: May 1 begins at 04:00Z.
    ev("a1", "2026-04-30T12:00:00Z", 1),    # 04-30 08:00 EDT
    ev("a2", "2026-05-01T03:30:00Z", 2),    # 04-30 23:30 EDT (May 1 in UTC)
    ev("a3", "2026-05-01T04:00:00Z", 4),    # 05-01 00:00 EDT
    ev("a4", "2026-05-01T15:00:00Z", 8),    # 05-01 11:00 EDT
    # Kolkata: local midnight at 18:30Z.
    ev("j3", "2026-06-15T12:00:00Z", 8),    # 06-15 17:30 IST
    ev("j0", "2026-06-29T18:29:59Z", 1),    # 06-29 23:59:59 IST
    ev("j1", "2026-06-30T18:29:00Z", 2),    # 06-30 23:59 IST
    ev("j2", "2026-06-30T18:31:00Z", 4),    # 07-01 00:01 IST (June 30 in UTC, like j1)
    ev("j6", "2026-06-30T20:00:00Z", 64),   # 07-01 01:30 IST, a whole UTC hour of July 1 (June 30 in UTC)
    ev("j4", "2026-07-15T12:00:00Z", 16),   # 07-15 17:30 IST
    ev("j5", "2026-07-31T18:30:00Z", 32),   # 08-01 00:00 IST (July 31 in UTC)
    # Santiago: daylight saving starts at midnight, 2026-09-06T04:00Z (00:00 -04 becomes 01:00 -03).
    ev("c1", "2026-09-06T03:30:00Z", 1),    # 09-05 23:30 -04
    ev("c2", "2026-09-06T04:00:00Z", 2),    # 09-06 01:00 -03, the first instant of September 6
    ev("c3", "2026-09-07T02:59:59Z", 4),    # 09-06 23:59:59 -03
    ev("c4", "2026-09-07T03:00:00Z", 8),    # 09-07 00:00 -03
    # New York, fall back.
    ev("f1", "2026-11-01T03:59:59Z", 1),    # Sat 10-31 23:59:59 EDT (November in UTC)
    ev("f2", "2026-11-01T04:00:00Z", 2),    # Sun 11-01 00:00 EDT
    ev("f3", "2026-11-01T05:30:00Z", 4),    # 11-01 01:30 EDT
    ev("f4", "2026-11-01T06:30:00Z", 8),    # 11-01 01:30 EST, the second 01:30
    ev("f5", "2026-11-02T04:30:00Z", 16),   # Sun 11-01 23:30 EST (00:30 on Monday were it still EDT)
    ev("f6", "2026-11-02T05:00:00Z", 32),   # Mon 11-02 00:00 EST
]


class Zones:
    """One server; a read+ingest token per organization (UTC, New York, Kolkata, Santiago), each holding EVENTS."""

    def __init__(self, server, browser):
        self.server = server
        self.browser = browser
        self.tokens = {}
        self.org_ids = {}

    def get(self, zone, path, **params):
        r = requests.get(self.server.url + path, params=params, headers=bearer(self.tokens[zone]), timeout=30)
        assert r.status_code == 200, f"GET {path} {params} in {zone}: {r.status_code} {r.text[:500]}"
        return r.json()

    def summary(self, zone, **params):
        doc = self.get(zone, "/api/v1/usage/summary", **params)
        assert doc["time_zone"] == zone, doc["time_zone"]
        return doc

    def switch(self, zone):
        r = self.browser.api("POST", f"/api/v1/organizations/{self.org_ids[zone]}/switch")
        assert r.status_code == 204, f"switch to {zone}: {r.status_code} {r.text[:300]}"

    def dashboard_export(self, zone, **params):
        """The usage explorer's JSON export, signed in with the organization `zone` current."""
        self.switch(zone)
        r = self.browser.get("/usage/export", params=dict(format="json", **params))
        assert r.status_code == 200, f"/usage/export {params}: {r.status_code} {r.text[:500]}"
        doc = r.json()
        assert doc["time_zone"] == zone, doc["time_zone"]
        return doc


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def zones(request):
    with tempfile.TemporaryDirectory() as d:
        tally = _accounts_tally(request.param, d, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
                                                   "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        try:
            server = tally.serve()
            browser = signed_in(server)
            z = Zones(server, browser)
            z.org_ids["UTC"] = browser.me()["organization"]["id"]
            z.tokens["UTC"] = api_token(browser, scopes=("ingest", "read"))
            for name, zone in (("New York", NEW_YORK), ("Kolkata", KOLKATA), ("Santiago", SANTIAGO)):
                r = browser.api("POST", "/api/v1/organizations", json={"name": name, "time_zone": zone})
                assert r.status_code == 201 and r.json()["time_zone"] == zone, f"{r.status_code} {r.text[:300]}"
                z.org_ids[zone] = r.json()["id"]
                browser.me()  # the session switched to it
                z.tokens[zone] = api_token(browser, scopes=("ingest", "read"))
            for zone, token in z.tokens.items():
                r = requests.post(server.url + "/api/v1/events", json=EVENTS, headers=bearer(token), timeout=30)
                assert r.status_code == 200 and r.json() == {"accepted": len(EVENTS), "duplicates": 0}, \
                    f"{zone}: {r.status_code} {r.text[:300]}"
            yield z
        finally:
            tally.stop_all()


def buckets(doc, grain):
    """[(period, requests, input_tokens, output_tokens, cost_usd)] in the answer's order."""
    return [(g[grain], g["requests"], g["input_tokens"], g["output_tokens"], Decimal(g["cost_usd"]))
            for g in doc["groups"]]


def totals(doc):
    t = doc["totals"]
    return t["requests"], t["input_tokens"], t["output_tokens"], Decimal(t["cost_usd"])


def rows(doc):
    """The usage explorer export's rows: [(period, requests, input_tokens, output_tokens, cost_usd)]."""
    return [(r["period"], r["requests"], r["input_tokens"], r["output_tokens"], Decimal(r["cost_usd"]))
            for r in doc["rows"]]


def D(text):
    return Decimal(text)


# -- America/New_York ----------------------------------------------------------------------------------------------

def test_new_york_days_across_spring_forward(zones):
    doc = zones.summary(NEW_YORK, group_by="day", **{"from": "2026-03-07", "to": "2026-03-10"})
    # Local midnights: 03-07 and 03-08 at 05:00Z (EST), 03-10 at 04:00Z (EDT).
    assert (doc["from"], doc["to"]) == ("2026-03-07T05:00:00Z", "2026-03-10T04:00:00Z")
    assert buckets(doc, "day") == [
        ("2026-03-07", 1, 1000, 100, D("0.0035")),   # s1: 0.0025 + 0.001
        ("2026-03-08", 4, 30000, 400, D("0.079")),   # s2..s5: (2+4+8+16) × 0.0025 + 4 × 0.001
        ("2026-03-09", 1, 32000, 100, D("0.081")),   # s6: 32 × 0.0025 + 0.001
    ]
    assert totals(doc) == (6, 63000, 600, D("0.1635"))

    # March 8 alone is 23 hours: [05:00Z, next day 04:00Z).
    day = zones.summary(NEW_YORK, **{"from": "2026-03-08", "to": "2026-03-09"})
    assert (day["from"], day["to"]) == ("2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z")
    assert totals(day) == (4, 30000, 400, D("0.079"))
    listed = zones.get(NEW_YORK, "/api/v1/events", **{"from": "2026-03-08", "to": "2026-03-09"})
    assert [e["id"] for e in listed["data"]] == ["s5", "s4", "s3", "s2"]

    # The same events and bounds in UTC: midnights at 00:00Z, s1 on 03-08 and s5 on 03-09.
    utc = zones.summary("UTC", group_by="day", **{"from": "2026-03-07", "to": "2026-03-10"})
    assert (utc["from"], utc["to"]) == ("2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z")
    assert buckets(utc, "day") == [
        ("2026-03-08", 4, 15000, 400, D("0.0415")),  # s1..s4: 15 × 0.0025 + 4 × 0.001
        ("2026-03-09", 2, 48000, 200, D("0.122")),   # s5, s6: 48 × 0.0025 + 2 × 0.001
    ]


def test_new_york_days_weeks_and_months_across_fall_back(zones):
    doc = zones.summary(NEW_YORK, group_by="day", **{"from": "2026-10-31", "to": "2026-11-03"})
    # Local midnights: 10-31 and 11-01 at 04:00Z (EDT), 11-02 and 11-03 at 05:00Z (EST).
    assert (doc["from"], doc["to"]) == ("2026-10-31T04:00:00Z", "2026-11-03T05:00:00Z")
    assert buckets(doc, "day") == [
        ("2026-10-31", 1, 1000, 100, D("0.0035")),   # f1
        ("2026-11-01", 4, 30000, 400, D("0.079")),   # f2..f5, both 01:30s among them
        ("2026-11-02", 1, 32000, 100, D("0.081")),   # f6
    ]

    # November 1 alone is 25 hours: [04:00Z, next day 05:00Z).
    day = zones.summary(NEW_YORK, **{"from": "2026-11-01", "to": "2026-11-02"})
    assert (day["from"], day["to"]) == ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z")
    assert totals(day) == (4, 30000, 400, D("0.079"))
    listed = zones.get(NEW_YORK, "/api/v1/events", **{"from": "2026-11-01", "to": "2026-11-02"})
    assert [e["id"] for e in listed["data"]] == ["f5", "f4", "f3", "f2"]

    # Weeks run Monday to Sunday; Sunday 11-01 (25 hours) ends the week of 10-26.
    weeks = zones.summary(NEW_YORK, group_by="week", **{"from": "2026-10-26", "to": "2026-11-09"})
    assert (weeks["from"], weeks["to"]) == ("2026-10-26T04:00:00Z", "2026-11-09T05:00:00Z")
    assert buckets(weeks, "week") == [
        ("2026-10-26", 5, 31000, 500, D("0.0825")),  # f1..f5: 31 × 0.0025 + 5 × 0.001
        ("2026-11-02", 1, 32000, 100, D("0.081")),   # f6
    ]

    # f1 is October's in New York, November's in UTC.
    months = zones.summary(NEW_YORK, group_by="month", **{"from": "2026-10-01", "to": "2026-12-01"})
    assert (months["from"], months["to"]) == ("2026-10-01T04:00:00Z", "2026-12-01T05:00:00Z")
    assert buckets(months, "month") == [
        ("2026-10", 1, 1000, 100, D("0.0035")),      # f1
        ("2026-11", 5, 62000, 500, D("0.16")),       # f2..f6: 62 × 0.0025 + 5 × 0.001
    ]
    utc = zones.summary("UTC", group_by="month", **{"from": "2026-10-01", "to": "2026-12-01"})
    assert buckets(utc, "month") == [("2026-11", 6, 63000, 600, D("0.1635"))]


def test_new_york_month_end_event_belongs_to_april(zones):
    months = zones.summary(NEW_YORK, group_by="month", **{"from": "2026-04-01", "to": "2026-06-01"})
    assert (months["from"], months["to"]) == ("2026-04-01T04:00:00Z", "2026-06-01T04:00:00Z")
    assert buckets(months, "month") == [
        ("2026-04", 2, 3000, 200, D("0.0095")),      # a1, a2 (05-01T03:30Z is 04-30 23:30 EDT): 3 × 0.0025 + 0.002
        ("2026-05", 2, 12000, 200, D("0.032")),      # a3, a4: 12 × 0.0025 + 0.002
    ]
    days = zones.summary(NEW_YORK, group_by="day", **{"from": "2026-04-30", "to": "2026-05-02"})
    assert (days["from"], days["to"]) == ("2026-04-30T04:00:00Z", "2026-05-02T04:00:00Z")
    assert buckets(days, "day") == [
        ("2026-04-30", 2, 3000, 200, D("0.0095")),
        ("2026-05-01", 2, 12000, 200, D("0.032")),
    ]
    utc = zones.summary("UTC", group_by="month", **{"from": "2026-04-01", "to": "2026-06-01"})
    assert buckets(utc, "month") == [
        ("2026-04", 1, 1000, 100, D("0.0035")),      # a1
        ("2026-05", 3, 14000, 300, D("0.038")),      # a2..a4: 14 × 0.0025 + 0.003
    ]


# -- Asia/Kolkata ----------------------------------------------------------------------------------------------

def test_kolkata_half_hour_midnight_splits_a_utc_hour_into_two_days(zones):
    days = zones.summary(KOLKATA, group_by="day", **{"from": "2026-06-29", "to": "2026-07-02"})
    assert (days["from"], days["to"]) == ("2026-06-28T18:30:00Z", "2026-07-01T18:30:00Z")
    assert buckets(days, "day") == [
        ("2026-06-29", 1, 1000, 100, D("0.0035")),   # j0 (18:29:59Z)
        ("2026-06-30", 1, 2000, 100, D("0.006")),    # j1 (18:29Z): 2 × 0.0025 + 0.001
        ("2026-07-01", 2, 68000, 200, D("0.172")),   # j2 (18:31Z), j6 (20:00Z): 68 × 0.0025 + 2 × 0.001
    ]
    listed = zones.get(KOLKATA, "/api/v1/events", **{"from": "2026-06-30", "to": "2026-07-01"})
    assert [e["id"] for e in listed["data"]] == ["j1"]

    # In UTC, j1, j2 and j6 share June 30.
    utc = zones.summary("UTC", group_by="day", **{"from": "2026-06-29", "to": "2026-07-02"})
    assert buckets(utc, "day") == [
        ("2026-06-29", 1, 1000, 100, D("0.0035")),   # j0
        ("2026-06-30", 3, 70000, 300, D("0.178")),   # j1, j2, j6: 70 × 0.0025 + 0.003
    ]


def test_kolkata_months_begin_at_1830_utc(zones):
    months = zones.summary(KOLKATA, group_by="month", **{"from": "2026-06-01", "to": "2026-09-01"})
    assert (months["from"], months["to"]) == ("2026-05-31T18:30:00Z", "2026-08-31T18:30:00Z")
    assert buckets(months, "month") == [
        ("2026-06", 3, 11000, 300, D("0.0305")),     # j3, j0, j1: 11 × 0.0025 + 0.003
        ("2026-07", 3, 84000, 300, D("0.213")),      # j2 (07-01 00:01 IST), j6, j4: 84 × 0.0025 + 0.003
        ("2026-08", 1, 32000, 100, D("0.081")),      # j5 (07-31T18:30Z, 08-01 00:00 IST)
    ]
    assert totals(months) == (7, 127000, 700, D("0.3245"))
    utc = zones.summary("UTC", group_by="month", **{"from": "2026-06-01", "to": "2026-09-01"})
    assert buckets(utc, "month") == [
        ("2026-06", 5, 79000, 500, D("0.2025")),     # j3, j0, j1, j2, j6: 79 × 0.0025 + 0.005
        ("2026-07", 2, 48000, 200, D("0.122")),      # j4, j5
    ]


# -- America/Santiago: a day without a midnight ------------------------------------------------------------

def test_santiago_day_that_skips_midnight_begins_at_0100(zones):
    # 2026-09-06 runs from 01:00 -03 (04:00Z) to 2026-09-07 00:00 -03 (03:00Z): 23 hours. 23:30 on 09-05 (c1, at
    # 03:30Z) is not part of it.
    day = zones.summary(SANTIAGO, **{"from": "2026-09-06", "to": "2026-09-07"})
    assert (day["from"], day["to"]) == ("2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z")
    assert totals(day) == (2, 6000, 200, D("0.017"))   # c2, c3: 6 × 0.0025 + 0.002
    listed = zones.get(SANTIAGO, "/api/v1/events", **{"from": "2026-09-06", "to": "2026-09-07"})
    assert [e["id"] for e in listed["data"]] == ["c3", "c2"]

    expected = [
        ("2026-09-05", 1, 1000, 100, D("0.0035")),   # c1
        ("2026-09-06", 2, 6000, 200, D("0.017")),    # c2, c3
        ("2026-09-07", 1, 8000, 100, D("0.021")),    # c4: 8 × 0.0025 + 0.001
    ]
    days = zones.summary(SANTIAGO, group_by="day", **{"from": "2026-09-05", "to": "2026-09-08"})
    assert (days["from"], days["to"]) == ("2026-09-05T04:00:00Z", "2026-09-08T03:00:00Z")
    assert buckets(days, "day") == expected
    # User and feature together have no rollup: these buckets come from the raw events.
    raw = zones.summary(SANTIAGO, group_by="day,user,feature", **{"from": "2026-09-05", "to": "2026-09-08"})
    assert buckets(raw, "day") == expected


# -- the dashboard ------------------------------------------------------------------------------------------------

class _EventRows(html.parser.HTMLParser):
    """(data-event-id, text of td[data-col=time]) of each row of table#events-table (e2e/DASHBOARD.md)."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self._in_time = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("data-event-id"):
            self.rows.append([a["data-event-id"], ""])
        elif tag == "td":
            self._in_time = a.get("data-col") == "time" and bool(self.rows)

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_time = False

    def handle_data(self, data):
        if self._in_time:
            self.rows[-1][1] += data


def event_rows(zones, zone, **params):
    zones.switch(zone)
    r = zones.browser.get("/events", params=params)
    assert r.status_code == 200, f"/events {params}: {r.status_code} {r.text[:300]}"
    parser = _EventRows()
    parser.feed(r.text)
    return [(event_id, time.strip()) for event_id, time in parser.rows]


def test_events_page_shows_local_days_and_local_times(zones):
    # A custom range is inclusive local dates; times are shown in the organization's zone.
    assert event_rows(zones, NEW_YORK, preset="custom", **{"from": "2026-03-08", "to": "2026-03-08"}) == [
        ("s5", "2026-03-08 23:59:59"),   # EDT
        ("s4", "2026-03-08 03:00:00"),   # EDT, one second after s3
        ("s3", "2026-03-08 01:59:59"),   # EST
        ("s2", "2026-03-08 00:00:00"),   # EST
    ]
    assert event_rows(zones, NEW_YORK, preset="custom", **{"from": "2026-11-01", "to": "2026-11-01"}) == [
        ("f5", "2026-11-01 23:30:00"),   # EST
        ("f4", "2026-11-01 01:30:00"),   # EST, the second 01:30
        ("f3", "2026-11-01 01:30:00"),   # EDT, the first 01:30
        ("f2", "2026-11-01 00:00:00"),   # EDT
    ]
    assert event_rows(zones, KOLKATA, preset="custom", **{"from": "2026-07-01", "to": "2026-07-01"}) == [
        ("j6", "2026-07-01 01:30:00"),
        ("j2", "2026-07-01 00:01:00"),
    ]
    assert event_rows(zones, SANTIAGO, preset="custom", **{"from": "2026-09-06", "to": "2026-09-06"}) == [
        ("c3", "2026-09-06 23:59:59"),
        ("c2", "2026-09-06 01:00:00"),   # the day's first instant: 00:00 does not exist
    ]


def test_usage_explorer_uses_the_organization_zone(zones):
    # A custom range takes inclusive local dates: 03-07 through 03-09 is [03-07 05:00Z, 03-10 04:00Z) in New York.
    doc = zones.dashboard_export(NEW_YORK, group_by="none", grain="day", preset="custom", sort="period", dir="asc",
                                 **{"from": "2026-03-07", "to": "2026-03-09"})
    assert (doc["from"], doc["to"]) == ("2026-03-07T05:00:00Z", "2026-03-10T04:00:00Z")
    assert rows(doc) == [
        ("2026-03-07", 1, 1000, 100, D("0.0035")),
        ("2026-03-08", 4, 30000, 400, D("0.079")),
        ("2026-03-09", 1, 32000, 100, D("0.081")),
    ]
    doc = zones.dashboard_export(KOLKATA, group_by="none", grain="month", preset="custom", sort="period", dir="asc",
                                 **{"from": "2026-06-01", "to": "2026-08-31"})
    assert (doc["from"], doc["to"]) == ("2026-05-31T18:30:00Z", "2026-08-31T18:30:00Z")
    assert rows(doc) == [
        ("2026-06", 3, 11000, 300, D("0.0305")),
        ("2026-07", 3, 84000, 300, D("0.213")),
        ("2026-08", 1, 32000, 100, D("0.081")),
    ]
