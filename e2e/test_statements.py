"""Finance reports end to end (issue 20) against real `tally serve` processes on SQLite and PostgreSQL: teams as a
dimension of the summary, statements in JSON, CSV, text and PDF whose every figure equals the summary API, a project
named in Japanese and one with an emoji surviving the PDF (qpdf checks it, pypdf extracts it), a closed month whose
statement bytes do not move when prices change and whose events refuse re-pricing until it is reopened (audited),
receipts in text and PDF, and the FOCUS export checked by the FinOps focus-validator.

Events are in November 2026 (the statement) and October 2026 (the period before), at fixed instants: gpt-4o is
$2.50 per million input tokens and $10 per million output tokens in the catalog on those days."""
import csv
import datetime
import io
import subprocess
import tempfile
import time
import zoneinfo
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import clock
import pypdf
import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, api_token, assert_error, bearer, signed_in
from focus_check import validate

ROOT = Path(__file__).resolve().parents[1]
JAPANESE = "経理チーム"
EMOJI = "🚀-launch"
PROJECTS = ["web", "api", JAPANESE, EMOJI]
TEAMS = {"Growth": ["web", "api"], "Finance 経理": [JAPANESE]}  # EMOJI is in no team
GROUPINGS = ["project", "team", "user", "feature", "model"]


def ok(r, status=200):
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
    return r.json() if r.headers.get("content-type", "").startswith("application/json") and r.content else r


def raw(r, status=200):
    """The response itself, whatever its type, once its status is the one expected."""
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
    return r


def money(text):
    """The documents' money format (TallyDocuments.StatementFigures.money) from the API's exact decimal string: whole
    cents as "$1,234.56", anything finer to at most six decimals (half away from zero), trailing zeros trimmed."""
    value = Decimal(text)
    magnitude = abs(value)
    if magnitude == magnitude.quantize(Decimal("0.01")):
        shown = f"{magnitude:,.2f}"
    else:
        micro = magnitude.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        shown = f"{micro:,.6f}"
        while shown.endswith("0") and len(shown.split(".")[1]) > 2:
            shown = shown[:-1]
    negative = value < 0 and shown.strip("0.,") != ""
    return ("-$" if negative else "$") + shown


def events():
    """Known usage: each project in November, some in October, users and features varied."""
    out = []
    for i, project in enumerate(PROJECTS):
        for day in (3, 17, 30):
            out.append({"id": f"nov-{i}-{day}", "timestamp": f"2026-11-{day:02d}T12:00:00Z", "provider": "openai",
                        "model": "gpt-4o" if day != 17 else "gpt-4o-mini", "project": project,
                        "user": f"user-{day % 2}", "feature": "chat" if i % 2 else None,
                        "input_tokens": 100_000 * (i + 1), "output_tokens": 7_000 * (day % 5 + 1)})
        out.append({"id": f"oct-{i}", "timestamp": "2026-10-20T08:00:00Z", "provider": "openai", "model": "gpt-4o",
                    "project": project, "input_tokens": 50_000 * (i + 1), "output_tokens": 1_000})
    out.append({"id": "nov-unpriced", "timestamp": "2026-11-10T09:00:00Z", "provider": "openai",
                "model": "tally-e2e-unpriced", "project": "web", "input_tokens": 10, "output_tokens": 1,
                "status": "error"})
    return [{k: v for k, v in e.items() if v is not None} for e in out]


class Finance:
    """A signed-in owner, an admin token, the four projects and two teams, and the events ingested."""

    def __init__(self, server):
        self.server = server
        self.owner = signed_in(server)
        self.token = api_token(self.owner, project="web", scopes=("admin",), name="finance-e2e")
        for p in PROJECTS:
            assert self.owner.api("POST", "/api/v1/projects", json={"name": p}).status_code in (201, 409)
        self.teams = {}
        for name, projects in TEAMS.items():
            self.teams[name] = ok(self.api("POST", "/api/v1/teams", json={"name": name, "projects": projects}), 201)
        r = requests.post(server.url + "/api/v1/events", json=events(), headers=bearer(self.token), timeout=60)
        assert r.status_code == 200 and r.json()["accepted"] == len(events()), r.text

    def api(self, method, path, **kw):
        return requests.request(method, self.server.url + path, headers=bearer(self.token), timeout=60, **kw)


@pytest.fixture
def finance(site):
    return Finance(site.serve())


def pdf_text(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        check = subprocess.run(["qpdf", "--check", f.name], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_statements_agree_with_the_summary_in_every_format_and_grouping(finance):
    summary = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01"))
    previous = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-10-01&to=2026-11-01"))
    for grouping in GROUPINGS:
        s = ok(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by={grouping}"))
        assert s["period"] == {"kind": "month", "label": "2026-11", "from": "2026-11-01", "to": "2026-11-30",
                               "start": s["period"]["start"], "end": s["period"]["end"]}
        assert s["closed"] is None and s["group_by"] == grouping
        for key in ("requests", "errors", "unpriced_requests", "cost_usd", "input_tokens", "output_tokens"):
            assert s["totals"][key] == summary["totals"][key], key
            assert s["previous"]["totals"][key] == previous["totals"][key], key
        assert s["totals"]["tokens"] == summary["totals"]["input_tokens"] + summary["totals"]["output_tokens"]
        by = ok(finance.api("GET", f"/api/v1/usage/summary?from=2026-11-01&to=2026-12-01&group_by={grouping}"))
        api_groups = {g[grouping]: g for g in by["groups"]}
        assert {g["key"] for g in s["groups"]} == set(api_groups)
        for g in s["groups"]:
            a = api_groups[g["key"]]
            assert (g["requests"], g["cost_usd"], g["input_tokens"]) == (a["requests"], a["cost_usd"],
                                                                          a["input_tokens"]), g
        assert sum(Decimal(g["cost_usd"] or "0") for g in s["groups"]) == Decimal(s["totals"]["cost_usd"])
        assert sum(Decimal(d["cost_usd"]) for d in s["daily"]) == Decimal(s["totals"]["cost_usd"])
        assert [d["date"] for d in s["daily"]][0] == "2026-11-01" and len(s["daily"]) == 30

        # CSV: one row per group and a Total row, the same exact figures.
        r = ok(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by={grouping}&format=csv"))
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert rows[-1]["group"] == "Total" and Decimal(rows[-1]["cost_usd"]) == Decimal(s["totals"]["cost_usd"])
        assert sum(Decimal(row["cost_usd"]) for row in rows[:-1]) == Decimal(s["totals"]["cost_usd"])
        assert len(rows) == len(s["groups"]) + 1

        # Text and PDF: every group's name and cost, the totals, as the documents format money.
        text = ok(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by={grouping}&format=txt")).text
        r = ok(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by={grouping}&format=pdf"))
        assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
        extracted = pdf_text(r.content)
        for doc in (text, extracted):
            assert money(s["totals"]["cost_usd"]) in doc
            assert money(s["previous"]["totals"]["cost_usd"]) in doc
            assert f"{s['totals']['requests']:,}" in doc
            for g in s["groups"]:
                assert g["name"] in doc, g["name"]
                assert money(g["cost_usd"] or "0") in doc, (g["name"], g["cost_usd"])
    teams = ok(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team"))
    assert {g["name"] for g in teams["groups"]} == {"Growth", "Finance 経理", "no team"}
    assert [g for g in teams["groups"] if g["key"] is None][0]["name"] == "no team"
    projects_pdf = ok(finance.api("GET", "/api/v1/statements?period=2026-11&format=pdf")).content
    for name in (JAPANESE, EMOJI):
        assert name in pdf_text(projects_pdf)


def test_periods_weeks_days_and_cycles(finance):
    week = ok(finance.api("GET", "/api/v1/statements?period=2026-W47"))
    assert (week["period"]["from"], week["period"]["to"], week["previous"]["label"]) == (
        "2026-11-16", "2026-11-22", "2026-W46")
    day = ok(finance.api("GET", "/api/v1/statements?period=2026-11-17&group_by=model"))
    by = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-17&to=2026-11-18"))
    assert day["totals"]["cost_usd"] == by["totals"]["cost_usd"] and len(day["daily"]) == 1
    cycle = ok(finance.api("GET", "/api/v1/statements?billing_cycle=2026-11"))
    assert cycle["period"]["kind"] == "billing_cycle"
    for query, field in [("period=2026-13", "period"), ("period=2026-W54", "period"), ("group_by=api_key", "group_by"),
                         ("format=docx", "format"), ("period=2026-11&billing_cycle=2026-11", "period"),
                         ("period=2026-11%00", "period"), ("surprise=1", "surprise")]:
        assert_error(finance.api("GET", "/api/v1/statements?" + query), 400)
        assert field in finance.api("GET", "/api/v1/statements?" + query).text


def test_teams_are_a_dimension_and_refuse_what_they_cannot_be(finance, site):
    growth = finance.teams["Growth"]
    assert sorted(growth["projects"]) == ["api", "web"]
    listed = ok(finance.api("GET", "/api/v1/teams"))["data"]
    assert [t["name"] for t in listed] == ["Finance 経理", "Growth"]
    by_team = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01&group_by=team"))
    assert {g["team"] for g in by_team["groups"]} == {"Growth", "Finance 経理", None}
    only = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01&team=Growth"))
    grouped = {g["team"]: g for g in by_team["groups"]}
    assert only["totals"]["cost_usd"] == grouped["Growth"]["cost_usd"]
    none = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01&team=none"))
    assert none["totals"]["cost_usd"] == grouped[None]["cost_usd"]
    events = ok(finance.api("GET", "/api/v1/events?team=none&limit=100"))["data"]
    assert events and {e["project"] for e in events} == {EMOJI}

    # A project is in at most one team; "none" is reserved; every problem names its field.
    r = finance.api("POST", "/api/v1/teams", json={"name": "Other", "projects": ["api"]})
    assert_error(r, 400)
    assert "projects[0]" in r.text and "Growth" in r.text
    assert "name" in finance.api("POST", "/api/v1/teams", json={"name": "None", "projects": []}).text
    r = finance.api("POST", "/api/v1/teams", json={"name": "X", "projects": ["nope", 3], "extra": 1})
    assert_error(r, 400)
    assert "extra" in r.text
    r = finance.api("POST", "/api/v1/teams", json={"name": "X\u0000", "projects": ["nope", 3]})
    assert_error(r, 400)
    assert "projects[1]" in r.text and "name" in r.text
    r = finance.api("POST", "/api/v1/teams", json={"name": "X", "projects": ["nope"]})
    assert_error(r, 400)
    assert "projects[0]" in r.text
    assert {t["name"] for t in ok(finance.api("GET", "/api/v1/teams"))["data"]} == set(TEAMS)  # nothing was stored
    r = finance.api("PATCH", f"/api/v1/teams/{growth['id']}", json={"projects": ["web"]})
    assert ok(r)["projects"] == ["web"]
    moved = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01&team=none&group_by=project"))
    assert {g["project"] for g in moved["groups"]} == {"api", EMOJI}
    # A viewer reads teams but cannot write them; another organization's team is not found.
    viewer_token = api_token(finance.owner, project="web", scopes=("read",), name="viewer")
    r = requests.post(finance.server.url + "/api/v1/teams", json={"name": "V"}, headers=bearer(viewer_token),
                      timeout=30)
    assert r.status_code == 403
    # Teams name every project: a token of one project does not list them.
    r = requests.get(finance.server.url + "/api/v1/teams", headers=bearer(viewer_token), timeout=30)
    assert r.status_code == 403
    assert finance.api("GET", "/api/v1/teams/team_does_not_exist").status_code == 404
    r = finance.api("POST", "/api/v1/teams", json={"name": "R&D, EU", "projects": []})
    assert_error(r, 400)
    assert "comma" in r.text
    for name in ("no team", "NONE"):
        assert_error(finance.api("POST", "/api/v1/teams", json={"name": name}), 400)
    # A NUL byte in a filter is a 400 naming it, on SQLite and PostgreSQL alike.
    for query in ("team=%00", "project=a%00b", "model=%01"):
        r = finance.api("GET", "/api/v1/usage/summary?" + query)
        assert_error(r, 400)
        assert query.split("=")[0] in r.text
    ok(finance.api("DELETE", f"/api/v1/teams/{growth['id']}"), 204)
    assert finance.api("DELETE", f"/api/v1/teams/{growth['id']}").status_code == 404


def test_a_closed_month_is_frozen_numbered_and_refuses_repricing_until_reopened(finance):
    before = ok(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team"))
    closed = ok(finance.api("POST", "/api/v1/periods/2026-11/close"), 201)
    assert closed["number"] == "ST-202611-1" and closed["closed_by"]
    assert_error(finance.api("POST", "/api/v1/periods/2026-11/close"), 409)
    assert_error(finance.api("POST", "/api/v1/periods/2099-01/close"), 409)  # has not ended
    assert_error(finance.api("POST", "/api/v1/periods/2026-13/close"), 400)
    frozen = {fmt: raw(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by=team&format={fmt}")).content
              for fmt in ("json", "pdf", "csv", "txt")}
    s = ok(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team"))
    assert s["closed"]["number"] == "ST-202611-1" and s["totals"] == before["totals"]
    assert "ST-202611-1" in pdf_text(frozen["pdf"]) and "Closed on" in pdf_text(frozen["pdf"])
    assert ok(finance.api("GET", "/api/v1/periods"))["data"][0]["month"] == "2026-11"

    # New prices: the closed month refuses re-pricing (409 naming it) and its statement bytes do not change.
    ok(finance.api("POST", "/api/v1/prices", json={"provider": "openai", "model": "gpt-4o", "from": "2026-10-01",
                                                    "prices": {"input": "5.00", "output": "20.00"}}), 201)
    r = finance.api("POST", "/api/v1/prices/recompute", json={"from": "2026-10-01", "to": "2026-12-01"})
    assert_error(r, 409)
    assert "2026-11" in r.text
    late = {"id": "late", "timestamp": "2026-11-29T10:00:00Z", "provider": "openai", "model": "gpt-4o",
            "project": "web", "input_tokens": 1_000_000, "output_tokens": 0}
    assert requests.post(finance.server.url + "/api/v1/events", json=[late], headers=bearer(finance.token),
                         timeout=30).status_code == 200
    for fmt, data in frozen.items():
        assert raw(finance.api("GET", f"/api/v1/statements?period=2026-11&group_by=team&format={fmt}")).content == data

    # Reopened: re-pricing works, and both steps are audited.
    assert ok(finance.api("POST", "/api/v1/periods/2026-11/reopen"))["closed"] is False
    assert_error(finance.api("POST", "/api/v1/periods/2026-11/reopen"), 404)
    done = ok(finance.api("POST", "/api/v1/prices/recompute", json={"from": "2026-10-01", "to": "2026-12-01"}))
    assert done["applied"] and done["changed"] > 0
    after = ok(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team"))
    assert after["closed"] is None and Decimal(after["totals"]["cost_usd"]) > Decimal(before["totals"]["cost_usd"])
    actions = [a["action"] for a in ok(finance.owner.api("GET", "/api/v1/audit?limit=50"))["data"]]
    assert "period.close" in actions and "period.reopen" in actions and "price.recompute" in actions
    assert ok(finance.api("POST", "/api/v1/periods/2026-11/close"), 201)["number"] == "ST-202611-2"


def test_receipts_in_text_and_pdf(finance, site):
    event = ok(finance.api("GET", "/api/v1/events/nov-2-3"))
    text = ok(finance.api("GET", "/api/v1/events/nov-2-3/receipt?format=txt")).text
    for needle in (JAPANESE, "gpt-4o", "openai", money(event["cost_usd"]), "provider's invoice is authoritative",
                   "R-"):
        assert needle in text, needle
    lines = event["cost_breakdown"]["lines"]
    assert lines and event["cost_breakdown"]["price_id"] in text
    for line in lines:
        assert money(line["cost_usd"]) in text and f"{line['tokens']:,}" in text
    r = ok(finance.api("GET", "/api/v1/events/nov-2-3/receipt?format=pdf"))
    extracted = pdf_text(r.content)
    assert JAPANESE in extracted and money(event["cost_usd"]) in extracted
    unpriced = ok(finance.api("GET", "/api/v1/events/nov-unpriced/receipt")).text
    assert "Unpriced" in unpriced
    assert_error(finance.api("GET", "/api/v1/events/nov-2-3/receipt?format=html"), 400)
    assert finance.api("GET", "/api/v1/events/no-such-event/receipt").status_code == 404
    # A token of another project does not see this project's receipt.
    other = api_token(finance.owner, project="api", scopes=("read",), name="api-reader")
    r = requests.get(finance.server.url + "/api/v1/events/nov-2-3/receipt", headers=bearer(other), timeout=30)
    assert r.status_code == 404


def test_the_focus_export_passes_the_validator_and_adds_up_to_the_summary(finance):
    r = ok(finance.api("GET", "/api/v1/exports/focus?from=2026-10-01&to=2026-12-01"))
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    summary = ok(finance.api("GET", "/api/v1/usage/summary?from=2026-10-01&to=2026-12-01"))
    assert sum(Decimal(row["BilledCost"]) for row in rows) == Decimal(summary["totals"]["cost_usd"])
    by_project = defaultdict(Decimal)
    for row in rows:
        by_project[row["x_ProjectName"]] += Decimal(row["BilledCost"])
    assert set(by_project) == set(PROJECTS)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", encoding="utf-8", newline="") as f:
        f.write(r.text)
        f.flush()
        passed, report = validate(f.name, python=str(ROOT / ".venv-focus" / "bin" / "python"))
    assert passed, report
    assert_error(finance.api("GET", "/api/v1/exports/focus?from=2026-12-01&to=2026-10-01"), 400)


def test_scheduled_statements_are_mailed_once_with_the_pdf_attached(smtp_sink):
    """The email channel opted in to the monthly statement gets last month's statement (PDF and CSV attached) from the
    first check, once, also after a restart; the weekly summary comes with its CSV; send-now mails on demand."""
    with tempfile.TemporaryDirectory() as d:
        tally = _accounts_tally("sqlite", d, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                              "TALLY_SMTP_URL": smtp_sink.url(), "TALLY_INSIGHT_INTERVAL": "off"})
        try:
            finance = Finance(tally.serve())
            # The month due is the one before the month of (now - 8 h) in the organization's zone (sent from 08:00
            # on the 1st), as StatementMailer.duePeriod says.
            zone = zoneinfo.ZoneInfo(ok(finance.owner.api("GET", "/api/v1/me"))["organization"]["time_zone"])
            today = (clock.now().astimezone(zone) - datetime.timedelta(hours=8)).date()
            last_month = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
            # An event in last month, so its statement has a figure to check whatever today is.
            e = {"id": "last-month", "timestamp": f"{last_month}-15T12:00:00Z", "provider": "openai",
                 "model": "gpt-4o", "project": JAPANESE, "input_tokens": 400_000, "output_tokens": 1_000}
            assert finance.api("POST", "/api/v1/events", json=[e]).status_code == 200
            channel = ok(finance.api("POST", "/api/v1/alert-channels", json={
                "name": "finance", "type": "email", "to": ["finance@example.test", "cfo@example.test"],
                "monthly_statement": True, "weekly_summary": False}), 201)
            assert channel["monthly_statement"] is True and channel["weekly_summary"] is False
            assert_error(finance.api("POST", "/api/v1/alert-channels", json={
                "name": "hook", "type": "webhook", "url": "https://example.test/h", "monthly_statement": True}), 400)
            assert_error(finance.api("PATCH", f"/api/v1/alert-channels/{channel['id']}",
                                     json={"weekly_summary": "yes"}), 400)
            statement = ok(finance.api("GET", f"/api/v1/statements?period={last_month}&group_by=team"))
            tally.stop_all()

            # The evaluator's first check sends it; a second server (a restart, or another replica) does not again.
            for _ in range(2):
                tally.serve(TALLY_INSIGHT_INTERVAL="1s")
                monthly = [m for m in smtp_sink.wait_for(2, timeout=30) if "Statement" in m["message"]["subject"]]
                time.sleep(2.5)
                tally.stop_all()
            monthly = [m for m in smtp_sink.messages if "Statement" in m["message"]["subject"]]
            assert sorted(r for m in monthly for r in m["rcpt_tos"]) == ["cfo@example.test", "finance@example.test"]
            message = monthly[0]["message"]
            assert message["subject"] == f"[Tally] Statement {last_month}: {money(statement['totals']['cost_usd'])}"
            files = {p.get_filename(): p for p in message.iter_attachments()}
            assert set(files) == {f"tally-statement-{last_month}.pdf", f"tally-statement-{last_month}.csv"}
            pdf = files[f"tally-statement-{last_month}.pdf"]
            assert pdf.get_content_type() == "application/pdf"
            text = pdf_text(pdf.get_content())
            assert money(statement["totals"]["cost_usd"]) in text and "Finance 経理" in text
            rows = list(csv.DictReader(io.StringIO(files[f"tally-statement-{last_month}.csv"].get_content())))
            assert Decimal(rows[-1]["cost_usd"]) == Decimal(statement["totals"]["cost_usd"])
            assert money(statement["totals"]["cost_usd"]) in monthly[0]["text"]

            # Send-now: the weekly summary of a given week, at once, CSV only.
            server = tally.serve()
            sent = ok(requests.post(server.url + f"/api/v1/alert-channels/{channel['id']}/send-now",
                                    json={"report": "weekly_summary", "period": "2026-W47"},
                                    headers=bearer(finance.token), timeout=60))
            assert sorted(sent["sent_to"]) == ["cfo@example.test", "finance@example.test"] and sent["failed"] == []
            weekly = [m for m in smtp_sink.wait_for(len(monthly) + 2)
                      if m["message"]["subject"].startswith("[Tally] Weekly summary 2026-W47")]
            assert len(weekly) == 2
            assert [p.get_filename() for p in weekly[0]["message"].iter_attachments()] == [
                "tally-statement-2026-W47.csv"]
            r = requests.post(server.url + f"/api/v1/alert-channels/{channel['id']}/send-now",
                              json={"report": "yearly"}, headers=bearer(finance.token), timeout=30)
            assert_error(r, 400)
            assert "report" in r.text
        finally:
            tally.stop_all()


def test_the_statements_page_in_a_browser_closes_the_month_and_the_screenshots(driver, site):
    """The Statements page shows the API's figures, an admin closes the month from it, and the page, a statement PDF
    and a receipt PDF are photographed (docs/screenshots with TALLY_REFRESH_SCREENSHOTS=1)."""
    from selenium.webdriver.common.by import By
    from test_dashboard import SCREENSHOTS, sign_in
    finance = Finance(site.serve())
    s = ok(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team"))
    sign_in(driver, finance.server)
    driver.get(finance.server.url + "/statements?period=2026-11&group_by=team")
    spend = driver.wait_css("#kpi-spend .value").text
    assert spend == money(s["totals"]["cost_usd"])
    rows = driver.css_all("#statement-groups tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == [g["name"] for g in s["groups"]]
    pdf_link = driver.css("a[href$='format=pdf']").get_attribute("href")
    assert "period=2026-11" in pdf_link and "group_by=team" in pdf_link
    driver.set_window_size(1280, 1600)
    driver.save_screenshot_png(SCREENSHOTS / "statements-page.png")
    driver.css("#close-period button[type=submit]").click()
    driver.wait_css("#statement-closed")
    assert "ST-202611-1" in driver.css("#statement-closed").text
    assert ok(finance.api("GET", "/api/v1/periods"))["data"][0]["number"] == "ST-202611-1"

    # The documents themselves, as pictures (first page).
    statement_pdf = raw(finance.api("GET", "/api/v1/statements?period=2026-11&group_by=team&format=pdf")).content
    receipt_pdf = raw(finance.api("GET", "/api/v1/events/nov-2-3/receipt?format=pdf")).content
    for name, data in (("statement-pdf", statement_pdf), ("receipt-pdf", receipt_pdf)):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "doc.pdf"
            path.write_bytes(data)
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(path),
                            str(Path(d) / "page")], check=True)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            png = (Path(d) / "page.png").read_bytes()
            assert png.startswith(b"\x89PNG") and len(png) > 10_000
            (SCREENSHOTS / f"{name}.png").write_bytes(png)
