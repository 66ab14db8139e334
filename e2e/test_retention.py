"""Retention against real `tally serve` processes, on SQLite and PostgreSQL (issue 24).

`tally retention --event-days N` and `TALLY_EVENT_RETENTION_DAYS` delete raw events before a UTC midnight while every
summary of whole days (by day, model, project; in UTC and in a whole-hour time zone) reads the same; the events list
says where raw data ends; `TALLY_ROLLUP_RETENTION_DAYS` empties the days it removes."""
import datetime
import json
import subprocess
import time

import requests

import clock
from conftest import BIN, any_tally, bearer  # noqa: F401 (fixture)

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]


def midnight(days_ago):
    today = clock.now().astimezone(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - datetime.timedelta(days=days_ago)


def rfc(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def history(days=40, per_day=6):
    """`per_day` events a day for `days` whole days before today, at varied hours and minutes."""
    lines = []
    for d in range(1, days + 1):
        for k in range(per_day):
            provider, model = MODELS[(d + k) % 3]
            t = midnight(d) + datetime.timedelta(hours=(k * 4 + d) % 24, minutes=(7 * k + d) % 60)
            lines.append(json.dumps({
                "id": f"h{d}-{k}", "timestamp": rfc(t), "provider": provider, "model": model,
                "project": "web" if k % 2 else "api", "input_tokens": 1000 + d * 13 + k,
                "output_tokens": 100 + k, "feature": f"f{k % 3}"}))
    return "\n".join(lines) + "\n"


def summaries(server, token):
    """Summaries over whole days that must survive the trimming of raw events (time zones: RetentionContractTests)."""
    out = []
    for params in [
        {"from": rfc(midnight(40)), "to": rfc(midnight(0)), "group_by": "day,model"},
        {"from": rfc(midnight(40)), "to": rfc(midnight(0)), "group_by": "project,feature"},
        {"from": rfc(midnight(35)), "to": rfc(midnight(2)), "group_by": "week,provider", "provider": "openai"},
    ]:
        r = requests.get(server.url + "/api/v1/usage/summary", params=params, headers=bearer(token), timeout=30)
        assert r.status_code == 200, r.text
        out.append(r.json())
    return out


def events_page(server, token, **params):
    r = requests.get(server.url + "/api/v1/events", params=dict(limit=1000, **params), headers=bearer(token),
                     timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_trimming_raw_events_leaves_every_summary_unchanged(any_tally):
    t = any_tally
    # Every cut-off below is a UTC midnight counted from today: keep the test inside one day.
    clock.clear_of_midnight(90, settle_seconds=2)
    token = t.token("web", "admin")
    t.cli("projects", "create", "api")
    r = subprocess.run([BIN, "import", "--ndjson", "-", *t.store_args()], input=history(), capture_output=True,
                       text=True, timeout=120, env=t.base_env)
    assert r.returncode == 0, r.stderr
    server = t.serve()
    before = summaries(server, token)
    assert before[0]["totals"]["requests"] == 240
    first = events_page(server, token)
    assert first["raw_events_from"] is None and len(first["data"]) == 240

    # 20 days: raw events before the midnight 20 days ago go; the server keeps running meanwhile.
    r = t.cli("retention", "--event-days", "20")
    assert r.stdout.startswith("deleted 120 raw events before " + rfc(midnight(20))), r.stdout
    after = summaries(server, token)
    assert after == before
    page = events_page(server, token)
    assert page["raw_events_from"] == rfc(midnight(20))
    assert len(page["data"]) == 20 * 6
    assert min(e["timestamp"] for e in page["data"]) >= rfc(midnight(20))
    # Running it again deletes nothing more.
    assert t.cli("retention", "--event-days", "20").stdout.startswith("deleted 0 raw events")

    # The server's own setting, applied at start: 10 days; then rollups past 30 days go with their days.
    server.stop()
    env = dict(t.base_env, TALLY_EVENT_RETENTION_DAYS="10", TALLY_ROLLUP_RETENTION_DAYS="30")
    t.base_env = env
    server = t.serve()

    def trimmed():
        return events_page(server, token)["raw_events_from"] == rfc(midnight(10))
    end = time.time() + 30
    while not trimmed():
        assert time.time() < end, "the server did not apply TALLY_EVENT_RETENTION_DAYS at start"
        time.sleep(0.2)
    assert len(events_page(server, token)["data"]) == 10 * 6
    now = summaries(server, token)
    # Days 31-40 are gone with their rollups; days 1-30 read as before.
    kept_days = {rfc(midnight(d))[:10] for d in range(1, 31)}
    assert [g for g in now[0]["groups"]] == [g for g in before[0]["groups"] if g["day"] in kept_days]
    assert now[0]["totals"]["requests"] == 180
