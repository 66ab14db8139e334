"""Stand-ins for the providers' list-models endpoints, the calls Tally makes to validate a key.

One small threaded HTTP server per provider on 127.0.0.1, speaking that provider's documented formats
(/work/shared/reference/provider-apis.md 1.4, 1.8, 2.4, 2.6, 3.1, 3.4):

- openai     GET /v1/models                 `Authorization: Bearer <key>`
- anthropic  GET /v1/models?limit=N          `x-api-key: <key>` + `anthropic-version: 2023-06-01`
- google     GET /v1beta/models?pageSize=N   `x-goog-api-key: <key>` (or `?key=`)

and, for a connection's admin key, the cheap admin reads of 1.4 and 2.4: OpenAI
`GET /v1/organization/projects?limit=1` (or `GET /v1/organization/usage/completions`), Anthropic
`GET /v1/organizations/me`. Only an admin key (`sk-admin-…`, `sk-ant-admin…`) may read them; others get a 401.

The answer depends on the key: one containing "good-" lists models (200); "limited-" is rate limited (429 with
Retry-After); any other key ("bad-", or a key sent in the wrong header) is refused the way the provider refuses
it (OpenAI/Anthropic 401, Google 400 INVALID_ARGUMENT with the API_KEY_INVALID ErrorInfo). Every request is
recorded (method, path with query, lower-cased headers) so tests can check what Tally sent.
"""
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import clock  # e2e/clock.py: the clock Tally is told to use

PROVIDERS = ("openai", "anthropic", "google")

OPENAI_MODELS = [
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
]

ANTHROPIC_MODELS = [
    {"id": "claude-sonnet-4-5-20250929", "type": "model", "display_name": "Claude Sonnet 4.5",
     "created_at": "2025-09-29T00:00:00Z"},
    {"id": "claude-haiku-4-5-20251001", "type": "model", "display_name": "Claude Haiku 4.5",
     "created_at": "2025-10-15T00:00:00Z"},
    {"id": "claude-opus-4-1-20250805", "type": "model", "display_name": "Claude Opus 4.1",
     "created_at": "2025-08-05T00:00:00Z"},
]

GOOGLE_MODELS = [
    {"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
     "description": "Stable version of Gemini 2.5 Flash.", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
     "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
     "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True},
    {"name": "models/gemini-2.5-pro", "version": "2.5", "displayName": "Gemini 2.5 Pro",
     "description": "Stable release of Gemini 2.5 Pro.", "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
     "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
     "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": True},
]

RETRY_AFTER_SECONDS = "20"

# The providers' own error messages; a test can check that Tally passes them on.
OPENAI_INVALID_KEY = "Incorrect API key provided: {redacted}. You can find your API key at https://platform.openai.com/account/api-keys."
OPENAI_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header using "
                 "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
                 "you're accessing the API from your browser and are prompted for a username and password. You can "
                 "obtain an API key from https://platform.openai.com/account/api-keys.")
OPENAI_RATE_LIMITED = "Rate limit reached for requests"
ANTHROPIC_INVALID_KEY = "invalid x-api-key"
ANTHROPIC_RATE_LIMITED = "Number of requests has exceeded your per-minute rate limit"
GOOGLE_INVALID_KEY = "API key not valid. Please pass a valid API key."
GOOGLE_RATE_LIMITED = "You exceeded your current quota, please check your plan and billing details."

# What each stand-in answers to a rejected key: (HTTP status, a piece of the provider's message).
REJECTION = {"openai": (401, "Incorrect API key provided"), "anthropic": (401, ANTHROPIC_INVALID_KEY),
             "google": (400, GOOGLE_INVALID_KEY)}
RATE_LIMIT = {"openai": (429, OPENAI_RATE_LIMITED), "anthropic": (429, ANTHROPIC_RATE_LIMITED),
              "google": (429, GOOGLE_RATE_LIMITED)}


def redact_like_openai(key):
    """OpenAI echoes a rejected key with its middle starred out: `sk-bad*************1234`."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


class RecordedRequest:
    def __init__(self, method, target, headers):
        self.method = method
        self.target = target  # path with query, exactly as sent
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.headers = {k.lower(): v for k, v in headers.items()}

    def __repr__(self):
        return f"<{self.method} {self.target} {sorted(self.headers)}>"


class ProviderStandIn:
    """One provider's list-models endpoint on 127.0.0.1:<free port>; `url` is the base_url to give Tally."""

    def __init__(self, provider):
        assert provider in PROVIDERS, provider
        self.provider = provider
        self.requests = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "provider-standin"
            sys_version = ""

            def log_message(self, *args):
                pass

            def do_GET(self):
                standin._record(self)
                status, headers, body = standin._answer(self)
                self._send(status, headers, body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                standin._record(self)
                self._send(*standin._not_found(self.path))

            def _send(self, status, headers, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"standin-{provider}", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    # -- what tests look at

    def recorded(self):
        with self._lock:
            return list(self.requests)

    def clear(self):
        with self._lock:
            self.requests.clear()

    def key_of(self, request):
        """The key a recorded request carried, the way this provider reads it."""
        if self.provider == "openai":
            auth = request.headers.get("authorization", "")
            return auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if self.provider == "anthropic":
            return request.headers.get("x-api-key")
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    # -- serving

    def _record(self, handler):
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, dict(handler.headers.items())))

    def _answer(self, handler):
        path = urllib.parse.urlsplit(handler.path).path
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        headers = {k.lower(): v for k, v in handler.headers.items()}
        return getattr(self, "_" + self.provider)(path, query, headers)

    def _not_found(self, path):
        if self.provider == "openai":
            return 404, {}, {"error": {"message": f"Invalid URL (GET {path})", "type": "invalid_request_error",
                                       "param": None, "code": None}}
        if self.provider == "anthropic":
            return 404, {"request-id": _request_id()}, {
                "type": "error", "error": {"type": "not_found_error", "message": "Not found"},
                "request_id": _request_id()}
        return 404, {}, {"error": {"code": 404, "message": f"The requested URL {path} was not found on this server.",
                                   "status": "NOT_FOUND"}}

    def _openai(self, path, query, headers):
        auth = headers.get("authorization", "")
        key = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
        common = {"x-request-id": _request_id(), "openai-processing-ms": "12", "openai-version": "2020-10-01"}
        if path in ("/v1/organization/projects", "/v1/organization/usage/completions"):
            # Admin keys (sk-admin-…) list projects (OAI-SPEC ProjectListResponse); other keys are refused.
            if key.startswith("sk-admin-") and "bad-" not in key and path.endswith("/projects"):
                project = {"id": "proj_abc", "object": "organization.project", "name": "Default project",
                           "created_at": 1711471533, "archived_at": None, "status": "active"}
                return 200, common, {"object": "list", "data": [project], "first_id": "proj_abc",
                                     "last_id": "proj_abc", "has_more": False}
            if key.startswith("sk-admin-") and "bad-" not in key:  # one aggregate row per bucket (reference 1.2)
                start = _int(query.get("start_time"), int(clock.timestamp()) - 86400, 0, 1 << 40)
                return 200, common, {"object": "page", "has_more": False, "next_page": None, "data": [
                    {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [
                        {"object": "organization.usage.completions.result", "input_tokens": 12000,
                         "input_cached_tokens": 3000, "output_tokens": 2500, "input_audio_tokens": 0,
                         "output_audio_tokens": 0, "num_model_requests": 42, "project_id": None, "user_id": None,
                         "api_key_id": None, "model": None, "batch": None, "service_tier": None}]}]}
            return 401, common, {"error": {"message": OPENAI_INVALID_KEY.format(redacted=redact_like_openai(key)),
                                           "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}
        if path != "/v1/models":
            return self._not_found(path)
        if not key:
            return 401, common, {"error": {"message": OPENAI_NO_KEY, "type": "invalid_request_error",
                                           "param": None, "code": None}}
        if "good-" in key:
            return 200, common, {"object": "list", "data": OPENAI_MODELS}
        if "limited-" in key:
            return 429, dict(common, **{
                "retry-after": RETRY_AFTER_SECONDS, "x-ratelimit-limit-requests": "60",
                "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s",
                "x-ratelimit-limit-tokens": "150000", "x-ratelimit-remaining-tokens": "149984",
                "x-ratelimit-reset-tokens": "6m0s"}), {
                "error": {"message": OPENAI_RATE_LIMITED, "type": "requests", "param": None,
                          "code": "rate_limit_exceeded"}}
        return 401, common, {"error": {"message": OPENAI_INVALID_KEY.format(redacted=redact_like_openai(key)),
                                       "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}

    def _anthropic(self, path, query, headers):
        rid = _request_id()
        common = {"request-id": rid}
        if path == "/v1/organizations/me":
            # Admin keys (sk-ant-admin…) read their organization; a normal key gets 401 (reference 2.4).
            key = headers.get("x-api-key", "")
            if key.startswith("sk-ant-admin") and "bad-" not in key:
                return 200, common, {"id": "12345678-1234-5678-1234-567812345678", "type": "organization",
                                     "name": "Stand-in Org"}
            return 401, common, _anthropic_error("authentication_error", ANTHROPIC_INVALID_KEY, rid)
        if path != "/v1/models":
            return self._not_found(path)
        key = headers.get("x-api-key", "")
        if not key:
            return 401, common, _anthropic_error("authentication_error", "x-api-key header is required", rid)
        if headers.get("anthropic-version") is None:
            return 400, common, _anthropic_error("invalid_request_error", "anthropic-version: header is required", rid)
        if "good-" in key:
            limit = _int(query.get("limit"), 20, 1, 1000)
            page = ANTHROPIC_MODELS[:limit]
            return 200, common, {"data": page, "has_more": len(ANTHROPIC_MODELS) > limit,
                                 "first_id": page[0]["id"], "last_id": page[-1]["id"]}
        if "limited-" in key:
            return 429, dict(common, **{
                "retry-after": RETRY_AFTER_SECONDS, "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime(time.time() + 20))}), \
                _anthropic_error("rate_limit_error", ANTHROPIC_RATE_LIMITED, rid)
        return 401, common, _anthropic_error("authentication_error", ANTHROPIC_INVALID_KEY, rid)

    def _google(self, path, query, headers):
        if path != "/v1beta/models":
            return self._not_found(path)
        key = headers.get("x-goog-api-key") or query.get("key") or ""
        if not key:
            return 403, {}, {"error": {
                "code": 403, "status": "PERMISSION_DENIED",
                "message": "Method doesn't allow unregistered callers (callers without established identity). "
                           "Please use API Key or other form of API consumer identity to call this API.",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                             "domain": "googleapis.com",
                             "metadata": {"service": "generativelanguage.googleapis.com"}}]}}
        if "good-" in key:
            size = _int(query.get("pageSize"), 50, 1, 1000)
            body = {"models": GOOGLE_MODELS[:size]}
            if len(GOOGLE_MODELS) > size:
                body["nextPageToken"] = "Ch1tb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaA=="
            return 200, {}, body
        if "limited-" in key:
            return 429, {"retry-after": RETRY_AFTER_SECONDS}, {"error": {
                "code": 429, "message": GOOGLE_RATE_LIMITED, "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.Help",
                             "links": [{"description": "Learn more about Gemini API quotas",
                                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}]}}
        return 400, {}, {"error": {
            "code": 400, "message": GOOGLE_INVALID_KEY, "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                         "domain": "googleapis.com",
                         "metadata": {"service": "generativelanguage.googleapis.com"}},
                        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                         "message": GOOGLE_INVALID_KEY}]}}


def _anthropic_error(kind, message, request_id):
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def _request_id():
    return "req_" + uuid.uuid4().hex[:24]


def _int(text, default, low, high):
    try:
        return max(low, min(high, int(text)))
    except (TypeError, ValueError):
        return default


def expected_validation_call(provider, request, key):
    """Problems with how Tally asked `provider` to list models with `key` (empty when it asked as documented)."""
    problems = []
    if request.method != "GET":
        problems.append(f"method {request.method}, expected GET")
    if provider == "openai":
        if request.path != "/v1/models":
            problems.append(f"path {request.path}, expected /v1/models")
        if request.headers.get("authorization") != f"Bearer {key}":
            problems.append("Authorization: Bearer <key> was not sent")
    elif provider == "anthropic":
        if request.path != "/v1/models" or request.query.get("limit") != "1":
            problems.append(f"target {request.target}, expected /v1/models?limit=1")
        if request.headers.get("x-api-key") != key:
            problems.append("x-api-key: <key> was not sent")
        if request.headers.get("anthropic-version") != "2023-06-01":
            problems.append("anthropic-version: 2023-06-01 was not sent")
        if "authorization" in request.headers:
            problems.append("an Authorization header was sent to Anthropic")
    else:
        if request.path != "/v1beta/models" or request.query.get("pageSize") != "1":
            problems.append(f"target {request.target}, expected /v1beta/models?pageSize=1")
        if request.headers.get("x-goog-api-key") != key:
            problems.append("x-goog-api-key: <key> was not sent")
    if key in request.target:
        problems.append("the key was sent in the URL (it would end up in access logs)")
    return problems


@pytest.fixture
def provider_standins():
    """{"openai": ProviderStandIn, "anthropic": …, "google": …}, each serving until the test ends."""
    standins = {p: ProviderStandIn(p).start() for p in PROVIDERS}
    yield standins
    for s in standins.values():
        s.stop()
