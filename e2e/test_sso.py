"""Single sign-on (issue 23, /work/sso-contract.md) against the identity-provider stand-ins of
standins/identity_providers.py: a real OpenID Connect provider (authlib + joserfc, PKCE S256 required) and GitHub's
OAuth web flow and REST API.

The whole redirect flow runs in headless Chromium (sign-in page -> /login/sso/oidc -> the provider's authorization
endpoint, reached as http://localhost:<port>, another site than Tally's 127.0.0.1 as a real provider is -> the
callback -> signed in); the other cases follow the same redirects with the requests-based Browser of conftest:
linking an invited account by its verified email, refusing an unverified one, refusing ID tokens with a wrong nonce,
audience or issuer, an expired one, a tampered signature or an unpublished key, signing in after the provider rotated
its keys, PKCE on every code exchange, sign-up by SSO (open, invite, off, allowed domains), the Google preset, GitHub
by a verified primary email, and identities listed on /account and unlinked there.

Tally's redirect URI is `<TALLY_PUBLIC_URL>/login/sso/<provider>/callback`, so the public URL must be known before a
server starts: `start_tally` picks the port itself (AccountsTally.serve picks it inside)."""
import base64
import html
import json
import os
import re
import subprocess
import tempfile
import urllib.parse

import pytest
import requests
from selenium.webdriver.common.by import By

from conftest import (ADMIN_EMAIL, ADMIN_PASSWORD, BIN, AccountsTally, Browser, Server, free_port, html_forms,
                      location_path, set_cookies, signed_in)
from standins.identity_providers import OIDCProvider, github_standin, oidc_provider  # noqa: F401  (fixtures)
from test_accounts import accept, invite, members

ADA = "ada@example.test"
ADA_PASSWORD = "ada-password-0123"
OIDC_LABEL = "Acme SSO"


# -- servers -----------------------------------------------------------------------------------------------------

@pytest.fixture
def sso_site():
    """A SQLite Tally whose servers create the owner ADMIN_EMAIL unattended."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_ADMIN_EMAIL": ADMIN_EMAIL, "TALLY_ADMIN_PASSWORD": ADMIN_PASSWORD})
        yield t
        t.stop_all()


def start_tally(tally, oidc=None, google=None, github=None, public_url=None, **env):
    """Start `tally serve` with TALLY_PUBLIC_URL = its own URL (or `public_url`: replicas behind one address), the
    environment of each stand-in given, and the callback URLs registered with them. `env` adds to (None removes
    from) the environment.

    Like AccountsTally.serve, except that the port is chosen before the process starts: the public URL, and so the
    redirect URIs the providers must know, depend on it."""
    port = free_port()
    public = public_url or f"http://127.0.0.1:{port}"
    full = {"TALLY_PUBLIC_URL": public}
    if oidc is not None:
        oidc.register_redirect_uri(public + "/login/sso/oidc/callback")
        full.update(TALLY_OIDC_ISSUER=oidc.issuer, TALLY_OIDC_CLIENT_ID=oidc.client_id,
                    TALLY_OIDC_CLIENT_SECRET=oidc.client_secret, TALLY_OIDC_NAME=OIDC_LABEL)
    if google is not None:
        google.register_redirect_uri(public + "/login/sso/google/callback")
        full.update(TALLY_GOOGLE_ISSUER=google.issuer, TALLY_GOOGLE_CLIENT_ID=google.client_id,
                    TALLY_GOOGLE_CLIENT_SECRET=google.client_secret)
    if github is not None:
        github.register_redirect_uri(public + "/login/sso/github/callback")
        full.update(TALLY_GITHUB_CLIENT_ID=github.client_id, TALLY_GITHUB_CLIENT_SECRET=github.client_secret,
                    TALLY_GITHUB_URL=github.url, TALLY_GITHUB_API_URL=github.api_url)
    full.update(env)
    log_path = os.path.join(tally.data_dir, f"serve-{port}.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([BIN, "serve", "--port", str(port), *tally.store_args()], stdout=log, stderr=log,
                            env=tally.environment(full))
    server = Server(proc, port)
    server.log_path = log_path
    server.public_url = public
    tally.servers.append(server)
    server.wait_ready()
    return server


def owners_organization(tally):
    """The unattended owner's organization, read from a server started (and stopped) for that: the SSO server's
    TALLY_OIDC_DEFAULT_ORGANIZATION must name it before it starts."""
    first = tally.serve()
    organization = signed_in(first).me()["organization"]
    first.stop()
    return organization


def invited_account(server, email=ADA, role="member", name="Ada Lovelace"):
    """An account made the ordinary way: the owner invites `email`, who accepts with a password."""
    owner = signed_in(server)
    accept(server, invite(owner, email, role)["url"], name, ADA_PASSWORD)
    return owner


# -- the flow over HTTP ------------------------------------------------------------------------------------------

def sso(browser, standin, provider="oidc", next_path=None, finish_at=None):
    """Follow one sign-in through its redirects as a browser does: Tally's start, the provider's authorization
    endpoint (which consents at once), Tally's callback (at `finish_at`, another replica, when given).
    Returns (the callback's response, the authorization request's parameters, the browser that got the callback)."""
    start = f"/login/sso/{provider}" + ("?next=" + urllib.parse.quote(next_path, safe="") if next_path else "")
    r = browser.get(start)
    assert r.status_code == 303, f"GET {start}: {r.status_code} {r.text[:300]}"
    authorize = r.headers["Location"]
    endpoint = standin.url + "/login/oauth/authorize" if provider == "github" else standin.authorization_endpoint
    assert authorize.split("?")[0] == endpoint, f"sent to {authorize}, expected {endpoint}"
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
    callback_url = browser.server.public_url + f"/login/sso/{provider}/callback"
    assert params.get("response_type") == "code" and params.get("client_id") == standin.client_id, params
    assert params.get("redirect_uri") == callback_url, params
    assert params.get("state") and params.get("code_challenge") and params.get("code_challenge_method") == "S256"
    if provider == "github":
        # No ID token: the addresses come from GET /user/emails, which needs the user:email scope.
        assert "user:email" in re.split(r"[ ,]+", params.get("scope", "")), params
    else:
        assert params.get("nonce") and "openid" in params.get("scope", "").split(), params

    a = requests.get(authorize, allow_redirects=False, timeout=10)
    assert a.status_code == 302, f"the provider refused the authorization request: {a.status_code} {a.text[:300]}"
    back = a.headers["Location"]
    assert back.startswith(callback_url + "?"), back
    split = urllib.parse.urlsplit(back)
    at = browser.at(finish_at) if finish_at is not None else browser
    return at.get(split.path + "?" + split.query), params, at


def page_text(markup):
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def assert_signed_in(browser, response, email, next_path="/"):
    assert response.status_code == 303, f"callback: {response.status_code} {page_text(response.text)[:300]}"
    assert location_path(response) == next_path, response.headers.get("Location")
    assert [c for c in set_cookies(response) if c[0] == "tally_session" and c[1]], set_cookies(response)
    me = browser.me()
    assert me["user"]["email"] == email, me
    return me


def assert_refused(browser, response, status, *words):
    """An HTML page with `status` whose text has each of `words` (case-insensitive), and no session."""
    text = page_text(response.text)
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {text[:300]}"
    assert response.headers.get("Content-Type", "").startswith("text/html"), response.headers
    for word in words:
        assert re.search(word, text, re.I), f"the refusal page does not say {word!r}: {text[:500]}"
    assert not [c for c in set_cookies(response) if c[0] == "tally_session" and c[1]], set_cookies(response)
    assert browser.get("/api/v1/me").status_code == 401, "a refused sign-in left a session"


def assert_pkce(standin, count=None):
    """Every code exchange the provider saw carried the verifier of the challenge Tally sent."""
    seen = standin.token_requests
    assert seen, "Tally never exchanged a code"
    if count is not None:
        assert len(seen) == count, seen
    for record in seen:
        assert record["code_verifier_present"] and record["code_verifier_valid"], record
        if isinstance(standin, OIDCProvider):
            assert record["status"] == 200 and record["client_auth"] in ("client_secret_basic", "client_secret_post")
        else:
            assert record["challenge_given"] and record["error"] is None, record


def linked_identities(browser):
    """The identities /account lists: [(id, the text of its row, the unlink form)]."""
    r = browser.get("/account")
    assert r.status_code == 200, f"GET /account: {r.status_code} {r.text[:300]}"
    found = []
    for form in html_forms(r.text):
        m = re.fullmatch(r"/account/identities/([^/?#]+)/unlink", form["action"])
        if m:
            row = re.search(r"<tr\b(?:(?!</tr>).)*?" + re.escape(form["action"]) + r".*?</tr>", r.text, re.S)
            found.append((m.group(1), page_text(row.group(0)) if row else "", form))
    return found


def unlink(browser, form):
    fields = dict(form["fields"])
    assert "_csrf" in fields, f"the unlink form has no _csrf: {form}"
    r = browser.post_form(form["action"], fields)
    assert r.status_code in (200, 303), f"POST {form['action']}: {r.status_code} {r.text[:300]}"
    if r.status_code == 303:
        assert location_path(r) == "/account"
    return r


# -- Chromium: the whole redirect flow -----------------------------------------------------------------------------

@pytest.fixture
def cross_site_oidc():
    """An OIDCProvider whose authorization endpoint the browser reaches as http://localhost:<port>."""
    provider = OIDCProvider(browser_host="localhost").start()
    yield provider
    provider.stop()


def browser_session_cookie(driver):
    return [c for c in driver.get_cookies() if c["name"] == "tally_session" and c["value"]]


def click_sso_button(driver, server, provider="oidc"):
    driver.get(server.url + "/login")
    button = driver.wait_css(f"a[href^='/login/sso/{provider}'], form[action^='/login/sso/{provider}'] button")
    return button


def test_chromium_first_sign_in_links_the_invited_account_and_it_can_be_unlinked(sso_site, cross_site_oidc, driver):
    provider = cross_site_oidc
    server = start_tally(sso_site, oidc=provider)
    invited_account(server)
    provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")

    button = click_sso_button(driver, server)
    assert OIDC_LABEL in button.text, f"the button says {button.text!r}, TALLY_OIDC_NAME is {OIDC_LABEL!r}"
    button.click()
    tally = urllib.parse.urlsplit(server.url).netloc
    driver.wait_for(lambda d: urllib.parse.urlsplit(d.current_url).netloc == tally
                    and urllib.parse.urlsplit(d.current_url).path == "/"
                    and d.execute_script("return document.readyState") == "complete",
                    timeout=20, message="the dashboard after single sign-on")
    # The browser really went to the provider, as another site.
    [auth] = [r for r in provider.recorded("/authorize")]
    assert auth.headers["host"] == f"localhost:{provider.port}"
    assert browser_session_cookie(driver), driver.get_cookies()
    me = driver.requests_session().get(server.url + "/api/v1/me", timeout=10)
    assert me.status_code == 200 and me.json()["user"]["email"] == ADA, me.text
    assert_pkce(provider, count=1)

    # /account lists the identity; Unlink removes it.
    driver.get(server.url + "/account")
    form = driver.wait_css("form[action^='/account/identities/'][action$='/unlink']")
    row_text = form.find_element(By.XPATH, "./ancestor::tr").text if form.find_elements(
        By.XPATH, "./ancestor::tr") else driver.find_element(By.TAG_NAME, "body").text
    assert ADA in row_text or "oidc" in row_text.lower() or OIDC_LABEL in row_text, row_text
    form.find_element(By.CSS_SELECTOR, "button, input[type=submit]").click()
    driver.wait_for(lambda d: urllib.parse.urlsplit(d.current_url).path == "/account"
                    and d.execute_script("return document.readyState") == "complete"
                    and not d.find_elements(By.CSS_SELECTOR, "form[action$='/unlink']"),
                    message="the account page without the identity")
    b = Browser(server).sign_in(ADA, ADA_PASSWORD)
    assert linked_identities(b) == []


def test_chromium_shows_why_a_tampered_token_is_refused(sso_site, cross_site_oidc, driver):
    provider = cross_site_oidc
    server = start_tally(sso_site, oidc=provider)
    invited_account(server)
    provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")
    provider.fault = "tampered"
    click_sso_button(driver, server).click()
    tally = urllib.parse.urlsplit(server.url).netloc
    driver.wait_for(lambda d: urllib.parse.urlsplit(d.current_url).netloc == tally
                    and urllib.parse.urlsplit(d.current_url).path == "/login/sso/oidc/callback"
                    and d.execute_script("return document.readyState") == "complete",
                    timeout=20, message="the callback's page")
    text = driver.find_element(By.TAG_NAME, "body").text
    assert "signature" in text.lower(), text
    assert not browser_session_cookie(driver), driver.get_cookies()
    assert driver.requests_session().get(server.url + "/api/v1/me", timeout=10).status_code == 401


# -- linking and signing in ---------------------------------------------------------------------------------------

def test_first_sign_in_links_the_invited_account_by_its_verified_email(site, oidc_provider):
    """On SQLite one server; on PostgreSQL two replicas behind one public URL, the flow started on one and finished
    on the other."""
    one = start_tally(site, oidc=oidc_provider)
    other = start_tally(site, oidc=oidc_provider, public_url=one.public_url) if site.database_url else one
    owner = invited_account(one)
    oidc_provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")

    r, params, b = sso(Browser(one), oidc_provider, next_path="/settings/tokens", finish_at=other)
    assert_signed_in(b, r, ADA, next_path="/settings/tokens")
    [(identity_id, row, _)] = linked_identities(b)
    assert "oidc" in row.lower() or OIDC_LABEL.lower() in row.lower() or ADA in row, row
    assert members(owner)[ADA]["role"] == "member", "linking changed nothing about the membership"

    # The identity is now linked by (issuer, subject): a new address at the provider still reaches the account.
    oidc_provider.set_user("ada-oidc-sub", "ada.renamed@example.test", True, "Ada Lovelace")
    r, _, b2 = sso(Browser(other), oidc_provider, finish_at=one)
    assert_signed_in(b2, r, ADA)
    assert [i[0] for i in linked_identities(b2)] == [identity_id], "the second sign-in linked a second identity"
    assert_pkce(oidc_provider, count=2)
    # Every code exchange named the redirect URI of its authorization request.
    assert {t["redirect_uri"] for t in oidc_provider.token_requests} == {one.public_url + "/login/sso/oidc/callback"}


def test_an_unverified_email_does_not_link(sso_site, oidc_provider):
    server = start_tally(sso_site, oidc=oidc_provider)
    invited_account(server)
    oidc_provider.set_user("mallory-sub", ADA, email_verified=False, name="Not Ada")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 403, r"not verified|unverified|isn.t verified")
    assert_pkce(oidc_provider, count=1)
    assert linked_identities(Browser(server).sign_in(ADA, ADA_PASSWORD)) == []


@pytest.mark.parametrize("fault, says", [
    ("wrong_nonce", "nonce"), ("wrong_aud", "audience"), ("wrong_iss", "issuer"), ("expired", "expired"),
    ("tampered", "signature"), ("unknown_kid", "key")])
def test_an_id_token_that_fails_verification_is_refused(sso_site, oidc_provider, fault, says):
    server = start_tally(sso_site, oidc=oidc_provider)
    invited_account(server)
    oidc_provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")
    oidc_provider.fault = fault
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 401, says)
    assert_pkce(oidc_provider, count=1)
    assert linked_identities(Browser(server).sign_in(ADA, ADA_PASSWORD)) == [], "a refused token linked an identity"

    # The same person with an honest token gets in.
    oidc_provider.fault = None
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_signed_in(b, r, ADA)


def test_sign_in_goes_on_after_the_provider_rotates_its_keys(sso_site, oidc_provider):
    server = start_tally(sso_site, oidc=oidc_provider)
    invited_account(server)
    oidc_provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_signed_in(b, r, ADA)
    fetched = oidc_provider.jwks_fetches()
    assert fetched >= 1

    new_kids = oidc_provider.rotate_keys()
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_signed_in(b, r, ADA)
    assert oidc_provider.jwks_fetches() > fetched, "Tally did not fetch the JWKS again on the unknown kid"
    header = json.loads(base64.urlsafe_b64decode(oidc_provider.issued_id_tokens[-1].split(".")[0] + "=="))
    assert header["kid"] == new_kids["RS256"], "the second token was not signed with the new key"
    assert_pkce(oidc_provider, count=2)


def test_es256_tokens_are_accepted(sso_site, oidc_provider):
    oidc_provider.algorithm = "ES256"
    server = start_tally(sso_site, oidc=oidc_provider)
    invited_account(server)
    oidc_provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_signed_in(b, r, ADA)


def test_a_callback_works_once_and_only_in_the_browser_that_started_it(sso_site, oidc_provider):
    server = start_tally(sso_site, oidc=oidc_provider)
    invited_account(server)
    oidc_provider.set_user("ada-oidc-sub", ADA, True, "Ada Lovelace")

    # Started in one browser, the callback opened in another (a login CSRF): refused.
    starter = Browser(server)
    r = starter.get("/login/sso/oidc")
    back = requests.get(r.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    split = urllib.parse.urlsplit(back)
    stranger = Browser(server)
    refused = stranger.get(split.path + "?" + split.query)
    assert refused.status_code in (400, 401, 403), refused.status_code
    assert_refused(stranger, refused, refused.status_code)

    # The same callback twice, both times with the browser's state cookie: the second is refused.
    again = Browser(server)
    r = again.get("/login/sso/oidc")
    started_cookies = {k: v for k, v in again.http.cookies.items() if k != "tally_session"}
    back = requests.get(r.headers["Location"], allow_redirects=False, timeout=10).headers["Location"]
    split = urllib.parse.urlsplit(back)
    first = again.get(split.path + "?" + split.query)
    assert_signed_in(again, first, ADA)
    replay = Browser(server)
    replay.http.cookies.update(started_cookies)
    second = replay.get(split.path + "?" + split.query)
    assert second.status_code in (400, 401, 403), second.status_code
    assert_refused(replay, second, second.status_code)
    assert len(oidc_provider.token_requests) == 1, "the replayed code was sent to the provider again"


def test_the_providers_own_refusal_is_a_clear_page(sso_site, oidc_provider):
    server = start_tally(sso_site, oidc=oidc_provider)
    b = Browser(server)
    r = b.get("/login/sso/oidc")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers["Location"]).query))["state"]
    r = b.get("/login/sso/oidc/callback?" + urllib.parse.urlencode(
        {"error": "access_denied", "error_description": "<script>alert(1)</script>", "state": state}))
    assert r.status_code in (401, 403)
    assert "<script>alert(1)</script>" not in r.text
    assert_refused(b, r, r.status_code)
    assert oidc_provider.token_requests == []


# -- accounts made by single sign-on ------------------------------------------------------------------------------

def test_open_sign_up_makes_a_viewer_of_the_default_organization(sso_site, oidc_provider):
    organization = owners_organization(sso_site)
    server = start_tally(sso_site, oidc=oidc_provider, TALLY_OIDC_SIGNUP="open",
                         TALLY_OIDC_DEFAULT_ORGANIZATION=organization["id"])
    oidc_provider.set_user("nia-sub", "nia@example.test", True, "Nia Newcomer")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    me = assert_signed_in(b, r, "nia@example.test")
    assert me["user"]["name"] == "Nia Newcomer"
    assert me["organization"]["id"] == organization["id"] and me["organization"]["role"] == "viewer", me
    assert [o["id"] for o in me["organizations"]] == [organization["id"]], "sign-up made another organization"
    assert members(signed_in(server))["nia@example.test"]["role"] == "viewer"
    assert len(linked_identities(b)) == 1

    # An address the provider does not vouch for makes no account, even when sign-up is open.
    oidc_provider.set_user("ned-sub", "ned@example.test", False, "Ned")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 403, r"not verified|unverified|isn.t verified")
    assert "ned@example.test" not in members(signed_in(server))
    assert_pkce(oidc_provider, count=2)


def test_open_sign_up_keeps_to_the_allowed_domains(sso_site, oidc_provider):
    organization = owners_organization(sso_site)
    server = start_tally(sso_site, oidc=oidc_provider, TALLY_OIDC_SIGNUP="open",
                         TALLY_OIDC_DEFAULT_ORGANIZATION=organization["id"],
                         TALLY_OIDC_ALLOWED_DOMAINS="example.test,example.org")
    oidc_provider.set_user("out-sub", "outsider@elsewhere.test", True, "Out Sider")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 403)
    oidc_provider.set_user("in-sub", "insider@example.org", True, "In Sider")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_signed_in(b, r, "insider@example.org")
    assert set(members(signed_in(server))) == {ADMIN_EMAIL, "insider@example.org"}


def test_sign_up_off_refuses_a_newcomer(sso_site, oidc_provider):
    organization = owners_organization(sso_site)
    server = start_tally(sso_site, oidc=oidc_provider, TALLY_OIDC_SIGNUP="off",
                         TALLY_OIDC_DEFAULT_ORGANIZATION=organization["id"])
    oidc_provider.set_user("nia-sub", "nia@example.test", True, "Nia Newcomer")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 403)
    assert set(members(signed_in(server))) == {ADMIN_EMAIL}


def test_invite_mode_makes_an_account_only_for_an_invited_address(sso_site, oidc_provider):
    server = start_tally(sso_site, oidc=oidc_provider)  # TALLY_OIDC_SIGNUP defaults to invite
    owner = signed_in(server)
    oidc_provider.set_user("nia-sub", "nia@example.test", True, "Nia Newcomer")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    assert_refused(b, r, 403)

    invite(owner, "ivy@example.test", "member")  # pending: never accepted with a password
    oidc_provider.set_user("ivy-sub", "ivy@example.test", True, "Ivy Invited")
    b = Browser(server)
    r, _, _ = sso(b, oidc_provider)
    me = assert_signed_in(b, r, "ivy@example.test")
    assert me["organization"]["role"] == "member", "the account has the invite's role"
    assert set(members(owner)) == {ADMIN_EMAIL, "ivy@example.test"}


# -- the Google preset and GitHub ----------------------------------------------------------------------------------

def test_the_google_preset_signs_in_through_its_issuer(sso_site):
    google = OIDCProvider(client_id="1234-tally.apps.googleusercontent.test", client_secret="GOCSPX-standin").start()
    try:
        server = start_tally(sso_site, google=google)
        invited_account(server)
        google.set_user("108000000000000000001", ADA, True, "Ada Lovelace")
        b = Browser(server)
        r, _, _ = sso(b, google, provider="google")
        assert_signed_in(b, r, ADA)
        assert_pkce(google, count=1)
        [(_, row, _)] = linked_identities(b)
        assert "google" in row.lower() or ADA in row, row
    finally:
        google.stop()


def test_github_links_by_the_verified_primary_email_and_unlinks(sso_site, github_standin):
    gh = github_standin
    server = start_tally(sso_site, github=gh)
    invited_account(server)
    gh.set_user(583231, "ada-codes", "Ada Lovelace",
                [("ada@personal.example.test", False, True), (ADA, True, True)])
    b = Browser(server)
    r, _, _ = sso(b, gh, provider="github")
    assert_signed_in(b, r, ADA)
    assert_pkce(gh, count=1)
    api = [x for x in gh.requests if x.path.startswith("/api/")]
    assert {x.path for x in api} >= {"/api/user", "/api/user/emails"}, api
    assert all(x.headers.get("authorization", "").split(" ")[0].lower() in ("bearer", "token") for x in api)

    [(identity_id, row, form)] = linked_identities(b)
    assert "github" in row.lower() or "ada-codes" in row or ADA in row, row
    unlink(b, form)
    assert linked_identities(b) == []

    # Signing in again links it again (the address is still verified); from then on the GitHub id, not the address,
    # is what finds the account: the primary address changes and the same account signs in.
    b = Browser(server)
    r, _, _ = sso(b, gh, provider="github")
    assert_signed_in(b, r, ADA)
    gh.set_user(583231, "ada-codes", "Ada Lovelace", [("ada@new-job.example.test", True, True)])
    b = Browser(server)
    r, _, _ = sso(b, gh, provider="github")
    assert_signed_in(b, r, ADA)


def test_github_without_a_verified_primary_email_does_not_link(sso_site, github_standin):
    gh = github_standin
    server = start_tally(sso_site, github=gh)
    invited_account(server)
    # The account's address is there, but neither primary nor verified; the primary is unverified.
    gh.set_user(99, "not-ada", "Not Ada", [("someone@example.test", True, False), (ADA, False, False)])
    b = Browser(server)
    r, _, _ = sso(b, gh, provider="github")
    assert r.status_code == 403, f"{r.status_code} {page_text(r.text)[:300]}"
    assert_refused(b, r, 403)
    assert linked_identities(Browser(server).sign_in(ADA, ADA_PASSWORD)) == []
