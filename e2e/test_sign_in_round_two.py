"""Sign-in, round 2 (issue 23) without single sign-on (test_sso.py has that): password reset and email verification
through a real SMTP server (aiosmtpd), open sign-up, and two-factor against codes computed by pyotp, enrolled from the
QR code Tally draws (decoded by zxing-cpp), with replay, clock skew and recovery codes."""
import re
import time
import urllib.parse

import pyotp
import pytest

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Browser, location_path, signed_in
from qr import decode_qr_svg

PUBLIC = "https://tally.example.test"
RESET_SENT = "If that address has a Tally account"


def link_in(mail, prefix):
    """The path of the first link in `mail` that starts with PUBLIC + `prefix`."""
    found = re.search(re.escape(PUBLIC + prefix) + r"[A-Za-z0-9_\-]+", mail["text"])
    assert found, f"no {prefix} link in the mail: {mail['text']}"
    return urllib.parse.urlsplit(found.group(0)).path


def mails_to(sink, address, count=1, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [m for m in sink.messages if address in m["rcpt_tos"]]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    return [m for m in sink.messages if address in m["rcpt_tos"]]


def test_password_reset_by_mail_works_once_signs_out_everywhere_and_tells_nobody_who_has_an_account(site, smtp_sink):
    server = site.serve(TALLY_SMTP_URL=smtp_sink.url(), TALLY_PUBLIC_URL=PUBLIC)
    laptop, phone = signed_in(server), signed_in(server)

    stranger = Browser(server)
    page, form = stranger.form("/login", want=("email", "password"))
    assert 'href="/password/forgot"' in page.text, "the sign-in page offers Forgot password?"
    unknown = stranger.fill("/password/forgot", email="nobody@example.test")
    known = stranger.fill("/password/forgot", email=ADMIN_EMAIL.upper())
    assert unknown.status_code == known.status_code == 200
    assert RESET_SENT in unknown.text and RESET_SENT in known.text
    strip = lambda text: re.sub(r'name="_csrf" value="[^"]*"', "", text)  # noqa: E731
    assert strip(unknown.text) == strip(known.text), "the answer tells whether the address has an account"

    mails = mails_to(smtp_sink, ADMIN_EMAIL)
    assert len(mails) == 1 and not mails_to(smtp_sink, "nobody@example.test", timeout=1)
    path = link_in(mails[0], "/password/reset/")

    person = Browser(server)
    r = person.get(path)
    assert r.status_code == 200 and 'name="password"' in r.text
    weak = person.fill(path, password="short")
    assert weak.status_code == 422
    new_password = "a-brand-new-password-42"
    done = person.fill(path, password=new_password)
    assert done.status_code == 200, done.text[:300]
    # Every session of the account is gone; the old password no longer works, the new one does.
    for browser in (laptop, phone):
        assert browser.get("/api/v1/me").status_code == 401
    assert Browser(server).login(ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 401
    owner = Browser(server).sign_in(ADMIN_EMAIL, new_password)
    # The link works once.
    assert Browser(server).get(path).status_code == 410
    assert person.post_form(path, {"password": "another-password-99", "_csrf": "x"}).status_code in (403, 410)
    actions = [e["action"] for e in owner.api("GET", "/api/v1/audit").json()["data"]]
    assert "password.reset" in actions


def test_reset_requests_are_throttled_per_address(sqlite_site, smtp_sink):
    server = sqlite_site.serve(TALLY_SMTP_URL=smtp_sink.url(), TALLY_PUBLIC_URL=PUBLIC)
    b = Browser(server)
    statuses = [b.fill("/password/forgot", email=ADMIN_EMAIL).status_code for _ in range(7)]
    assert statuses[0] == 200 and 429 in statuses, statuses
    assert len(mails_to(smtp_sink, ADMIN_EMAIL, count=7, timeout=3)) <= 5


def test_open_sign_up_makes_an_organization_and_verification_by_mail_unlocks_tokens(sqlite_site, smtp_sink):
    invite_only = sqlite_site.serve()
    assert Browser(invite_only).get("/signup").status_code == 404, "sign-up is by invite unless TALLY_SIGNUP=open"
    assert 'href="/signup"' not in Browser(invite_only).get("/login").text
    invite_only.stop()

    server = sqlite_site.serve(TALLY_SIGNUP="open", TALLY_SMTP_URL=smtp_sink.url(), TALLY_PUBLIC_URL=PUBLIC)
    b = Browser(server)
    assert 'href="/signup"' in b.get("/login").text
    r = b.fill("/signup", name="Nia Newcomer", email="nia@example.test", password="nia-password-01234",
               organization="Nia Labs")
    assert r.status_code == 303, r.text[:300]
    me = b.me()
    assert me["organization"]["name"] == "Nia Labs" and me["organization"]["role"] == "owner"
    assert ADMIN_EMAIL not in [m["email"] for m in b.api("GET", "/api/v1/members").json()["data"]]

    project = b.api("POST", "/api/v1/projects", json={"name": "web"}).json()
    refused = b.api("POST", "/api/v1/tokens", json={"name": "ci", "project": project["id"], "scopes": ["ingest"]})
    assert refused.status_code == 403 and "verify your email" in refused.json()["error"]["message"]
    account = b.get("/account")
    assert 'id="email-status"' in account.text and "not verified" in account.text

    path = link_in(mails_to(smtp_sink, "nia@example.test")[0], "/verify-email/")
    assert Browser(server).get(path).status_code == 200
    assert Browser(server).get(path).status_code == 410, "a verification link works once"
    ok = b.api("POST", "/api/v1/tokens", json={"name": "ci", "project": project["id"], "scopes": ["ingest"]})
    assert ok.status_code == 201, ok.text

    # The same address again: refused without saying more.
    again = Browser(server).fill("/signup", name="Nia", email="nia@example.test", password="nia-password-01234",
                                 organization="Other")
    assert again.status_code == 409


def enrol(browser):
    """Enrol through /account/two-factor from the QR code; return the pyotp TOTP and the recovery codes."""
    page = browser.get("/account/two-factor")
    assert page.status_code == 200, page.text[:300]
    svg = re.search(r'<svg[^>]*class="qr".*?</svg>', page.text, re.S)
    assert svg, "no inline <svg class=\"qr\"> on the enrolment page"
    uri = decode_qr_svg(svg.group(0))
    totp = pyotp.parse_uri(uri)
    typed = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    assert totp.secret == typed, "the QR code and the typed key differ"
    assert uri.startswith("otpauth://totp/") and "issuer=Tally" in uri and totp.digits == 6 and totp.interval == 30
    wrong = browser.fill("/account/two-factor", code="000000" if totp.now() != "000000" else "111111")
    assert wrong.status_code == 422
    done = browser.fill("/account/two-factor", code=totp.now())
    assert done.status_code == 200, done.text[:300]
    codes = re.findall(r"<li><code>([^<]+)</code></li>", re.search(r'<ul id="recovery-codes">.*?</ul>', done.text,
                                                                    re.S).group(0))
    assert len(codes) == 10 and len(set(codes)) == 10
    return totp, codes


def second_step(server, **fields):
    """A fresh browser through the password step, then the second step with `fields`."""
    b = Browser(server)
    r = b.login()
    assert r.status_code == 303 and location_path(r) == "/login/two-factor", (r.status_code, r.headers)
    assert b.session_cookie is None
    return b, b.fill("/login/two-factor", **fields)


def test_totp_from_the_qr_code_refuses_replays_and_skew_and_recovery_codes_work_once(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    totp, codes = enrol(owner)
    assert "10 of 10 recovery codes left" in owner.get("/account").text

    now = time.time()
    # One step ahead of the enrolment's code: inside the ±1 window, and never used.
    ahead = totp.at(now + 30)
    b, r = second_step(server, code=ahead)
    assert r.status_code == 303 and b.session_cookie, r.text[:300]
    assert b.me()["user"]["email"] == ADMIN_EMAIL
    # The same code again, still inside its window: a replay.
    _, r = second_step(server, code=ahead)
    assert r.status_code == 401
    # An earlier step (the enrolment's, still within ±1) is refused too: steps are used in order.
    _, r = second_step(server, code=totp.at(now))
    assert r.status_code == 401
    # Three steps ahead is outside the window.
    _, r = second_step(server, code=totp.at(now + 90))
    assert r.status_code == 401

    b, r = second_step(server, recovery_code=codes[3])
    assert r.status_code == 303 and b.session_cookie
    _, r = second_step(server, recovery_code=codes[3])
    assert r.status_code == 401, "a recovery code works once"
    assert "9 of 10 recovery codes left" in b.get("/account").text
    actions = [e["action"] for e in b.api("GET", "/api/v1/audit").json()["data"]]
    assert "two_factor.enable" in actions


def test_owners_require_two_factor_and_members_enrol_before_anything_else(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    assert owner.api("PUT", "/api/v1/organization/sign-in", json={"require_sso": True}).status_code == 400
    r = owner.api("PUT", "/api/v1/organization/sign-in", json={"require_two_factor": True})
    assert r.status_code == 200 and r.json()["require_two_factor"] is True
    r = owner.get("/usage")
    assert r.status_code == 303 and location_path(r) == "/account/two-factor"
    enrol(owner)
    assert owner.get("/usage").status_code == 200
