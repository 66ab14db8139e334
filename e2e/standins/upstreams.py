"""Stand-in provider upstreams for the gateway: fake OpenAI, Anthropic and Gemini inference APIs.

One small asyncio HTTP/1.1 server per provider on 127.0.0.1:<free port>, each in its own thread with its own event
loop, speaking the wire formats of /work/shared/reference/provider-apis.md (0, 1.5-1.8, 2.5-2.6, 3, 5):

openai     `Authorization: Bearer <key>`           sdk base_url = `<url>/v1`
           POST /v1/chat/completions   (stream, stream_options.include_usage, tools, n)
           POST /v1/responses          (stream: response.created ... response.completed | response.incomplete)
           POST /v1/completions        (legacy; stream too)
           POST /v1/embeddings         (encoding_format float | base64, dimensions)
           POST /v1/files              (multipart or raw; the body is read as it arrives: size + sha256 only)
           GET  /v1/models, /v1/models/{id}
anthropic  `x-api-key: <key>` or `Authorization: Bearer <key>` (what anthropic 2.12 sends for api_key=), plus
           `anthropic-version`                    sdk base_url = `<url>`
           POST /v1/messages           (stream with event: lines, tool use, thinking)
           POST /v1/messages/count_tokens
           GET  /v1/models, /v1/models/{id}
google     `x-goog-api-key: <key>` or `?key=`       sdk http_options.base_url = `<url>`
           POST /v1beta/models/{m}:generateContent, :streamGenerateContent (`alt=sse`: data: lines; without: a JSON
           array, streamed), :embedContent, :batchEmbedContents (what google-genai calls), :countTokens
           GET  /v1beta/models, /v1beta/models/{m}
           (`/v1/...`, what google-genai 3.4 calls by default, is accepted as well as `/v1beta/...`)
Any other path answers 404 in the provider's error format. A model name containing "nonexistent" answers 404.

Usage is a function of the request, so a test can compute it: `expected_usage(provider, request_json)`.
- every text piece of the prompt (message contents / text parts, system, instructions, input, prompt, tool results)
  counts ceil(utf-8 bytes / 4) tokens; a token-id array counts one token per id; at least 1 in total.
- output: 12 visible tokens per choice (DEFAULT_OUTPUT_TOKENS), cut to the request's max tokens (then the finish
  reason says so: `length`, `max_tokens`, `MAX_TOKENS`, Responses `incomplete`).
- a directive anywhere in the prompt sets the other token classes:
  `[[usage cached=1024 cache_write=2048 cache_write_1h=512 reasoning=64 output=300 tool_use=7 chunks=5]]`.
  cached / cache_write are added on top of the text tokens (OpenAI prompt_tokens and Gemini promptTokenCount include
  them, Anthropic input_tokens does not); reasoning is added to the output (Gemini thoughtsTokenCount is separate from
  candidatesTokenCount); Gemini has no cache writes (ignored there); `chunks` only changes how many text pieces a
  stream has. `standin.usage_override = {...}` does the same for every request of a test.
- Anthropic streams, newer shapes: `anthropic_delta_full_usage = True` repeats every count in `message_delta.usage`;
  `anthropic_stream_usage = {"start": {...}, "deltas": [{...}, ...]}` sends those usage objects verbatim (several
  message_delta events, nulls) and no x-standin-usage. Gemini: `gemini_embed_usage = False` answers embeddings
  without `usageMetadata` (the reference leaves open whether they report usage).
- each usage-bearing response carries `x-standin-usage: {...}` with the counts in Tally's token classes.

What the answer says (every text endpoint: chat completions, legacy completions, Responses, Anthropic messages,
Gemini generateContent and streamGenerateContent, `alt=sse` and JSON array; not in fast mode). First that applies:
- `standin.tool_arguments = "..."` (not legacy completions): one tool call whose arguments are exactly this raw string
  (invalid JSON on purpose is fine), named after the tool the request offers (the first, or `tool_choice`'s), else
  `lookup`; even after a tool result. OpenAI chat `message.tool_calls[0].function.arguments` (streamed: a first
  chunk with id, type, name and `arguments: ""`, then `delta.tool_calls[0].function.arguments` fragments),
  `finish_reason: tool_calls`; Responses a `function_call` item (`response.function_call_arguments.delta`
  fragments); Anthropic a `tool_use` block, `stop_reason: tool_use`: whole, `input` is the string parsed when it is
  a JSON object, else `{"raw": string}`; streamed, `content_block_start` with `input: {}` and `input_json_delta`
  events whose `partial_json` join to exactly the string; Gemini a `functionCall` whose `args` are parsed the same
  way as Anthropic's `input`, `finishReason: STOP`.
- `standin.answer_refusal = "..."`: a refusal. OpenAI chat `message.content: null`, `message.refusal: "..."`
  (streamed: a first `delta {role, content: null, refusal: ""}`, then `delta.refusal` pieces), `finish_reason:
  stop`; Responses an output message with content `[{"type": "refusal", "refusal": "..."}]`, status `completed`
  (streamed: `response.content_part.added` of an empty refusal part, `response.refusal.delta` pieces,
  `response.refusal.done`); Anthropic one text block with the refusal, `stop_reason: refusal`; Gemini candidates
  with `finishReason: SAFETY`, `safetyRatings` and no content (streamed: one chunk); legacy completions the plain
  text, `finish_reason: stop`.
- `[[echo]]` anywhere in the prompt: the text is the prompt's last text piece (the last message's text), directive
  included, so a unique marker comes back.
- `standin.answer_text = "..."`: the text of every choice is exactly this string.
  Each of these answers text even when the request offers tools (no sample tool call). The output tokens become
  ceil(utf-8 bytes / 4) of that string (`""`: 0 tokens and an empty answer: `content: ""`, one text block `""`, one
  part `{"text": ""}`, a Responses `output_text` of `""`); an `output=` directive is then ignored (`reasoning=` still
  adds). Streams split the text into `chunks` pieces (DEFAULT_STREAM_CHUNKS or the directive) between characters,
  never inside a multi-byte one; Gemini's running `candidatesTokenCount` is the count of the text so far. Max tokens
  below the count cut answer_text / [[echo]] text to max_tokens * 4 utf-8 bytes (on a character boundary; the
  count is then max_tokens) with the usual `length` / `max_tokens` / `MAX_TOKENS` / Responses `incomplete`; a
  refusal or tool call is never cut and keeps its own finish reason, its count capped at max tokens (as the
  sample tool calls are). `expected_usage(..., answer_text=, answer_refusal=, tool_arguments=)` and
  `standin.expected_usage` account for them; `reset()` clears all three.

Service tiers, as each provider answers them (provider-apis.md 1.5, 1.6, 2.5; Gemini: google-genai 3.4 `types.py`
and Google's priority-inference page):
- OpenAI: the request's `service_tier` (`auto`, `default`, `flex`, `scale`, `priority`, `fast`; anything else is a
  400 `invalid_value`, as OpenAI answers) comes back as the tier that served, top level on the answer, on every chat
  chunk and on each Responses `response` object: `auto` or none → `default`, `fast` → `priority`.
- Anthropic: `usage.service_tier` (the answer and `message_start`): `priority` when the request's `service_tier` is
  `auto` (the default) and `standin.anthropic_priority` (an organization with Priority Tier capacity), else
  `standard`; a `service_tier` other than `auto`/`standard_only` is a 400.
- Gemini: a request naming `serviceTier`/`service_tier` is answered with `x-gemini-service-tier: <tier served>`
  (`standin.gemini_priority_downgrade`: a priority request served at `standard`, Google's graceful downgrade).
- `standin.service_tier_answer = "..."` (any JSON value, for hostile ones) answers that tier instead;
  `NO_TIER` answers without one (OpenAI `service_tier: null`, Anthropic `usage.service_tier: null`, no Gemini header).

Every request is recorded (`standin.requests`, `RecordedRequest`): method, target, path, query, raw and lower-cased
headers, the exact body bytes (for upload paths only size + sha256 + multipart parts), and what was answered: status,
chunks written, completed, cut, and `disconnected` when the client closed the connection first. The record is
created as soon as the headers arrive, so a test can see an upload being received while the client still sends.

Faults for the next N matching requests: `standin.fault(status=429)` (the provider's exact error body and headers),
`fault(cut_after=2)` (connection closed after 2 chunks; half the body when not streaming), `fault(error_after=2)`
(an error event mid-stream), `fault(first_byte_delay=…)`, `fault(chunk_delay=…)`, `fault(stall_after=2, stall=3.0)`
(one long pause after 2 chunks, then the rest at the usual pace), combinable; persistent pacing in
`standin.first_byte_delay`, `first_chunk_delay`, `chunk_delay`. Streams are written chunk by chunk (one HTTP chunk
per SSE event), each flushed with the delay between, so a buffering proxy shows in the arrival times.

Fast mode (`UpstreamStandIn(provider, fast=True)`, or `python upstreams.py serve --fast`) keeps no request log
(counters only), fixed usage (24 input, 12 output tokens) and ids, and serves pre-rendered answers cached per
(endpoint, model, stream flags; tools and n ignored): for the benchmark. `python upstreams.py bench` measures it directly with wrk.
"""
import argparse
import asyncio
import base64
import hashlib
import http
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

try:
    import pytest
except ImportError:  # the CLI runs without pytest
    pytest = None

PROVIDERS = ("openai", "anthropic", "google")

# `standin.service_tier_answer = NO_TIER`: an answer that names no service tier.
NO_TIER = object()
OPENAI_SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority", "fast")

DEFAULT_KEYS = {
    "openai": "sk-proj-upstream-REAL-key-0123456789abcdef",
    "anthropic": "sk-ant-api03-upstream-REAL-key-0123456789abcdef",
    "google": "AIzaSy-upstream-REAL-key-0123456789abcdef",
}

DEFAULT_OUTPUT_TOKENS = 12
DEFAULT_STREAM_CHUNKS = 4
DEFAULT_EMBEDDING_DIMENSIONS = 8
DEFAULT_CHUNK_DELAY = 0.005  # normal mode; fast mode uses 0
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
         "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey",
         "xray", "yankee", "zulu")

# The model as answered: OpenAI answers a snapshot name for an alias; the others echo the request.
OPENAI_SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06",
                    "gpt-4.1": "gpt-4.1-2025-04-14", "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
                    "o3": "o3-2025-04-16", "o4-mini": "o4-mini-2025-04-16", "gpt-5": "gpt-5-2025-08-07"}
ANTHROPIC_SNAPSHOTS = {"claude-sonnet-4-5": "claude-sonnet-4-5-20250929", "claude-haiku-4-5": "claude-haiku-4-5-20251001",
                       "claude-opus-4-1": "claude-opus-4-1-20250805", "claude-sonnet-4-0": "claude-sonnet-4-20250514"}

OPENAI_MODELS = [
    {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
    {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
    {"id": "text-embedding-3-small", "object": "model", "created": 1705948997, "owned_by": "system"},
]
ANTHROPIC_MODELS = [
    {"id": "claude-sonnet-4-5-20250929", "type": "model", "display_name": "Claude Sonnet 4.5",
     "created_at": "2025-09-29T00:00:00Z"},
    {"id": "claude-haiku-4-5-20251001", "type": "model", "display_name": "Claude Haiku 4.5",
     "created_at": "2025-10-15T00:00:00Z"},
]
GOOGLE_MODELS = [
    {"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
     "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
     "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent"], "thinking": True},
    {"name": "models/gemini-embedding-001", "version": "001", "displayName": "Gemini Embedding 001",
     "inputTokenLimit": 2048, "outputTokenLimit": 1, "supportedGenerationMethods": ["embedContent", "countTokens"]},
]

OPENAI_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header using "
                 "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
                 "you're accessing the API from your browser and are prompted for a username and password. You can "
                 "obtain an API key from https://platform.openai.com/account/api-keys.")
OPENAI_INVALID_KEY = ("Incorrect API key provided: {redacted}. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.")
GOOGLE_INVALID_KEY = "API key not valid. Please pass a valid API key."

# Paths whose request body is hashed as it arrives instead of kept (large uploads).
UPLOAD_PATHS = ("/v1/files", "/v1/uploads", "/v1/audio/", "/upload/")

# The usage of every fast-mode answer.
FAST_PROMPT_TOKENS = 24


def _reason(status):
    if status == 529:
        return "Site Overloaded"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_date_cache = [0, b""]


def _http_date():
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[0] = now
        _date_cache[1] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
    return _date_cache[1]


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _hex(n=24):
    return uuid.uuid4().hex[:n]


def redact_like_openai(key):
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


# ---------------------------------------------------------------------------------------------------------------
# Deterministic usage

_DIRECTIVE = re.compile(r"\[\[usage((?:\s+[a-z_0-9]+=\d+)*)\s*\]\]")
ECHO_DIRECTIVE = "[[echo]]"
# The endpoint kinds that answer text (and so take answer_text, [[echo]], answer_refusal, tool_arguments).
_ANSWER_KINDS = ("chat", "responses", "completions", "messages", "generate")
DIRECTIVE_KEYS = ("cached", "cache_write", "cache_write_1h", "reasoning", "output", "tool_use", "chunks")
_TEXT_KEYS = ("content", "text", "parts", "output", "input", "system", "systemInstruction", "system_instruction")
# The top-level request fields that hold prompt text, per endpoint kind.
_PROMPT_FIELDS = {
    "chat": ("messages",), "responses": ("instructions", "input"), "completions": ("prompt",),
    "embeddings": ("input",), "messages": ("system", "messages"), "count_tokens": ("system", "messages"),
    "generate": ("systemInstruction", "system_instruction", "contents"), "embed": ("content", "requests"),
    "count": ("contents", "generateContentRequest"),
}


def _walk(obj, texts):
    """Token ids found (ints), appending text pieces to `texts`."""
    if isinstance(obj, str):
        texts.append(obj)
        return 0
    if isinstance(obj, bool) or obj is None:
        return 0
    if isinstance(obj, int):
        return 1
    if isinstance(obj, list):
        return sum(_walk(x, texts) for x in obj)
    if isinstance(obj, dict):
        return sum(_walk(obj[k], texts) for k in _TEXT_KEYS if k in obj)
    return 0


def prompt_pieces(kind, request):
    """(text pieces, token ids) of a request's prompt."""
    texts = []
    ids = 0
    for field in _PROMPT_FIELDS[kind]:
        if field in request:
            value = request[field]
            if kind == "count" and field == "generateContentRequest":
                value = value.get("contents") if isinstance(value, dict) else None
            ids += _walk(value, texts)
    return texts, ids


def text_tokens(text):
    return -(-len(text.encode("utf-8")) // 4)


class Usage:
    """The token counts of one answer, in one neutral shape; `tally()` gives Tally's token classes."""

    __slots__ = ("text", "cached", "cache_write", "cache_write_1h", "output", "reasoning", "tool_use", "n", "chunks",
                 "truncated", "answer", "refusal", "tool_arguments")

    def __init__(self, text=1, cached=0, cache_write=0, cache_write_1h=0, output=DEFAULT_OUTPUT_TOKENS, reasoning=0,
                 tool_use=0, n=1, chunks=DEFAULT_STREAM_CHUNKS, truncated=False):
        self.text, self.cached, self.cache_write, self.cache_write_1h = text, cached, cache_write, cache_write_1h
        self.output, self.reasoning, self.tool_use, self.n = output, reasoning, tool_use, n
        self.chunks, self.truncated = chunks, truncated
        self.answer = None          # the visible text of each choice (answer_text / [[echo]], already cut); None: words
        self.refusal = None         # answer_refusal: the refusal text (never cut)
        self.tool_arguments = None  # tool_arguments: the raw arguments string of the one tool call (never cut)

    @property
    def prompt(self):  # all input (OpenAI prompt_tokens)
        return self.text + self.cached + self.cache_write + self.tool_use

    @property
    def completion(self):  # all output, reasoning included
        return self.n * self.output + self.reasoning

    def tally(self):
        return {"input_tokens": self.prompt, "cached_input_tokens": self.cached,
                "cache_write_input_tokens": self.cache_write, "cache_write_1h_input_tokens": self.cache_write_1h,
                "output_tokens": self.completion, "reasoning_tokens": self.reasoning}

    # -- the provider's own usage objects

    def openai_chat(self):
        prompt_details = {"cached_tokens": self.cached, "audio_tokens": 0}
        if self.cache_write:
            prompt_details["cache_write_tokens"] = self.cache_write
        return {"prompt_tokens": self.prompt, "completion_tokens": self.completion,
                "total_tokens": self.prompt + self.completion, "prompt_tokens_details": prompt_details,
                "completion_tokens_details": {"reasoning_tokens": self.reasoning, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def openai_completions(self):
        return {"prompt_tokens": self.prompt, "completion_tokens": self.completion,
                "total_tokens": self.prompt + self.completion}

    def openai_responses(self):
        input_details = {"cached_tokens": self.cached}
        if self.cache_write:
            input_details["cache_write_tokens"] = self.cache_write
        return {"input_tokens": self.prompt, "input_tokens_details": input_details, "output_tokens": self.completion,
                "output_tokens_details": {"reasoning_tokens": self.reasoning},
                "total_tokens": self.prompt + self.completion}

    def openai_embeddings(self):
        return {"prompt_tokens": self.prompt, "total_tokens": self.prompt}

    def anthropic(self, output=None, tier="standard"):
        u = {"input_tokens": self.text + self.tool_use, "cache_creation_input_tokens": self.cache_write,
             "cache_read_input_tokens": self.cached,
             "cache_creation": {"ephemeral_5m_input_tokens": self.cache_write - self.cache_write_1h,
                                "ephemeral_1h_input_tokens": self.cache_write_1h},
             "output_tokens": self.completion if output is None else output, "server_tool_use": None,
             "service_tier": tier}
        if self.reasoning and output is None:
            u["output_tokens_details"] = {"thinking_tokens": self.reasoning}
        return u

    def gemini(self, candidates=None):
        """usageMetadata; `candidates` = the running candidate count of a stream chunk. Zero counts are omitted."""
        cand = self.n * self.output if candidates is None else candidates
        prompt = self.text + self.cached
        u = {"promptTokenCount": prompt}
        if cand:
            u["candidatesTokenCount"] = cand
        if self.cached:
            u["cachedContentTokenCount"] = self.cached
        if self.tool_use:
            u["toolUsePromptTokenCount"] = self.tool_use
        if self.reasoning:
            u["thoughtsTokenCount"] = self.reasoning
        u["totalTokenCount"] = prompt + cand + self.tool_use + self.reasoning
        u["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
        if self.cached:
            u["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": self.cached}]
        return u

    def gemini_embed(self):
        return {"promptTokenCount": self.text, "totalTokenCount": self.text}


def _max_tokens(kind, request):
    if kind == "chat":
        return request.get("max_completion_tokens", request.get("max_tokens"))
    if kind == "responses":
        return request.get("max_output_tokens")
    if kind == "completions":
        return request.get("max_tokens", 16)  # the legacy endpoint's own default
    if kind == "messages":
        return request.get("max_tokens")
    if kind == "generate":
        gc = request.get("generationConfig") or request.get("generation_config") or {}
        return gc.get("maxOutputTokens")
    return None


def _choices(kind, request):
    if kind in ("chat", "completions"):
        return int(request.get("n") or 1)
    if kind == "generate":
        gc = request.get("generationConfig") or {}
        return int(gc.get("candidateCount") or 1)
    return 1


class DirectiveError(ValueError):
    pass


def cut_utf8(text, limit):
    """`text` cut to at most `limit` utf-8 bytes, on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:max(0, limit)].decode("utf-8", "ignore")


def compute_usage(provider, kind, request, overrides=None, answer_text=None, answer_refusal=None,
                  tool_arguments=None):
    """The Usage the stand-in answers `request` (a dict) at endpoint `kind` with (and, for the answer knobs of the
    module docstring, what the answer is: `u.answer`, `u.refusal`, `u.tool_arguments`)."""
    texts, ids = prompt_pieces(kind, request)
    settings = dict(overrides or {})
    for piece in texts:
        for m in _DIRECTIVE.finditer(piece):
            for pair in m.group(1).split():
                k, v = pair.split("=")
                if k not in DIRECTIVE_KEYS:
                    raise DirectiveError(f"unknown usage directive key {k!r} (known: {', '.join(DIRECTIVE_KEYS)})")
                settings[k] = int(v)
    for k in settings:
        if k not in DIRECTIVE_KEYS:
            raise DirectiveError(f"unknown usage override {k!r}")
    text = max(1, ids + sum(text_tokens(t) for t in texts))
    u = Usage(text=text, cached=settings.get("cached", 0), cache_write=settings.get("cache_write", 0),
              cache_write_1h=settings.get("cache_write_1h", 0), reasoning=settings.get("reasoning", 0),
              tool_use=settings.get("tool_use", 0), output=settings.get("output", DEFAULT_OUTPUT_TOKENS),
              n=_choices(kind, request), chunks=max(1, settings.get("chunks", DEFAULT_STREAM_CHUNKS)))
    if provider == "google":
        u.cache_write = u.cache_write_1h = 0
    else:
        u.tool_use = 0
    if u.cache_write_1h > u.cache_write:
        u.cache_write = u.cache_write_1h
    if kind in ("embeddings", "embed", "count_tokens", "count"):
        u.output = u.reasoning = 0
        u.n = 1
    if kind in _ANSWER_KINDS:
        echo = any(ECHO_DIRECTIVE in t for t in texts)
        if tool_arguments is not None and kind != "completions":
            u.tool_arguments = str(tool_arguments)
            u.output = text_tokens(u.tool_arguments)
        elif answer_refusal is not None:
            u.refusal = str(answer_refusal)
            u.output = text_tokens(u.refusal)
        elif echo or answer_text is not None:
            u.answer = texts[-1] if echo else str(answer_text)
            u.output = text_tokens(u.answer)
    limit = _max_tokens(kind, request)
    if limit is not None and u.output > int(limit):
        u.output = max(0, int(limit))
        u.truncated = True
        if u.answer is not None:
            u.answer = cut_utf8(u.answer, 4 * u.output)
    return u


def _embed_contents(request):
    if "requests" in request:
        return [r.get("content") for r in request["requests"]]
    return [request.get("content")]


def endpoint_kind(provider, request, path=None):
    """The endpoint kind of a request body (or path): chat/responses/completions/embeddings, messages, generate/embed."""
    if path:
        for suffix, kind in (("/chat/completions", "chat"), ("/responses", "responses"), ("/completions", "completions"),
                             ("/embeddings", "embeddings"), ("/messages/count_tokens", "count_tokens"),
                             ("/messages", "messages"), (":generateContent", "generate"),
                             (":streamGenerateContent", "generate"), (":embedContent", "embed"),
                             (":batchEmbedContents", "embed"), (":countTokens", "count")):
            if path.split("?")[0].endswith(suffix):
                return kind
    if provider == "openai":
        if "messages" in request:
            return "chat"
        if "prompt" in request:
            return "completions"
        if "embedding" in str(request.get("model", "")) or "encoding_format" in request or "dimensions" in request:
            return "embeddings"
        return "responses"
    if provider == "anthropic":
        return "messages"
    return "embed" if ("requests" in request or "content" in request) else "generate"


def expected_usage(provider, request, kind=None, overrides=None, path=None, answer_text=None, answer_refusal=None,
                   tool_arguments=None):
    """What the stand-in will answer for `request` (dict, bytes or str): Tally's token classes plus `wire`, the usage
    object as the provider sends it in a non-streaming answer. `kind` is guessed from the body when not given
    (for OpenAI pass `path` or `kind` to tell Responses from embeddings when the model name does not say).
    answer_text / answer_refusal / tool_arguments: the stand-in's knobs of the same names (`standin.expected_usage`
    passes its own); `out["usage"].answer` is then the text each choice answers."""
    if isinstance(request, (bytes, bytearray, str)):
        request = json.loads(request)
    kind = kind or endpoint_kind(provider, request, path)
    u = compute_usage(provider, kind, request, overrides, answer_text, answer_refusal, tool_arguments)
    out = u.tally()
    out["wire"] = _wire_usage(provider, kind, u)
    out["usage"] = u
    return out


def _wire_usage(provider, kind, u):
    if provider == "openai":
        return {"chat": u.openai_chat, "responses": u.openai_responses, "completions": u.openai_completions,
                "embeddings": u.openai_embeddings}[kind]()
    if provider == "anthropic":
        return {"input_tokens": u.prompt} if kind == "count_tokens" else u.anthropic()
    if kind == "embed":
        return u.gemini_embed()
    if kind == "count":
        return {"totalTokens": u.text + u.cached}
    return u.gemini()


def word_pieces(count, chunks):
    """`count` words (one token each) split into at most `chunks` stream pieces."""
    words = [("" if i == 0 else " ") + WORDS[i % len(WORDS)] for i in range(count)]
    if not words:
        return [""]
    k = max(1, min(chunks, len(words)))
    size = -(-len(words) // k)
    return ["".join(words[i:i + size]) for i in range(0, len(words), size)]


def output_pieces(u):
    """The visible output text of one choice split into stream pieces: the answer text (answer_text / [[echo]]) or
    the refusal split into u.chunks pieces by characters (never inside a multi-byte character), else u.output
    tokens, one word each."""
    if u.answer is not None:
        return _split(u.answer, u.chunks)
    if u.refusal is not None:
        return _split(u.refusal, u.chunks)
    return word_pieces(u.output, u.chunks)


def output_text(u):
    return "".join(output_pieces(u))


def _sample_args(schema):
    props = (schema or {}).get("properties") or {}
    out = {}
    for name, p in props.items():
        p = p or {}
        t = p.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), "string")
        t = str(t or "string").lower()
        if p.get("enum"):
            out[name] = p["enum"][0]
        elif t == "integer":
            out[name] = 1
        elif t == "number":
            out[name] = 1.5
        elif t == "boolean":
            out[name] = True
        elif t == "array":
            out[name] = []
        elif t == "object":
            out[name] = _sample_args(p)
        else:
            out[name] = "standin"
    return out


def _split(text, k):
    """`text` in min(k, its length) pieces of near-equal length, split between characters (code points), so each
    piece is valid utf-8 on its own."""
    if not text:
        return [""]
    k = max(1, min(k, len(text)))
    size, extra = divmod(len(text), k)
    out, at = [], 0
    for i in range(k):
        step = size + (1 if i < extra else 0)
        out.append(text[at:at + step])
        at += step
    return out


# ---------------------------------------------------------------------------------------------------------------
# Requests and records

class _Finished(threading.Event):
    """Set when a record's answer is over; `at` keeps when (time.monotonic()), so tests can tell how many answers
    were open at once (the gateway's concurrency limits)."""

    def __init__(self):
        super().__init__()
        self.at = None

    def set(self):
        if self.at is None:
            self.at = time.monotonic()
        super().set()


def most_at_once(records):
    """The largest number of `records` open at one instant: received and not yet finished (unfinished ones count
    as still open)."""
    marks = []
    for r in records:
        marks.append((r.received_at, 1))
        marks.append((r.finished.at if r.finished.at is not None else float("inf"), -1))
    peak = open_now = 0
    for _, step in sorted(marks):  # at a tie an end (-1) sorts before a start: touching intervals do not overlap
        open_now += step
        peak = max(peak, open_now)
    return peak


class RecordedRequest:
    """One request as received, and what was answered."""

    def __init__(self, method, target, raw_headers):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query_string = split.query
        self.query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        self.raw_headers = raw_headers                         # [(name as sent, value)], in order
        self.headers = {k.lower(): v for k, v in raw_headers}  # lower-cased names (last wins)
        self.received_at = time.monotonic()
        self.body = b""              # the exact bytes (not kept for upload paths)
        self.body_size = 0
        self.body_sha256 = None      # upload paths: sha256 of the (de-chunked) body
        self.body_complete = False
        self.parts = []              # upload paths, multipart: [{name, filename, content_type, size, sha256, value?}]
        self.chunked_request = False
        # the answer
        self.status = None
        self.response_headers = {}
        self.streamed = False
        self.chunks_total = 0
        self.chunks_written = 0
        self.chunk_sent_at = []      # monotonic time of each chunk write
        self.headers_sent_at = None
        self.completed = False       # the whole answer was written
        self.cut = False             # the stand-in closed the connection on purpose (cut_after fault)
        self.disconnected = False    # the client closed the connection before the answer was complete
        self.disconnected_at = None
        self.fault = None
        self.usage = None            # Tally token classes of the answer (None when it has none)
        self.finished = _Finished()

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def headers_with_prefix(self, prefix):
        prefix = prefix.lower()
        return {k: v for k, v in self.headers.items() if k.startswith(prefix)}

    def __repr__(self):
        return f"<{self.method} {self.target} status={self.status} body={self.body_size}B>"


class Fault:
    def __init__(self, status=None, times=1, match=None, headers=None, body=None, error_type=None, message=None,
                 first_byte_delay=None, first_chunk_delay=None, chunk_delay=None, cut_after=None, error_after=None,
                 error_status=None, stall_after=None, stall=None):
        self.status, self.times, self.match = status, times, match
        self.headers, self.body, self.error_type, self.message = headers, body, error_type, message
        self.first_byte_delay, self.first_chunk_delay, self.chunk_delay = first_byte_delay, first_chunk_delay, chunk_delay
        self.cut_after, self.error_after, self.error_status = cut_after, error_after, error_status
        self.stall_after, self.stall = stall_after, stall  # streams: one pause of `stall` s before chunk stall_after

    def matches(self, rec):
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(rec))
        return self.match in rec.target

    def __repr__(self):
        return "Fault(" + ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None) + ")"


class _Plan:
    """An answer: status, headers [(name, value)], and a body or a list of stream chunks (bytes each)."""
    __slots__ = ("status", "headers", "body", "chunks", "usage", "error_event")

    def __init__(self, status, headers, body=None, chunks=None, usage=None, error_event=None):
        self.status, self.headers, self.body, self.chunks, self.usage = status, headers, body, chunks, usage
        self.error_event = error_event  # callable(index) -> bytes: the provider's mid-stream error event


class _Multipart:
    """Incremental multipart/form-data reader: per part its headers, size and sha256 (small fields kept)."""

    def __init__(self, boundary):
        self.delim = b"\r\n--" + boundary
        self.buf = bytearray(b"\r\n")  # so the first delimiter matches like the others
        self.parts = []
        self.part = None
        self.state = "preamble"

    def feed(self, data):
        self.buf += data
        while True:
            if self.state in ("preamble", "body"):
                i = self.buf.find(self.delim)
                if i < 0:
                    keep = len(self.delim) + 2
                    if len(self.buf) > keep:
                        self._emit(self.buf[:-keep])
                        del self.buf[:-keep]
                    return
                self._emit(self.buf[:i])
                del self.buf[:i + len(self.delim)]
                self._close_part()
                self.state = "after_delim"
            if self.state == "after_delim":
                if len(self.buf) < 2:
                    return
                if self.buf[:2] == b"--":
                    self.state = "done"
                    return
                self.state = "headers"
            if self.state == "headers":
                i = self.buf.find(b"\r\n\r\n")
                if i < 0:
                    return
                lines = bytes(self.buf[:i]).decode("utf-8", "replace").split("\r\n")
                del self.buf[:i + 4]
                headers = {}
                for line in lines:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                disp = headers.get("content-disposition", "")
                name = re.search(r'\bname="([^"]*)"', disp)
                filename = re.search(r'\bfilename="([^"]*)"', disp)
                self.part = {"name": name.group(1) if name else None,
                             "filename": filename.group(1) if filename else None,
                             "content_type": headers.get("content-type"), "size": 0, "_h": hashlib.sha256(),
                             "_v": bytearray()}
                self.state = "body"
            if self.state == "done":
                return

    def _emit(self, data):
        if self.state == "body" and self.part is not None and data:
            self.part["size"] += len(data)
            self.part["_h"].update(data)
            if len(self.part["_v"]) < 65536:
                self.part["_v"] += data[:65536 - len(self.part["_v"])]

    def _close_part(self):
        if self.part is not None:
            p = self.part
            p["sha256"] = p.pop("_h").hexdigest()
            v = bytes(p.pop("_v"))
            if p["filename"] is None:
                p["value"] = v.decode("utf-8", "replace")
            self.parts.append(p)
            self.part = None


class _UploadSink:
    def __init__(self, rec, content_type):
        self.rec = rec
        self.h = hashlib.sha256()
        self.size = 0
        m = re.search(r'boundary="?([^";]+)"?', content_type or "")
        self.mp = _Multipart(m.group(1).encode()) if m and "multipart/" in (content_type or "") else None

    def feed(self, data):
        self.size += len(data)
        self.h.update(data)
        if self.rec is not None:
            self.rec.body_size = self.size
        if self.mp is not None:
            self.mp.feed(data)

    def finish(self):
        if self.rec is not None:
            self.rec.body_sha256 = self.h.hexdigest()
            self.rec.body_size = self.size
            if self.mp is not None:
                self.rec.parts = self.mp.parts
        return b""


class _BytesSink:
    __slots__ = ("buf", "rec")

    def __init__(self, rec):
        self.buf = bytearray()
        self.rec = rec

    def feed(self, data):
        self.buf += data
        if self.rec is not None:
            self.rec.body_size = len(self.buf)

    def finish(self):
        body = bytes(self.buf)
        if self.rec is not None:
            self.rec.body = body
            self.rec.body_size = len(body)
            self.rec.body_sha256 = hashlib.sha256(body).hexdigest()
        return body


class _Request:
    __slots__ = ("method", "target", "path", "query", "headers", "raw_headers", "body", "keep_alive", "rec", "sink",
                 "_json", "chunked")

    def __init__(self, method, target, raw_headers, headers, keep_alive):
        self.method, self.target = method, target
        q = target.find("?")
        if q >= 0:
            self.path = target[:q]
            self.query = dict(urllib.parse.parse_qsl(target[q + 1:], keep_blank_values=True))
        else:
            self.path, self.query = target, {}
        self.raw_headers, self.headers, self.keep_alive = raw_headers, headers, keep_alive
        self.body = b""
        self.rec = None
        self.sink = None
        self._json = None
        self.chunked = False

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        if self._json is None:
            self._json = json.loads(self.body) if self.body else {}
        return self._json


# ---------------------------------------------------------------------------------------------------------------
# HTTP/1.1 connection

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILERS = range(6)


class _Conn(asyncio.Protocol):
    def __init__(self, standin):
        self.s = standin
        self.t = None
        self.buf = bytearray()
        self.state = _HEAD
        self.req = None
        self.remaining = 0
        self.busy = False
        self.closed = False
        self.task = None
        self.rec = None
        self.closing_on_purpose = False
        self._drain = None

    def connection_made(self, transport):
        self.t = transport
        self.s._conns.add(self)

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self._process()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.closed = True
        self.s._conns.discard(self)
        if self.req is not None and self.req.rec is not None:  # died while the body was arriving
            self.req.rec.disconnected = True
            self.req.rec.disconnected_at = time.monotonic()
            self.req.rec.finished.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self):
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def write(self, data):
        if not self.t.is_closing():
            self.t.write(data)

    async def drain(self):
        if self._drain is not None:
            await self._drain

    def _bad(self, status, message):
        body = message.encode()
        self.t.write(b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                     % (status, _reason(status).encode(), len(body), body))
        self.t.close()
        self.closed = True

    def _process(self):
        buf = self.buf
        while not self.busy and not self.closed:
            state = self.state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > 65536:
                        self._bad(431, "request header fields too large")
                    return
                head = bytes(buf[:end])
                del buf[:end + 4]
                if not head:  # stray CRLF between requests
                    continue
                try:
                    req = self._parse_head(head)
                except (ValueError, UnicodeDecodeError):
                    self._bad(400, "bad request")
                    return
                self.req = req
                self.s._on_head(req)
                if req.headers.get("expect", "").lower() == "100-continue":
                    self.t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                te = req.headers.get("transfer-encoding")
                if te is not None and "chunked" in te.lower():
                    req.chunked = True
                    if req.rec is not None:
                        req.rec.chunked_request = True
                    self.state = _CHUNK_SIZE
                    continue
                length = req.headers.get("content-length")
                n = int(length) if length else 0
                if n > 0:
                    self.remaining = n
                    self.state = _BODY
                    continue
                self._dispatch()
            elif state == _BODY:
                n = min(self.remaining, len(buf))
                if n:
                    self.req.sink.feed(bytes(buf[:n]) if n < len(buf) else bytes(buf))
                    del buf[:n]
                    self.remaining -= n
                if self.remaining:
                    return
                self._dispatch()
            elif state == _CHUNK_SIZE:
                i = buf.find(b"\r\n")
                if i < 0:
                    return
                try:
                    size = int(bytes(buf[:i]).split(b";")[0].strip(), 16)
                except ValueError:
                    self._bad(400, "bad chunk size")
                    return
                del buf[:i + 2]
                if size == 0:
                    self.state = _TRAILERS
                else:
                    self.remaining = size
                    self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                n = min(self.remaining, len(buf))
                if n:
                    self.req.sink.feed(bytes(buf[:n]))
                    del buf[:n]
                    self.remaining -= n
                if self.remaining:
                    return
                self.state = _CHUNK_CRLF
            elif state == _CHUNK_CRLF:
                if len(buf) < 2:
                    return
                del buf[:2]
                self.state = _CHUNK_SIZE
            elif state == _TRAILERS:
                i = buf.find(b"\r\n")
                if i < 0:
                    return
                line = buf[:i]
                del buf[:i + 2]
                if not line:
                    self._dispatch()

    def _parse_head(self, head):
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        raw = []
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            v = v.strip()
            raw.append((k, v))
            headers[k.lower()] = v
        conn = headers.get("connection", "").lower()
        keep_alive = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
        return _Request(method, target, raw, headers, keep_alive)

    def _dispatch(self):
        req = self.req
        self.req = None
        self.state = _HEAD
        req.body = req.sink.finish() if req.sink is not None else b""
        if req.rec is not None:
            req.rec.body_complete = True
        self.busy = True
        self.s._on_request(self, req)

    def finish(self, keep_alive):
        self.busy = False
        self.task = None
        self.rec = None
        if not keep_alive:
            self.closing_on_purpose = True
            self.t.close()
            self.closed = True
            return
        if self.buf and not self.closed:
            self._process()


# ---------------------------------------------------------------------------------------------------------------
# The stand-in

class UpstreamStandIn:
    """One provider's inference API on 127.0.0.1:<free port>.

    `url` is the origin (what a Tally connection's base_url is), `sdk_base_url` what the provider's SDK takes."""

    def __init__(self, provider, key=None, fast=False, record=None, host="127.0.0.1", port=0):
        assert provider in PROVIDERS, provider
        self.provider = provider
        self.key = key or DEFAULT_KEYS[provider]
        self.fast = fast
        self.record = (not fast) if record is None else record
        self.host = host
        self.port = port
        self.requests = []
        self.served = 0                      # answers begun (fast mode counts too)
        self.usage_override = {}             # like a [[usage ...]] directive, for every request
        self.first_byte_delay = 0.0          # before the status line
        self.first_chunk_delay = 0.0         # streams: between headers and the first chunk
        self.chunk_delay = 0.0 if fast else DEFAULT_CHUNK_DELAY  # streams: between chunks
        self.gemini_embed_usage = True       # Gemini embed answers carry usageMetadata (unverified upstream)
        self.anthropic_delta_full_usage = False  # message_delta.usage repeats input/cache counts (newer API)
        # Streams: {"start": usage of message_start, "deltas": [usage of each message_delta, ...]}, sent verbatim
        # (nulls included) instead of the computed usage; the answer then has no x-standin-usage (rec.usage None).
        self.anthropic_stream_usage = None
        self.openai_obfuscation = True       # chat chunks carry an `obfuscation` field unless the request opts out
        self.service_tier_answer = None      # the tier answered instead of the one served (NO_TIER: none)
        self.anthropic_priority = False      # the organization has Priority Tier capacity: `auto` is served priority
        self.gemini_priority_downgrade = False  # a priority request is served (and answered) at standard
        self.answer_text = None              # the visible text of every answer (None: the default words)
        self.answer_refusal = None           # every answer is a refusal with this text
        self.tool_arguments = None           # every answer is one tool call with exactly these raw arguments
        self._faults = []
        self._lock = threading.Lock()
        self._conns = set()
        self._fast_cache = {}
        self._loop = None
        self._server = None
        self._thread = None
        self._record_cond = threading.Condition(self._lock)
        self._handler = getattr(self, "_" + provider)

    # -- lifecycle

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def sdk_base_url(self):
        return self.url + "/v1" if self.provider == "openai" else self.url

    async def serve(self):
        """Start serving on the running loop (for running several stand-ins on one loop)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: _Conn(self), self.host, self.port, backlog=2048,
                                                      reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def start(self):
        ready = threading.Event()
        errors = []

        def run():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"upstream-{self.provider}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _shutdown(self):
        self._server.close()
        for c in list(self._conns):
            c.closing_on_purpose = True
            if c.t is not None:
                c.t.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def stop(self):
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what tests use

    def fault(self, status=None, *, times=1, match=None, **kw):
        """The next `times` requests matching `match` (a substring of the target, or a callable on RecordedRequest;
        None = any) get this fault. status: answer that error (the provider's body and headers; `headers`, `body`,
        `error_type`, `message` override). cut_after: close the connection after that many stream chunks (for a
        non-streaming answer: after half the body). error_after: the provider's error event after that many chunks
        (`error_status` picks which error, default 529 Anthropic / 500 others). first_byte_delay, first_chunk_delay,
        chunk_delay: pacing. stall_after + stall: a stream writes `stall_after` chunks, pauses `stall` seconds once,
        then goes on (an upstream that stops mid-stream). times=None: until cleared."""
        f = Fault(status=status, times=times, match=match, **kw)
        with self._lock:
            self._faults.append(f)
        return f

    def fail(self, status, times=1, **kw):
        return self.fault(status, times=times, **kw)

    def cut_stream(self, after=2, times=1, **kw):
        return self.fault(cut_after=after, times=times, **kw)

    def stream_error(self, after=2, times=1, **kw):
        return self.fault(error_after=after, times=times, **kw)

    def slow(self, first_byte=None, first_chunk=None, chunk=None, times=1, **kw):
        return self.fault(first_byte_delay=first_byte, first_chunk_delay=first_chunk, chunk_delay=chunk, times=times,
                          **kw)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def reset(self):
        with self._lock:
            self._faults.clear()
            self.requests.clear()
        self.usage_override = {}
        self.first_byte_delay = self.first_chunk_delay = 0.0
        self.chunk_delay = 0.0 if self.fast else DEFAULT_CHUNK_DELAY
        self.gemini_embed_usage = True
        self.anthropic_delta_full_usage = False
        self.anthropic_stream_usage = None
        self.openai_obfuscation = True
        self.service_tier_answer = None
        self.anthropic_priority = False
        self.gemini_priority_downgrade = False
        self.answer_text = None
        self.answer_refusal = None
        self.tool_arguments = None

    def recorded(self):
        with self._lock:
            return list(self.requests)

    def last(self):
        with self._lock:
            return self.requests[-1] if self.requests else None

    def clear(self):
        with self._lock:
            self.requests.clear()

    def wait_for_requests(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self._record_cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.provider}: {len(self.requests)} requests, expected {n}")
                self._record_cond.wait(left)
            return list(self.requests)

    def wait_finished(self, rec=None, timeout=5.0):
        """Wait until a record's answer is over (completed, cut or disconnected); the last record by default."""
        rec = rec or self.wait_for_requests(1, timeout)[-1]
        if not rec.finished.wait(timeout):
            raise TimeoutError(f"{rec!r} not finished")
        return rec

    def wait_for_disconnect(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.recorded():
                if r.disconnected:
                    return r
            time.sleep(0.01)
        raise TimeoutError(f"{self.provider}: no client disconnect seen")

    def key_of(self, rec):
        """The provider key a recorded request carried, read the way this provider reads it."""
        if self.provider == "openai":
            a = rec.headers.get("authorization", "")
            return a[7:] if a.startswith("Bearer ") else None
        if self.provider == "anthropic":
            a = rec.headers.get("authorization", "")
            return rec.headers.get("x-api-key") or (a[7:] if a.startswith("Bearer ") else None)
        return rec.headers.get("x-goog-api-key") or rec.query.get("key")

    def expected_usage(self, request, kind=None, path=None):
        return expected_usage(self.provider, request, kind=kind, overrides=self.usage_override, path=path,
                              answer_text=self.answer_text, answer_refusal=self.answer_refusal,
                              tool_arguments=self.tool_arguments)

    def _usage(self, kind, body):
        return compute_usage(self.provider, kind, body, self.usage_override, self.answer_text, self.answer_refusal,
                             self.tool_arguments)

    # -- serving

    def _on_head(self, req):
        rec = None
        if self.record:
            rec = RecordedRequest(req.method, req.target, req.raw_headers)
            with self._record_cond:
                self.requests.append(rec)
                self._record_cond.notify_all()
        req.rec = rec
        if req.method == "POST" and any(p in req.path for p in UPLOAD_PATHS):
            req.sink = _UploadSink(rec, req.headers.get("content-type"))
        else:
            req.sink = _BytesSink(rec)

    def _take_fault(self, rec):
        with self._lock:
            for i, f in enumerate(self._faults):
                if f.matches(rec):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            del self._faults[i]
                    return f
        return None

    def _on_request(self, conn, req):
        self.served += 1
        rec = req.rec
        fault = self._take_fault(rec or req) if self._faults else None
        try:
            if fault is not None and fault.status is not None:
                plan = self._error_plan(fault.status, req, fault)
            else:
                plan = self._handler(req)
        except DirectiveError as e:
            plan = self._error_plan(400, req, Fault(message=f"stand-in: {e}"))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            plan = self._error_plan(400, req, Fault(message=f"stand-in could not read the request: {e!r}"))
        if rec is not None:
            rec.fault = fault
            rec.status = plan.status
            rec.response_headers = dict(plan.headers)
            rec.usage = plan.usage.tally() if plan.usage is not None else None
        fbd = self.first_byte_delay if fault is None or fault.first_byte_delay is None else fault.first_byte_delay
        fcd = self.first_chunk_delay if fault is None or fault.first_chunk_delay is None else fault.first_chunk_delay
        cd = self.chunk_delay if fault is None or fault.chunk_delay is None else fault.chunk_delay
        if fault is None and not fbd and (plan.chunks is None or (not fcd and not cd)):
            self._send_now(conn, req, plan)
        else:
            conn.task = asyncio.get_running_loop().create_task(self._send_later(conn, req, plan, fault, fbd, fcd, cd))

    def _head(self, status, headers, length, keep_alive):
        parts = [b"HTTP/1.1 %d %s\r\ndate: %s\r\n" % (status, _reason(status).encode(), _http_date())]
        for k, v in headers:
            parts.append(f"{k}: {v}\r\n".encode("latin-1", "replace"))
        parts.append(b"transfer-encoding: chunked\r\n" if length is None else b"content-length: %d\r\n" % length)
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        return b"".join(parts)

    def _send_now(self, conn, req, plan):
        rec = req.rec
        if plan.chunks is None:
            conn.write(self._head(plan.status, plan.headers, len(plan.body), req.keep_alive) + plan.body)
        else:
            conn.write(self._head(plan.status, plan.headers, None, req.keep_alive))
            for c in plan.chunks:
                conn.write(b"%x\r\n%s\r\n" % (len(c), c))
            conn.write(b"0\r\n\r\n")
        if rec is not None:
            rec.headers_sent_at = time.monotonic()
            rec.streamed = plan.chunks is not None
            rec.chunks_total = rec.chunks_written = len(plan.chunks or ())
            rec.completed = True
            rec.finished.set()
        conn.finish(req.keep_alive)

    async def _send_later(self, conn, req, plan, fault, fbd, fcd, cd):
        rec = req.rec
        chunks = plan.chunks
        if chunks is not None and fault is not None and fault.error_after is not None and plan.error_event:
            k = min(fault.error_after, len(chunks))
            chunks = chunks[:k] + [plan.error_event(k, fault.error_status)]
        cut_after = fault.cut_after if fault is not None else None
        stall_after = fault.stall_after if fault is not None and fault.stall else None
        if rec is not None:
            rec.streamed = chunks is not None
            rec.chunks_total = len(chunks or ())
        try:
            if fbd:
                await asyncio.sleep(fbd)
            if conn.closed:
                raise asyncio.CancelledError
            if chunks is None:
                body = plan.body
                head = self._head(plan.status, plan.headers, len(body), req.keep_alive)
                if rec is not None:
                    rec.headers_sent_at = time.monotonic()
                if cut_after is not None:
                    conn.write(head + body[:len(body) // 2])
                    self._cut(conn, rec)
                    return
                conn.write(head + body)
            else:
                conn.write(self._head(plan.status, plan.headers, None, req.keep_alive))
                if rec is not None:
                    rec.headers_sent_at = time.monotonic()
                for i, c in enumerate(chunks):
                    delay = fcd if i == 0 else cd
                    if i == stall_after:
                        delay = max(delay or 0, fault.stall)
                    if delay:
                        await asyncio.sleep(delay)
                    if conn.closed:
                        raise asyncio.CancelledError
                    if cut_after is not None and i >= cut_after:
                        self._cut(conn, rec)
                        return
                    conn.write(b"%x\r\n%s\r\n" % (len(c), c))
                    if rec is not None:
                        rec.chunks_written = i + 1
                        rec.chunk_sent_at.append(time.monotonic())
                    await conn.drain()
                if cut_after is not None and cut_after >= len(chunks):
                    self._cut(conn, rec)
                    return
                conn.write(b"0\r\n\r\n")
            if rec is not None:
                rec.completed = True
                rec.finished.set()
            conn.finish(req.keep_alive)
        except asyncio.CancelledError:
            if rec is not None and not rec.completed and not rec.cut and not conn.closing_on_purpose:
                rec.disconnected = True
                rec.disconnected_at = time.monotonic()
            if rec is not None:
                rec.finished.set()
            conn.closed = True
            if conn.t is not None:
                conn.t.abort()

    def _cut(self, conn, rec):
        if rec is not None:
            rec.cut = True
            rec.finished.set()
        conn.closing_on_purpose = True
        conn.closed = True
        conn.t.close()

    # -- shared pieces

    def _json_plan(self, status, obj, headers, usage=None):
        body = _dumps(obj)
        return _Plan(status, headers, body=body, usage=usage)

    def _usage_header(self, u):
        return ("x-standin-usage", json.dumps(u.tally(), separators=(",", ":")))

    def _common_headers(self, content_type, u=None, request_id=None):
        p = self.provider
        h = [("content-type", content_type)]
        if p == "openai":
            h += [("x-request-id", request_id or "req_" + _hex(32)), ("openai-organization", "user-standin"),
                  ("openai-processing-ms", "7"), ("openai-version", "2020-10-01"),
                  ("x-ratelimit-limit-requests", "10000"), ("x-ratelimit-limit-tokens", "30000000"),
                  ("x-ratelimit-remaining-requests", "9999"), ("x-ratelimit-remaining-tokens", "29999000"),
                  ("x-ratelimit-reset-requests", "6ms"), ("x-ratelimit-reset-tokens", "2ms")]
        elif p == "anthropic":
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
            h += [("request-id", request_id or "req_011C" + _hex(20)),
                  ("anthropic-organization-id", "00000000-0000-4000-8000-00000000a11e"),
                  ("anthropic-ratelimit-requests-limit", "4000"), ("anthropic-ratelimit-requests-remaining", "3999"),
                  ("anthropic-ratelimit-requests-reset", reset),
                  ("anthropic-ratelimit-input-tokens-limit", "2000000"),
                  ("anthropic-ratelimit-input-tokens-remaining", "2000000"),
                  ("anthropic-ratelimit-input-tokens-reset", reset),
                  ("anthropic-ratelimit-output-tokens-limit", "400000"),
                  ("anthropic-ratelimit-output-tokens-remaining", "400000"),
                  ("anthropic-ratelimit-output-tokens-reset", reset),
                  ("anthropic-ratelimit-tokens-limit", "2400000"), ("anthropic-ratelimit-tokens-remaining", "2400000"),
                  ("anthropic-ratelimit-tokens-reset", reset)]
        else:
            h += [("vary", "Origin, X-Origin, Referer"), ("server-timing", "gfet4t7; dur=7"), ("server", "scaffolding on HTTPServer2")]
        if u is not None:
            h.append(self._usage_header(u))
        return h

    # -- errors

    def error_body(self, status, message=None, error_type=None, req=None):
        """(headers, body dict) of this provider's error answer for `status`."""
        p = self.provider
        if p == "openai":
            code = None
            etype = "invalid_request_error"
            msg = message
            headers = []
            if status == 401:
                code = "invalid_api_key"
                msg = msg or OPENAI_INVALID_KEY.format(redacted="sk-proj-****")
            elif status == 403:
                code = "unsupported_country_region_territory"
                msg = msg or "Country, region, or territory not supported"
                etype = "request_forbidden"
            elif status == 404:
                code = "model_not_found"
                msg = msg or "The model `nonexistent-model` does not exist or you do not have access to it."
            elif status == 429:
                etype, code = "requests", "rate_limit_exceeded"
                msg = msg or ("Rate limit reached for gpt-4o-mini in organization org-standin on requests per min "
                              "(RPM): Limit 10000, Used 10000, Requested 1. Please try again in 6ms.")
                headers = [("retry-after", "1"), ("retry-after-ms", "1000"),
                           ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "1s")]
            elif status == 400:
                msg = msg or "Invalid request (stand-in fault)."
            elif status >= 500:
                etype = "server_error"
                msg = msg or ({503: "The server is overloaded or not ready yet.",
                               529: "The server is overloaded or not ready yet."}.get(
                    status, "The server had an error while processing your request. Sorry about that!"))
            else:
                msg = msg or _reason(status)
            body = {"error": {"message": msg, "type": error_type or etype, "param": None, "code": code}}
            return headers, body
        if p == "anthropic":
            types = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                     403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                     429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
            messages = {401: "invalid x-api-key", 404: "Not found", 429: "Number of request tokens has exceeded your "
                        "per-minute rate limit (https://docs.claude.com/en/api/rate-limits); see the response headers "
                        "for current usage.", 500: "Internal server error", 529: "Overloaded",
                        413: "Request exceeds the maximum allowed number of bytes.", 504: "Request timed out",
                        403: "Your API key does not have permission to use the specified resource.",
                        400: "Invalid request (stand-in fault)."}
            etype = error_type or types.get(status, "api_error" if status >= 500 else "invalid_request_error")
            headers = []
            if status == 429:
                reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
                headers = [("retry-after", "1"), ("anthropic-ratelimit-requests-limit", "4000"),
                           ("anthropic-ratelimit-requests-remaining", "0"),
                           ("anthropic-ratelimit-requests-reset", reset)]
            if status in (408, 409, 429) or status >= 500:
                headers.append(("x-should-retry", "true"))
            elif status >= 400:
                headers.append(("x-should-retry", "false"))
            return headers, {"type": "error", "error": {"type": etype, "message": message or messages.get(
                status, _reason(status))}, "request_id": None}
        statuses = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                    409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
                    504: "DEADLINE_EXCEEDED", 529: "UNAVAILABLE"}
        messages = {400: "Request contains an invalid argument.", 401: "Request had invalid authentication credentials.",
                    403: "The caller does not have permission", 404: "Requested entity was not found.",
                    429: "You exceeded your current quota, please check your plan and billing details. For more "
                         "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                    500: "An internal error has occurred. Please retry or report in "
                         "https://developers.generativeai.google/guide/troubleshooting",
                    503: "The model is overloaded. Please try again later.",
                    529: "The model is overloaded. Please try again later.", 504: "Deadline expired before operation could complete."}
        st = error_type or statuses.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
        return [], {"error": {"code": status, "message": message or messages.get(status, _reason(status)),
                              "status": st}}

    def _error_plan(self, status, req, fault=None):
        fault = fault or Fault()
        headers, body = self.error_body(status, fault.message, fault.error_type, req)
        if fault.body is not None:
            body = fault.body
        h = self._common_headers("application/json" if self.provider != "google" else "application/json; charset=UTF-8")
        if self.provider == "anthropic" and isinstance(body, dict) and "request_id" in body and body["request_id"] is None:
            body = dict(body, request_id=dict(h)["request-id"])
        names = {k for k, _ in headers} | {k.lower() for k in (fault.headers or {})}
        h = [(k, v) for k, v in h if k not in names] + headers + list((fault.headers or {}).items())
        raw = body if isinstance(body, bytes) else _dumps(body)
        return _Plan(status, h, body=raw)

    def _stream_error_event(self, kind):
        p = self.provider

        def make(index, status=None):
            if p == "openai":
                _, body = self.error_body(status or 500)
                if kind == "responses":
                    e = body["error"]
                    return b"event: error\ndata: " + _dumps({"type": "error", "code": e["code"] or e["type"],
                                                             "message": e["message"], "param": None,
                                                             "sequence_number": index}) + b"\n\n"
                return b"data: " + _dumps(body) + b"\n\n"
            if p == "anthropic":
                _, body = self.error_body(status or 529)
                body.pop("request_id", None)
                return b"event: error\ndata: " + _dumps(body) + b"\n\n"
            _, body = self.error_body(status or 500)
            return b"data: " + _dumps(body) + b"\r\n\r\n"
        return make

    # -- fast mode

    def _fast(self, req, kind, model, stream_key, render):
        key = (kind, model, stream_key)
        plan = self._fast_cache.get(key)
        if plan is None:
            if len(self._fast_cache) > 4096:
                self._fast_cache.clear()
            plan = render()
            self._fast_cache[key] = plan
        return plan

    def _fast_usage(self, kind):
        if kind in ("embeddings", "embed"):
            return Usage(text=FAST_PROMPT_TOKENS, output=0)
        return Usage(text=FAST_PROMPT_TOKENS, output=DEFAULT_OUTPUT_TOKENS, chunks=DEFAULT_STREAM_CHUNKS)

    def _served_tier(self, served):
        """The tier an answer names: the one that served, unless a test set `service_tier_answer`; None: no tier."""
        if self.service_tier_answer is None:
            return served
        return None if self.service_tier_answer is NO_TIER else self.service_tier_answer

    @staticmethod
    def _answer_tool(u, picked):
        """The tool call an answer makes: tool_arguments (named after the request's tool, else `lookup`) wins; a set
        answer text or refusal answers text even when tools are offered; else what the request's tools give."""
        if u.tool_arguments is not None:
            return (picked[0] if picked and picked[0] else "lookup"), u.tool_arguments
        if u.answer is not None or u.refusal is not None:
            return None
        return picked

    # =============================================================================================================
    # OpenAI

    def _openai(self, req):
        auth = req.headers.get("authorization")
        if not auth:
            return self._error_plan(401, req, Fault(body={"error": {
                "message": OPENAI_NO_KEY, "type": "invalid_request_error", "param": None, "code": None}}))
        if auth != "Bearer " + self.key:
            key = auth[7:] if auth.startswith("Bearer ") else auth
            return self._error_plan(401, req, Fault(message=OPENAI_INVALID_KEY.format(redacted=redact_like_openai(key))))
        path, method = req.path, req.method
        if method == "POST":
            kind = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/completions": "completions",
                    "/v1/embeddings": "embeddings"}.get(path)
            if kind is not None:
                return self._openai_generate(req, kind)
            if path == "/v1/files":
                return self._openai_file(req)
        elif method == "GET":
            if path == "/v1/models":
                return self._json_plan(200, {"object": "list", "data": OPENAI_MODELS},
                                       self._common_headers("application/json"))
            if path.startswith("/v1/models/"):
                mid = path[len("/v1/models/"):]
                for m in OPENAI_MODELS:
                    if m["id"] == mid:
                        return self._json_plan(200, m, self._common_headers("application/json"))
                return self._error_plan(404, req, Fault(message=f"The model '{mid}' does not exist",
                                                        error_type="invalid_request_error"))
        return self._error_plan(404, req, Fault(message=f"Invalid URL ({method} {path})"))

    def _openai_file(self, req):
        sink = req.sink
        size = sink.size
        filename, purpose = "upload.bin", "user_data"
        if sink.mp is not None:
            for p in sink.mp.parts:
                if p.get("filename") is not None:
                    filename, size = p["filename"], p["size"]
                elif p.get("name") == "purpose":
                    purpose = p.get("value", purpose)
        obj = {"id": "file-" + _hex(22), "object": "file", "bytes": size, "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed", "expires_at": None,
               "status_details": None}
        return self._json_plan(200, obj, self._common_headers("application/json"))

    def _openai_generate(self, req, kind):
        try:
            body = req.json()
        except ValueError:
            return self._error_plan(400, req, Fault(message=(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. "
                "If you have trouble figuring out how to fix this, please contact us through our help center at "
                "help.openai.com.)")))
        model = body.get("model")
        if not model:
            return self._error_plan(400, req, Fault(message="you must provide a model parameter"))
        if "nonexistent" in model:
            return self._error_plan(404, req, Fault(
                message=f"The model `{model}` does not exist or you do not have access to it."))
        stream = bool(body.get("stream"))
        so = body.get("stream_options") or {}
        include_usage = bool(so.get("include_usage"))
        obfuscate = self.openai_obfuscation and so.get("include_obfuscation", True)
        asked = body.get("service_tier")
        if kind in ("chat", "responses") and asked is not None and asked not in OPENAI_SERVICE_TIERS:
            return self._error_plan(400, req, Fault(body={"error": {
                "message": f"Invalid value: '{asked}'. Supported values are: 'auto', 'default', 'flex', 'scale', "
                           "'priority' and 'fast'.",
                "type": "invalid_request_error", "param": "service_tier", "code": "invalid_value"}}))
        if self.fast:
            return self._fast(req, kind, model, (stream, include_usage), lambda: self._openai_render(
                kind, body, model, stream, include_usage, False, self._fast_usage(kind), "req_fast0standin",
                "default"))
        u = self._usage(kind, body)
        tier = self._served_tier({None: "default", "auto": "default", "fast": "priority"}.get(asked, asked))
        return self._openai_render(kind, body, model, stream, include_usage, obfuscate, u, None, tier)

    def _openai_render(self, kind, body, model, stream, include_usage, obfuscate, u, request_id, tier):
        answered = OPENAI_SNAPSHOTS.get(model, model)
        created = int(time.time())
        if kind == "embeddings":
            return self._openai_embeddings(body, answered, u, request_id)
        if kind == "chat":
            return self._openai_chat(body, answered, created, stream, include_usage, obfuscate, u, request_id, tier)
        if kind == "completions":
            return self._openai_completions(body, answered, created, stream, include_usage, u, request_id)
        return self._openai_responses(body, answered, created, stream, u, request_id, tier)

    def _openai_embeddings(self, body, model, u, request_id):
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dims = int(body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS)
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, item in enumerate(inputs or []):
            vec = embedding_vector(item if isinstance(item, str) else json.dumps(item), dims)
            emb = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        obj = {"object": "list", "data": data, "model": model, "usage": u.openai_embeddings()}
        return self._json_plan(200, obj, self._common_headers("application/json", u, request_id), u)

    def _openai_tool_call(self, body, kind):
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        if not tools or choice == "none":
            return None
        if kind == "chat":
            msgs = body.get("messages") or []
            if msgs and msgs[-1].get("role") in ("tool", "function"):
                return None
            fns = [t.get("function") or {} for t in tools if t.get("type", "function") == "function"]
            if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
                fns = [f for f in fns if f.get("name") == choice["function"]["name"]] or fns
        else:
            items = body.get("input")
            if isinstance(items, list) and items and isinstance(items[-1], dict) and \
                    items[-1].get("type") == "function_call_output":
                return None
            fns = [t for t in tools if t.get("type") == "function"]
            if isinstance(choice, dict) and choice.get("name"):
                fns = [f for f in fns if f.get("name") == choice["name"]] or fns
        if not fns:
            return None
        fn = fns[0]
        return fn.get("name"), json.dumps(_sample_args(fn.get("parameters")), separators=(",", ":"))

    def _openai_chat(self, body, model, created, stream, include_usage, obfuscate, u, request_id, tier):
        cid = "chatcmpl-" + (_hex(29) if request_id is None else "fast0standin")
        tool = self._answer_tool(u, self._openai_tool_call(body, "chat"))
        refusal = u.refusal if not tool else None
        pieces = output_pieces(u)
        text = "".join(pieces)
        finish = "tool_calls" if tool else ("length" if u.truncated and refusal is None else "stop")
        common = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                  "service_tier": tier, "system_fingerprint": "fp_standin"}
        if not stream:
            choices = []
            for i in range(u.n):
                msg = {"role": "assistant", "content": None if tool or refusal is not None else text,
                       "refusal": refusal, "annotations": []}
                if tool:
                    msg["tool_calls"] = [{"id": f"call_{_hex(24)}", "type": "function",
                                          "function": {"name": tool[0], "arguments": tool[1]}}]
                choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": finish})
            obj = {"id": cid, "object": "chat.completion", "created": created, "model": model, "choices": choices,
                   "usage": u.openai_chat(), "service_tier": tier, "system_fingerprint": "fp_standin"}
            return self._json_plan(200, obj, self._common_headers("application/json", u, request_id), u)
        events = []

        def chunk(choices, usage=False):
            d = dict(common, choices=choices)
            if include_usage:
                d["usage"] = u.openai_chat() if usage else None
            if obfuscate and not usage:
                d["obfuscation"] = "x" * (len(events) % 7 + 1)
            events.append(b"data: " + _dumps(d) + b"\n\n")

        if tool:
            args = _split(tool[1], u.chunks)
            for i in range(u.n):
                chunk([{"index": i, "delta": {"role": "assistant", "content": None, "tool_calls": [
                    {"index": 0, "id": f"call_{_hex(24)}", "type": "function",
                     "function": {"name": tool[0], "arguments": ""}}]}, "logprobs": None, "finish_reason": None}])
            for a in args:
                for i in range(u.n):
                    chunk([{"index": i, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": a}}]},
                            "logprobs": None, "finish_reason": None}])
        elif refusal is not None:
            for i in range(u.n):
                chunk([{"index": i, "delta": {"role": "assistant", "content": None, "refusal": ""},
                        "logprobs": None, "finish_reason": None}])
            for piece in pieces:
                for i in range(u.n):
                    chunk([{"index": i, "delta": {"refusal": piece}, "logprobs": None, "finish_reason": None}])
        else:
            for i in range(u.n):
                chunk([{"index": i, "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None, "finish_reason": None}])
            for piece in pieces:
                for i in range(u.n):
                    chunk([{"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        for i in range(u.n):
            chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish}])
        if include_usage:
            chunk([], usage=True)
        events.append(b"data: [DONE]\n\n")
        return _Plan(200, self._common_headers("text/event-stream; charset=utf-8", u, request_id), chunks=events,
                     usage=u if include_usage else None, error_event=self._stream_error_event("chat"))

    def _openai_completions(self, body, model, created, stream, include_usage, u, request_id):
        cid = "cmpl-" + (_hex(29) if request_id is None else "fast0standin")
        pieces = output_pieces(u)
        finish = "length" if u.truncated and u.refusal is None else "stop"
        if not stream:
            obj = {"id": cid, "object": "text_completion", "created": created, "model": model,
                   "choices": [{"text": "".join(pieces), "index": i, "logprobs": None, "finish_reason": finish}
                               for i in range(u.n)], "usage": u.openai_completions(),
                   "system_fingerprint": "fp_standin"}
            return self._json_plan(200, obj, self._common_headers("application/json", u, request_id), u)
        events = []

        def chunk(choices, usage=False):
            d = {"id": cid, "object": "text_completion", "created": created, "model": model, "choices": choices,
                 "system_fingerprint": "fp_standin"}
            if include_usage:
                d["usage"] = u.openai_completions() if usage else None
            events.append(b"data: " + _dumps(d) + b"\n\n")

        for j, piece in enumerate(pieces):
            for i in range(u.n):
                chunk([{"text": piece, "index": i, "logprobs": None,
                        "finish_reason": finish if j == len(pieces) - 1 else None}])
        if include_usage:
            chunk([], usage=True)
        events.append(b"data: [DONE]\n\n")
        return _Plan(200, self._common_headers("text/event-stream; charset=utf-8", u, request_id), chunks=events,
                     usage=u if include_usage else None, error_event=self._stream_error_event("chat"))

    def _openai_responses(self, body, model, created, stream, u, request_id, tier):
        rid = "resp_" + (_hex(40) if request_id is None else "fast0standin")
        tool = self._answer_tool(u, self._openai_tool_call(body, "responses"))
        refusal = u.refusal if not tool else None
        text = output_text(u)
        status = "incomplete" if u.truncated and not tool and refusal is None else "completed"
        items = []
        if u.reasoning:
            items.append({"id": "rs_" + _hex(40), "type": "reasoning", "summary": []})
        if tool:
            items.append({"id": "fc_" + _hex(40), "type": "function_call", "status": "completed",
                          "arguments": tool[1], "call_id": "call_" + _hex(24), "name": tool[0]})
        elif refusal is not None:
            items.append({"id": "msg_" + _hex(40), "type": "message", "status": status, "role": "assistant",
                          "content": [{"type": "refusal", "refusal": refusal}]})
        else:
            items.append({"id": "msg_" + _hex(40), "type": "message", "status": status, "role": "assistant",
                          "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})

        def response(state, with_output, usage):
            return {"id": rid, "object": "response", "created_at": created, "status": state, "background": False,
                    "completed_at": created + 1 if state == "completed" else None, "error": None,
                    "incomplete_details": {"reason": "max_output_tokens"} if state == "incomplete" else None,
                    "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
                    "max_tool_calls": None, "model": model, "output": items if with_output else [],
                    "parallel_tool_calls": True, "previous_response_id": body.get("previous_response_id"),
                    "prompt_cache_key": None, "reasoning": {"effort": None, "summary": None},
                    "safety_identifier": None, "service_tier": tier, "store": True, "temperature": 1.0,
                    "text": {"format": {"type": "text"}, "verbosity": "medium"},
                    "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
                    "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
                    "usage": u.openai_responses() if usage else None, "user": body.get("user"),
                    "metadata": body.get("metadata") or {}}

        if not stream:
            return self._json_plan(200, response(status, True, True),
                                   self._common_headers("application/json", u, request_id), u)
        events = []

        def ev(kind, **data):
            d = {"type": kind, "sequence_number": len(events)}
            d.update(data)
            events.append(b"event: " + kind.encode() + b"\ndata: " + _dumps(d) + b"\n\n")

        ev("response.created", response=response("in_progress", False, False))
        ev("response.in_progress", response=response("in_progress", False, False))
        for idx, item in enumerate(items):
            if item["type"] == "reasoning":
                ev("response.output_item.added", output_index=idx, item=item)
                ev("response.output_item.done", output_index=idx, item=item)
            elif item["type"] == "function_call":
                ev("response.output_item.added", output_index=idx, item=dict(item, arguments="", status="in_progress"))
                for a in _split(item["arguments"], u.chunks):
                    ev("response.function_call_arguments.delta", item_id=item["id"], output_index=idx, delta=a)
                ev("response.function_call_arguments.done", item_id=item["id"], output_index=idx,
                   arguments=item["arguments"], name=item["name"])
                ev("response.output_item.done", output_index=idx, item=item)
            elif item["content"][0]["type"] == "refusal":
                ev("response.output_item.added", output_index=idx,
                   item=dict(item, status="in_progress", content=[]))
                ev("response.content_part.added", item_id=item["id"], output_index=idx, content_index=0,
                   part={"type": "refusal", "refusal": ""})
                for piece in output_pieces(u):
                    ev("response.refusal.delta", item_id=item["id"], output_index=idx, content_index=0, delta=piece)
                ev("response.refusal.done", item_id=item["id"], output_index=idx, content_index=0, refusal=refusal)
                ev("response.content_part.done", item_id=item["id"], output_index=idx, content_index=0,
                   part=item["content"][0])
                ev("response.output_item.done", output_index=idx, item=item)
            else:
                ev("response.output_item.added", output_index=idx,
                   item=dict(item, status="in_progress", content=[]))
                empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                ev("response.content_part.added", item_id=item["id"], output_index=idx, content_index=0, part=empty)
                for piece in output_pieces(u):
                    ev("response.output_text.delta", item_id=item["id"], output_index=idx, content_index=0,
                       delta=piece, logprobs=[])
                ev("response.output_text.done", item_id=item["id"], output_index=idx, content_index=0, text=text,
                   logprobs=[])
                ev("response.content_part.done", item_id=item["id"], output_index=idx, content_index=0,
                   part=item["content"][0])
                ev("response.output_item.done", output_index=idx, item=item)
        ev("response." + status, response=response(status, True, True))
        return _Plan(200, self._common_headers("text/event-stream; charset=utf-8", u, request_id), chunks=events,
                     usage=u, error_event=self._stream_error_event("responses"))

    # =============================================================================================================
    # Anthropic

    def _anthropic(self, req):
        # anthropic 2.12 sends the api key as `Authorization: Bearer`; older SDKs and curl use `x-api-key`
        key = req.headers.get("x-api-key")
        auth = req.headers.get("authorization")
        if key is None and auth is None:
            return self._error_plan(401, req, Fault(message="x-api-key header is required"))
        if key != self.key and auth != "Bearer " + self.key:
            return self._error_plan(401, req, Fault(
                message="invalid x-api-key" if key is not None else "Invalid bearer token"))
        if "anthropic-version" not in req.headers:
            return self._error_plan(400, req, Fault(message="anthropic-version: header is required"))
        path, method = req.path, req.method
        if method == "POST" and path in ("/v1/messages", "/v1/messages/count_tokens"):
            try:
                body = req.json()
            except ValueError:
                return self._error_plan(400, req, Fault(message="There was an issue with your request body: "
                                                                "invalid JSON"))
            for field in ("model", "messages") + (("max_tokens",) if path == "/v1/messages" else ()):
                if field not in body:
                    return self._error_plan(400, req, Fault(message=f"{field}: Field required"))
            model = body["model"]
            if "nonexistent" in model:
                return self._error_plan(404, req, Fault(message=f"model: {model}"))
            if path.endswith("/count_tokens"):
                u = compute_usage("anthropic", "count_tokens", body, self.usage_override)
                return self._json_plan(200, {"input_tokens": u.prompt}, self._common_headers("application/json"))
            stream = bool(body.get("stream"))
            asked = body.get("service_tier", "auto")
            if asked not in ("auto", "standard_only"):
                return self._error_plan(400, req, Fault(message="service_tier: Input should be 'auto' or "
                                                                "'standard_only'"))
            if self.fast:
                return self._fast(req, "messages", model, stream, lambda: self._anthropic_messages(
                    body, model, stream, self._fast_usage("messages"), "req_011Cfast0standin", "standard"))
            u = self._usage("messages", body)
            tier = self._served_tier("priority" if asked == "auto" and self.anthropic_priority else "standard")
            return self._anthropic_messages(body, model, stream, u, None, tier)
        if method == "GET" and path == "/v1/models":
            return self._json_plan(200, {"data": ANTHROPIC_MODELS, "has_more": False,
                                         "first_id": ANTHROPIC_MODELS[0]["id"], "last_id": ANTHROPIC_MODELS[-1]["id"]},
                                   self._common_headers("application/json"))
        if method == "GET" and path.startswith("/v1/models/"):
            mid = path[len("/v1/models/"):]
            for m in ANTHROPIC_MODELS:
                if m["id"] == mid:
                    return self._json_plan(200, m, self._common_headers("application/json"))
            return self._error_plan(404, req, Fault(message=f"model: {mid}"))
        return self._error_plan(404, req, Fault(message="Not found"))

    def _anthropic_tool(self, body):
        tools = [t for t in body.get("tools") or [] if "input_schema" in t or t.get("type") in (None, "custom")]
        choice = body.get("tool_choice") or {}
        if not tools or choice.get("type") == "none":
            return None
        msgs = body.get("messages") or []
        if msgs:
            content = msgs[-1].get("content")
            if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result"
                                                 for b in content):
                return None
        if choice.get("type") == "tool":
            tools = [t for t in tools if t.get("name") == choice.get("name")] or tools
        t = tools[0]
        return t.get("name"), _sample_args(t.get("input_schema"))

    def _anthropic_messages(self, body, model, stream, u, request_id, tier):
        answered = ANTHROPIC_SNAPSHOTS.get(model, model)
        mid = "msg_01" + (_hex(22) if request_id is None else "fast0standin")
        tool = self._answer_tool(u, self._anthropic_tool(body))
        if tool:
            stop = "tool_use"
        elif u.refusal is not None:
            stop = "refusal"
        else:
            stop = "max_tokens" if u.truncated else "end_turn"
        blocks = []
        if u.reasoning:
            blocks.append({"type": "thinking", "thinking": "Thinking it over: " + "".join(word_pieces(u.output, 1)),
                           "signature": "EqQBCkYIBxgCKkD" + _hex(32)})
        text_pieces = output_pieces(u)
        tool_json = None  # streams: the exact partial_json text of the tool_use block
        if tool:
            tool_input = tool[1]
            if isinstance(tool_input, str):  # tool_arguments: raw, maybe not JSON; `input` must be an object
                tool_json = tool_input
                try:
                    tool_input = json.loads(tool_json)
                except ValueError:
                    tool_input = None
                if not isinstance(tool_input, dict):
                    tool_input = {"raw": tool_json}
            else:
                tool_json = json.dumps(tool_input, separators=(",", ":"))
            blocks.append({"type": "tool_use", "id": "toolu_01" + _hex(22), "name": tool[0], "input": tool_input})
        else:
            blocks.append({"type": "text", "text": "".join(text_pieces)})
        headers_ct = "text/event-stream; charset=utf-8" if stream else "application/json"
        literal = self.anthropic_stream_usage if stream else None
        headers = self._common_headers(headers_ct, None if literal else u, request_id)
        if not stream:
            obj = {"id": mid, "type": "message", "role": "assistant", "model": answered, "content": blocks,
                   "stop_reason": stop, "stop_sequence": None, "usage": u.anthropic(tier=tier)}
            return self._json_plan(200, obj, headers, u)
        events = []

        def ev(kind, data):
            events.append(b"event: " + kind.encode() + b"\ndata: " + _dumps(dict({"type": kind}, **data)) + b"\n\n")

        ev("message_start", {"message": {"id": mid, "type": "message", "role": "assistant", "model": answered,
                                         "content": [], "stop_reason": None, "stop_sequence": None,
                                         "usage": literal["start"] if literal else u.anthropic(output=1,
                                                                                               tier=tier)}})
        for i, b in enumerate(blocks):
            if b["type"] == "thinking":
                ev("content_block_start", {"index": i, "content_block": {"type": "thinking", "thinking": "",
                                                                         "signature": ""}})
                for piece in _split(b["thinking"], u.chunks):
                    ev("content_block_delta", {"index": i, "delta": {"type": "thinking_delta", "thinking": piece}})
                ev("content_block_delta", {"index": i, "delta": {"type": "signature_delta",
                                                                 "signature": b["signature"]}})
            elif b["type"] == "tool_use":
                ev("content_block_start", {"index": i, "content_block": dict(b, input={})})
                for piece in _split(tool_json, u.chunks):
                    ev("content_block_delta", {"index": i, "delta": {"type": "input_json_delta",
                                                                     "partial_json": piece}})
            else:
                ev("content_block_start", {"index": i, "content_block": {"type": "text", "text": ""}})
                if i == 0:
                    ev("ping", {})
                for piece in text_pieces:
                    ev("content_block_delta", {"index": i, "delta": {"type": "text_delta", "text": piece}})
            ev("content_block_stop", {"index": i})
        delta_usage = {"output_tokens": u.completion}
        if self.anthropic_delta_full_usage:
            full = u.anthropic()
            delta_usage = {k: full[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                                "cache_read_input_tokens", "output_tokens", "server_tool_use")}
        deltas = literal["deltas"] if literal else [delta_usage]
        for i, usage in enumerate(deltas):  # several with server tools; each cumulative, the last one final
            ev("message_delta", {"delta": {"stop_reason": stop if i == len(deltas) - 1 else None,
                                           "stop_sequence": None}, "usage": usage})
        ev("message_stop", {})
        return _Plan(200, headers, chunks=events, usage=None if literal else u,
                     error_event=self._stream_error_event("messages"))

    # =============================================================================================================
    # Google Gemini

    def _google(self, req):
        key = req.headers.get("x-goog-api-key") or req.query.get("key")
        if not key:
            return self._error_plan(403, req, Fault(message=(
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API."), error_type="PERMISSION_DENIED"))
        if key != self.key:
            headers, body = self.error_body(400, GOOGLE_INVALID_KEY)
            body["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": GOOGLE_INVALID_KEY}]
            return self._error_plan(400, req, Fault(body=body))
        path, method = req.path, req.method
        m = re.match(r"^/(v1beta|v1)/models(?:/([^:/]+))?(?::([A-Za-z]+))?$", path)
        if not m:
            return self._error_plan(404, req, Fault(message=f"The requested URL {path} was not found on this server.",
                                                    error_type="NOT_FOUND"))
        version, model, action = m.groups()
        if method == "GET" and action is None:
            if model is None:
                return self._json_plan(200, {"models": GOOGLE_MODELS},
                                       self._common_headers("application/json; charset=UTF-8"))
            for gm in GOOGLE_MODELS:
                if gm["name"] == "models/" + model:
                    return self._json_plan(200, gm, self._common_headers("application/json; charset=UTF-8"))
            return self._error_plan(404, req, Fault(message=f"models/{model} is not found for API version {version}"))
        if method != "POST" or model is None or action not in (
                "generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", "countTokens"):
            return self._error_plan(404, req, Fault(message=f"The requested URL {path} was not found on this server."))
        if "nonexistent" in model:
            return self._error_plan(404, req, Fault(message=(
                f"models/{model} is not found for API version {version}, or is not supported for {action}. Call "
                "ListModels to see the list of available models and their supported methods.")))
        try:
            body = req.json()
        except ValueError:
            return self._error_plan(400, req, Fault(message="Invalid JSON payload received."))
        if action == "countTokens":
            u = compute_usage("google", "count", body, self.usage_override)
            return self._json_plan(200, {"totalTokens": u.text + u.cached},
                                   self._common_headers("application/json; charset=UTF-8"))
        if action in ("embedContent", "batchEmbedContents"):
            u = self._fast_usage("embed") if self.fast else compute_usage("google", "embed", body, self.usage_override)
            contents = _embed_contents(body)
            dims = int((body.get("outputDimensionality") or (body.get("requests") or [{}])[0].get(
                "outputDimensionality") or DEFAULT_EMBEDDING_DIMENSIONS))
            vecs = []
            for c in contents:
                texts = []
                _walk(c, texts)
                vecs.append({"values": embedding_vector("".join(texts), dims)})
            obj = {"embedding": vecs[0]} if action == "embedContent" else {"embeddings": vecs}
            if self.gemini_embed_usage:
                obj["usageMetadata"] = u.gemini_embed()
            return self._json_plan(200, obj, self._common_headers("application/json; charset=UTF-8", u), u)
        stream = action == "streamGenerateContent"
        sse = req.query.get("alt") == "sse"
        if self.fast:
            return self._fast(req, "generate", model, (stream, sse), lambda: self._gemini_generate(
                body, model, stream, sse, self._fast_usage("generate"), "fast0standin"))
        u = self._usage("generate", body)
        plan = self._gemini_generate(body, model, stream, sse, u, None)
        asked = body.get("serviceTier", body.get("service_tier"))
        if isinstance(asked, str):
            served = asked.lower().removeprefix("service_tier_")
            served = "standard" if served == "unspecified" or (
                served == "priority" and self.gemini_priority_downgrade) else served
            tier = self._served_tier(served)
            if tier is not None:
                plan.headers.append(("x-gemini-service-tier", str(tier)))
        return plan

    def _gemini_tool(self, body):
        decls = []
        for t in body.get("tools") or []:
            decls += t.get("functionDeclarations") or t.get("function_declarations") or []
        mode = (((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode") or "AUTO").upper()
        if not decls or mode == "NONE":
            return None
        contents = body.get("contents") or []
        if contents and any("functionResponse" in p or "function_response" in p
                            for p in (contents[-1].get("parts") or [])):
            return None
        d = decls[0]
        return d.get("name"), _sample_args(d.get("parameters") or d.get("parametersJsonSchema")
                                         or d.get("parameters_json_schema"))

    def _gemini_generate(self, body, model, stream, sse, u, response_id):
        rid = response_id or _hex(22)
        tool = self._answer_tool(u, self._gemini_tool(body))
        if tool and isinstance(tool[1], str):  # tool_arguments: functionCall args are an object
            try:
                args = json.loads(tool[1])
            except ValueError:
                args = None
            tool = tool[0], args if isinstance(args, dict) else {"raw": tool[1]}
        refusal = u.refusal is not None and not tool
        finish = "SAFETY" if refusal else ("MAX_TOKENS" if u.truncated and not tool else "STOP")
        pieces = output_pieces(u)
        headers = self._common_headers("text/event-stream" if stream and sse else "application/json; charset=UTF-8", u)

        def candidates(parts, last):
            out = []
            for i in range(u.n):
                if refusal:  # blocked: no content, the ratings that blocked it
                    c = {"finishReason": finish, "index": i, "safetyRatings": [
                        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}
                    out.append(c)
                    continue
                c = {"content": {"parts": parts, "role": "model"}, "index": i}
                if last:
                    c["finishReason"] = finish
                out.append(c)
            return out

        if tool:
            tool_parts = [{"functionCall": {"name": tool[0], "args": tool[1]}}]
        if not stream:
            parts = tool_parts if tool else ([] if refusal else [{"text": "".join(pieces)}])
            obj = {"candidates": candidates(parts, True), "usageMetadata": u.gemini(), "modelVersion": model,
                   "responseId": rid}
            return self._json_plan(200, obj, headers, u)
        frames = []
        steps = [tool_parts] if tool else ([[]] if refusal else [[{"text": p}] for p in pieces])
        so_far = 0
        text_so_far = ""
        for j, parts in enumerate(steps):
            last = j == len(steps) - 1
            if last or tool or refusal:
                so_far = u.n * u.output
            elif u.answer is not None:
                text_so_far += parts[0]["text"]
                so_far = u.n * text_tokens(text_so_far)
            else:
                so_far += u.n * len(parts[0]["text"].split())
            frames.append({"candidates": candidates(parts, last), "usageMetadata": u.gemini(candidates=so_far),
                           "modelVersion": model, "responseId": rid})
        if sse:
            chunks = [b"data: " + _dumps(f) + b"\r\n\r\n" for f in frames]
        else:
            chunks = [(b"[" if i == 0 else b",\r\n") + _dumps(f) for i, f in enumerate(frames)] + [b"]"]
        error_event = self._stream_error_event("generate") if sse else self._gemini_array_error
        return _Plan(200, headers, chunks=chunks, usage=u, error_event=error_event)

    def _gemini_array_error(self, index, status=None):
        _, body = self.error_body(status or 500)
        return (b"[" if index == 0 else b",\r\n") + _dumps(body) + b"]"


def embedding_vector(text, dims):
    """A deterministic unit-ish vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dims:
        digest += hashlib.sha256(digest).digest()
    return [round((digest[i] - 127.5) / 127.5, 6) for i in range(dims)]


# ---------------------------------------------------------------------------------------------------------------
# pytest fixture

class UpstreamStandIns:
    """The three stand-ins: `.openai`, `.anthropic`, `.google`, also by name (`standins["openai"]`)."""

    def __init__(self, fast=False, keys=None):
        keys = keys or {}
        self.openai = UpstreamStandIn("openai", key=keys.get("openai"), fast=fast)
        self.anthropic = UpstreamStandIn("anthropic", key=keys.get("anthropic"), fast=fast)
        self.google = UpstreamStandIn("google", key=keys.get("google"), fast=fast)

    def __getitem__(self, provider):
        return getattr(self, provider)

    def __iter__(self):
        return iter((self.openai, self.anthropic, self.google))

    def start(self):
        for s in self:
            s.start()
        return self

    def stop(self):
        for s in self:
            s.stop()

    def reset(self):
        for s in self:
            s.reset()


if pytest is not None:
    @pytest.fixture
    def upstream_standins():
        """UpstreamStandIns (openai, anthropic, google), each serving until the test ends."""
        standins = UpstreamStandIns().start()
        yield standins
        standins.stop()


# ---------------------------------------------------------------------------------------------------------------
# CLI: serve (for benchmarks, in its own process) and bench (direct figures of the fast mode with wrk)

BENCH_BODIES = {
    "openai": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi"}],
                                        "max_tokens": 64}),
    "openai-stream": ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": "Say hi"}], "stream": True, "stream_options": {"include_usage": True}}),
    "anthropic": ("/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 64,
                                   "messages": [{"role": "user", "content": "Say hi"}]}),
    "google": ("/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [{"parts": [{"text": "Say hi"}]}]}),
}


def _bench_headers(provider):
    if provider == "openai":
        return {"Authorization": "Bearer " + DEFAULT_KEYS["openai"], "Content-Type": "application/json"}
    if provider == "anthropic":
        return {"x-api-key": DEFAULT_KEYS["anthropic"], "anthropic-version": "2023-06-01",
                "Content-Type": "application/json"}
    return {"x-goog-api-key": DEFAULT_KEYS["google"], "Content-Type": "application/json"}


def _serve_main(args):
    async def main():
        standins = [UpstreamStandIn(p, fast=args.fast, port=getattr(args, p + "_port")) for p in PROVIDERS]
        for s in standins:
            for name in ("chunk_delay", "first_chunk_delay", "first_byte_delay"):
                if getattr(args, name) is not None:
                    setattr(s, name, getattr(args, name))
            await s.serve()
        print(json.dumps({s.provider: s.url for s in standins}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    asyncio.run(main())


def _python_client(url, path, body, headers, concurrency, seconds):
    """A simple keep-alive client: (requests, req/s, p50 ms, p99 ms)."""
    import http.client
    parsed = urllib.parse.urlsplit(url)
    data = json.dumps(body).encode()
    lat = []
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection(parsed.hostname, parsed.port)
        mine = []
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            c.request("POST", path, data, headers)
            r = c.getresponse()
            r.read()
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat.sort()
    return {"requests": len(lat), "rps": round(len(lat) / elapsed), "p50_ms": round(lat[len(lat) // 2] * 1000, 3),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3)}


_WRK_LUA = """
wrk.method = "POST"
wrk.body = os.getenv("SB_BODY")
wrk.headers["Content-Type"] = "application/json"
for k, v in string.gmatch(os.getenv("SB_HEADERS"), "([^\\n:]+): ([^\\n]+)") do wrk.headers[k] = v end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\":%d,\\"rps\\":%.0f,\\"p50_ms\\":%.3f,\\"p99_ms\\":%.3f,\\"errors\\":%d}\\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


def _bench_main(args):
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", "--fast"], stdout=subprocess.PIPE,
                            text=True)
    try:
        urls = json.loads(proc.stdout.readline())
        results = []
        wrk = shutil.which("wrk")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(_WRK_LUA)
            lua = f.name
        for name in args.endpoints.split(","):
            provider = name.split("-")[0]
            path, body = BENCH_BODIES[name]
            headers = _bench_headers(provider)
            for conns in (1, 32):
                if wrk and not args.python_client:
                    env = dict(os.environ, SB_BODY=json.dumps(body),
                               SB_HEADERS="\n".join(f"{k}: {v}" for k, v in headers.items() if k != "Content-Type"))
                    out = subprocess.run([wrk, "-t", "1" if conns == 1 else "2", "-c", str(conns), "-d",
                                          f"{args.seconds}s", "-s", lua, urls[provider] + path], env=env,
                                         capture_output=True, text=True).stdout
                    line = next(x for x in out.splitlines() if x.startswith("JSON "))
                    r = json.loads(line[5:])
                    r["client"] = "wrk"
                else:
                    r = _python_client(urls[provider], path, body, headers, conns, args.seconds)
                    r["client"] = "python http.client"
                r.update(endpoint=name, concurrency=conns)
                results.append(r)
                print(json.dumps(r), flush=True)
        os.unlink(lua)
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve the three stand-ins; prints {provider: url} as one JSON line")
    s.add_argument("--fast", action="store_true")
    s.add_argument("--chunk-delay", type=float, default=None)
    s.add_argument("--first-chunk-delay", type=float, default=None)
    s.add_argument("--first-byte-delay", type=float, default=None)
    for p in PROVIDERS:
        s.add_argument(f"--{p}-port", type=int, default=0)
    b = sub.add_parser("bench", help="direct req/s and latency of the fast mode (wrk, or a Python client)")
    b.add_argument("--seconds", type=int, default=5)
    b.add_argument("--endpoints", default="openai,openai-stream,anthropic,google")
    b.add_argument("--python-client", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        _serve_main(args)
    else:
        _bench_main(args)


if __name__ == "__main__":
    main()
