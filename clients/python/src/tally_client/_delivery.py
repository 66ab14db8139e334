"""Sending batches to `POST /api/v1/events`: what each answer means, retries with backoff, and the counts.

Shared by `Tally` (a thread) and `AsyncTally` (a task): `deliver_sync` and `deliver_async` are the same loop."""
from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import httpx

logger = logging.getLogger("tally_client")

MAX_EVENTS = 1000          # the API's limit per request
MAX_BYTES = 1 << 20        # ... and its body limit (1 MiB)
MAX_RETRY_AFTER = 120.0    # a Retry-After longer than this is waited this long (a flush should not hang for hours)


@dataclass(frozen=True)
class Stats:
    """A snapshot of what a client did. `recorded`: events accepted by `record()` into the queue; `sent`: events
    the server acknowledged (`accepted + duplicates`); `duplicates`: of those, ids it already had (a retry of a batch
    whose answer was lost); `dropped`: events given up (refused by the server, retries exhausted, queue full, invalid,
    closed); `retries`: requests repeated after a 429, a 5xx, a timeout or a connection error; `requests`: HTTP
    requests made; `queued`: events waiting to be sent now (in a batch being sent included)."""

    recorded: int = 0
    sent: int = 0
    duplicates: int = 0
    dropped: int = 0
    retries: int = 0
    requests: int = 0
    queued: int = 0


class Counters:
    """The mutable counts behind `Stats`, safe to bump from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: Dict[str, int] = {k: 0 for k in ("recorded", "sent", "duplicates", "dropped", "retries",
                                                        "requests")}

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.values[name] += n

    def snapshot(self, queued: int) -> Stats:
        with self.lock:
            return Stats(queued=queued, **self.values)


@dataclass
class Policy:
    url: str
    headers: Dict[str, str]
    max_retries: int = 10
    backoff_base: float = 0.5
    backoff_max: float = 30.0


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, policy: Policy, retry_after: Optional[float]) -> float:
    """How long to wait before retry number `attempt + 1`: the server's Retry-After when it gave one (capped at
    MAX_RETRY_AFTER), else exponential backoff from `backoff_base`, capped at `backoff_max`, with jitter (50-100%)."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    delay = min(policy.backoff_max, policy.backoff_base * (2 ** attempt))
    return float(delay * (0.5 + random.random() / 2))


@dataclass
class Decision:
    kind: str                      # "ok", "retry", "split", "drop", "drop_some"
    accepted: int = 0
    duplicates: int = 0
    retry_after: Optional[float] = None
    message: str = ""
    bad: Sequence[int] = field(default_factory=tuple)  # drop_some: indexes of the refused events


def _error_text(status: int, body: Any) -> Tuple[str, List[int]]:
    """`400 invalid_request: … (events[3].model: is required)` and the event indexes the details name."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"HTTP {status}", []
    text = f"HTTP {status} {error.get('code', '')}: {error.get('message', '')}".rstrip(": ")
    indexes: List[int] = []
    parts = []
    for d in error.get("details") or []:
        if not isinstance(d, dict):
            continue
        where = d.get("field") or ""
        if isinstance(d.get("index"), int):
            indexes.append(d["index"])
            where = f"events[{d['index']}].{where}" if where else f"events[{d['index']}]"
        parts.append(f"{where}: {d.get('reason', '')}".strip())
    if parts:
        text += " (" + "; ".join(parts[:10]) + (" …" if len(parts) > 10 else "") + ")"
    return text, indexes


def decide(status: int, headers: Mapping[str, str], content: bytes, n: int) -> Decision:
    """What an answer to a batch of `n` events means for it."""
    body: Any = None
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        accepted = body.get("accepted", n) if isinstance(body, dict) else n
        duplicates = body.get("duplicates", 0) if isinstance(body, dict) else 0
        return Decision("ok", accepted=int(accepted), duplicates=int(duplicates))
    text, indexes = _error_text(status, body)
    if status in (408, 429) or status >= 500:
        return Decision("retry", retry_after=parse_retry_after(headers.get("retry-after")), message=text)
    if status == 413 and n > 1:
        return Decision("split", message=text)
    # The batch is all or nothing: when the details name some events, the others are fine and go again alone.
    if status == 400 and indexes and n > 1:
        error = body.get("error") if isinstance(body, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        if isinstance(details, list) and all(isinstance(d, dict) and isinstance(d.get("index"), int)
                                             for d in details):
            return Decision("drop_some", bad=sorted(set(i for i in indexes if 0 <= i < n)), message=text)
    return Decision("drop", message=text)


def encode(events: Sequence[Dict[str, Any]]) -> bytes:
    return json.dumps({"events": list(events)}, separators=(",", ":"), default=str).encode("utf-8")


class _Loop:
    """The steps of delivering one batch, shared by the sync and async drivers (which do the I/O and the waits)."""

    def __init__(self, events: List[Dict[str, Any]], policy: Policy, counters: Counters) -> None:
        self.pending: List[List[Dict[str, Any]]] = [events]
        self.policy = policy
        self.counters = counters
        self.current: List[Dict[str, Any]] = []
        self.body = b""
        self.attempt = 0

    def next_body(self) -> Optional[bytes]:
        """The next request body to send, None when the batch is done."""
        while self.pending:
            events = self.pending.pop(0)
            body = encode(events)
            if len(body) > MAX_BYTES and len(events) > 1:
                half = len(events) // 2
                self.pending[:0] = [events[:half], events[half:]]
                continue
            if len(body) > MAX_BYTES:
                self.drop(events, "the event is larger than the API's 1 MiB limit")
                continue
            self.current, self.body, self.attempt = events, body, 0
            return body
        return None

    def drop(self, events: Sequence[Dict[str, Any]], why: str) -> None:
        if not events:
            return
        self.counters.add("dropped", len(events))
        ids = ", ".join(str(e.get("id")) for e in events[:3]) + (", …" if len(events) > 3 else "")
        logger.warning("tally_client: dropped %d event(s) (%s): %s", len(events), ids, why)

    def outcome(self, decision: Decision) -> Optional[float]:
        """Applies an answer (or a transport failure, as a "retry" decision); returns the delay before sending the
        same body again, or None to move on to `next_body()`."""
        events = self.current
        if decision.kind == "ok":
            self.counters.add("sent", decision.accepted + decision.duplicates)
            self.counters.add("duplicates", decision.duplicates)
            return None
        if decision.kind == "retry":
            if self.attempt >= self.policy.max_retries:
                self.drop(events, f"{decision.message}; gave up after {self.attempt} retries")
                return None
            delay = backoff_delay(self.attempt, self.policy, decision.retry_after)
            self.attempt += 1
            self.counters.add("retries")
            logger.info("tally_client: %s; retry %d in %.2f s", decision.message, self.attempt, delay)
            return delay
        if decision.kind == "split":
            half = len(events) // 2
            self.pending[:0] = [events[:half], events[half:]]
            return None
        if decision.kind == "drop_some":
            bad = set(decision.bad)
            self.drop([e for i, e in enumerate(events) if i in bad], f"refused by Tally: {decision.message}")
            rest = [e for i, e in enumerate(events) if i not in bad]
            if rest:
                self.pending.insert(0, rest)
            return None
        self.drop(events, f"refused by Tally: {decision.message}")
        return None


def _transport_decision(exc: Exception) -> Decision:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection error"
    return Decision("retry", message=f"{kind}: {type(exc).__name__}: {exc}")


def deliver_sync(client: httpx.Client, events: List[Dict[str, Any]], policy: Policy, counters: Counters,
                 sleep: Any = time.sleep) -> None:
    """Sends `events` (splitting, retrying and dropping as the answers say); never raises."""
    loop = _Loop(events, policy, counters)
    try:
        body = loop.next_body()
        while body is not None:
            try:
                counters.add("requests")
                r = client.post(policy.url, content=body, headers=policy.headers)
                decision = decide(r.status_code, r.headers, r.content, len(loop.current))
            except httpx.HTTPError as exc:
                decision = _transport_decision(exc)
            delay = loop.outcome(decision)
            if delay is not None:
                sleep(delay)
                continue
            body = loop.next_body()
    except Exception as exc:  # noqa: BLE001 - tracking must never break the app
        loop.drop(loop.current + [e for p in loop.pending for e in p], f"unexpected error: {exc!r}")


async def deliver_async(client: httpx.AsyncClient, events: List[Dict[str, Any]], policy: Policy,
                        counters: Counters) -> None:
    loop = _Loop(events, policy, counters)
    try:
        body = loop.next_body()
        while body is not None:
            try:
                counters.add("requests")
                r = await client.post(policy.url, content=body, headers=policy.headers)
                decision = decide(r.status_code, r.headers, r.content, len(loop.current))
            except httpx.HTTPError as exc:
                decision = _transport_decision(exc)
            delay = loop.outcome(decision)
            if delay is not None:
                await asyncio.sleep(delay)
                continue
            body = loop.next_body()
    except asyncio.CancelledError:
        loop.drop(loop.current + [e for p in loop.pending for e in p], "cancelled")
        raise
    except Exception as exc:  # noqa: BLE001
        loop.drop(loop.current + [e for p in loop.pending for e in p], f"unexpected error: {exc!r}")
