"""Building one event for `POST /api/v1/events` (docs/api.md): defaults, attribution and a light check."""
from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any, Dict, Mapping, Optional, Tuple

from ._attribution import current_attribution

# Every field the ingest API accepts; any other makes the whole batch a 400 (all or nothing), so it is caught here.
EVENT_FIELDS = frozenset({
    "id", "timestamp", "provider", "model", "operation", "input_tokens", "output_tokens", "cached_input_tokens",
    "cache_write_input_tokens", "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens",
    "output_audio_tokens", "cached_input_audio_tokens", "requests", "project", "feature", "user", "api_key",
    "environment", "tags", "status", "http_status", "error_type", "finish_reason", "service_tier", "latency_ms",
    "time_to_first_token_ms", "retries", "streamed", "batch", "provider_cost_usd", "source",
})
# What the API refuses outright: Tally never stores prompts or answers sent through the events API.
CONTENT_FIELDS = frozenset({"prompt", "messages", "input", "completion", "response", "output", "content"})
REQUIRED = ("provider", "model")


def new_event_id() -> str:
    """A client-side id (uuid4), so a retried batch is counted as duplicates instead of stored twice."""
    return "py_" + uuid.uuid4().hex


def rfc3339(moment: Optional[_dt.datetime] = None) -> str:
    """`moment` (default now) as RFC 3339 UTC with milliseconds: `2026-11-20T10:15:00.123Z`."""
    moment = moment or _dt.datetime.now(_dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    moment = moment.astimezone(_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_event(fields: Mapping[str, Any]) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """The event to send for `record(**fields)`: the current attribution merged under the explicit fields (tags
    merged key by key, explicit ones winning), `id` and `timestamp` defaulted. Returns (event, None), or
    (None, problem) for an event the API would refuse and that would take its whole batch down with it."""
    event: Dict[str, Any] = {}
    attribution = current_attribution()
    tags: Dict[str, str] = dict(attribution.get("tags") or {})
    for key, value in attribution.items():
        if key != "tags" and value is not None:
            event[key] = value
    for key, value in fields.items():
        if key == "tags":
            if value:
                tags.update({str(k): str(v) for k, v in dict(value).items()})
        elif value is not None:
            event[key] = value
    if tags:
        event["tags"] = tags
    unknown = sorted(k for k in event if k not in EVENT_FIELDS)
    if unknown:
        content = [k for k in unknown if k in CONTENT_FIELDS]
        if content:
            return None, f"field {content[0]!r} is content, which Tally does not accept through the events API"
        return None, f"field {unknown[0]!r} is not an event field"
    for key in REQUIRED:
        if not event.get(key):
            return None, f"field {key!r} is required"
    if not event.get("id"):
        event["id"] = new_event_id()
    ts = event.get("timestamp")
    if ts is None:
        event["timestamp"] = rfc3339()
    elif isinstance(ts, _dt.datetime):
        event["timestamp"] = rfc3339(ts)
    elif isinstance(ts, (int, float)) and not isinstance(ts, bool):
        event["timestamp"] = rfc3339(_dt.datetime.fromtimestamp(ts, _dt.timezone.utc))
    return event, None
