"""Cached audio end to end (issue 16, point 3): an event posted with `cached_input_audio_tokens` keeps the count, is
priced with the model's cached-audio rate on a line of its own (never also as cached text or as audio), and the count
is in the event's JSON, the CSV export and the summary, on both stores; a Gemini answer through the gateway is
recorded with its cached audio (a stand-in of this file's own answers with the modality details).

Expected values are written by hand from OpenAI's published rates for gpt-realtime-mini (per million tokens: text in
$0.60, cached text $0.06, audio in $10.00, cached audio $0.30, audio out $20.00). Timestamps are fixed in the past."""
import csv
import http.server
import io
import json
import tempfile
import threading

import pytest
import requests

from conftest import AccountsTally, bearer, event, wait_until

DAY = {"from": "2026-11-20", "to": "2026-11-21"}

# 10000 input tokens: 2000 text not cached, 3000 cached text, 1000 audio not cached, 4000 cached audio.
REALTIME = {"model": "gpt-realtime-mini", "input_tokens": 10000, "cached_input_tokens": 7000,
            "input_audio_tokens": 5000, "cached_input_audio_tokens": 4000, "output_tokens": 500,
            "output_audio_tokens": 500}
# text 2000×0.60 = 0.0012; cached text 3000×0.06 = 0.00018; audio 1000×10 = 0.01; cached audio 4000×0.30 = 0.0012;
# audio out 500×20 = 0.01
REALTIME_LINES = [("input", 2000, "0.0012"), ("cached_input", 3000, "0.00018"), ("input_audio", 1000, "0.01"),
                  ("cached_input_audio", 4000, "0.0012"), ("output_audio", 500, "0.01")]
REALTIME_COST = "0.02258"


def ok(r):
    assert r.status_code < 300, r.text
    return r


def test_cached_audio_is_stored_priced_on_its_own_line_and_listed_everywhere(any_tally):
    server = any_tally.serve()
    token = any_tally.token()
    headers = bearer(token)
    body = [event("rt-1", **REALTIME),
            event("rt-2", model="gpt-realtime-mini", input_tokens=1000, cached_input_tokens=1000,
                  input_audio_tokens=1000, cached_input_audio_tokens=1000, output_tokens=0)]
    ok(requests.post(server.url + "/api/v1/events", json=body, headers=headers, timeout=30))

    e = ok(requests.get(server.url + "/api/v1/events/rt-1", headers=headers, timeout=30)).json()
    assert e["cached_input_audio_tokens"] == 4000 and e["input_audio_tokens"] == 5000, e
    assert e["cost_usd"] == REALTIME_COST, e
    lines = [(l["token_class"], l["tokens"], l["cost_usd"]) for l in e["cost_breakdown"]["lines"]]
    assert lines == REALTIME_LINES, lines
    rates = {l["token_class"]: l["usd_per_million"] for l in e["cost_breakdown"]["lines"]}
    assert rates["cached_input_audio"] == "0.3" and rates["cached_input"] == "0.06", rates

    # All of rt-2's prompt is cached audio: 1000×0.30, not 1000×0.06 cached plus 1000×10 audio.
    e2 = ok(requests.get(server.url + "/api/v1/events/rt-2", headers=headers, timeout=30)).json()
    assert e2["cost_usd"] == "0.0003", e2
    assert [(l["token_class"], l["tokens"]) for l in e2["cost_breakdown"]["lines"]] == [("cached_input_audio", 1000)]

    export = ok(requests.get(server.url + "/api/v1/events/export", params={"format": "csv", **DAY},
                             headers=headers, timeout=30)).text
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(export))}
    assert rows["rt-1"]["cached_input_audio_tokens"] == "4000" and rows["rt-2"]["cached_input_audio_tokens"] == "1000"
    assert rows["rt-1"]["cost_usd"] == REALTIME_COST

    # The summary sums it: from the rollups over whole days, from raw events over part of an hour.
    for params in (DAY, {"from": "2026-11-20T10:15:00Z", "to": "2026-11-20T10:16:00Z"}):
        s = ok(requests.get(server.url + "/api/v1/usage/summary", params=params, headers=headers, timeout=30)).json()
        assert s["totals"]["cached_input_audio_tokens"] == 5000, (params, s["totals"])
        assert s["totals"]["cached_input_tokens"] == 8000 and s["totals"]["input_audio_tokens"] == 6000, s["totals"]
        assert s["totals"]["cost_usd"] == "0.02288", s["totals"]


@pytest.mark.parametrize("fields, reason", [
    ({"cached_input_tokens": 100, "input_audio_tokens": 500, "cached_input_audio_tokens": 200},
     "must not exceed cached_input_tokens (cached_input_tokens includes cached audio)"),
    ({"cached_input_tokens": 500, "input_audio_tokens": 100, "cached_input_audio_tokens": 200},
     "must not exceed input_audio_tokens (input_audio_tokens includes cached audio)"),
])
def test_more_cached_audio_than_its_counts_is_refused_naming_the_field(sqlite_tally, fields, reason):
    server = sqlite_tally.serve()
    headers = bearer(sqlite_tally.token())
    r = requests.post(server.url + "/api/v1/events",
                      json=event("bad", model="gpt-realtime-mini", input_tokens=1000, **fields), headers=headers,
                      timeout=30)
    assert r.status_code == 400, r.text
    details = r.json()["error"]["details"]
    assert [(d["field"], d["reason"]) for d in details] == [("cached_input_audio_tokens", reason)], details
    assert details[0]["index"] == 0, details
    nothing = requests.get(server.url + "/api/v1/events/bad", headers=headers, timeout=30)
    assert nothing.status_code == 404, nothing.text


# ---------------------------------------------------------------------------------------------------------------
# Through the gateway: a Gemini answer whose usageMetadata splits its prompt and its cache by modality.

GEMINI_AUDIO_USAGE = {
    "promptTokenCount": 200000, "cachedContentTokenCount": 150000, "candidatesTokenCount": 1000,
    "totalTokenCount": 201000,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 80000}, {"modality": "AUDIO", "tokenCount": 120000}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 50000}, {"modality": "AUDIO", "tokenCount": 100000}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}]}


class _GeminiWithAudio(http.server.BaseHTTPRequestHandler):
    """Answers the key check (`GET /v1beta/models`) and `:generateContent` with GEMINI_AUDIO_USAGE, as the Gemini API
    shapes them (provider-apis.md 3.2)."""

    def _answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._answer({"models": [{"name": "models/gemini-2.5-flash"}]})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer({"candidates": [{"content": {"role": "model", "parts": [{"text": "Heard."}]},
                                      "finishReason": "STOP", "index": 0}],
                      "usageMetadata": GEMINI_AUDIO_USAGE, "modelVersion": "gemini-2.5-flash",
                      "responseId": "resp-audio-1"})

    def log_message(self, *args):
        pass


def test_the_gateway_records_geminis_cached_audio_and_prices_it_once():
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GeminiWithAudio)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as d:
        tally = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off"})
        try:
            admin = bearer(tally.token("ops", "admin"))
            server = tally.serve()
            ok(requests.post(server.url + "/api/v1/projects", json={"name": "voice"}, headers=admin, timeout=30))
            gateway = ok(requests.post(server.url + "/api/v1/tokens",
                                       json={"name": "gw", "project": "voice", "scopes": ["gateway"]},
                                       headers=admin, timeout=30)).json()["secret"]
            conn = ok(requests.post(server.url + "/api/v1/provider-connections", headers=admin, timeout=30,
                                    json={"provider": "google", "name": "google", "api_key": "AIza-upstream-key",
                                          "base_url": f"http://127.0.0.1:{upstream.server_port}"})).json()
            assert conn["validated"] is True, conn
            r = requests.post(server.url + "/gateway/google/v1beta/models/gemini-2.5-flash:generateContent",
                              headers={"x-goog-api-key": gateway}, timeout=30,
                              json={"contents": [{"role": "user", "parts": [{"text": "listen"}]}]})
            assert r.status_code == 200 and r.json()["usageMetadata"] == GEMINI_AUDIO_USAGE, r.text

            def stored():
                data = ok(requests.get(server.url + "/api/v1/events", params={"project": "voice"}, headers=admin,
                                       timeout=30)).json()["data"]
                return data[0] if data else None

            wait_until(stored, what="the gateway's event")
            e = ok(requests.get(server.url + f"/api/v1/events/{stored()['id']}", headers=admin, timeout=30)).json()
            assert (e["input_tokens"], e["cached_input_tokens"], e["input_audio_tokens"],
                    e["cached_input_audio_tokens"]) == (200000, 150000, 120000, 100000), e
            # gemini-2.5-flash: text 30000×0.30 = 0.009; cached text 50000×0.03 = 0.0015; audio 20000×1.00 = 0.02;
            # cached audio 100000×0.10 = 0.01; output 1000×2.50 = 0.0025
            assert [(l["token_class"], l["tokens"]) for l in e["cost_breakdown"]["lines"]] == [
                ("input", 30000), ("cached_input", 50000), ("input_audio", 20000), ("cached_input_audio", 100000),
                ("output", 1000)], e["cost_breakdown"]
            assert e["cost_usd"] == "0.043", e
        finally:
            tally.stop_all()
            upstream.shutdown()
