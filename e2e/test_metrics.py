"""GET /metrics after known activity: the exact series and values a fresh `tally serve` must show (docs/api.md
"Operations" and "Recording"), parsed from the Prometheus text, not only its status.

The activity, counted by hand: three ingest requests of 3, 2 and 2 events (one of the last two an id already
stored), one ingest request refused by validation (400), one with an unknown token (401), one gateway call through
the official OpenAI SDK (200) and one gateway call with an unknown token (401)."""
import re
import tempfile
import time

import openai
import pytest
import requests

from conftest import AccountsTally, bearer, event
from test_gateway import OPENAI_MODEL, Gateway

GATEWAY_ROUTE = "/gateway/openai/**"  # the router's path for every OpenAI call through the gateway
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """Prometheus text → ({(name, frozenset(labels)): value}, {name: type})."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        name, labels, value = m.groups()
        pairs = LABEL.findall(labels or "")
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == (labels or "").rstrip(","), f"bad labels in {line!r}"
        key = (name, frozenset(pairs))
        assert key not in samples, f"series twice: {line!r}"
        samples[key] = float(value)
    return samples, types


def series(samples, name, **labels):
    """The value of the one series `name` with exactly these labels (None when absent)."""
    return samples.get((name, frozenset(labels.items())))


def of(samples, name):
    """Every series of `name`: {frozenset(labels): value}."""
    return {labels: v for (n, labels), v in samples.items() if n == name}


def route(path, method, status):
    return {"http_route": path, "http_request_method": method, "http_response_status_code": str(status)}


@pytest.fixture
def fresh():
    """A `tally serve` of its own, so every counter starts at zero."""
    with tempfile.TemporaryDirectory() as d:
        t = AccountsTally(d, None, {"TALLY_SYNC_INTERVAL": "off"})
        admin = t.token("ops", "admin")
        ingest = t.token("web", "ingest")
        server = t.serve()
        yield t, server, admin, ingest
        t.stop_all()


def test_metrics_show_exactly_the_requests_events_and_gateway_calls_made(fresh, upstream_standins):
    t, server, admin, ingest = fresh
    gw = Gateway(t, server, admin, upstream_standins)
    gw.point_connections()

    # Ingest: 3 + 2 accepted, then e1 again beside e6: 6 accepted, 1 duplicate, over three 200s.
    answers = [requests.post(server.url + "/api/v1/events", json=[event(i) for i in ids], headers=bearer(ingest),
                             timeout=30).json()
               for ids in (["e1", "e2", "e3"], ["e4", "e5"], ["e1", "e6"])]
    assert answers == [{"accepted": 3, "duplicates": 0}, {"accepted": 2, "duplicates": 0},
                       {"accepted": 1, "duplicates": 1}]
    bad = requests.post(server.url + "/api/v1/events", json=[{"id": "x", "provider": "openai"}], headers=bearer(ingest),
                        timeout=30)
    assert bad.status_code == 400, bad.text
    stranger = requests.post(server.url + "/api/v1/events", json=[event("e7")], headers=bearer("tly_" + "0" * 40),
                             timeout=30)
    assert stranger.status_code == 401, stranger.text

    # The gateway: one call through the SDK, one with a token Tally does not know.
    gw.openai().chat.completions.create(model=OPENAI_MODEL, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        gw.openai(key="tly_" + "1" * 40).chat.completions.create(model=OPENAI_MODEL,
                                                                 messages=[{"role": "user", "content": "hi"}])
    gw.events(1)

    events_route = "/api/v1/events"
    gateway_route = GATEWAY_ROUTE
    expected = {
        ("tally_ingest_events_total", frozenset({("result", "accepted")})): 6.0,
        ("tally_ingest_events_total", frozenset({("result", "duplicate")})): 1.0,
        # The validation failure only: the unknown token is refused before ingestion starts.
        ("tally_ingest_requests_rejected_total", frozenset()): 1.0,
        ("tally_gateway_events_stored_total", frozenset()): 1.0,
        ("tally_gateway_events_failed_total", frozenset()): 0.0,
        ("tally_gateway_events_dropped_total", frozenset()): 0.0,
        ("tally_gateway_events_queued", frozenset()): 0.0,
        ("hb_requests", frozenset(route(events_route, "POST", 200).items())): 3.0,
        ("hb_requests", frozenset(route(events_route, "POST", 400).items())): 1.0,
        ("hb_requests", frozenset(route(events_route, "POST", 401).items())): 1.0,
        ("hb_requests", frozenset(route(gateway_route, "POST", 200).items())): 1.0,
        ("hb_requests", frozenset(route(gateway_route, "POST", 401).items())): 1.0,
        # Errors by route and status; durations of the answered (non-thrown) requests only.
        ("hb_request_errors", frozenset({("http_route", events_route), ("http_request_method", "POST"),
                                         ("error_type", "400")})): 1.0,
        ("hb_request_errors", frozenset({("http_route", events_route), ("http_request_method", "POST"),
                                         ("error_type", "401")})): 1.0,
        ("http_server_request_duration_count", frozenset(route(events_route, "POST", 200).items())): 3.0,
        ("http_server_request_duration_count", frozenset(route(gateway_route, "POST", 200).items())): 1.0,
    }

    # A request is counted once its answer is written, and the gateway's event once its batch is stored: wait
    # (with a deadline) until the scrape shows them, then every value must be exactly the expected one.
    deadline = time.monotonic() + 10
    while True:
        r = requests.get(server.url + "/metrics", timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain"), r.text[:300]
        samples, types = parse(r.text)
        got = {k: samples.get(k) for k in expected}
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    diff = {f"{n}{dict(sorted(l))}": (got[(n, l)], v) for (n, l), v in expected.items() if got[(n, l)] != v}
    assert not diff, f"(scraped, expected): {diff}\n{r.text}"

    # No other ingest outcome and no other status on the two routes (a miscount elsewhere would show here).
    assert of(samples, "tally_ingest_events_total").keys() == {frozenset({("result", "accepted")}),
                                                               frozenset({("result", "duplicate")})}
    for path in (events_route, gateway_route):
        # POST only: `gw.events` polls GET on the events route a timing-dependent number of times.
        seen = {dict(l)["http_response_status_code"]: v for l, v in of(samples, "hb_requests").items()
                if dict(l)["http_route"] == path and dict(l)["http_request_method"] == "POST"}
        assert seen == ({"200": 3.0, "400": 1.0, "401": 1.0} if path == events_route else {"200": 1.0, "401": 1.0}), seen
    for name, kind in (("tally_ingest_events_total", "counter"), ("tally_ingest_requests_rejected_total", "counter"),
                       ("tally_gateway_events_stored_total", "counter"), ("tally_gateway_events_queued", "gauge"),
                       ("hb_requests", "counter"), ("hb_request_errors", "counter"),
                       ("http_server_request_duration", "histogram")):
        assert types.get(name) == kind, (name, types.get(name))
