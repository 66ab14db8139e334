"""The test clock: the real wall clock shifted by TALLY_CLOCK_OFFSET_SECONDS, as Tally's `Instant.now` is.

scripts/test-at-clock sets the variable so the suites run as if it were, say, 30 s before the end of a year (issue 25:
tests that passed by day failed after midnight UTC). Tally reads it in every `tally` process it starts; tests and
stand-ins must build their *data* (event timestamps, "today", report windows) from this clock to agree with it.
Deadlines, timeouts and elapsed times stay on the real clock (`time.time()`, `time.monotonic()`).

Read once; an invalid value fails at import, as `tally` refuses to start with it."""
import datetime
import os
import time

VARIABLE = "TALLY_CLOCK_OFFSET_SECONDS"


def _offset():
    text = os.environ.get(VARIABLE, "")
    if text == "":
        return 0
    try:
        seconds = int(text, 10)
    except ValueError:
        raise RuntimeError(f"{VARIABLE} must be a whole number of seconds (got {text!r})") from None
    if text.strip() != text or "_" in text or abs(seconds) > 3_155_760_000:
        raise RuntimeError(f"{VARIABLE} must be a whole number of seconds within ±100 years (got {text!r})")
    return seconds


OFFSET_SECONDS = _offset()


def timestamp(real=None):
    """Unix seconds (a float) on the test clock; `real` converts a reading of `time.time()`."""
    return (time.time() if real is None else real) + OFFSET_SECONDS


def now():
    """An aware UTC datetime on the test clock."""
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=OFFSET_SECONDS)


def today():
    """Today's UTC date on the test clock."""
    return now().date()


def clear_of_midnight(margin_seconds, settle_seconds=0):
    """Return at once, or, in a UTC day's last `margin_seconds`, once the next day has begun (watching this clock);
    and not before `settle_seconds` of the day have passed.

    For data that must stay "today" while tests read it back for a while: posted a minute before midnight, it is
    yesterday's for every test after it; squeezed between midnight and now, it needs a few seconds of day to fit.
    The wait ends within `margin_seconds` + `settle_seconds` (keep that under pytest's timeout)."""
    start = now()
    midnight = datetime.datetime.combine(start.date() + datetime.timedelta(days=1), datetime.time(), datetime.timezone.utc)
    if (midnight - start).total_seconds() > margin_seconds:
        midnight -= datetime.timedelta(days=1)  # today's: only the settling time can be left to wait for
    ready = midnight + datetime.timedelta(seconds=settle_seconds)
    deadline = time.monotonic() + margin_seconds + settle_seconds + 5
    while now() < ready:
        assert time.monotonic() < deadline, f"the test clock did not reach {ready}"
        time.sleep(0.1)
