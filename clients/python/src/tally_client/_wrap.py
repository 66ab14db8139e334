"""`wrap(client, tally)`: OpenAI and Anthropic SDK clients whose create calls are recorded.

The client returned is the same object: only the create methods of its resources are replaced by instance
attributes that call the originals with the same arguments and hand back their results unchanged (a stream is the
SDK's own stream object, its iterator observed). One change reaches the provider: an OpenAI chat or legacy
completions stream that did not ask for its usage chunk (`stream_options.include_usage`) asks for it, and that
usage-only last chunk is then kept from the application, as Tally's gateway does, so the app sees the stream it
asked for. A backend that refuses `stream_options` (a 400 naming it: vLLM, older Azure API versions, ...) is asked
again once with the caller's own arguments, and not asked for usage again (see `_StreamOptions`). The event recorded is the one Tally's gateway records for the same answer (provider, answered model,
operation, token classes mapped as in Sources/TallyProviders, latency, time to first token, finish reason, service
tier, status, HTTP status, error type, `provider_request_id`)."""
from __future__ import annotations

import contextvars
import datetime as _dt
import functools
import inspect
import json
import threading
import time
import weakref
from typing import Any, Callable, Dict, Optional, Tuple

from . import _usage
from ._attribution import current_attribution
from ._delivery import logger
from ._events import rfc3339

__all__ = ["wrap"]

# The call whose HTTP exchange is under way in this context: the response hook notes its status, request id and
# how many times the SDK retried it (its `x-stainless-retry-count` request header).
_CURRENT: "contextvars.ContextVar[Optional[_Call]]" = contextvars.ContextVar("tally_current_call", default=None)

# operation, usage mapping per endpoint
KINDS = {
    "openai.chat": ("chat", _usage.openai_chat),
    "openai.completions": ("completion", _usage.openai_chat),
    "openai.embeddings": ("embedding", _usage.openai_chat),
    "openai.responses": ("chat", _usage.openai_responses),
    "anthropic.messages": ("chat", _usage.anthropic),
}


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _error_type_of_body(body: Any) -> Optional[str]:
    """OpenAI `error.type`/`code`, Anthropic `error.type`, Google `error.status` (the gateway's order), from the
    body an SDK exception carries (openai keeps the inner `error` object, anthropic the whole body)."""
    body = _usage.to_dict(body)
    if not isinstance(body, dict):
        return None
    inner: Dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
    for key in ("type", "status", "code"):
        v = inner.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def _is_sdk_error(exc: BaseException) -> bool:
    return any(c.__name__ == "APIError" and c.__module__.split(".")[0] in ("openai", "anthropic")
               for c in type(exc).__mro__)


class _Call:
    """One SDK call being measured, then recorded once."""

    def __init__(self, tally: Any, provider: str, kind: str, kwargs: Dict[str, Any]) -> None:
        self.tally = tally
        self.provider = provider
        self.kind = kind
        self.operation, self.mapping = KINDS[kind]
        self.attribution = current_attribution()
        model = kwargs.get("model")
        self.model: Optional[str] = model if isinstance(model, str) else None
        self.streamed = kwargs.get("stream") is True
        tier = kwargs.get("service_tier")
        self.requested_tier = _usage.service_tier(tier)
        if provider == "anthropic" and self.requested_tier == "standard_only":
            self.requested_tier = "standard"
        self.answered_tier: Optional[str] = None
        self.start()
        self.usage: Optional[_usage.Usage] = None
        self.carried: Optional[Dict[str, Any]] = None  # Anthropic streams: the usage so far
        self.finish_reason: Optional[str] = None
        self.error_type: Optional[str] = None
        self.http_status: Optional[int] = None
        self.request_id: Optional[str] = None
        self.response_id: Optional[str] = None
        self.retries: Optional[int] = None
        self.first_chunk: Optional[float] = None
        self.done = False

    def start(self) -> None:
        self.started_at = _dt.datetime.now(_dt.timezone.utc)
        self.t0 = time.perf_counter()

    def again(self) -> None:
        """The call is made again (its `stream_options` were refused): what the refused exchange noted is
        forgotten; the start stays, the latency being the one the app waited."""
        self.http_status = None
        self.request_id = None
        self.retries = None
        self.error_type = None

    # -- what the HTTP exchange says

    def note_response(self, response: Any) -> None:
        """An httpx(2) response of the SDK: status, request id, retries."""
        try:
            self.http_status = int(response.status_code)
            headers = response.headers
            self.request_id = headers.get("x-request-id") or headers.get("request-id") or self.request_id
            retry = response.request.headers.get("x-stainless-retry-count")
            if retry is not None and str(retry).isdigit():
                self.retries = int(retry)
        except Exception:  # noqa: BLE001
            pass

    # -- what the answer says

    def read(self, v: Any) -> None:
        """One answer object: a whole response or one stream event/chunk (SDK model or dict)."""
        kind = self.kind
        if kind in ("openai.chat", "openai.completions"):
            self._model(_get(v, "model"))
            tier = _usage.service_tier(_get(v, "service_tier"))
            if tier:
                self.answered_tier = tier
            u = _get(v, "usage")
            if u is not None:
                self.usage = self.mapping(u)
            for choice in _get(v, "choices") or ():
                reason = _get(choice, "finish_reason")
                if isinstance(reason, str):
                    self.finish_reason = reason
                    break
            self._id(_get(v, "id"))
        elif kind == "openai.embeddings":
            self._model(_get(v, "model"))
            u = _get(v, "usage")
            if u is not None:
                self.usage = self.mapping(u)
        elif kind == "openai.responses":
            response = _get(v, "response") or v
            self._model(_get(response, "model"))
            tier = _usage.service_tier(_get(response, "service_tier"))
            if tier:
                self.answered_tier = tier
            u = _get(response, "usage")
            if u is not None:
                self.usage = self.mapping(u)
            status = _get(response, "status")
            if isinstance(status, str) and status != "in_progress":
                reason = _get(_get(response, "incomplete_details"), "reason") if status == "incomplete" else None
                self.finish_reason = reason if isinstance(reason, str) else status
            self._id(_get(response, "id"))
        elif kind == "anthropic.messages":
            typ = _get(v, "type")
            if typ == "message_start":
                message = _get(v, "message")
                self._model(_get(message, "model"))
                self._id(_get(message, "id"))
                self.carried = dict(_usage.to_dict(_get(message, "usage")) or {})
                self._anthropic_usage()
            elif typ == "message_delta":
                delta_usage = _get(v, "usage")
                if delta_usage is not None and self.carried is not None:
                    self.carried = _usage.merge_anthropic_delta(self.carried, delta_usage)
                    self._anthropic_usage()
                reason = _get(_get(v, "delta"), "stop_reason")
                if isinstance(reason, str):
                    self.finish_reason = reason
            elif typ == "message":
                self._model(_get(v, "model"))
                self._id(_get(v, "id"))
                u = _get(v, "usage")
                if u is not None:
                    self.carried = dict(_usage.to_dict(u) or {})
                    self._anthropic_usage()
                reason = _get(v, "stop_reason")
                if isinstance(reason, str):
                    self.finish_reason = reason
            elif typ == "error":
                self.error_type = _error_type_of_body(v) or "error"
        if self.request_id is None:
            rid = getattr(v, "_request_id", None)
            if isinstance(rid, str) and rid:
                self.request_id = rid

    def _anthropic_usage(self) -> None:
        self.usage = _usage.anthropic(self.carried)
        tier = _usage.service_tier((self.carried or {}).get("service_tier"))
        if tier:
            self.answered_tier = tier

    def _model(self, model: Any) -> None:
        if isinstance(model, str) and model:
            self.model = model

    def _id(self, value: Any) -> None:
        if isinstance(value, str) and value:
            self.response_id = value

    def fail(self, exc: BaseException, *, mid_stream: bool = False) -> None:
        """An exception the SDK raised (before or during a stream)."""
        response = getattr(exc, "response", None)
        status = getattr(exc, "status_code", None)
        if response is not None and isinstance(status, int):
            self.note_response(response)
            self.http_status = status
        name = type(exc).__name__
        typ = _error_type_of_body(getattr(exc, "body", None))
        if typ is None:
            if "Timeout" in name:
                typ = "timeout"
            elif mid_stream:
                typ = "upstream_stream_error"
            elif "Connection" in name:
                typ = "connection_error"
            elif name == "CancelledError":
                typ = "cancelled"
            else:
                typ = name
        self.error_type = self.error_type or typ

    def first(self) -> None:
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()

    # -- the event

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            self._record()
        except Exception as exc:  # noqa: BLE001 - tracking must never break the app
            logger.warning("tally_client: could not record a %s call: %r", self.provider, exc)

    def _record(self) -> None:
        end = time.perf_counter()
        status = self.http_status
        error = self.error_type is not None or (status is not None and status >= 400)
        event: Dict[str, Any] = {
            "timestamp": rfc3339(self.started_at),
            "provider": self.provider,
            "model": self.model or "unknown",
            "operation": self.operation,
            "status": "error" if error else "success",
            "latency_ms": max(0, int((end - self.t0) * 1000)),
            # As the gateway counts it: a stream the provider refused (an error status) was not streamed.
            "streamed": self.streamed and not (status is not None and status >= 400),
        }
        for key, value in (self.usage or {}).items():
            if value:
                event[key] = value
        if status is not None:
            event["http_status"] = status
        elif not error:
            event["http_status"] = 200
        if self.error_type:
            event["error_type"] = self.error_type[:256]
        if self.streamed and self.first_chunk is not None and (status is None or status < 400):
            event["time_to_first_token_ms"] = max(0, int((self.first_chunk - self.t0) * 1000))
        if self.finish_reason:
            event["finish_reason"] = self.finish_reason
        tier = self.answered_tier or self.requested_tier
        if tier:
            event["service_tier"] = tier
            if tier == "batch":
                event["batch"] = True
        if self.retries is not None:
            event["retries"] = self.retries
        # The attribution in force when the call was made (a stream may be read elsewhere).
        for key in ("feature", "user", "environment", "project"):
            if self.attribution.get(key) is not None:
                event[key] = self.attribution[key]
        tags = dict(self.attribution.get("tags") or {})
        request_id = self.request_id or self.response_id
        if request_id and len(request_id) <= 256:
            tags["provider_request_id"] = request_id
        if tags:
            event["tags"] = tags
        self.tally.record(**event)


# ---------------------------------------------------------------------------------------------------------------
# Requests

class _StreamOptions:
    """Which backends of a wrapped client (and of its copies) refuse `stream_options`, by base URL.

    The wrapper adds `stream_options={"include_usage": True}` to an OpenAI chat/completions stream that did not ask
    for its usage. An OpenAI-compatible backend that does not know the field answers 400: the call is then made again
    once, with the caller's own arguments (what the app would have sent without the wrapper), and that backend's
    later streams are sent as the caller wrote them (recorded without usage when the stream carries none)."""

    def __init__(self) -> None:
        self._refusing: set = set()
        self._lock = threading.Lock()

    @staticmethod
    def key(client: Any) -> str:
        try:
            return str(getattr(client, "base_url", "") or "")
        except Exception:  # noqa: BLE001
            return ""

    def refuses(self, key: str) -> bool:
        with self._lock:
            return key in self._refusing

    def remember(self, key: str) -> None:
        with self._lock:
            new = key not in self._refusing
            self._refusing.add(key)
        if new:
            logger.warning("tally_client: %s refuses stream_options; its streams are sent as written and recorded "
                           "with the usage they carry", key or "the backend")


def _given(kwargs: Dict[str, Any], key: str) -> bool:
    """Whether the caller passed `key` (the SDK's `NOT_GIVEN`/`omit` sentinels are not passing it)."""
    if key not in kwargs:
        return False
    cls = type(kwargs[key])
    return not (cls.__name__ in ("NotGiven", "Omit") and cls.__module__.split(".")[0] in ("openai", "anthropic"))


def _prepare(kind: str, kwargs: Dict[str, Any], refused: bool = False) -> Tuple[Dict[str, Any], bool, bool]:
    """The arguments to call the SDK with; whether the usage-only last chunk must be kept from the app (an OpenAI
    chat/completions stream that did not ask for it is made to); and whether `stream_options` was added by the
    wrapper alone (the caller passed none), so that a backend refusing it may be asked again without it. `refused`:
    this backend is known to refuse `stream_options`, none is added."""
    if kind in ("openai.chat", "openai.completions") and kwargs.get("stream") is True:
        if not _given(kwargs, "stream_options"):
            if refused:
                return kwargs, False, False
            kwargs = dict(kwargs)
            kwargs["stream_options"] = {"include_usage": True}
            return kwargs, True, True
        options = kwargs.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage") is True):
            kwargs = dict(kwargs)
            kwargs["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
            return kwargs, True, False
    return kwargs, False, False


def _refuses_stream_options(exc: BaseException) -> bool:
    """An SDK 400 (`BadRequestError`) whose message or body names `stream_options`."""
    try:
        if not _is_sdk_error(exc) or getattr(exc, "status_code", None) != 400:
            return False
        texts = [getattr(exc, "message", None), str(exc)]
        body = getattr(exc, "body", None)
        try:
            texts.append(json.dumps(body, default=str))
        except Exception:  # noqa: BLE001
            texts.append(repr(body))
        return any(isinstance(t, str) and "stream_options" in t for t in texts)
    except Exception:  # noqa: BLE001
        return False


def _usage_only(chunk: Any) -> bool:
    choices = _get(chunk, "choices")
    return choices is not None and len(choices) == 0 and _get(chunk, "usage") is not None


# ---------------------------------------------------------------------------------------------------------------
# Streams: the SDK's own Stream/AsyncStream object, its `_iterator` replaced by one that observes each item.

def _observe_sync(stream: Any, call: _Call, hide_usage: bool) -> Any:
    response = getattr(stream, "response", None)
    if response is not None:
        call.note_response(response)
    inner = stream._iterator

    started = [False]

    def observed() -> Any:
        started[0] = True
        finished = False
        try:
            for item in inner:
                call.first()
                call.read(item)
                if hide_usage and _usage_only(item):
                    continue
                yield item
            finished = True
        except GeneratorExit:
            raise
        except BaseException as exc:
            call.fail(exc, mid_stream=True)
            finished = True
            raise
        finally:
            if not finished:
                call.error_type = call.error_type or "client_disconnected"
            call.finish()

    gen = observed()
    stream._iterator = gen
    original_close = stream.close

    @functools.wraps(original_close)
    def close() -> None:
        try:
            original_close()
        finally:
            if started[0] and not call.done:
                gen.close()
            if not call.done:  # never iterated
                call.error_type = call.error_type or "client_disconnected"
                call.finish()

    stream.close = close
    weakref.finalize(stream, call.finish).atexit = False
    return stream


def _observe_async(stream: Any, call: _Call, hide_usage: bool) -> Any:
    response = getattr(stream, "response", None)
    if response is not None:
        call.note_response(response)
    inner = stream._iterator

    started = [False]

    async def observed() -> Any:
        started[0] = True
        finished = False
        try:
            async for item in inner:
                call.first()
                call.read(item)
                if hide_usage and _usage_only(item):
                    continue
                yield item
            finished = True
        except GeneratorExit:
            raise
        except BaseException as exc:
            call.fail(exc, mid_stream=True)
            finished = True
            raise
        finally:
            if not finished:
                call.error_type = call.error_type or "client_disconnected"
            call.finish()

    gen = observed()
    stream._iterator = gen
    original_close = stream.close

    @functools.wraps(original_close)
    async def close() -> None:
        try:
            await original_close()
        finally:
            if started[0] and not call.done:
                await gen.aclose()
            if not call.done:
                call.error_type = call.error_type or "client_disconnected"
                call.finish()

    stream.close = close
    weakref.finalize(stream, call.finish).atexit = False
    return stream


def _is_stream(result: Any) -> bool:
    return hasattr(result, "_iterator") and hasattr(result, "response")


# ---------------------------------------------------------------------------------------------------------------
# Create methods

def _sync_create(original: Callable[..., Any], tally: Any, provider: str, kind: str,
                 backend: Optional[Callable[[], str]] = None,
                 memory: Optional[_StreamOptions] = None) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(tally, provider, kind, kwargs)
        key = backend() if backend is not None else ""
        sent, hide, retryable = _prepare(kind, kwargs, memory is not None and memory.refuses(key))
        retryable = retryable and memory is not None
        while True:
            again = False
            token = _CURRENT.set(call)
            try:
                result = original(*args, **sent)
            except BaseException as exc:
                if retryable and _refuses_stream_options(exc):
                    again = True  # asked again below, outside this handler: no exception chained to the app's
                else:
                    if _is_sdk_error(exc):
                        call.fail(exc)
                        call.finish()
                    raise
            finally:
                _CURRENT.reset(token)
            if not again:
                break
            memory.remember(key)  # type: ignore[union-attr]
            call.again()
            sent, hide, retryable = kwargs, False, False
        try:
            if call.streamed and _is_stream(result):
                return _observe_sync(result, call, hide)
            if _is_raw(result):  # `.with_raw_response.create(...)`: parsed once, the SDK caches it for the app
                call.note_response(result.http_response)
                parsed = result.parse()
                if call.streamed and _is_stream(parsed):
                    _observe_sync(parsed, call, hide)
                    return result
                result_read = parsed
            elif _is_response_manager(result):  # `.with_streaming_response`: the app reads the body, not recorded
                call.done = True
                return result
            else:
                result_read = result
            call.read(result_read)
            call.finish()
        except Exception as exc:  # noqa: BLE001
            logger.warning("tally_client: could not read a %s answer: %r", provider, exc)
        return result

    create.__tally_wrapped__ = True  # type: ignore[attr-defined]
    return create


def _is_raw(result: Any) -> bool:
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def _is_response_manager(result: Any) -> bool:
    return hasattr(result, "__enter__") or hasattr(result, "__aenter__")


def _async_create(original: Callable[..., Any], tally: Any, provider: str, kind: str,
                  backend: Optional[Callable[[], str]] = None,
                  memory: Optional[_StreamOptions] = None) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(*args: Any, **kwargs: Any) -> Any:
        call = _Call(tally, provider, kind, kwargs)
        key = backend() if backend is not None else ""
        sent, hide, retryable = _prepare(kind, kwargs, memory is not None and memory.refuses(key))
        retryable = retryable and memory is not None
        while True:
            again = False
            token = _CURRENT.set(call)
            try:
                result = await original(*args, **sent)
            except BaseException as exc:
                if retryable and _refuses_stream_options(exc):
                    again = True
                else:
                    if _is_sdk_error(exc):
                        call.fail(exc)
                        call.finish()
                    raise
            finally:
                _CURRENT.reset(token)
            if not again:
                break
            memory.remember(key)  # type: ignore[union-attr]
            call.again()
            sent, hide, retryable = kwargs, False, False
        try:
            if call.streamed and _is_stream(result):
                return _observe_async(result, call, hide)
            if _is_raw(result):
                call.note_response(result.http_response)
                parsed = result.parse()
                if inspect.isawaitable(parsed):
                    parsed = await parsed
                if call.streamed and _is_stream(parsed):
                    _observe_async(parsed, call, hide)
                    return result
                result_read = parsed
            elif _is_response_manager(result):
                call.done = True
                return result
            else:
                result_read = result
            call.read(result_read)
            call.finish()
        except Exception as exc:  # noqa: BLE001
            logger.warning("tally_client: could not read a %s answer: %r", provider, exc)
        return result

    create.__tally_wrapped__ = True  # type: ignore[attr-defined]
    return create


def _sync_message_stream(original: Callable[..., Any], tally: Any) -> Callable[..., Any]:
    """Anthropic `messages.stream(...)`: the SDK's MessageStreamManager, whose request is made on `with`."""

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        attr = "_MessageStreamManager__api_request"
        api_request = getattr(manager, attr, None)
        if not callable(api_request):
            return manager
        call = _Call(tally, "anthropic", "anthropic.messages", dict(kwargs, stream=True))

        def request() -> Any:
            call.start()
            token = _CURRENT.set(call)
            try:
                raw = api_request()
            except BaseException as exc:
                if _is_sdk_error(exc):
                    call.fail(exc)
                    call.finish()
                raise
            finally:
                _CURRENT.reset(token)
            return _observe_sync(raw, call, False) if _is_stream(raw) else raw

        setattr(manager, attr, request)
        return manager

    stream.__tally_wrapped__ = True  # type: ignore[attr-defined]
    return stream


def _async_message_stream(original: Callable[..., Any], tally: Any) -> Callable[..., Any]:
    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        attr = "_AsyncMessageStreamManager__api_request"
        api_request = getattr(manager, attr, None)
        if api_request is None:
            return manager
        call = _Call(tally, "anthropic", "anthropic.messages", dict(kwargs, stream=True))

        async def request() -> Any:
            call.start()
            token = _CURRENT.set(call)
            try:
                raw = await api_request
            except BaseException as exc:
                if _is_sdk_error(exc):
                    call.fail(exc)
                    call.finish()
                raise
            finally:
                _CURRENT.reset(token)
            return _observe_async(raw, call, False) if _is_stream(raw) else raw

        setattr(manager, attr, request())
        return manager

    stream.__tally_wrapped__ = True  # type: ignore[attr-defined]
    return stream


# ---------------------------------------------------------------------------------------------------------------
# The HTTP client's response hook (status, request id, retries of a non-streamed answer)

def _sync_hook(response: Any) -> None:
    call = _CURRENT.get()
    if call is not None:
        call.note_response(response)


async def _async_hook(response: Any) -> None:
    call = _CURRENT.get()
    if call is not None:
        call.note_response(response)


def _install_hook(client: Any, is_async: bool) -> None:
    http = getattr(client, "_client", None)
    hooks = getattr(http, "event_hooks", None)
    if not isinstance(hooks, dict):
        return
    hook = _async_hook if is_async else _sync_hook
    responses = hooks.get("response")
    if isinstance(responses, list) and hook not in responses:
        responses.append(hook)  # the client's own list: added in place, nothing else changes


# ---------------------------------------------------------------------------------------------------------------

def _provider_of(client: Any) -> Tuple[Optional[str], bool]:
    for cls in type(client).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("openai", "anthropic"):
            return root, cls.__name__.startswith("Async")
    return None, False


def _patch(resource: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    if resource is None:
        return
    original = getattr(resource, name, None)
    if original is None or getattr(original, "__tally_wrapped__", False):
        return
    setattr(resource, name, make(original))


def _resource(client: Any, *path: str) -> Any:
    obj = client
    for name in path:
        try:
            obj = getattr(obj, name)
        except Exception:  # noqa: BLE001 - a resource this SDK version lacks
            return None
    return obj


def _make(create: Callable[..., Callable[..., Any]], tally: Any, provider: str, kind: str,
          backend: Callable[[], str], memory: _StreamOptions, original: Callable[..., Any]) -> Callable[..., Any]:
    return create(original, tally, provider, kind, backend, memory)


def _backend_of(client: Any) -> Callable[[], str]:
    """The client's base URL, read at each call (the client is not kept alive by its own resources' methods)."""
    try:
        ref = weakref.ref(client)
    except TypeError:
        return lambda: _StreamOptions.key(client)
    return lambda: _StreamOptions.key(ref())


def wrap(client: Any, tally: Any, _memory: Optional[_StreamOptions] = None) -> Any:
    """Records the create calls of an `OpenAI()`, `AsyncOpenAI()`, `Anthropic()` or `AsyncAnthropic()` client to
    `tally` (a `Tally` or `AsyncTally`) and returns the same client. Wrapping twice is a no-op; another kind of
    object is returned untouched with a warning."""
    provider, is_async = _provider_of(client)
    if provider is None:
        logger.warning("tally_client: wrap() knows OpenAI and Anthropic clients, not %s", type(client).__name__)
        return client
    if getattr(client, "_tally_client_wrapped", None) is not None:
        return client
    create = _async_create if is_async else _sync_create
    # Backends found to refuse `stream_options`, shared with the client's copies (`with_options`, `copy`).
    memory = _memory if _memory is not None else _StreamOptions()
    backend = _backend_of(client)
    if provider == "openai":
        for path, kind in ((("chat", "completions"), "openai.chat"), (("completions",), "openai.completions"),
                           (("embeddings",), "openai.embeddings"), (("responses",), "openai.responses")):
            _patch(_resource(client, *path), "create",
                   functools.partial(_make, create, tally, "openai", kind, backend, memory))
    else:
        messages = _resource(client, "messages")
        _patch(messages, "create", lambda original: create(original, tally, "anthropic", "anthropic.messages"))
        _patch(messages, "stream", lambda original: (_async_message_stream if is_async else _sync_message_stream)(
            original, tally))
    _install_hook(client, is_async)
    # `client.with_options(...)` / `client.copy(...)` make a new client: it is wrapped too.
    for name in ("copy", "with_options"):
        _patch(client, name, functools.partial(_wrap_copies, tally, memory))
    try:
        client._tally_client_wrapped = tally
    except Exception:  # noqa: BLE001
        pass
    return client


def _wrap_copies(tally: Any, memory: _StreamOptions, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def copy(*args: Any, **kwargs: Any) -> Any:
        return wrap(original(*args, **kwargs), tally, memory)

    copy.__tally_wrapped__ = True  # type: ignore[attr-defined]
    return copy
