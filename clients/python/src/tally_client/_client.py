"""`Tally`: records events into a queue that a background thread sends in batches."""
from __future__ import annotations

import atexit
import collections
import os
import threading
import time
import weakref
from contextlib import AbstractContextManager
from typing import Any, Deque, Dict, List, Mapping, NamedTuple, Optional

import httpx

from . import _attribution
from ._delivery import MAX_EVENTS, Counters, Policy, Stats, deliver_sync, logger
from ._events import build_event

__all__ = ["Tally"]

DEFAULT_TIMEOUT = 10.0


class _Item(NamedTuple):
    seq: int
    queued_at: float
    event: Dict[str, Any]


def _headers(token: str) -> Dict[str, str]:
    from . import __version__
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
            "User-Agent": f"tally-client-python/{__version__}"}


def _events_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/v1/events"


class _Base:
    """What Tally and AsyncTally share: settings, the queue, record(), stats, attribute() and wrap()."""

    def __init__(self, base_url: str, token: str, *, batch_size: int, flush_interval: float, timeout: float,
                 max_retries: int, max_queue: int, backoff_base: float, backoff_max: float,
                 exit_timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.batch_size = max(1, min(int(batch_size), MAX_EVENTS))
        self.flush_interval = max(0.0, float(flush_interval))
        self.timeout = timeout
        self.max_queue = max(1, int(max_queue))
        self.exit_timeout = exit_timeout
        self._policy = Policy(url=_events_url(base_url), headers=_headers(token), max_retries=max(0, int(max_retries)),
                              backoff_base=backoff_base, backoff_max=backoff_max)
        self._counters = Counters()
        self._queue: Deque[_Item] = collections.deque()
        self._seq = 0          # the last event queued
        self._done = 0         # every event up to this one is sent or given up
        self._in_flight = 0    # events taken by the sender and not yet done
        self._closed = False
        self._full_warned = False

    # -- recording

    def _enqueue(self, fields: Mapping[str, Any]) -> Optional[str]:
        """Caller holds the lock. Returns the event's id, or None when it was dropped."""
        event, problem = build_event(fields)
        if event is None:
            self._counters.add("dropped")
            logger.warning("tally_client: dropped an event: %s", problem)
            return None
        if self._closed:
            self._counters.add("dropped")
            logger.warning("tally_client: dropped event %s: the client is closed", event["id"])
            return None
        if len(self._queue) >= self.max_queue:
            self._counters.add("dropped")
            if not self._full_warned:
                logger.warning("tally_client: the queue is full (%d events): dropping new events until it drains",
                               self.max_queue)
                self._full_warned = True
            return None
        self._full_warned = False
        self._seq += 1
        self._queue.append(_Item(self._seq, time.monotonic(), event))
        self._counters.add("recorded")
        return str(event["id"])

    def _due(self) -> Optional[float]:
        """Caller holds the lock. 0 when a batch should go now, else seconds until one should (None: nothing)."""
        if not self._queue:
            return None
        if len(self._queue) >= self.batch_size or self._closed or self._flush_target > self._done_before_queue():
            return 0.0
        return max(0.0, self.flush_interval - (time.monotonic() - self._queue[0].queued_at))

    _flush_target = 0

    def _done_before_queue(self) -> int:
        return self._queue[0].seq - 1 if self._queue else self._seq

    def _take(self) -> List[_Item]:
        batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
        self._in_flight = len(batch)
        return batch

    @property
    def stats(self) -> Stats:
        """Counts of what this client did so far (`sent`, `dropped`, `retries`, `queued`, …)."""
        return self._counters.snapshot(queued=len(self._queue) + self._in_flight)

    # -- attribution and wrappers

    @staticmethod
    def attribute(*, feature: Optional[str] = None, user: Optional[str] = None, environment: Optional[str] = None,
                  project: Optional[str] = None, tags: Optional[Mapping[str, str]] = None
                  ) -> "AbstractContextManager[Dict[str, Any]]":
        """A `with` block whose values every event recorded inside it carries (see `tally_client.attribute`)."""
        return _attribution.attribute(feature=feature, user=user, environment=environment, project=project,
                                      tags=tags)

    def wrap(self, client: Any) -> Any:
        """The same OpenAI/Anthropic SDK client, its create calls recorded to this Tally (see `tally_client.wrap`)."""
        from ._wrap import wrap
        return wrap(client, self)


class Tally(_Base):
    """Sends usage events to Tally in the background.

    `record(**event)` returns at once; a daemon thread sends batches of up to `batch_size` events when that many are
    queued, when the oldest has waited `flush_interval` seconds, on `flush()`, on `close()` and at interpreter exit.
    Failed sends are retried (429, 5xx, timeouts, connection errors; `Retry-After` honoured) up to `max_retries`
    times with exponential backoff and jitter. Nothing here raises into the application: problems are logged
    (logger "tally_client") and counted in `stats`."""

    def __init__(self, base_url: str, token: str, *, batch_size: int = 100, flush_interval: float = 1.0,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 10, max_queue: int = 10_000,
                 backoff_base: float = 0.5, backoff_max: float = 30.0, exit_timeout: float = 10.0,
                 http_client: Optional[httpx.Client] = None) -> None:
        super().__init__(base_url, token, batch_size=batch_size, flush_interval=flush_interval, timeout=timeout,
                         max_retries=max_retries, max_queue=max_queue, backoff_base=backoff_base,
                         backoff_max=backoff_max, exit_timeout=exit_timeout)
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._pid = os.getpid()
        _register_exit(self)

    def _ensure_thread(self) -> None:
        """Caller holds the lock. Starts the sender (again after a fork: threads do not survive one)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._thread = None
            if self._own_http:
                self._http = httpx.Client(timeout=self.timeout)
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="tally-client-sender", daemon=True)
            self._thread.start()

    def record(self, **event: Any) -> Optional[str]:
        """Queues one event (the fields of `POST /api/v1/events`; `id` and `timestamp` are filled in when missing,
        the current `attribute()` values merged in) and returns its id at once, or None when it was dropped."""
        try:
            with self._cond:
                event_id = self._enqueue(event)
                if event_id is not None:
                    self._ensure_thread()
                    # The sender sleeps without a deadline while the queue is empty: the first event starts its
                    # flush_interval clock, a full batch goes at once.
                    if len(self._queue) == 1 or len(self._queue) >= self.batch_size:
                        self._cond.notify_all()
                return event_id
        except Exception as exc:  # noqa: BLE001 - tracking must never break the app
            self._counters.add("dropped")
            logger.warning("tally_client: could not record an event: %r", exc)
            return None

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends everything queued before this call and waits until it is acknowledged or given up (after its
        retries). Returns False when `timeout` seconds passed first (the events still go in the background)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self._cond:
                target = self._seq
                if self._done >= target:
                    return True
                self._flush_target = max(self._flush_target, target)
                self._ensure_thread()
                self._cond.notify_all()
                while self._done < target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cond.wait(left)
                return True
        except Exception as exc:  # noqa: BLE001
            logger.warning("tally_client: flush failed: %r", exc)
            return False

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes, stops the sender and closes the HTTP client. Later `record()` calls are dropped with a warning.
        Returns False when `timeout` passed before everything was sent or given up."""
        with self._cond:
            if self._closed:
                return self._done >= self._seq
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        ok = True
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
            ok = not thread.is_alive()
        if ok and self._own_http:
            try:
                self._http.close()
            except Exception:  # noqa: BLE001
                pass
        if not ok:
            logger.warning("tally_client: close() timed out with %d event(s) not sent yet", self.stats.queued)
        _unregister_exit(self)
        return ok

    def _close_at_exit(self) -> None:
        self.close(timeout=self.exit_timeout)

    def __enter__(self) -> "Tally":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the sender thread

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    due = self._due()
                    if due == 0.0:
                        break
                    if due is None and self._closed:
                        self._cond.notify_all()
                        return
                    self._cond.wait(due)
                batch = self._take()
            try:
                deliver_sync(self._http, [item.event for item in batch], self._policy, self._counters)
            finally:
                with self._cond:
                    self._done = batch[-1].seq
                    self._in_flight = 0
                    self._cond.notify_all()


# Interpreter exit: every open client is flushed (each for at most its exit_timeout) before daemon threads die.
_open: "weakref.WeakSet[Any]" = weakref.WeakSet()
_exit_lock = threading.Lock()


def _register_exit(client: Any) -> None:
    with _exit_lock:
        _open.add(client)


def _unregister_exit(client: Any) -> None:
    with _exit_lock:
        _open.discard(client)


def _at_exit() -> None:
    with _exit_lock:
        clients = list(_open)
    for client in clients:
        try:
            client._close_at_exit()
        except Exception as exc:  # noqa: BLE001
            logger.warning("tally_client: flushing at exit failed: %r", exc)


atexit.register(_at_exit)
