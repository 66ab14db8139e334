"""The identity-provider stand-ins (standins/identity_providers.py) on their own, without Tally: the OpenID Connect
provider through a whole code flow with PKCE, its ID tokens checked against its published JWKS with authlib (JOSE by
joserfc, authlib 1.9's JOSE layer; the OpenID claims by authlib.oidc.core), each fault producing exactly the defect
it names, key rotation, refused verifiers; and GitHub's OAuth flow and REST shapes. If these fail, test_sso.py's
verdicts about Tally mean nothing."""
import base64
import http.client
import json
import secrets
import urllib.parse

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwk, jwt
from joserfc.errors import (BadSignatureError, ExpiredTokenError, InvalidClaimError, InvalidKeyIdError,
                            JoseError)

import clock
from standins.identity_providers import FAULTS, GitHubStandIn, OIDCProvider, github_standin, oidc_provider  # noqa: F401

CALLBACK = "http://127.0.0.1:9/login/sso/oidc/callback"
GH_CALLBACK = "http://127.0.0.1:9/login/sso/github/callback"


def pkce():
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def query_of(response):
    assert response.status_code == 302, f"{response.status_code} {response.text[:300]}"
    location = response.headers["Location"]
    return location, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def authorize(provider, **overrides):
    params = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": CALLBACK,
              "scope": "openid email profile", "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16)}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    discovery = requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=10).json()
    return params, requests.get(discovery["authorization_endpoint"], params=params, allow_redirects=False, timeout=10)


def code_flow(provider, auth="basic", verifier="match", nonce=None):
    """Authorize with PKCE and exchange the code; return (token response, the nonce, the verifier sent)."""
    provider.register_redirect_uri(CALLBACK)
    good_verifier, challenge = pkce()
    params, r = authorize(provider, code_challenge=challenge, code_challenge_method="S256",
                          **({"nonce": nonce} if nonce else {}))
    location, q = query_of(r)
    assert location.startswith(CALLBACK + "?"), location
    assert q["state"] == params["state"] and len(q["code"]) >= 20, q
    form = {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": CALLBACK}
    sent = {"match": good_verifier, "missing": None, "wrong": secrets.token_urlsafe(48)}[verifier]
    if sent is not None:
        form["code_verifier"] = sent
    kw = {}
    if auth == "basic":
        kw["auth"] = (provider.client_id, provider.client_secret)
    else:
        form.update(client_id=provider.client_id, client_secret=provider.client_secret)
    return requests.post(provider.url + "/token", data=form, timeout=10, **kw), params["nonce"], sent


def published(provider):
    jwks_uri = requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=10).json()["jwks_uri"]
    r = requests.get(jwks_uri, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
    return r.json()


def segments(token):
    header, payload, _ = token.split(".")
    decode = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def verify(token, jwks, provider, nonce, access_token=None):
    """Verify `token` as a relying party must (signature by a published key, then iss, aud, exp, iat, nonce and
    at_hash with authlib's CodeIDToken); return the claims. Raises the JoseError of the first defect."""
    header, _ = segments(token)
    keys = jwk.KeySet.import_key_set(jwks)
    decoded = jwt.decode(token, keys, algorithms=["RS256", "ES256"])
    claims = CodeIDToken(decoded.claims, decoded.header,
                         options={"iss": {"essential": True, "value": provider.issuer},
                                  "aud": {"essential": True, "value": provider.client_id}},
                         params={"nonce": nonce, "client_id": provider.client_id, "access_token": access_token})
    claims.validate(now=int(clock.timestamp()), leeway=60)
    assert decoded.header == header
    return claims


def defects(token, jwks, provider, nonce):
    """Every way `token` is wrong, each checked on its own: {"kid", "signature", "iss", "aud", "exp", "iat",
    "nonce"}."""
    header, claims = segments(token)
    found = set()
    kids = {k["kid"] for k in jwks["keys"]}
    if header.get("kid") not in kids:
        found.add("kid")
    else:
        try:
            jwt.decode(token, jwk.KeySet.import_key_set(jwks), algorithms=[header["alg"]])
        except BadSignatureError:
            found.add("signature")
    now = clock.timestamp()
    if claims.get("iss") != provider.issuer:
        found.add("iss")
    if claims.get("aud") != provider.client_id:
        found.add("aud")
    if not claims.get("exp", 0) > now:
        found.add("exp")
    if claims.get("iat", 0) > now + 60:
        found.add("iat")
    if claims.get("nonce") != nonce:
        found.add("nonce")
    return found


# -- OpenID Connect ----------------------------------------------------------------------------------------------

def test_discovery_document_is_valid_openid_provider_metadata(oidc_provider):
    r = requests.get(oidc_provider.issuer + "/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    meta = r.json()
    OpenIDProviderMetadata(meta).validate()
    assert meta["issuer"] == oidc_provider.issuer == f"http://127.0.0.1:{oidc_provider.port}"
    for name, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks")):
        assert meta[name] == oidc_provider.url + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert {"openid", "email", "profile"} <= set(meta["scopes_supported"])
    assert meta["subject_types_supported"] == ["public"]


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
@pytest.mark.parametrize("auth", ["basic", "post"])
def test_code_flow_with_pkce_gives_an_id_token_signed_by_a_published_key(oidc_provider, algorithm, auth):
    oidc_provider.algorithm = algorithm
    oidc_provider.set_user("sub-123", "ada@example.test", True, "Ada Lovelace")
    r, nonce, _ = code_flow(oidc_provider, auth=auth)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["scope"] == "openid email profile"
    jwks = published(oidc_provider)
    assert all("d" not in k for k in jwks["keys"]), "private key material is published"
    header, _ = segments(body["id_token"])
    assert header["alg"] == algorithm and header["kid"] == oidc_provider.kid
    assert header["kid"] in {k["kid"] for k in jwks["keys"] if k["alg"] == algorithm}
    claims = verify(body["id_token"], jwks, oidc_provider, nonce, body["access_token"])
    assert claims["sub"] == "sub-123" and claims["email"] == "ada@example.test" and claims["email_verified"] is True
    assert claims["name"] == "Ada Lovelace" and claims["aud"] == "tally-test"
    assert claims["exp"] - claims["iat"] == 300 and abs(claims["iat"] - clock.timestamp()) < 30
    assert defects(body["id_token"], jwks, oidc_provider, nonce) == set()

    info = requests.get(oidc_provider.url + "/userinfo", headers={"Authorization": "Bearer " + body["access_token"]},
                        timeout=10)
    assert info.status_code == 200
    assert info.json() == {"sub": "sub-123", "email": "ada@example.test", "email_verified": True,
                           "name": "Ada Lovelace"}
    assert requests.get(oidc_provider.url + "/userinfo", headers={"Authorization": "Bearer nope"},
                        timeout=10).status_code == 401

    [record] = oidc_provider.token_requests
    assert record["code_verifier_present"] and record["code_verifier_valid"] and record["status"] == 200
    assert record["client_auth"] == {"basic": "client_secret_basic", "post": "client_secret_post"}[auth]
    assert [q["nonce"] for q in oidc_provider.authorize_requests()] == [nonce]
    assert {(x.method, x.path) for x in oidc_provider.requests} >= {("GET", "/authorize"), ("POST", "/token"),
                                                                    ("GET", "/jwks")}
    token_request = oidc_provider.recorded("/token")[0]
    assert token_request.form["grant_type"] == "authorization_code" and "code_verifier" in token_request.form


def test_unverified_email_is_said_so(oidc_provider):
    oidc_provider.set_user("sub-9", "eve@example.test", email_verified=False, name="Eve")
    r, nonce, _ = code_flow(oidc_provider)
    claims = verify(r.json()["id_token"], published(oidc_provider), oidc_provider, nonce)
    assert claims["email_verified"] is False and claims["email"] == "eve@example.test"


def test_a_code_is_single_use_and_bound_to_its_redirect_uri_and_client(oidc_provider):
    oidc_provider.register_redirect_uri(CALLBACK)
    verifier, challenge = pkce()
    _, r = authorize(oidc_provider, code_challenge=challenge, code_challenge_method="S256")
    code = query_of(r)[1]["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier}
    creds = (oidc_provider.client_id, oidc_provider.client_secret)
    wrong_secret = requests.post(oidc_provider.url + "/token", data=form, auth=(oidc_provider.client_id, "nope"),
                                 timeout=10)
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in wrong_secret.headers
    no_auth = requests.post(oidc_provider.url + "/token", data=form, timeout=10)
    assert no_auth.status_code == 401 and no_auth.json()["error"] == "invalid_client"

    # A fresh code: the one above survived only refused client authentications.
    first = requests.post(oidc_provider.url + "/token", data=form, auth=creds, timeout=10)
    assert first.status_code == 200, first.text
    again = requests.post(oidc_provider.url + "/token", data=form, auth=creds, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    _, r = authorize(oidc_provider, code_challenge=challenge, code_challenge_method="S256")
    other = dict(form, code=query_of(r)[1]["code"], redirect_uri=CALLBACK + "/elsewhere")
    refused = requests.post(oidc_provider.url + "/token", data=other, auth=creds, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", ["missing", "wrong"])
def test_a_missing_or_wrong_code_verifier_is_refused(oidc_provider, verifier):
    r, _, sent = code_flow(oidc_provider, verifier=verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    [record] = oidc_provider.token_requests
    assert record["code_verifier_present"] is (verifier == "wrong")
    assert record["code_verifier_valid"] is False and record["error"] == "invalid_grant"
    assert oidc_provider.issued_id_tokens == []


def test_authorize_refuses_what_the_contract_forbids(oidc_provider):
    _, challenge = pkce()
    pk = {"code_challenge": challenge, "code_challenge_method": "S256"}
    # Unknown client or unregistered redirect URI: an error page, never a redirect (RFC 6749 4.1.2.1).
    _, r = authorize(oidc_provider, **pk)
    assert r.status_code == 400 and "Location" not in r.headers and "not registered" in r.text
    oidc_provider.register_redirect_uri(CALLBACK)
    _, r = authorize(oidc_provider, client_id="someone-else", **pk)
    assert r.status_code == 400 and "Location" not in r.headers
    _, r = authorize(oidc_provider, redirect_uri=CALLBACK + "x", **pk)
    assert r.status_code == 400 and "Location" not in r.headers

    for overrides, error in (({}, "invalid_request"),  # no code_challenge
                             ({"code_challenge": challenge}, "invalid_request"),  # no method
                             ({"code_challenge": challenge, "code_challenge_method": "plain"}, "invalid_request"),
                             (dict(pk, scope="email profile"), "invalid_scope"),
                             (dict(pk, response_type="token"), "unsupported_response_type")):
        params, r = authorize(oidc_provider, **overrides)
        location, q = query_of(r)
        assert location.startswith(CALLBACK + "?")
        assert q["error"] == error and q["state"] == params["state"] and "code" not in q, (overrides, q)


@pytest.mark.parametrize("fault, defect, error", [
    ("wrong_nonce", "nonce", InvalidClaimError), ("wrong_aud", "aud", InvalidClaimError),
    ("wrong_iss", "iss", InvalidClaimError), ("expired", "exp", ExpiredTokenError),
    ("tampered", "signature", BadSignatureError), ("unknown_kid", "kid", InvalidKeyIdError),
    ("future_iat", "iat", InvalidClaimError)])
@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_each_fault_gives_exactly_its_defect(oidc_provider, fault, defect, error, algorithm):
    oidc_provider.algorithm = algorithm
    oidc_provider.fault = fault
    r, nonce, _ = code_flow(oidc_provider)
    assert r.status_code == 200, r.text
    token = r.json()["id_token"]
    jwks = published(oidc_provider)
    assert defects(token, jwks, oidc_provider, nonce) == {defect}
    with pytest.raises(error) as raised:
        verify(token, jwks, oidc_provider, nonce)
    if error is InvalidClaimError:
        assert raised.value.claim == defect
    header, claims = segments(token)
    assert header["alg"] == algorithm
    assert claims["email"] == oidc_provider.user["email"] and claims["sub"] == oidc_provider.user["sub"]
    if fault == "unknown_kid":
        assert header["kid"] not in {k["kid"] for k in jwks["keys"]}
        for key in jwks["keys"]:  # no published key verifies it, whatever kid a client tries
            with pytest.raises(JoseError):
                jwt.decode(token, jwk.import_key(key), algorithms=[algorithm])
    if fault == "tampered":
        assert header["kid"] == oidc_provider.kid

    # The fault stays until it is reset, then the tokens are honest again.
    r, nonce, _ = code_flow(oidc_provider)
    assert defects(r.json()["id_token"], published(oidc_provider), oidc_provider, nonce) == {defect}
    oidc_provider.fault = None
    r, nonce, _ = code_flow(oidc_provider)
    verify(r.json()["id_token"], published(oidc_provider), oidc_provider, nonce, r.json()["access_token"])


def test_every_fault_is_covered():
    assert set(FAULTS) == {None, "wrong_nonce", "wrong_aud", "wrong_iss", "expired", "tampered", "unknown_kid",
                           "future_iat"}


def test_rotation_publishes_only_the_new_keys(oidc_provider):
    r, nonce, _ = code_flow(oidc_provider)
    old_token = r.json()["id_token"]
    before = published(oidc_provider)
    old_kids = {k["kid"] for k in before["keys"]}
    assert {k["alg"] for k in before["keys"]} == {"RS256", "ES256"} and len(old_kids) == 2
    verify(old_token, before, oidc_provider, nonce)

    new_kids = oidc_provider.rotate_keys()
    after = published(oidc_provider)
    assert {k["kid"] for k in after["keys"]} == set(new_kids.values())
    assert old_kids.isdisjoint(new_kids.values())
    with pytest.raises(InvalidKeyIdError):
        verify(old_token, after, oidc_provider, nonce)  # a relying party holding only the new JWKS

    r, nonce, _ = code_flow(oidc_provider)
    new_token = r.json()["id_token"]
    assert segments(new_token)[0]["kid"] == new_kids["RS256"]
    with pytest.raises(InvalidKeyIdError):
        verify(new_token, before, oidc_provider, nonce)  # a relying party that kept the old JWKS
    verify(new_token, after, oidc_provider, nonce)
    assert oidc_provider.jwks_fetches() == 2


def test_standins_started_side_by_side_do_not_share_state():
    a, b = OIDCProvider().start(), OIDCProvider().start()
    try:
        assert a.issuer != b.issuer and a.kid != b.kid
        a.fault = "expired"
        assert b.fault is None
    finally:
        a.stop()
        b.stop()


# -- GitHub ------------------------------------------------------------------------------------------------------

def github_authorize(gh, **overrides):
    params = {"client_id": gh.client_id, "redirect_uri": GH_CALLBACK, "scope": "read:user user:email",
              "state": secrets.token_urlsafe(16)}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return params, requests.get(gh.url + "/login/oauth/authorize", params=params, allow_redirects=False, timeout=10)


def github_token(gh, code, verifier=None, accept="application/json", **extra):
    form = {"client_id": gh.client_id, "client_secret": gh.client_secret, "code": code, "redirect_uri": GH_CALLBACK}
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(extra)
    headers = {"Accept": accept} if accept else {}
    return requests.post(gh.url + "/login/oauth/access_token", data=form, headers=headers, timeout=10)


def github_api(gh, path, token, scheme="Bearer", **headers):
    h = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        h["Authorization"] = f"{scheme} {token}"
    h.update(headers)
    return requests.get(gh.api_url + path, headers=h, timeout=10)


def test_github_web_flow_with_pkce_and_the_rest_shapes(github_standin):
    gh = github_standin
    gh.register_redirect_uri(GH_CALLBACK)
    gh.set_user(583231, "octocat", "The Octocat", [("octo@work.example.test", True, True),
                                                  ("old@example.test", False, False)])
    verifier, challenge = pkce()
    params, r = github_authorize(gh, code_challenge=challenge, code_challenge_method="S256")
    location, q = query_of(r)
    assert location.startswith(GH_CALLBACK + "?") and q["state"] == params["state"]

    r = github_token(gh, q["code"], verifier)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"access_token", "token_type", "scope"}
    assert body["access_token"].startswith("gho_") and len(body["access_token"]) == 40
    assert body["token_type"] == "bearer" and body["scope"] == "read:user,user:email"
    [record] = gh.token_requests
    assert record["challenge_given"] and record["code_verifier_present"] and record["code_verifier_valid"]

    for scheme in ("Bearer", "token"):
        user = github_api(gh, "/user", body["access_token"], scheme)
        assert user.status_code == 200, user.text
        u = user.json()
        assert u["id"] == 583231 and isinstance(u["id"], int) and u["login"] == "octocat"
        assert u["name"] == "The Octocat" and u["email"] is None
        assert u["avatar_url"].startswith("https://avatars.githubusercontent.com/u/583231")
        assert {"node_id", "html_url", "type", "site_admin", "created_at"} <= set(u)
        assert user.headers["X-OAuth-Scopes"] == "read:user, user:email"
    emails = github_api(gh, "/user/emails", body["access_token"])
    assert emails.status_code == 200
    assert emails.json() == [
        {"email": "octo@work.example.test", "primary": True, "verified": True, "visibility": "private"},
        {"email": "old@example.test", "primary": False, "verified": False, "visibility": None}]


def test_github_token_answers_form_encoded_unless_json_is_asked_for(github_standin):
    gh = github_standin
    gh.register_redirect_uri(GH_CALLBACK)
    _, r = github_authorize(gh)
    r = github_token(gh, query_of(r)[1]["code"], accept=None)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    form = dict(urllib.parse.parse_qsl(r.text))
    assert form["token_type"] == "bearer" and form["access_token"].startswith("gho_")
    _, r = github_authorize(gh)
    r = github_token(gh, query_of(r)[1]["code"], accept="application/xml")
    assert r.text.startswith("<OAuth>") and "<token_type>bearer</token_type>" in r.text


def test_github_refusals_look_like_githubs(github_standin):
    gh = github_standin
    gh.register_redirect_uri(GH_CALLBACK)
    # A bad code is a 200 with an error body.
    r = github_token(gh, "0123456789abcdef0123")
    assert r.status_code == 200 and r.json()["error"] == "bad_verification_code"
    assert r.json()["error_description"] == "The code passed is incorrect or expired."
    # A code is single use.
    _, a = github_authorize(gh)
    code = query_of(a)[1]["code"]
    assert "access_token" in github_token(gh, code).json()
    assert github_token(gh, code).json()["error"] == "bad_verification_code"
    # Wrong client secret.
    _, a = github_authorize(gh)
    r = github_token(gh, query_of(a)[1]["code"], client_secret="nope")
    assert r.status_code == 200 and r.json()["error"] == "incorrect_client_credentials"
    # With a challenge, a missing or wrong verifier.
    for verifier in (None, secrets.token_urlsafe(48)):
        _, challenge = pkce()
        _, a = github_authorize(gh, code_challenge=challenge, code_challenge_method="S256")
        r = github_token(gh, query_of(a)[1]["code"], verifier)
        assert r.status_code == 200 and r.json()["error"] == "bad_verification_code"
        assert gh.token_requests[-1]["code_verifier_valid"] is False
    # A redirect URI outside the callback: back to the callback with redirect_uri_mismatch.
    params, a = github_authorize(gh, redirect_uri="http://127.0.0.1:9/elsewhere")
    location, q = query_of(a)
    assert location.startswith(GH_CALLBACK + "?") and q["error"] == "redirect_uri_mismatch"
    assert q["state"] == params["state"] and "code" not in q
    # Below the callback's path is allowed, as GitHub allows it.
    _, a = github_authorize(gh, redirect_uri=GH_CALLBACK + "/deeper")
    assert "code" in query_of(a)[1]
    # An unknown client: GitHub's 404 page.
    _, a = github_authorize(gh, client_id="Ov23liUnknown")
    assert a.status_code == 404 and "Location" not in a.headers


def test_github_api_refusals(github_standin):
    gh = github_standin
    gh.register_redirect_uri(GH_CALLBACK)
    _, a = github_authorize(gh, scope="read:user")
    token = github_token(gh, query_of(a)[1]["code"]).json()["access_token"]
    assert github_api(gh, "/user", token).status_code == 200
    # Without user:email the emails are not there (GitHub answers 404).
    r = github_api(gh, "/user/emails", token)
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    r = github_api(gh, "/user", None)
    assert r.status_code == 401 and r.json()["message"] == "Requires authentication"
    r = github_api(gh, "/user", "gho_" + "x" * 36)
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    # No User-Agent: refused, as api.github.com refuses it.
    # (http.client, since requests and urllib3 always add one)
    conn = http.client.HTTPConnection("127.0.0.1", gh.port, timeout=10)
    conn.request("GET", "/api/user", headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    assert r.status == 403 and "User-Agent" in text, (r.status, text)
    assert GitHubStandIn().client_id == gh.client_id


def test_chromium_reaches_the_authorization_endpoint_as_another_site(driver):
    """test_sso.py sends Chromium to the provider as http://localhost:<port> (another site than Tally's 127.0.0.1,
    as a real provider is); the stand-in listens on 127.0.0.1 only, so this shows Chromium gets there."""
    provider = OIDCProvider(browser_host="localhost").start()
    try:
        landing = provider.url + "/.well-known/openid-configuration"  # any page of ours that ignores the query
        provider.register_redirect_uri(landing)
        verifier, challenge = pkce()
        discovery = requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=10).json()
        assert discovery["authorization_endpoint"] == f"http://localhost:{provider.port}/authorize"
        assert discovery["token_endpoint"] == provider.url + "/token"
        params = {"response_type": "code", "client_id": provider.client_id, "redirect_uri": landing,
                  "scope": "openid email", "state": "st-1", "nonce": "n-1", "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        driver.get(discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode(params))
        driver.wait_for(lambda d: d.current_url.startswith(landing + "?"), message="the redirect back")
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(driver.current_url).query))
        assert q["state"] == "st-1"
        r = requests.post(provider.url + "/token", timeout=10, auth=(provider.client_id, provider.client_secret),
                          data={"grant_type": "authorization_code", "code": q["code"], "redirect_uri": landing,
                                "code_verifier": verifier})
        assert r.status_code == 200, r.text
        verify(r.json()["id_token"], published(provider), provider, "n-1", r.json()["access_token"])
    finally:
        provider.stop()
