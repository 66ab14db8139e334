"""Stand-ins for the identity providers Tally signs people in with (issue 23): an OpenID Connect provider and GitHub.

Each is a small threaded HTTP server on 127.0.0.1:<free port> that records every request it gets.

`OIDCProvider` speaks OpenID Connect Core 1.0 (the authorization code flow, section 3.1), OpenID Connect Discovery 1.0,
RFC 6749 (OAuth 2.0: the code grant, client_secret_basic and client_secret_post, its error answers), RFC 7517 (a JWK
Set) and RFC 7636 (PKCE, S256 only, and required). It is built on authlib 1.9: JOSE through joserfc (authlib 1.9's own
JOSE layer; `authlib.jose` is deprecated in its favour) makes the keys, publishes them and signs the ID tokens as RS256
or ES256, and authlib's RFC 7636 helper checks the code verifier.

- GET  /.well-known/openid-configuration   the provider's metadata
- GET  /jwks                               the published signing keys (`kid`, `alg`, `use: sig`)
- GET  /authorize                          consents at once as the configured user: 302 to redirect_uri?code&state
- POST /token                              code + code_verifier -> access_token, id_token
- GET  /userinfo                           `Authorization: Bearer <access token>` -> the user's claims

A test makes it misbehave with `fault` ("wrong_nonce", "wrong_aud", "wrong_iss", "expired", "tampered", "unknown_kid",
"future_iat"; None is an honest provider): every ID token issued while it is set has that one defect. `rotate_keys()`
replaces the signing keys (new kids; the old ones are no longer published).

`GitHubStandIn` speaks GitHub's OAuth web application flow and the two REST endpoints a sign-in reads, as GitHub's docs
describe them ("Authorizing OAuth apps", "Troubleshooting OAuth app access token request errors", REST "Users" and
"Emails"): GET /login/oauth/authorize, POST /login/oauth/access_token (form-encoded answer, or JSON with
`Accept: application/json`, or XML; a bad code is a 200 with `error: bad_verification_code`), and under /api (so the
API base URL is `<url>/api`) GET /user and GET /user/emails (`Authorization: Bearer|token <t>`; a User-Agent header is
required, as on api.github.com; /user/emails needs the `user:email` or `user` scope, else 404 like GitHub).

Times in tokens (iat, exp) are on the test clock (e2e/clock.py), the clock Tally is told to use; codes expire on the
real clock.
"""
import base64
import json
import secrets
import string
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape as xml_escape

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oidc.core.util import create_half_hash
from joserfc import jwk, jwt

import clock  # e2e/clock.py: the clock Tally is told to use

FAULTS = (None, "wrong_nonce", "wrong_aud", "wrong_iss", "expired", "tampered", "unknown_kid", "future_iat")
ALGORITHMS = ("RS256", "ES256")
CODE_LIFETIME_SECONDS = 60
ID_TOKEN_LIFETIME_SECONDS = 300
ACCESS_TOKEN_LIFETIME_SECONDS = 3600


class Recorded:
    """One request as a stand-in received it: method, target (path with query), path, query, lower-cased headers,
    and the form fields of a form-encoded body."""

    def __init__(self, method, target, headers, form):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.form = form

    def __repr__(self):
        return f"<{self.method} {self.target} form={sorted(self.form)}>"


class _Answer:
    def __init__(self, status, body=b"", content_type="application/json; charset=utf-8", headers=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.headers = dict(headers or {})
        if body or content_type.startswith("application/json"):
            self.headers.setdefault("Content-Type", content_type)


def _json(status, body, headers=None):
    return _Answer(status, body, headers=headers)


def _redirect(url, headers=None):
    return _Answer(302, b"", "text/html", headers=dict(headers or {}, Location=url))


def _html(status, title, text):
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{xml_escape(title)}</title></head>"
            f"<body><h1>{xml_escape(title)}</h1><p>{xml_escape(text)}</p></body></html>")
    return _Answer(status, page, "text/html; charset=utf-8")


def _with_query(url, params):
    """`url` with `params` added to its query (RFC 6749 4.1.2: the redirect URI keeps its own query)."""
    split = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urllib.parse.urlunsplit(split._replace(query=urllib.parse.urlencode(query)))


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tamper_signature(token):
    """The compact JWS `token` with one byte of its signature changed (header and payload untouched)."""
    header, payload, signature = token.split(".")
    raw = bytearray(_b64url_decode(signature))
    raw[len(raw) // 2] ^= 0x5A
    return ".".join((header, payload, _b64url_encode(bytes(raw))))


def _basic_credentials(headers):
    """(client_id, client_secret) of an `Authorization: Basic` header (RFC 6749 2.3.1: each form-urlencoded), or
    None; "malformed" when the header is there but unreadable."""
    auth = headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return "malformed"
    user, sep, password = decoded.partition(":")
    if not sep:
        return "malformed"
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


class _StandInServer:
    """The threaded HTTP server, request log and lock both stand-ins share; subclasses answer in `_answer`."""

    name = "identity-standin"

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = standin.name
            sys_version = ""

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                form = {}
                if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or "") and raw:
                    form = dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
                request = Recorded(self.command, self.path, dict(self.headers.items()), form)
                with standin._lock:
                    standin.requests.append(request)
                try:
                    answer = standin._answer(request)
                except Exception as e:  # noqa: BLE001 - a stand-in bug shows as a 500 naming it, not a hang
                    answer = _json(500, {"error": "server_error", "error_description": f"stand-in bug: {e!r}"})
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def recorded(self, path=None):
        """The requests received so far (only those to `path`, when given)."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def clear(self):
        with self._lock:
            self.requests.clear()
            self._clear_more()

    def _clear_more(self):
        pass

    def _answer(self, request):
        raise NotImplementedError


# =====================================================================================================================
# OpenID Connect


class OIDCProvider(_StandInServer):
    """An OpenID Connect provider with one confidential client (`client_id`, `client_secret`) and one signed-in user
    who consents to everything. `issuer` is its URL (no trailing slash): Tally's TALLY_OIDC_ISSUER."""

    name = "oidc-standin"

    def __init__(self, client_id="tally-test", client_secret="tally-test-secret", redirect_uris=(),
                 browser_host="127.0.0.1"):
        super().__init__()
        self.issuer = self.url
        # Only the browser goes to the authorization endpoint. As "localhost" it is another site than Tally's
        # 127.0.0.1, as a real provider is: the callback then arrives through a cross-site redirect, where a
        # SameSite=Strict cookie would not come back. Tally itself calls the other endpoints at 127.0.0.1.
        self.authorization_endpoint = f"http://{browser_host}:{self.port}/authorize"
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.algorithm = "RS256"
        self.fault = None
        self.token_requests = []  # one dict per POST /token, see _token
        self.issued_id_tokens = []  # every ID token /token answered with, in order
        self._codes = {}
        self._access_tokens = {}
        self._generation = 0
        self._keys = {}
        self._stray_keys = {alg: self._new_key(alg, "never-published-") for alg in ALGORITHMS}
        self.rotate_keys()
        self.set_user("oidc-user-1", "person@example.test", True, "Pat Person")

    # -- controls

    def set_user(self, sub, email, email_verified=True, name="Pat Person"):
        """Who the provider signs in from now on (codes already handed out keep the user they were issued for)."""
        with self._lock:
            self.user = {"sub": sub, "email": email, "email_verified": email_verified, "name": name}

    def register_redirect_uri(self, uri):
        """Allow `uri` as a redirect URI of the client (compared exactly, as OpenID Connect Core 3.1.2.1 requires)."""
        with self._lock:
            if uri not in self.redirect_uris:
                self.redirect_uris.append(uri)

    def rotate_keys(self):
        """Replace every signing key with a new one under a new kid; the JWKS publishes only the new keys."""
        with self._lock:
            self._generation += 1
            self._keys = {alg: self._new_key(alg, f"gen{self._generation}-") for alg in ALGORITHMS}
            return {alg: key.kid for alg, key in self._keys.items()}

    def signing_key(self, algorithm=None):
        """The private key that signs tokens with `algorithm` (the current one by default)."""
        return self._keys[algorithm or self.algorithm]

    @property
    def kid(self):
        """The kid of the key that signs the next ID token (honest provider, current algorithm)."""
        return self.signing_key().kid

    def jwks(self):
        """The published JWK Set (public keys only), as /jwks answers it."""
        return jwk.KeySet(list(self._keys.values())).as_dict(private=False)

    def discovery(self):
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "at_hash", "email", "email_verified",
                                 "name"],
        }

    def authorize_requests(self):
        """The query parameters of every GET /authorize, in order."""
        return [r.query for r in self.recorded("/authorize")]

    def jwks_fetches(self):
        return len(self.recorded("/jwks"))

    def _clear_more(self):
        self.token_requests.clear()
        self.issued_id_tokens.clear()

    # -- serving

    @staticmethod
    def _new_key(alg, prefix):
        kid = prefix + secrets.token_hex(6)
        params = {"kid": kid, "use": "sig", "alg": alg}
        if alg == "RS256":
            return jwk.RSAKey.generate_key(2048, parameters=params)
        return jwk.ECKey.generate_key("P-256", parameters=params)

    def _answer(self, request):
        routes = {("GET", "/.well-known/openid-configuration"): lambda r: _json(200, self.discovery()),
                  ("GET", "/jwks"): lambda r: _json(200, self.jwks(), {"Cache-Control": "public, max-age=3600"}),
                  ("GET", "/authorize"): self._authorize,
                  ("POST", "/token"): self._token,
                  ("GET", "/userinfo"): self._userinfo,
                  ("POST", "/userinfo"): self._userinfo}
        handler = routes.get((request.method, request.path))
        if handler is None:
            return _json(404, {"error": "not_found", "error_description": f"{request.method} {request.path}"})
        return handler(request)

    def _authorize(self, request):
        q = request.query
        # Errors about the client or the redirect URI are shown to the person, never redirected (RFC 6749 4.1.2.1).
        if q.get("client_id") != self.client_id:
            return _html(400, "invalid_client", f"Unknown client_id {q.get('client_id')!r}.")
        redirect_uri = q.get("redirect_uri")
        if not redirect_uri or redirect_uri not in self.redirect_uris:
            return _html(400, "invalid_request",
                         f"redirect_uri {redirect_uri!r} is not registered for this client (registered: "
                         f"{', '.join(self.redirect_uris) or 'none'}).")
        state = q.get("state")

        def error(code, description):
            return _redirect(_with_query(redirect_uri, {"error": code, "error_description": description,
                                                        "state": state}))

        if q.get("response_type") != "code":
            return error("unsupported_response_type", "Only response_type=code is supported.")
        scopes = (q.get("scope") or "").split()
        if "openid" not in scopes:
            return error("invalid_scope", "The scope must contain openid.")
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if not challenge:
            return error("invalid_request", "code_challenge is required (PKCE, RFC 7636).")
        if method != "S256":
            return error("invalid_request", "code_challenge_method must be S256.")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {"client_id": self.client_id, "redirect_uri": redirect_uri, "nonce": q.get("nonce"),
                                 "challenge": challenge, "scope": " ".join(scopes), "user": dict(self.user),
                                 "expires": time.monotonic() + CODE_LIFETIME_SECONDS, "used": False}
        return _redirect(_with_query(redirect_uri, {"code": code, "state": state}))

    def _client(self, request):
        """(client_id, auth method, error answer or None) of a token request."""
        basic = _basic_credentials(request.headers)
        in_form = "client_secret" in request.form
        unauthorized = _json(401, {"error": "invalid_client", "error_description": "Client authentication failed."},
                             {"WWW-Authenticate": 'Basic realm="oidc-standin"', "Cache-Control": "no-store"})
        if basic and in_form:
            return None, "both", _json(400, {"error": "invalid_request",
                                             "error_description": "Use one client authentication method only."})
        if basic == "malformed":
            return None, "client_secret_basic", unauthorized
        if basic:
            client_id, secret = basic
            method = "client_secret_basic"
            if request.form.get("client_id") not in (None, client_id):
                return client_id, method, unauthorized
        elif in_form:
            client_id, secret = request.form.get("client_id"), request.form["client_secret"]
            method = "client_secret_post"
        else:
            return request.form.get("client_id"), None, unauthorized
        if client_id != self.client_id or not secrets.compare_digest(secret or "", self.client_secret):
            return client_id, method, unauthorized
        return client_id, method, None

    def _token(self, request):
        form = request.form
        verifier = form.get("code_verifier")
        record = {"client_auth": None, "client_id": None, "grant_type": form.get("grant_type"),
                  "code_verifier_present": verifier is not None, "code_verifier_valid": False,
                  "redirect_uri": form.get("redirect_uri"), "status": None, "error": None, "form": dict(form)}
        with self._lock:
            self.token_requests.append(record)

        def fail(status, code, description, answer=None):
            record["status"], record["error"] = status, code
            return answer or _json(status, {"error": code, "error_description": description},
                                   {"Cache-Control": "no-store", "Pragma": "no-cache"})

        client_id, method, refused = self._client(request)
        record["client_auth"], record["client_id"] = method, client_id
        if refused is not None:
            return fail(refused.status, json.loads(refused.body)["error"], "", refused)
        if form.get("grant_type") != "authorization_code":
            return fail(400, "unsupported_grant_type", "Only authorization_code is supported.")
        code = form.get("code")
        with self._lock:
            grant = self._codes.get(code) if code else None
            if grant is not None:
                # Whatever happens next the code is spent: a replayed code is refused (RFC 6749 4.1.2).
                first_use, grant["used"] = not grant["used"], True
        if grant is not None and verifier is not None:
            record["code_verifier_valid"] = bool(CODE_VERIFIER_PATTERN.match(verifier)) and secrets.compare_digest(
                create_s256_code_challenge(verifier), grant["challenge"])
        if grant is None or not first_use:
            return fail(400, "invalid_grant", "The code is unknown or was already used.")
        if time.monotonic() > grant["expires"]:
            return fail(400, "invalid_grant", "The code has expired.")
        if grant["client_id"] != client_id:
            return fail(400, "invalid_grant", "The code was issued to another client.")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return fail(400, "invalid_grant", "redirect_uri differs from the one of the authorization request.")
        if verifier is None:
            return fail(400, "invalid_grant", "code_verifier is required (PKCE).")
        if not record["code_verifier_valid"]:
            return fail(400, "invalid_grant", "code_verifier does not match the code_challenge.")

        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = {"user": grant["user"], "scope": grant["scope"],
                                                 "expires": time.monotonic() + ACCESS_TOKEN_LIFETIME_SECONDS}
        id_token = self.id_token(grant["user"], grant["nonce"], access_token)
        with self._lock:
            self.issued_id_tokens.append(id_token)
        record["status"] = 200
        return _json(200, {"access_token": access_token, "token_type": "Bearer",
                           "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS, "id_token": id_token, "scope": grant["scope"]},
                     {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def id_token(self, user, nonce, access_token=None, fault="current"):
        """A signed ID token for `user`, with the defect of `fault` (the provider's current `fault` by default)."""
        fault = self.fault if fault == "current" else fault
        assert fault in FAULTS, f"unknown fault {fault!r}; one of {FAULTS}"
        alg = self.algorithm
        assert alg in ALGORITHMS, f"algorithm must be one of {ALGORITHMS}, not {alg!r}"
        now = int(clock.timestamp())
        claims = {"iss": self.issuer, "sub": user["sub"], "aud": self.client_id, "exp": now + ID_TOKEN_LIFETIME_SECONDS,
                  "iat": now, "auth_time": now, "email": user["email"], "email_verified": user["email_verified"],
                  "name": user["name"]}
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = create_half_hash(access_token, alg).decode()
        if fault == "wrong_nonce":
            claims["nonce"] = "not-the-nonce-" + secrets.token_urlsafe(12)
        elif fault == "wrong_aud":
            claims["aud"] = "some-other-client"
        elif fault == "wrong_iss":
            claims["iss"] = "https://impostor.example.test"
        elif fault == "expired":
            # An hour old, long past any clock-skew leeway.
            claims.update(iat=now - 3600 - ID_TOKEN_LIFETIME_SECONDS, auth_time=now - 3600 - ID_TOKEN_LIFETIME_SECONDS,
                          exp=now - 3600)
        elif fault == "future_iat":
            claims.update(iat=now + 3600, auth_time=now + 3600, exp=now + 3600 + ID_TOKEN_LIFETIME_SECONDS)
        key = self._stray_keys[alg] if fault == "unknown_kid" else self._keys[alg]
        token = jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])
        if fault == "tampered":
            token = tamper_signature(token)
        return token

    def _userinfo(self, request):
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else request.form.get("access_token")
        with self._lock:
            grant = self._access_tokens.get(token) if token else None
        if grant is None or time.monotonic() > grant["expires"]:
            challenge = 'Bearer error="invalid_token"' if token else 'Bearer realm="oidc-standin"'
            return _json(401, {"error": "invalid_token"}, {"WWW-Authenticate": challenge})
        user = grant["user"]
        scopes = grant["scope"].split()
        claims = {"sub": user["sub"]}
        if "email" in scopes:
            claims.update(email=user["email"], email_verified=user["email_verified"])
        if "profile" in scopes:
            claims["name"] = user["name"]
        return _json(200, claims)


@pytest.fixture
def oidc_provider():
    """A started OIDCProvider (RS256, no fault) serving until the test ends."""
    provider = OIDCProvider().start()
    yield provider
    provider.stop()


# =====================================================================================================================
# GitHub

GITHUB_DOCS = "https://docs.github.com"
BAD_VERIFICATION_CODE = {
    "error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
    "error_uri": GITHUB_DOCS + "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
                               "#bad-verification-code"}
INCORRECT_CLIENT_CREDENTIALS = {
    "error": "incorrect_client_credentials",
    "error_description": "The client_id and/or client_secret passed are incorrect.",
    "error_uri": GITHUB_DOCS + "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
                               "#incorrect-client-credentials"}
REDIRECT_URI_MISMATCH = {
    "error": "redirect_uri_mismatch",
    "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
    "error_uri": GITHUB_DOCS + "/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
                               "#redirect-uri-mismatch"}
USER_AGENT_REQUIRED = ("Request forbidden by administrative rules. Please make sure your request has a User-Agent "
                       "header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required)."
                       " Check https://developer.github.com for other possible causes.\n")
_BASE62 = string.ascii_letters + string.digits


class GitHubStandIn(_StandInServer):
    """github.com's OAuth endpoints at `url` and api.github.com's at `api_url` (= url + "/api") for one OAuth app
    (`client_id`, `client_secret`, callback URLs) and one signed-in user who authorizes the app at once."""

    name = "github-standin"

    def __init__(self, client_id="Ov23liTallyStandIn01", client_secret="tally-github-test-secret", callback_urls=()):
        super().__init__()
        self.api_url = self.url + "/api"
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback_urls = list(callback_urls)
        self.token_requests = []
        self._codes = {}
        self._tokens = {}
        self.set_user(4242, "octo-person", "Octo Person", [("octo@example.test", True, True)])

    # -- controls

    def set_user(self, id, login, name, emails=(), public_email=None):  # noqa: A002 - GitHub's field name
        """Who signs in from now on: `emails` is [(email, primary, verified)]; `public_email` is the profile's public
        address (GET /user's `email`, null by default, as for most GitHub users)."""
        with self._lock:
            self.user = {"id": int(id), "login": login, "name": name, "public_email": public_email,
                         "emails": [{"email": e, "primary": bool(p), "verified": bool(v)} for e, p, v in emails]}

    def register_redirect_uri(self, uri):
        """Add a callback URL of the OAuth app."""
        with self._lock:
            if uri not in self.callback_urls:
                self.callback_urls.append(uri)

    def authorize_requests(self):
        return [r.query for r in self.recorded("/login/oauth/authorize")]

    def _clear_more(self):
        self.token_requests.clear()

    # -- serving

    def _answer(self, request):
        if request.path == "/login/oauth/authorize" and request.method == "GET":
            return self._authorize(request)
        if request.path == "/login/oauth/access_token" and request.method == "POST":
            return self._access_token(request)
        if request.path.startswith("/api/") or request.path == "/api":
            return self._api(request)
        return _html(404, "Not Found", "This is not the web page you are looking for.")

    def _redirect_allowed(self, uri):
        """GitHub's rule: the redirect URL's host and port match a callback URL's exactly and its path is the
        callback's path or below it."""
        got = urllib.parse.urlsplit(uri)
        for callback in self.callback_urls:
            want = urllib.parse.urlsplit(callback)
            base = want.path.rstrip("/")
            if (got.scheme, got.hostname, got.port) == (want.scheme, want.hostname, want.port) and (
                    got.path == want.path or got.path.startswith(base + "/")):
                return True
        return False

    def _authorize(self, request):
        q = request.query
        if q.get("client_id") != self.client_id:
            return _html(404, "Not Found", "This is not the web page you are looking for.")
        state = q.get("state")
        redirect_uri = q.get("redirect_uri") or (self.callback_urls[0] if self.callback_urls else None)
        if redirect_uri is None or not self._redirect_allowed(redirect_uri):
            if not self.callback_urls:
                return _html(400, "redirect_uri_mismatch", REDIRECT_URI_MISMATCH["error_description"])
            return _redirect(_with_query(self.callback_urls[0], dict(REDIRECT_URI_MISMATCH, state=state)))
        challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
        if challenge and method != "S256":
            return _redirect(_with_query(redirect_uri, {
                "error": "invalid_request", "error_description": "code_challenge_method must be S256.",
                "state": state}))
        scopes = [s for s in (q.get("scope") or "").replace(",", " ").split() if s]
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
        with self._lock:
            self._codes[code] = {"redirect_uri": redirect_uri, "explicit_redirect": "redirect_uri" in q,
                                 "challenge": challenge, "scopes": scopes, "user": json.loads(json.dumps(self.user)),
                                 "expires": time.monotonic() + 600, "used": False}
        return _redirect(_with_query(redirect_uri, {"code": code, "state": state}))

    def _access_token(self, request):
        params = dict(request.query, **request.form)  # GitHub reads the parameters from the query or the body
        basic = _basic_credentials(request.headers)
        if isinstance(basic, tuple):
            params.setdefault("client_id", basic[0])
            params.setdefault("client_secret", basic[1])
        verifier = params.get("code_verifier")
        record = {"client_auth": "basic" if isinstance(basic, tuple) else "form", "code_verifier_present":
                  verifier is not None, "code_verifier_valid": False, "challenge_given": False,
                  "accept": request.headers.get("accept"), "error": None, "params": params}
        with self._lock:
            self.token_requests.append(record)
        accept = request.headers.get("accept", "")

        def answer(body):
            record["error"] = body.get("error")
            if "application/json" in accept:
                return _json(200, body)
            if "xml" in accept:
                inner = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in body.items())
                return _Answer(200, f"<OAuth>{inner}</OAuth>", "application/xml; charset=utf-8")
            return _Answer(200, urllib.parse.urlencode(body), "application/x-www-form-urlencoded; charset=utf-8")

        if params.get("client_id") != self.client_id or not secrets.compare_digest(
                params.get("client_secret") or "", self.client_secret):
            return answer(INCORRECT_CLIENT_CREDENTIALS)
        code = params.get("code")
        with self._lock:
            grant = self._codes.get(code) if code else None
            if grant is not None:
                first_use, grant["used"] = not grant["used"], True
        if grant is None or not first_use or time.monotonic() > grant["expires"]:
            return answer(BAD_VERIFICATION_CODE)
        if grant["challenge"]:
            record["challenge_given"] = True
            record["code_verifier_valid"] = verifier is not None and bool(CODE_VERIFIER_PATTERN.match(verifier)) \
                and secrets.compare_digest(create_s256_code_challenge(verifier), grant["challenge"])
            if not record["code_verifier_valid"]:
                return answer(BAD_VERIFICATION_CODE)
        if "redirect_uri" in params and params["redirect_uri"] != grant["redirect_uri"]:
            return answer(REDIRECT_URI_MISMATCH)
        token = "gho_" + "".join(secrets.choice(_BASE62) for _ in range(36))
        with self._lock:
            self._tokens[token] = {"user": grant["user"], "scopes": grant["scopes"]}
        return answer({"access_token": token, "token_type": "bearer", "scope": ",".join(grant["scopes"])})

    def _api(self, request):
        docs_user = GITHUB_DOCS + "/rest/users/users#get-the-authenticated-user"
        docs_emails = GITHUB_DOCS + "/rest/users/emails#list-email-addresses-for-the-authenticated-user"
        if not request.headers.get("user-agent"):
            return _Answer(403, USER_AGENT_REQUIRED, "text/plain; charset=utf-8")
        path = request.path[len("/api"):]
        docs = {"/user": docs_user, "/user/emails": docs_emails}.get(path)
        if request.method != "GET" or docs is None:
            return _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS + "/rest", "status": "404"})
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            return _json(401, {"message": "Requires authentication", "documentation_url": docs, "status": "401"})
        with self._lock:
            grant = self._tokens.get(token.strip()) if scheme.lower() in ("bearer", "token") else None
        if grant is None:
            return _json(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS + "/rest",
                               "status": "401"})
        headers = {"X-OAuth-Scopes": ", ".join(grant["scopes"]), "X-GitHub-Media-Type": "github.v3; format=json",
                   "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Used": "1",
                   "X-RateLimit-Resource": "core", "X-GitHub-Api-Version-Selected": "2022-11-28"}
        user = grant["user"]
        if path == "/user":
            headers["X-Accepted-OAuth-Scopes"] = ""
            return _json(200, self._user_json(user, grant["scopes"]), headers)
        headers["X-Accepted-OAuth-Scopes"] = "user, user:email"
        if not {"user", "user:email"} & set(grant["scopes"]):
            return _json(404, {"message": "Not Found", "documentation_url": docs, "status": "404"}, headers)
        return _json(200, [{"email": e["email"], "primary": e["primary"], "verified": e["verified"],
                            "visibility": ("public" if e["email"] == user["public_email"] else "private")
                            if e["primary"] else None} for e in user["emails"]], headers)

    def _user_json(self, user, scopes):
        login, uid = user["login"], user["id"]
        api = "https://api.github.com/users/" + login
        body = {
            "login": login, "id": uid, "node_id": "U_kgDO" + base64.b64encode(str(uid).encode()).decode().rstrip("="),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "", "url": api,
            "html_url": "https://github.com/" + login, "followers_url": api + "/followers",
            "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
            "starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
            "organizations_url": api + "/orgs", "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
            "received_events_url": api + "/received_events", "type": "User", "user_view_type": "public",
            "site_admin": False, "name": user["name"], "company": None, "blog": "", "location": None,
            "email": user["public_email"], "hireable": None, "bio": None, "twitter_username": None,
            "notification_email": user["public_email"], "public_repos": 3, "public_gists": 0, "followers": 1,
            "following": 0, "created_at": "2019-03-14T09:26:53Z", "updated_at": "2026-01-05T17:02:11Z"}
        if {"user", "read:user"} & set(scopes):
            body.update({"private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 1024,
                         "collaborators": 0, "two_factor_authentication": True,
                         "plan": {"name": "free", "space": 976562499, "collaborators": 0, "private_repos": 10000}})
        return body


@pytest.fixture
def github_standin():
    """A started GitHubStandIn serving until the test ends: TALLY_GITHUB_URL=url, TALLY_GITHUB_API_URL=api_url."""
    standin = GitHubStandIn().start()
    yield standin
    standin.stop()
