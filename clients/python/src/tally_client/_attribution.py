"""`attribute(...)`: who and what an event is for, kept in a context variable.

A context variable follows the code that set it: nested blocks stack, each thread starts with none of another
thread's, and an asyncio task sees what was in force where it was created (later changes in the creator do not
leak into it, nor its changes out of it)."""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional

_ATTRIBUTION: contextvars.ContextVar[Dict[str, Any]] = contextvars.ContextVar("tally_attribution", default={})


def current_attribution() -> Dict[str, Any]:
    """The attribution in force here: {"feature", "user", "environment", "project", "tags"} (those set)."""
    return _ATTRIBUTION.get()


@contextmanager
def attribute(
    *,
    feature: Optional[str] = None,
    user: Optional[str] = None,
    environment: Optional[str] = None,
    project: Optional[str] = None,
    tags: Optional[Mapping[str, str]] = None,
) -> Iterator[Dict[str, Any]]:
    """Every event recorded inside the block (by `record()` or a wrapped SDK client) carries these values unless the
    event names its own. Blocks nest: an inner value replaces an outer one, tags are merged key by key."""
    outer = _ATTRIBUTION.get()
    merged: Dict[str, Any] = dict(outer)
    for key, value in (("feature", feature), ("user", user), ("environment", environment), ("project", project)):
        if value is not None:
            merged[key] = value
    if tags:
        merged["tags"] = {**(outer.get("tags") or {}), **{str(k): str(v) for k, v in tags.items()}}
    token = _ATTRIBUTION.set(merged)
    try:
        yield merged
    finally:
        _ATTRIBUTION.reset(token)
