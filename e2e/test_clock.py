"""The injected test clock (issue 25): TALLY_CLOCK_OFFSET_SECONDS shifts every wall-clock read of `tally`
(Instant.now, and the SMTP Date header), so scripts/test-at-clock can run the suites at midnight or a year end.
A bad value refuses to start rather than being ignored. Expectations come from the real clock plus the offset."""
import datetime
import email.utils
import time

import pytest

from conftest import signed_in

# 400 days and 7 s back: unlike any offset scripts/test-at-clock sets (those point into the future), so a server
# that read the ambient variable instead of its own, or none, fails.
SHIFT = -(400 * 86_400 + 7)


def unix(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_records_invites_and_mail_dates_follow_the_shifted_clock(sqlite_site, smtp_sink):
    before = time.time()
    server = sqlite_site.serve(TALLY_CLOCK_OFFSET_SECONDS=str(SHIFT), TALLY_SMTP_URL=smtp_sink.url())
    owner = signed_in(server)
    r = owner.api("POST", "/api/v1/projects", json={"name": "clocked"})
    assert r.status_code == 201, r.text
    project = r.json()
    created = unix(project["created_at"])
    r = owner.api("POST", "/api/v1/invites", json={"email": "tic@example.test", "role": "viewer"})
    assert r.status_code == 201, r.text
    expires = unix(r.json()["invite"]["expires_at"])
    mail = smtp_sink.wait_for(1)[0]["message"]
    after = time.time()
    window = (before + SHIFT - 1, after + SHIFT + 1)  # whole seconds on the wire
    assert window[0] <= created <= window[1], f"project created_at {project['created_at']} is not real time {SHIFT:+} s"
    week = 7 * 86_400
    assert window[0] + week <= expires <= window[1] + week, "an invite lasts 7 days from the shifted now"
    dated = email.utils.parsedate_to_datetime(mail["Date"]).timestamp()
    assert window[0] <= dated <= window[1], f"the mail's Date: {mail['Date']} is not on the shifted clock"
    assert "the clock is shifted for testing" in sqlite_site.logs(), "a shifted clock is logged loudly"


@pytest.mark.parametrize("value", ["1.5", "3h", "-", "99999999999"])
def test_a_bad_offset_refuses_to_start_and_names_the_variable(sqlite_site, value):
    r = sqlite_site.cli_env("migrate", check=False, TALLY_CLOCK_OFFSET_SECONDS=value)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "TALLY_CLOCK_OFFSET_SECONDS must be a whole number of seconds" in r.stderr, r.stderr


def test_serve_with_a_bad_offset_exits_before_listening(sqlite_site):
    server = sqlite_site.serve(wait=False, TALLY_CLOCK_OFFSET_SECONDS="30m")
    assert server.proc.wait(timeout=60) == 1
    assert "TALLY_CLOCK_OFFSET_SECONDS must be a whole number" in sqlite_site.logs()
