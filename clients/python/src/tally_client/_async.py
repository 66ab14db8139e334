"""`AsyncTally`: the same as `Tally` for asyncio, its sender an asyncio task."""
from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any, Optional

import httpx

from ._client import DEFAULT_TIMEOUT, _Base, _register_exit, _unregister_exit
from ._delivery import deliver_async, deliver_sync, logger

__all__ = ["AsyncTally"]


class AsyncTally(_Base):
    """Sends usage events to Tally from an asyncio application.

    `record(**event)` is a plain (non-async) call that queues the event and returns at once; a task on the running
    event loop sends batches (size, `flush_interval`, `await flush()`, `await aclose()`, `async with`). Events still
    queued when the program exits without `aclose()` are sent from an exit handler. Nothing raises into the
    application: problems are logged (logger "tally_client") and counted in `stats`."""

    def __init__(self, base_url: str, token: str, *, batch_size: int = 100, flush_interval: float = 1.0,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 10, max_queue: int = 10_000,
                 backoff_base: float = 0.5, backoff_max: float = 30.0, exit_timeout: float = 10.0,
                 http_client: Optional[httpx.AsyncClient] = None) -> None:
        super().__init__(base_url, token, batch_size=batch_size, flush_interval=flush_interval, timeout=timeout,
                         max_retries=max_retries, max_queue=max_queue, backoff_base=backoff_base,
                         backoff_max=backoff_max, exit_timeout=exit_timeout)
        self._http = http_client
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._wake: Optional[asyncio.Event] = None
        self._progress: Optional[asyncio.Event] = None
        _register_exit(self)

    # -- the task, one per event loop that uses the client

    def _running_loop(self) -> Optional[asyncio.AbstractEventLoop]:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _ensure_task(self) -> None:
        loop = self._running_loop()
        if loop is None:
            return
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._task = loop.create_task(self._run(), name="tally-client-sender")

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        if self._running_loop() is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def record(self, **event: Any) -> Optional[str]:
        """Queues one event and returns its id at once (None when it was dropped); never raises, never blocks."""
        try:
            with self._lock:
                event_id = self._enqueue(event)
            if event_id is not None:
                self._ensure_task()
                if len(self._queue) == 1 or len(self._queue) >= self.batch_size:
                    self._poke()
            return event_id
        except Exception as exc:  # noqa: BLE001 - tracking must never break the app
            self._counters.add("dropped")
            logger.warning("tally_client: could not record an event: %r", exc)
            return None

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """Sends everything queued before this call and waits until it is acknowledged or given up. Returns False
        when `timeout` seconds passed first (the events still go in the background)."""
        try:
            target = self._seq
            if self._done >= target:
                return True
            self._flush_target = max(self._flush_target, target)
            self._ensure_task()
            self._poke()
            return await self._wait_done(target, timeout)
        except Exception as exc:  # noqa: BLE001
            logger.warning("tally_client: flush failed: %r", exc)
            return False

    async def _wait_done(self, target: int, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._done < target:
            progress = self._progress
            assert progress is not None
            progress.clear()
            if self._done >= target:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                await asyncio.wait_for(progress.wait(), left)
            except asyncio.TimeoutError:
                return self._done >= target
        return True

    async def aclose(self, timeout: Optional[float] = None) -> bool:
        """Flushes and stops the sender task. Later `record()` calls are dropped with a warning."""
        if self._closed:
            return self._done >= self._seq
        target = self._seq
        self._closed = True
        ok = True
        if self._done < target:
            self._ensure_task()
            self._poke()
            ok = await self._wait_done(target, timeout)
        if self._task is not None and not self._task.done() and self._loop is self._running_loop():
            self._poke()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0 if ok else 0.1)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if not ok:
            logger.warning("tally_client: aclose() timed out with %d event(s) not sent yet", self.stats.queued)
        _unregister_exit(self)
        return ok

    async def __aenter__(self) -> "AsyncTally":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def _run(self) -> None:
        http = self._http or httpx.AsyncClient(timeout=self.timeout)
        wake, progress = self._wake, self._progress
        assert wake is not None and progress is not None
        try:
            while True:
                wake.clear()
                with self._lock:
                    due = self._due()
                    if due == 0.0:
                        batch = self._take()
                    elif due is None and self._closed:
                        return
                    else:
                        batch = []
                if not batch:
                    try:
                        await asyncio.wait_for(wake.wait(), due)
                    except asyncio.TimeoutError:
                        pass
                    continue
                try:
                    await deliver_async(http, [item.event for item in batch], self._policy, self._counters)
                finally:
                    with self._lock:
                        self._done = batch[-1].seq
                        self._in_flight = 0
                    progress.set()
        finally:
            if self._http is None:
                try:
                    await http.aclose()
                except Exception:  # noqa: BLE001
                    pass

    # -- interpreter exit

    def _close_at_exit(self) -> None:
        """Events left queued (the loop ended without `aclose()`) are sent synchronously, for at most
        `exit_timeout` seconds."""
        with self._lock:
            self._closed = True
            items = list(self._queue)
            self._queue.clear()
        if not items:
            return
        events = [item.event for item in items]
        # In this thread (no new thread can start at interpreter shutdown on Python 3.12+), with the retries cut
        # down so that it ends in about exit_timeout seconds.
        policy = dataclasses.replace(self._policy, max_retries=min(self._policy.max_retries, 3),
                                     backoff_max=min(self._policy.backoff_max, max(0.1, self.exit_timeout / 8)))
        with httpx.Client(timeout=min(self.timeout, max(1.0, self.exit_timeout / 4))) as http:
            deliver_sync(http, events, policy, self._counters)
        with self._lock:
            self._done = max(self._done, items[-1].seq)
