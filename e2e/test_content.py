"""Content capture, safety filters, quality flags and the playground (issue 21), end to end: real `tally serve`
processes on SQLite and PostgreSQL, the official `openai` and `anthropic` SDKs as clients, the stand-in upstreams
(standins/upstreams.py: `[[echo]]`, `answer_text`, `answer_refusal`, `tool_arguments`) behind them, a real Chromium.

- Capture off: a unique marker in the prompt and the answer is in no file of the data directory, no pg_dump and no
  log line (trace level). Capture full: the marker is on the event page and in the content API for an admin, for a
  member neither, in the database only sealed; past the retention the rows are gone.
- Filters: block raises the SDK's BadRequestError naming the filter (never the text) and nothing reaches the
  stand-in; redact sends the stand-in the redacted text; flag forwards. A catastrophic regex stalls nothing.
- Quality flags from stand-in answers of each kind, streamed and not; filtered and counted through the API.
- The playground in Chromium: send, the streamed answer, the cost equal to the event's, the receipt."""
import concurrent.futures
import json
import os
import sqlite3
import time
import uuid

import anthropic
import openai
import pytest
import requests

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, _accounts_tally, api_token, bearer, signed_in, wait_until
from test_accounts import member_with_role
from test_dashboard import SCREENSHOTS, sign_in
from test_vault import database_bytes


class Site:
    """A `tally serve` with the owner signed in, an admin token, a gateway token of project `web`, and OpenAI and
    Anthropic connections to the stand-ins."""

    def __init__(self, tally, server, standins):
        self.tally, self.server, self.standins = tally, server, standins
        self.owner = signed_in(server)
        self.admin = api_token(self.owner, project="ops", scopes=("admin",), name="ops")
        self.gateway = api_token(self.owner, project="web", scopes=("gateway", "read"), name="gw")
        for provider in ("openai", "anthropic"):
            s = standins[provider]
            r = self.api("POST", "/api/v1/provider-connections",
                         json={"provider": provider, "name": provider, "base_url": s.url, "api_key": s.key})
            assert r.status_code == 201, r.text
            s.clear()

    def api(self, method, path, token=None, **kw):
        kw.setdefault("timeout", 30)
        return requests.request(method, self.server.url + path, headers=bearer(token or self.admin), **kw)

    def project_id(self, name="web"):
        r = self.api("GET", "/api/v1/projects")
        return next(p["id"] for p in r.json()["data"] if p["name"] == name)

    def capture(self, mode, days=30):
        r = self.api("PATCH", f"/api/v1/projects/{self.project_id()}",
                     json={"content_capture": mode, "content_retention_days": days})
        assert r.status_code == 200 and r.json()["content_capture"] == mode, r.text
        return r.json()

    def filter(self, status=201, **body):
        r = self.api("POST", "/api/v1/safety-filters", json=body)
        assert r.status_code == status, f"{body}: {r.status_code} {r.text}"
        return r.json()

    def events(self, **params):
        r = self.api("GET", "/api/v1/events", params={"project": "web", "limit": 1000, **params})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def the_event(self, before, **params):
        """The one event stored after `before` (ids), waiting for the gateway's recorder."""
        found = wait_until(lambda: [e for e in self.events(**params) if e["id"] not in before] or None,
                           what="the call's event")
        assert len(found) == 1, found
        return found[0]

    def openai(self, max_retries=0):
        return openai.OpenAI(api_key=self.gateway, base_url=self.server.url + "/gateway/openai/v1",
                             max_retries=max_retries)

    def anthropic(self):
        return anthropic.Anthropic(api_key=self.gateway, base_url=self.server.url + "/gateway/anthropic",
                                   max_retries=0)


def start(kind, tmp_path, standins, **env):
    tally = _accounts_tally(kind, str(tmp_path), {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL,
                                                   "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                                   "TALLY_SYNC_INTERVAL": "off", **env})
    return Site(tally, tally.serve(), standins)


@pytest.fixture(params=["sqlite", "postgres"])
def any_site(request, tmp_path, upstream_standins):
    s = start(request.param, tmp_path, upstream_standins, TALLY_LOG_LEVEL="trace")
    try:
        yield s
    finally:
        s.tally.stop_all()


@pytest.fixture
def site(tmp_path, upstream_standins):
    s = start("sqlite", tmp_path, upstream_standins)
    try:
        yield s
    finally:
        s.tally.stop_all()


def chat(site, text, stream=False, max_tokens=64, **kw):
    c = site.openai()
    messages = [{"role": "user", "content": text}]
    if stream:
        chunks = list(c.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens,
                                                stream=True, **kw))
        return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    return c.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens,
                                     **kw).choices[0].message.content


# -- capture -----------------------------------------------------------------------------------------------------

def test_capture_off_writes_no_byte_of_a_body_anywhere(any_site):
    marker = "MARKER-" + uuid.uuid4().hex
    assert any_site.api("GET", f"/api/v1/projects").json()["data"][0]["content_capture"] == "off"
    assert marker in chat(any_site, f"{marker} [[echo]]")
    assert marker in chat(any_site, f"{marker} again [[echo]]", stream=True)
    with any_site.anthropic().messages.stream(model="claude-haiku-4-5", max_tokens=64,
                                             messages=[{"role": "user", "content": f"{marker} [[echo]]"}]) as s:
        assert marker in s.get_final_text()
    wait_until(lambda: len(any_site.events()) == 3, what="three events")
    event = any_site.events()[0]
    r = any_site.api("GET", f"/api/v1/events/{event['id']}/content")
    assert r.status_code == 200 and r.json() == {"event_id": event["id"], "captured": False}
    time.sleep(0.5)  # past a flush of the recorder and the logs
    assert marker.encode() not in database_bytes(any_site.tally)
    assert marker not in any_site.tally.logs()


def test_capture_full_is_sealed_admin_only_audited_and_expires(any_site):
    marker = "MARKER-" + uuid.uuid4().hex
    settings = any_site.capture("full", days=1)
    assert settings["content_retention_days"] == 1
    before = {e["id"] for e in any_site.events()}
    assert marker in chat(any_site, f"please repeat {marker} [[echo]]")
    event = any_site.the_event(before)
    content = any_site.api("GET", f"/api/v1/events/{event['id']}/content").json()
    assert content["captured"] and content["mode"] == "full"
    assert marker in content["request"] and marker in content["response"]
    assert json.loads(content["response"])["choices"][0]["message"]["content"].startswith("please repeat")
    # The event page shows it to the owner, as text; a member sees neither the page's section nor the API.
    page = any_site.owner.get(f"/events/{event['id']}")
    assert page.status_code == 200 and marker in page.text and 'id="captured-content"' in page.text
    member = member_with_role(any_site.owner, "member")
    assert member.api("GET", f"/api/v1/events/{event['id']}/content").status_code == 403
    member_page = member.get(f"/events/{event['id']}")
    assert member_page.status_code == 200 and marker not in member_page.text
    audit = any_site.api("GET", "/api/v1/audit", params={"limit": 50}).json()["data"]
    assert sum(a["action"] == "event.content.view" for a in audit) >= 2
    assert any(a["action"] == "project.content_capture" for a in audit)
    # Sealed in the database: not in any file or dump, in plaintext.
    assert marker.encode() not in database_bytes(any_site.tally)
    assert marker not in any_site.tally.logs()
    # Two days later the janitor (it runs at start) has deleted the row, and the API says so.
    any_site.tally.stop_all()
    later = any_site.tally.serve(TALLY_CLOCK_OFFSET_SECONDS=str(2 * 86_400))
    r = requests.get(later.url + f"/api/v1/events/{event['id']}/content", headers=bearer(any_site.admin), timeout=30)
    assert r.status_code == 200 and r.json()["captured"] is False
    rows = content_rows_pg if any_site.tally.database_url else content_rows_sqlite
    wait_until(lambda: rows(any_site.tally) == 0, what="the expired row deleted")


def content_rows_sqlite(tally):
    db = sqlite3.connect(f"file:{tally.data_dir}/tally.sqlite?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM event_contents").fetchone()[0]
    finally:
        db.close()


def content_rows_pg(tally):
    import subprocess
    import urllib.parse
    parts = urllib.parse.urlsplit(tally.database_url)
    out = subprocess.run(["psql", "-tA", "-h", parts.hostname, "-p", str(parts.port), "-U", parts.username or "postgres",
                          "-d", parts.path.lstrip("/"), "-c", "SELECT COUNT(*) FROM event_contents"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


def test_redacted_capture_keeps_no_personal_data(site):
    site.capture("redacted")
    before = {e["id"] for e in site.events()}
    chat(site, "write to dana@example.com about card 4111 1111 1111 1111 [[echo]]")
    event = site.the_event(before)
    content = site.api("GET", f"/api/v1/events/{event['id']}/content").json()
    assert content["mode"] == "redacted"
    for body in (content["request"], content["response"]):
        assert "dana@example.com" not in body and "4111 1111 1111 1111" not in body
        assert "[REDACTED:EMAIL]" in body and "[REDACTED:CREDIT_CARD]" in body


def test_only_admins_set_capture_and_bad_values_name_their_field(site):
    pid = site.project_id()
    bad = site.api("PATCH", f"/api/v1/projects/{pid}", json={"content_capture": "everything",
                                                          "content_retention_days": 0})
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"content_capture", "content_retention_days"}
    member = member_with_role(site.owner, "member")
    assert member.api("PATCH", f"/api/v1/projects/{pid}", json={"content_capture": "full"}).status_code == 403


# -- safety filters ----------------------------------------------------------------------------------------------

def test_block_redact_and_flag_with_the_official_sdks(site):
    oa, an = site.standins["openai"], site.standins["anthropic"]
    site.filter(name="codenames", keywords=["Project Zeus"], on="request", action="block")
    site.filter(name="pii", detectors=["email", "phone"], on="request", action="redact")
    site.filter(name="cards", detectors=["credit_card"], on="both", action="flag")

    with pytest.raises(openai.BadRequestError) as blocked:
        chat(site, "what is project zeus?")
    message = str(blocked.value)
    assert "content_blocked" in message and "codenames" in message and "zeus" not in message.lower().replace(
        "codenames", "")
    with pytest.raises(anthropic.BadRequestError):
        site.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=16,
                                         messages=[{"role": "user", "content": "Project Zeus status"}])
    assert oa.requests == [] and an.requests == []

    answer = chat(site, "mail erin@example.org or call +1 415 555 0100 [[echo]]")
    sent = oa.last().json["messages"][0]["content"]
    assert "erin@example.org" not in sent and "[REDACTED:EMAIL]" in sent and "[REDACTED:PHONE]" in sent
    assert "[REDACTED:EMAIL]" in answer  # the SDK parsed the re-serialized body as usual
    chat(site, "card 4111 1111 1111 1111")
    assert "4111 1111 1111 1111" in oa.last().json["messages"][0]["content"]

    events = wait_until(lambda: (lambda es: es if len(es) == 4 else None)(site.events()), what="four events")
    flags = sorted(tuple(e["safety_flags"]) for e in events)
    assert ("keyword:codenames", "blocked:codenames") in flags
    assert ("pii.email", "pii.phone") in flags and ("pii.credit_card",) in flags
    blocked_events = [e for e in events if e["error_type"] == "content_blocked"]
    assert len(blocked_events) == 2 and all(float(e["cost_usd"]) == 0 for e in blocked_events)
    flagged = site.api("GET", "/api/v1/events", params={"flag": "pii.credit_card"}).json()["data"]
    assert len(flagged) == 1


def test_a_blocking_response_filter_sees_the_answer_before_the_client(site):
    site.filter(name="leak", keywords=["hush-hush"], on="response", action="block")
    with pytest.raises(openai.BadRequestError) as e:
        chat(site, "the plan is hush-hush [[echo]]")
    assert "leak" in str(e.value) and "hush-hush" not in str(e.value)
    # A stream is flagged only: its bytes reach the client as they come.
    assert "hush-hush" in chat(site, "the plan is hush-hush [[echo]]", stream=True)
    events = wait_until(lambda: (lambda es: es if len(es) == 2 else None)(site.events()), what="two events")
    by_stream = {e["streamed"]: e for e in events}
    assert by_stream[False]["error_type"] == "content_blocked" and by_stream[False]["input_tokens"] > 0
    assert "keyword:leak" in by_stream[True]["safety_flags"] and by_stream[True]["status"] == "success"


def test_filters_are_checked_and_a_catastrophic_regex_stalls_nothing(site):
    bad = site.filter(400, name="x,y", detectors=["dna"], regex=["(a)\\1", "(?=a)"], on="up", action="nuke")
    fields = {d["field"] for d in bad["error"]["details"]}
    assert fields == {"name", "detectors[0]", "regex[0]", "regex[1]", "on", "action"}
    f = site.filter(name="nested", regex=["(a+)+$", "(.*a){20}"], on="request", action="flag")
    assert site.api("GET", f"/api/v1/safety-filters/{f['id']}").json()["regex"] == ["(a+)+$", "(.*a){20}"]
    hostile = "a" * 200_000 + "!"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow = pool.submit(chat, site, hostile)
        normal = [pool.submit(chat, site, f"hello {i}") for i in range(3)]
        for n in normal:
            n.result(timeout=60)
        slow.result(timeout=120)
    events = wait_until(lambda: (lambda es: es if len(es) == 4 else None)(site.events()), what="four events")
    assert all(e["status"] == "success" for e in events)
    member = member_with_role(site.owner, "member")
    assert member.api("GET", "/api/v1/safety-filters").status_code == 403
    assert site.api("DELETE", f"/api/v1/safety-filters/{f['id']}").status_code == 204
    assert site.api("GET", f"/api/v1/safety-filters/{f['id']}").status_code == 404


# -- quality flags ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stream", [False, True])
def test_quality_flags_from_answers_of_each_kind(site, stream):
    oa = site.standins["openai"]
    cases = []

    def case(expected, **knobs):
        oa.answer_text = knobs.get("answer_text")
        oa.answer_refusal = knobs.get("answer_refusal")
        oa.tool_arguments = knobs.get("tool_arguments")
        before = {e["id"] for e in site.events()}
        kw = {"response_format": {"type": "json_object"}} if knobs.get("json") else {}
        if knobs.get("tool_arguments") is not None:
            kw["tools"] = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        try:
            chat(site, "go", stream=stream, max_tokens=knobs.get("max_tokens", 200), **kw)
        finally:
            oa.answer_text = oa.answer_refusal = oa.tool_arguments = None
        cases.append((expected, site.the_event(before)["quality_flags"]))

    case([], answer_text="A short, complete answer.")
    case(["empty"], answer_text="")
    case(["truncated"], answer_text="word " * 100, max_tokens=5)
    case(["refusal"], answer_refusal="I can't help with that.")
    case(["refusal"], answer_text="I'm sorry, but I can't assist with that request.")
    case(["invalid_json"], answer_text="{\"a\": 1,", json=True)
    case([], answer_text="{\"a\": 1}", json=True)
    case(["invalid_json"], tool_arguments="{\"city\": ")
    case(["repetition"], answer_text="the same line again. " * 30)
    for expected, got in cases:
        assert got == expected, cases

    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 3 * 86_400))
    report = site.api("GET", "/api/v1/usage/flags", params={"from": since}).json()
    counted = {f["flag"]: f["requests"] for f in report["flags"]}
    assert counted == {"empty": 1, "truncated": 1, "refusal": 2, "invalid_json": 2, "repetition": 1}
    assert report["requests"] == 9
    truncated = site.api("GET", "/api/v1/events", params={"flag": "truncated"}).json()["data"]
    assert [e["finish_reason"] for e in truncated] == ["length"]
    export = site.api("GET", "/api/v1/events/export", params={"format": "csv", "flag": "refusal"}).text
    assert export.count("\r\n") == 3 and "quality_flags" in export.splitlines()[0]


def test_truncated_answers_become_an_insight(site):
    oa = site.standins["openai"]
    oa.answer_text = "word " * 100
    c = site.openai()
    # 30 answers of feature `summaries`, 10 cut by the output limit: 33% truncated.
    for i in range(30):
        c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"text {i}"}],
                                  max_tokens=5 if i < 10 else 500, extra_headers={"X-Tally-Feature": "summaries"})
    oa.answer_text = None
    wait_until(lambda: len(site.events()) == 30, what="30 events")
    # Insights read whole days before today: run them as of tomorrow.
    site.tally.stop_all()
    later = site.tally.serve(TALLY_CLOCK_OFFSET_SECONDS=str(86_400))
    r = requests.post(later.url + "/api/v1/insights/check", headers=bearer(site.admin), timeout=60)
    assert r.status_code in (200, 202), r.text
    insights = requests.get(later.url + "/api/v1/insights", headers=bearer(site.admin), timeout=30).json()["data"]
    found = [i for i in insights if i["kind"] == "truncated_answers"]
    assert len(found) == 1 and found[0]["title"] == "33.3% of feature summaries's answers were truncated", insights


# -- the playground --------------------------------------------------------------------------------------------

def test_the_playground_streams_an_answer_whose_cost_is_the_events(driver, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    oa = site.standins["openai"]
    oa.chunk_delay = 0.05
    sign_in(driver, site.server)
    driver.get(site.server.url + "/playground")
    form = driver.wait_css("#playground-form")
    conns = site.api("GET", "/api/v1/provider-connections").json()["data"]
    Select(form.find_element(By.ID, "pg-connection")).select_by_value(
        next(c["id"] for c in conns if c["provider"] == "openai"))
    Select(form.find_element(By.ID, "pg-project")).select_by_value("web")
    model = form.find_element(By.ID, "pg-model")
    model.clear()
    model.send_keys("gpt-4o-mini")
    form.find_element(By.ID, "pg-system").send_keys("You are terse.")
    form.find_element(By.ID, "pg-prompt").send_keys("Say the words [[usage chunks=6]]")
    estimate = driver.wait_for(lambda d: d.find_element(By.ID, "pg-estimate").text or None, 10, "the estimate")
    assert "tokens" in estimate and "estimated from the length" in estimate and "$" in estimate
    form.find_element(By.ID, "pg-send").click()
    driver.wait_for(lambda d: d.find_element(By.ID, "pg-status").text.startswith("Streaming"), 10, "the stream")
    result = driver.wait_css("#pg-result", timeout=20, visible=True)
    answer = driver.find_element(By.ID, "pg-answer").text
    assert answer.strip() != "" and any(word in answer for word in ("alpha", "bravo", "charlie"))
    event_id = result.get_attribute("data-event-id")
    event = site.api("GET", f"/api/v1/events/{event_id}").json()
    assert result.get_attribute("data-cost-usd") == event["cost_usd"] and event["cost_usd"] is not None
    assert event["feature"] == "playground" and event["project"] == "web"
    assert event["user"] == ADMIN_EMAIL and event["time_to_first_token_ms"] is not None
    driver.execute_script("document.getElementById('pg-answer-heading').scrollIntoView()")
    driver.save_screenshot_png(SCREENSHOTS / "playground.png")
    facts = driver.find_element(By.ID, "pg-facts").text
    assert "$" + event["cost_usd"] in facts and "Time to first token" in facts
    # The exact request went upstream as OpenAI's own streaming chat call.
    sent = oa.last().json
    assert sent["stream"] is True and sent["messages"][0] == {"role": "system", "content": "You are terse."}
    pdf = driver.find_element(By.ID, "pg-receipt-pdf").get_attribute("href")
    r = driver.requests_session().get(pdf, timeout=30)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-") and r.headers["content-type"] == "application/pdf"


def test_the_playground_is_a_session_call_for_members_only(site):
    viewer = member_with_role(site.owner, "viewer")
    body = {"connection": "x", "project": "web", "model": "gpt-4o-mini", "prompt": "hi"}
    assert viewer.api("POST", "/playground/send", json=body).status_code == 403
    # A bearer token cannot use it, and a session without the CSRF token cannot either.
    assert requests.post(site.server.url + "/playground/send", json=body, headers=bearer(site.admin),
                         timeout=30).status_code == 403
    assert site.owner.api("POST", "/playground/send", json=body, csrf=False).status_code == 403
    conns = site.api("GET", "/api/v1/provider-connections").json()["data"]
    anthropic_id = next(c["id"] for c in conns if c["provider"] == "anthropic")
    est = site.owner.api("POST", "/playground/estimate", json={"connection": anthropic_id, "model": "claude-haiku-4-5",
                                                               "prompt": "count me exactly"})
    assert est.status_code == 200 and est.json()["exact"] is True and est.json()["input_tokens"] > 0, est.text
    bad = site.owner.api("POST", "/playground/send", json={"connection": anthropic_id, "project": "nope",
                                                           "model": "../x", "prompt": ""})
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json()["error"]["details"]} >= {"model", "prompt"}
    models = site.owner.get(f"/playground/models?connection={anthropic_id}")
    assert models.status_code == 200 and "claude-haiku-4-5-20251001" in models.json()["models"]
