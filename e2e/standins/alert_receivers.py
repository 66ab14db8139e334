"""Receivers of Tally's alert messages, each a real HTTP server on 127.0.0.1:<free port> in its own thread.

WebhookReceiver  verifies `X-Tally-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` over the exact
                 bytes received (a request whose signature does not verify is answered 401 and recorded as such) and
                 answers the statuses it is told, in order (`answer(500, 500)`; then 200).
SlackStandIn     checks the Block Kit shape Slack's incoming webhooks accept (a `blocks` list: a `header` with a
                 plain_text `text` of at most 150 characters, `section`s with `text` or up to 10 `fields`, a `context`,
                 an `actions` block with a `button` whose `url` is http(s); a `text` fallback) and answers 200 `ok`,
                 or 400 `invalid_blocks` naming the first problem, as Slack does.
DiscordStandIn   checks the embed shape Discord's webhooks accept (`embeds`: at most 10, each with a title of at most
                 256 characters, a `url`, an integer `color`, `fields` of `{name, value, inline}` within Discord's
                 limits, a footer) and answers 204, or 400 with `{"message", "code": 50035}`.

Every request is kept in `.requests` as `Received(path, headers (lower-cased), body (bytes), json, verdict)`.
"""
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clock import OFFSET_SECONDS


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    json: object
    verdict: str  # "ok", or what was wrong
    at: float = field(default_factory=time.time)


class _Receiver:
    """A threaded HTTP server whose `judge(received)` returns (status, body bytes, content type)."""

    def __init__(self):
        self.requests = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                got = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, parsed, "ok")
                status, answer, content_type = receiver.judge(got)
                with receiver._lock:
                    receiver.requests.append(got)
                    receiver._lock.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count, timeout=30):
        with self._lock:
            self._lock.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)


class WebhookReceiver(_Receiver):
    def __init__(self, secret=None):
        self.secret = secret
        self.script = []
        super().__init__()

    def answer(self, *statuses):
        """The next requests are answered with these statuses, in order; then 200."""
        self.script = list(statuses)

    def verify(self, got):
        if self.secret is None:
            return "ok" if "x-tally-signature" not in got.headers else "signed without a secret"
        header = got.headers.get("x-tally-signature")
        if not header:
            return "no X-Tally-Signature"
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        if set(parts) != {"t", "v1"} or not parts["t"].isdigit():
            return f"malformed signature header {header!r}"
        expected = hmac.new(self.secret.encode(), parts["t"].encode() + b"." + got.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts["v1"]):
            return "signature does not verify"
        # Tally signs with its clock, which the tests may shift (e2e/clock.py).
        if abs(time.time() + OFFSET_SECONDS - int(parts["t"])) > 300:
            return "signature timestamp is not current"
        return "ok"

    def judge(self, got):
        got.verdict = self.verify(got)
        if got.verdict != "ok":
            return 401, got.verdict.encode(), "text/plain"
        status = self.script.pop(0) if self.script else 200
        return status, b"{}", "application/json"


def _plain_text(obj, limit, where):
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return f"{where} must be a text object"
    text = obj.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        return f"{where}.text must be 1 to {limit} characters"
    return None


def slack_problem(payload):
    """What Slack would refuse in this incoming-webhook payload, or None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("blocks"), list) or not payload["blocks"]:
        return "no blocks"
    if not isinstance(payload.get("text"), str) or not payload["text"]:
        return "no text fallback"
    blocks = payload["blocks"]
    if len(blocks) > 50:
        return "more than 50 blocks"
    types = [b.get("type") for b in blocks if isinstance(b, dict)]
    for want in ("header", "section", "actions"):
        if want not in types:
            return f"no {want} block"
    for i, b in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = b.get("type")
        if kind == "header":
            if problem := _plain_text(b.get("text"), 150, where):
                return problem
            if b["text"]["type"] != "plain_text":
                return f"{where}: a header's text must be plain_text"
        elif kind == "section":
            fields = b.get("fields")
            if fields is None and "text" not in b:
                return f"{where}: a section needs text or fields"
            if "text" in b and (problem := _plain_text(b["text"], 3000, where)):
                return problem
            if fields is not None:
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    return f"{where}.fields must hold 1 to 10 items"
                for j, f in enumerate(fields):
                    if problem := _plain_text(f, 2000, f"{where}.fields[{j}]"):
                        return problem
        elif kind == "context":
            elements = b.get("elements")
            if not isinstance(elements, list) or not elements:
                return f"{where}: a context needs elements"
        elif kind == "actions":
            elements = b.get("elements")
            if not isinstance(elements, list) or not elements:
                return f"{where}: actions need elements"
            for j, e in enumerate(elements):
                if e.get("type") != "button":
                    return f"{where}.elements[{j}] is not a button"
                if problem := _plain_text(e.get("text"), 75, f"{where}.elements[{j}]"):
                    return problem
                if not str(e.get("url", "")).startswith(("http://", "https://")):
                    return f"{where}.elements[{j}].url must be an http(s) URL"
        else:
            return f"{where}: unknown block type {kind!r}"
    return None


class SlackStandIn(_Receiver):
    def judge(self, got):
        problem = slack_problem(got.json)
        got.verdict = problem or "ok"
        if problem:
            return 400, b"invalid_blocks", "text/plain"
        return 200, b"ok", "text/plain"


def discord_problem(payload):
    """What Discord would refuse in this webhook payload, or None."""
    if not isinstance(payload, dict):
        return "not a JSON object"
    embeds = payload.get("embeds")
    if not isinstance(embeds, list) or not 1 <= len(embeds) <= 10:
        return "embeds must hold 1 to 10 embeds"
    if len(payload.get("content") or "") > 2000:
        return "content is longer than 2000 characters"
    for i, e in enumerate(embeds):
        where = f"embeds[{i}]"
        if not isinstance(e.get("title"), str) or not 1 <= len(e["title"]) <= 256:
            return f"{where}.title must be 1 to 256 characters"
        if len(e.get("description") or "") > 4096:
            return f"{where}.description is longer than 4096 characters"
        if not str(e.get("url", "")).startswith(("http://", "https://")):
            return f"{where}.url must be an http(s) URL"
        if not isinstance(e.get("color"), int) or not 0 <= e["color"] <= 0xFFFFFF:
            return f"{where}.color must be an integer colour"
        fields = e.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 25:
            return f"{where}.fields must hold at most 25 fields"
        for j, f in enumerate(fields):
            if set(f) - {"name", "value", "inline"} or not f.get("name") or not f.get("value"):
                return f"{where}.fields[{j}] must have a name and a value"
            if len(f["name"]) > 256 or len(f["value"]) > 1024 or not isinstance(f.get("inline", False), bool):
                return f"{where}.fields[{j}] is past Discord's limits"
        footer = e.get("footer")
        if footer is not None and (not isinstance(footer, dict) or len(footer.get("text", "")) > 2048):
            return f"{where}.footer is malformed"
    return None


class DiscordStandIn(_Receiver):
    def judge(self, got):
        problem = discord_problem(got.json)
        got.verdict = problem or "ok"
        if problem:
            return 400, json.dumps({"message": "Invalid Form Body", "code": 50035}).encode(), "application/json"
        return 204, b"", "application/json"
