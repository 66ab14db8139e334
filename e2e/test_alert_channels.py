"""Alert channels (issue 17, item 2) end to end: real `tally serve` processes, a real SMTP server (aiosmtpd), and
real HTTP receivers (e2e/standins/alert_receivers.py) that verify the webhook signature and check the Slack Block Kit
and Discord embed shapes.

Channel CRUD, roles and isolation; `/test` to each kind; a loopback URL refused unless TALLY_ALLOW_PRIVATE_UPSTREAMS
allows it; deliveries of recorded alerts (written into the outbox tables as the engine writes them, one transaction)
retried 500, 500, 200 with one alert id; an SMTP server that is down, then up; a deleted channel.
"""
import email.policy
import json
import os
import sqlite3
import tempfile
import time
import uuid

import pytest
import requests

import clock
from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, AccountsTally, MailSink, api_token, assert_error, bearer,
                      free_port, signed_in, wait_until)
from standins.alert_receivers import DiscordStandIn, SlackStandIn, WebhookReceiver

CHANNELS = "/api/v1/alert-channels"
PUBLIC = "https://tally.example.test"
HOSTILE = "<script>alert(1)</script> & \"Ops\""
OWNER = {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD}


@pytest.fixture
def alert_site():
    """A SQLite Tally with an unattended owner, fast alert retries (1 s, doubling) and links under PUBLIC."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, dict(OWNER, TALLY_PUBLIC_URL=PUBLIC, TALLY_ALLOW_PRIVATE_UPSTREAMS="127.0.0.0/8",
                                        TALLY_ALERT_RETRY_BASE_SECONDS="1"))
        yield t
        t.stop_all()


@pytest.fixture
def receivers():
    hook, slack, discord = WebhookReceiver(secret="whsec_" + uuid.uuid4().hex).start(), SlackStandIn().start(), \
        DiscordStandIn().start()
    yield hook, slack, discord
    for r in (hook, slack, discord):
        r.stop()


def create(browser, body, status=201):
    r = browser.api("POST", CHANNELS, json=body)
    assert r.status_code == status, f"POST {CHANNELS} {body}: {r.status_code} {r.text[:400]}"
    return r.json()


def test_channels_are_managed_by_admins_and_never_show_secrets(alert_site, receivers):
    hook, slack, _ = receivers
    server = alert_site.serve()
    owner = signed_in(server)
    mail = create(owner, {"name": HOSTILE, "type": "email", "to": ["fin@example.test", "ops@example.test"]})
    assert mail["name"] == HOSTILE and mail["to"] == ["fin@example.test", "ops@example.test"]
    signed = create(owner, {"type": "webhook", "url": hook.url(), "secret": hook.secret})
    assert signed["secret_set"] is True and signed["url"] == hook.url()
    chat = create(owner, {"type": "slack", "webhook_url": slack.url("/services/T0/B0/SECRETPART")})
    assert chat["webhook_url"] == f"http://127.0.0.1:{slack.port}/…"
    listed = owner.api("GET", CHANNELS).json()["data"]
    assert [c["id"] for c in listed] == [mail["id"], signed["id"], chat["id"]]
    everything = json.dumps(listed) + owner.api("GET", "/api/v1/audit").text
    assert hook.secret not in everything and "SECRETPART" not in everything

    changed = owner.api("PATCH", f"{CHANNELS}/{mail['id']}", json={"to": ["new@example.test"]})
    assert changed.status_code == 200 and changed.json()["to"] == ["new@example.test"]
    wrong = owner.api("PATCH", f"{CHANNELS}/{mail['id']}", json={"url": hook.url()})
    assert wrong.status_code == 400 and wrong.json()["error"]["details"][0]["field"] == "url"

    # A viewer reads nothing; an API token without admin neither.
    viewer_token = api_token(owner, scopes=("read",), name="reader")
    assert requests.get(server.url + CHANNELS, headers=bearer(viewer_token), timeout=10).status_code == 403
    admin_token = api_token(owner, scopes=("admin",), name="admin")
    assert requests.get(server.url + CHANNELS, headers=bearer(admin_token), timeout=10).status_code == 200

    assert owner.api("DELETE", f"{CHANNELS}/{chat['id']}").status_code == 204
    assert owner.api("GET", f"{CHANNELS}/{chat['id']}").status_code == 404
    assert owner.api("POST", f"{CHANNELS}/{chat['id']}/test").status_code == 404
    actions = [a["action"] for a in owner.api("GET", "/api/v1/audit").json()["data"]]
    assert actions.count("alert_channel.create") == 3 and "alert_channel.delete" in actions


def test_another_organizations_channel_is_not_found(alert_site):
    server = alert_site.serve()
    owner = signed_in(server)
    mine = create(owner, {"type": "email", "to": ["a@example.test"]})
    r = owner.api("POST", "/api/v1/organizations", json={"name": "Second"})
    assert r.status_code == 201, r.text
    assert owner.api("POST", f"/api/v1/organizations/{r.json()['id']}/switch").status_code in (200, 204)
    owner.me()
    for method, path in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test")]:
        got = owner.api(method, f"{CHANNELS}/{mine['id']}{path}", json={"name": "stolen"} if method == "PATCH" else None)
        assert got.status_code == 404, f"{method} {path}: {got.status_code}"
    assert owner.api("GET", CHANNELS).json()["data"] == []


def test_hostile_input_is_refused_by_field(alert_site):
    server = alert_site.serve()
    owner = signed_in(server)
    cases = [
        ({"type": "email", "to": ["ok@example.test", "x@example.test\r\nBcc: evil@example.test"]}, "to"),
        ({"type": "email", "to": ["a\u0000b@example.test"]}, "to"),
        ({"type": "webhook", "url": "file:///etc/passwd"}, "url"),
        ({"type": "webhook", "url": "https://x.example.test/" + "a" * 3000}, "url"),
        ({"type": "slack", "webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"type": "discord", "webhook_url": "https://u:p@discord.example.test/api"}, "webhook_url"),
        ({"type": "webhook", "url": "https://x.example.test", "secret": "x" * 600}, "secret"),
        ({"type": "email", "to": ["a@example.test"], "name": "line\nbreak"}, "name"),
        ({"type": "email", "to": ["a@example.test"] * 1 + ["b@example.test"] * 20}, "to"),
        ({"type": 12}, "type"),
    ]
    for body, field in cases:
        r = owner.api("POST", CHANNELS, json=body)
        error = assert_error(r, 400)
        assert error["details"][0]["field"] == field, (body, error)
    assert owner.api("GET", CHANNELS).json()["data"] == []


def test_private_addresses_are_refused_unless_allowed(alert_site, receivers):
    hook, _, _ = receivers
    server = alert_site.serve(TALLY_ALLOW_PRIVATE_UPSTREAMS=None)
    owner = signed_in(server)
    for url in [hook.url(), "http://2130706433/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest"]:
        error = assert_error(owner.api("POST", CHANNELS, json={"type": "webhook", "url": url}), 422,
                             "upstream_not_allowed")
        assert error["details"][0]["field"] == "url"
        assert "TALLY_ALLOW_PRIVATE_UPSTREAMS" in error["message"]
    error = assert_error(owner.api("POST", CHANNELS, json={"type": "slack", "webhook_url": hook.url()}), 422)
    assert error["details"][0]["field"] == "webhook_url"
    assert hook.requests == []


def test_the_test_reaches_each_kind_in_its_shape(alert_site, receivers, smtp_sink):
    hook, slack, discord = receivers
    server = alert_site.serve(TALLY_SMTP_URL=smtp_sink.url("alerts@example.test"))
    owner = signed_in(server)
    ids = {
        "email": create(owner, {"name": HOSTILE, "type": "email", "to": ["fin@example.test"]})["id"],
        "webhook": create(owner, {"type": "webhook", "url": hook.url(), "secret": hook.secret})["id"],
        "slack": create(owner, {"type": "slack", "webhook_url": slack.url("/services/T/B/S")})["id"],
        "discord": create(owner, {"type": "discord", "webhook_url": discord.url("/api/webhooks/1/tok")})["id"],
    }
    for kind, channel in ids.items():
        r = owner.api("POST", f"{CHANNELS}/{channel}/test")
        assert r.status_code == 200, r.text
        assert r.json()["delivered"] is True, (kind, r.json())
        assert r.json()["error"] is None

    [sent] = hook.wait_for(1)
    assert sent.verdict == "ok", sent.verdict
    assert set(sent.json) == {"id", "type", "organization", "rule", "period", "spent_usd", "amount_usd", "percent",
                              "threshold", "occurred_at", "url"}
    assert sent.json["type"] == "test" and sent.headers["x-tally-alert-id"] == sent.json["id"]
    assert sent.json["url"].startswith(PUBLIC + "/usage?preset=custom&from=")
    assert slack.wait_for(1)[0].verdict == "ok"
    assert discord.wait_for(1)[0].verdict == "ok"
    assert discord.requests[0].json["allowed_mentions"] == {"parse": []}

    [mail] = smtp_sink.wait_for(1)
    message = mail["message"]
    assert mail["rcpt_tos"] == ["fin@example.test"] and message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for part in (text, html):
        assert "$80.00" in part and "$100.00" in part and "80.00%" in part, part
        assert "Costs are estimates" in part
    assert PUBLIC + "/usage?preset=custom" in text and "[########--] 80%" in text
    assert 'href="' + PUBLIC + "/usage?preset=custom&amp;from=" in html
    assert "<script>" not in html and "&lt;script&gt;" in html

    # A receiver that answers 500 is a 200 answer saying it was not delivered, with the status.
    hook.answer(500)
    failed = owner.api("POST", f"{CHANNELS}/{ids['webhook']}/test").json()
    assert failed == {"delivered": False, "status": 500, "error": "the receiver answered HTTP 500"}


# -- deliveries of recorded alerts ---------------------------------------------------------------------------------

def record_alert(data_dir, org_id, channel_ids, key=None):
    """Writes an alert and one pending delivery per channel in one transaction, as the engine's recordAlert does."""
    now_us = int(clock.now().timestamp() * 1_000_000)
    alert_id = "al_e2e" + uuid.uuid4().hex[:14]
    figures = json.dumps({"period_start_us": now_us - 3_600_000_000, "period_end_us": now_us + 3_600_000_000,
                          "spent_nanos": 226_130_000_000, "amount_nanos": 250_000_000_000, "percent": "90.45",
                          "threshold": 90, "summary": "Spend passed 90% of $250.00"})
    db = sqlite3.connect(os.path.join(data_dir, "tally.sqlite"), timeout=30)
    with db:
        db.execute("INSERT INTO alerts (id, org_id, type, dedupe_key, status, fired_us, rule, scope, figures) "
                   "VALUES (?, ?, 'spike', ?, 'open', ?, 'spike', ?, ?)",
                   (alert_id, org_id, key or alert_id, now_us, json.dumps({"feature": ["search"]}), figures))
        for channel in channel_ids:
            db.execute("INSERT INTO alert_deliveries (id, org_id, alert_id, channel_id, status, attempts, "
                       "next_attempt_us, created_us) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)",
                       ("dl_e2e" + uuid.uuid4().hex[:14], org_id, alert_id, channel, now_us, now_us))
    db.close()
    return alert_id


def delivery_log(data_dir, alert_id):
    db = sqlite3.connect(os.path.join(data_dir, "tally.sqlite"), timeout=30)
    rows = db.execute("SELECT channel_id, status, attempts, last_error FROM alert_deliveries WHERE alert_id = ? "
                      "ORDER BY channel_id", (alert_id,)).fetchall()
    db.close()
    return [dict(zip(("channel", "status", "attempts", "last_error"), r)) for r in rows]


def test_a_webhook_answering_500_500_200_gets_three_attempts_and_one_delivery(alert_site, receivers):
    hook, slack, _ = receivers
    server = alert_site.serve()
    owner = signed_in(server)
    org = owner.me()["organization"]["id"]
    webhook = create(owner, {"type": "webhook", "url": hook.url(), "secret": hook.secret})["id"]
    chat = create(owner, {"type": "slack", "webhook_url": slack.url("/services/T/B/S")})["id"]
    hook.answer(500, 500)
    alert_id = record_alert(alert_site.data_dir, org, [webhook, chat])

    wait_until(lambda: any(d["status"] == "delivered" for d in delivery_log(alert_site.data_dir, alert_id)
                           if d["channel"] == webhook), timeout=30, what="the webhook delivery")
    attempts = hook.wait_for(3)
    assert len(attempts) == 3, [a.verdict for a in attempts]
    assert all(a.verdict == "ok" for a in attempts), [a.verdict for a in attempts]
    assert {a.headers["x-tally-alert-id"] for a in attempts} == {alert_id}
    assert {a.body for a in attempts} == {attempts[0].body}, "every retry sends the same alert"
    body = attempts[0].json
    assert body["id"] == alert_id and body["rule"] == "spike" and body["spent_usd"] == "226.13"
    assert body["amount_usd"] == "250.00" and body["percent"] == "90.45" and body["threshold"] == 90
    assert body["url"].startswith(PUBLIC + "/usage?") and "feature=search" in body["url"]
    # The backoff: the second attempt a second or so after the first, the third about two after that.
    assert attempts[1].at - attempts[0].at >= 0.7 and attempts[2].at - attempts[1].at >= 1.4

    wait_until(lambda: all(d["status"] == "delivered" for d in delivery_log(alert_site.data_dir, alert_id)),
               timeout=20, what="both deliveries")
    log = {d["channel"]: d for d in delivery_log(alert_site.data_dir, alert_id)}
    assert log[webhook] == {"channel": webhook, "status": "delivered", "attempts": 3, "last_error": None}
    assert log[chat]["attempts"] == 1 and slack.requests[0].verdict == "ok"
    time.sleep(2)
    assert len(hook.requests) == 3, "a delivered alert is not sent again"


def test_mail_waits_for_an_smtp_server_that_is_down_then_goes_out(alert_site):
    port = free_port()
    sink = MailSink(port)
    server = alert_site.serve(TALLY_SMTP_URL=sink.url("alerts@example.test"))
    owner = signed_in(server)
    org = owner.me()["organization"]["id"]
    channel = create(owner, {"type": "email", "to": ["fin@example.test"]})["id"]
    # The test message says at once that the server cannot be reached.
    result = owner.api("POST", f"{CHANNELS}/{channel}/test").json()
    # A category only: viewers read delivery errors, so no host, port or recipient is in it.
    assert result["delivered"] is False and result["error"] == "the mail server could not be reached", result

    alert_id = record_alert(alert_site.data_dir, org, [channel])
    wait_until(lambda: delivery_log(alert_site.data_dir, alert_id)[0]["attempts"] >= 1, timeout=20,
               what="a first attempt")
    [pending] = delivery_log(alert_site.data_dir, alert_id)
    assert pending["status"] == "pending" and pending["last_error"] == "the mail server could not be reached", pending

    from aiosmtpd.controller import Controller
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        wait_until(lambda: delivery_log(alert_site.data_dir, alert_id)[0]["status"] == "delivered", timeout=40,
                   what="the delivery once the SMTP server is up")
        [mail] = sink.wait_for(1)
        text = mail["message"].get_body(preferencelist=("plain",)).get_content()
        html = mail["message"].get_body(preferencelist=("html",)).get_content()
        for part in (text, html):
            assert "$226.13" in part and "$250.00" in part and "90.45%" in part
        assert PUBLIC + "/usage?preset=custom" in text and "feature=search" in text
    finally:
        controller.stop()


def test_a_deleted_channel_fails_its_pending_deliveries(alert_site, receivers):
    hook, _, _ = receivers
    server = alert_site.serve()
    owner = signed_in(server)
    org = owner.me()["organization"]["id"]
    channel = create(owner, {"type": "webhook", "url": hook.url(), "secret": hook.secret})["id"]
    hook.answer(*([503] * 50))
    alert_id = record_alert(alert_site.data_dir, org, [channel])
    wait_until(lambda: delivery_log(alert_site.data_dir, alert_id)[0]["attempts"] >= 1, timeout=20,
               what="a first attempt")
    assert owner.api("DELETE", f"{CHANNELS}/{channel}").status_code == 204
    [log] = delivery_log(alert_site.data_dir, alert_id)
    assert log["status"] == "failed" and log["last_error"] == "channel deleted", log
    seen = len(hook.requests)
    time.sleep(3)
    assert len(hook.requests) == seen, "nothing is sent to a deleted channel"


# -- the settings tab in the browser -------------------------------------------------------------------------------

def test_add_test_and_delete_a_channel_in_the_browser(driver, alert_site, receivers):
    from selenium.webdriver.common.by import By
    from test_dashboard import a11y_problems, fill, sign_in, submit
    hook, _, _ = receivers
    server = alert_site.serve()
    sign_in(driver, server)
    driver.get(server.url + "/settings/alert-channels")
    driver.wait_css("h1")
    assert a11y_problems(driver) == []
    assert driver.css("#no-alert-channels")

    # A bad address is named beside the recipients field; nothing is saved.
    form = driver.css("form#new-email")
    fill(form, name="Finance", to="fin@example.test, not-an-address")
    submit(form)
    error = driver.wait_for(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "form#new-email [data-error-for=to]")
                        if e.is_displayed() and e.text.strip()), None), 10, "the error beside the recipients")
    assert "entry 2" in error.text
    assert signed_in(server).api("GET", CHANNELS).json()["data"] == []

    form = driver.css("form#new-webhook")
    fill(form, name=HOSTILE, url=hook.url(), secret=hook.secret)
    submit(form)
    row = driver.wait_for(lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, "table#alert-channels tbody tr")), None),
                          15, "the new channel's row")
    assert HOSTILE in row.text and hook.url() in row.text and "(signed)" in row.text
    assert hook.secret not in driver.page_source
    assert driver.execute_script("return document.querySelectorAll('script:not([src])').length") <= 1

    row.find_element(By.CSS_SELECTOR, "button[data-action=test]").click()
    status = driver.wait_for(lambda d: (s := d.find_element(By.CSS_SELECTOR, "table#alert-channels .row-status"))
                             .text.strip() and s, 15, "the test's result")
    assert status.text == "Delivered (HTTP 200)"
    assert hook.wait_for(1)[0].verdict == "ok"
    hook.answer(500)
    driver.find_element(By.CSS_SELECTOR, "table#alert-channels button[data-action=test]").click()
    driver.wait_for(lambda d: "Not delivered" in d.find_element(By.CSS_SELECTOR, "table#alert-channels .row-status")
                    .text, 15, "the failed test's result")
    assert "HTTP 500" in driver.find_element(By.CSS_SELECTOR, "table#alert-channels .row-status").text

    driver.execute_script("window.confirm = () => true")
    driver.find_element(By.CSS_SELECTOR, "table#alert-channels button[data-action=delete]").click()
    driver.wait_css("#no-alert-channels", timeout=15)
    assert signed_in(server).api("GET", CHANNELS).json()["data"] == []
