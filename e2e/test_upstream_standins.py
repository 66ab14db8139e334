"""Self-tests of the gateway's stand-in upstreams (e2e/standins/upstreams.py), without Tally.

The official SDKs (openai 3.54, anthropic 2.12, google-genai 3.4) talk to the stand-ins directly: sync and async,
streaming and not, tool calls, embeddings, errors raising the SDKs' own exceptions, faults mid-stream, pacing,
client disconnects, the request log (exact body bytes, headers) and the fast mode."""
import asyncio
import hashlib
import http.client
import json
import os
import socket
import threading
import time

import anthropic
import httpx2
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from standins.upstreams import (
    DEFAULT_OUTPUT_TOKENS, UpstreamStandIn, UpstreamStandIns, expected_usage, output_text)

PROMPT = "Write a haiku about proxies that do not buffer."


def oai(s, **kw):
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(api_key=s.key, base_url=s.sdk_base_url, **kw)


def aoai(s, **kw):
    kw.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(api_key=s.key, base_url=s.sdk_base_url, **kw)


def ant(s, **kw):
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(api_key=s.key, base_url=s.sdk_base_url, **kw)


def aant(s, **kw):
    kw.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(api_key=s.key, base_url=s.sdk_base_url, **kw)


_clients = []


def gem(s, key=None, **http_options):
    opts = {"base_url": s.sdk_base_url, "retry_options": {"attempts": 1}}
    opts.update(http_options)
    client = genai.Client(api_key=key or s.key, http_options=opts)
    _clients.append(client)  # a genai.Client closes its transport when collected, even with .models in use
    return client


WEATHER_TOOL_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["c", "f"]}},
                       "required": ["city"]}


@pytest.fixture
def ups(upstream_standins):
    return upstream_standins


# ---------------------------------------------------------------------------------------------------------------
# OpenAI

def test_openai_chat_sync_usage_headers_and_record(ups):
    s = ups.openai
    content = PROMPT + " [[usage cached=1024 cache_write=256 reasoning=64]]"
    params = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": content}], "user": "u-42"}
    raw = oai(s).chat.completions.with_raw_response.create(**params, extra_headers={"X-Tally-Feature": "f"})
    r = raw.parse()
    exp = expected_usage("openai", params)
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.choices[0].message.content == output_text(exp["usage"])
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens == exp["input_tokens"] == 3 + -(-len(content) // 4) + 1024 + 256
    assert r.usage.prompt_tokens_details.cached_tokens == 1024
    assert r.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS + 64 == exp["output_tokens"]
    assert r.usage.completion_tokens_details.reasoning_tokens == 64
    assert r.usage.model_dump()["prompt_tokens_details"]["cache_write_tokens"] == 256
    assert r.usage.model_dump(exclude_none=True) == exp["wire"]
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-ratelimit-remaining-requests"] == "9999"
    assert json.loads(raw.headers["x-standin-usage"]) == {k: v for k, v in exp.items() if k not in ("wire", "usage")}
    rec = s.wait_finished(s.last())  # the answer's last bytes may still be in flight when the SDK returns
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert s.key_of(rec) == s.key
    assert rec.headers_with_prefix("x-tally-") == {"x-tally-feature": "f"}
    assert rec.json == params
    assert rec.usage["cached_input_tokens"] == 1024
    assert rec.completed and not rec.disconnected and rec.status == 200


def test_openai_chat_wire_usage_matches_expected(ups):
    s = ups.openai
    params = {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": "héllo wörld"}]}],
              "max_tokens": 5}
    body = requests.post(s.url + "/v1/chat/completions", json=params,
                         headers={"Authorization": f"Bearer {s.key}"}).json()
    exp = expected_usage("openai", params)
    assert body["usage"] == exp["wire"]
    assert body["usage"]["prompt_tokens"] == 4  # 13 utf-8 bytes / 4, rounded up
    assert body["usage"]["completion_tokens"] == 5 and body["choices"][0]["finish_reason"] == "length"
    assert "cache_write_tokens" not in body["usage"]["prompt_tokens_details"]  # older shape when zero


def test_openai_chat_stream_include_usage_and_pacing(ups):
    s = ups.openai
    s.chunk_delay = 0.05
    params = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}],
              "stream_options": {"include_usage": True}}
    arrivals, chunks = [], []
    t0 = time.monotonic()
    for c in oai(s).chat.completions.create(stream=True, **params):
        arrivals.append(time.monotonic() - t0)
        chunks.append(c)
    exp = expected_usage("openai", dict(params, stream=True))
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == exp["input_tokens"]
    assert chunks[-1].usage.completion_tokens == exp["output_tokens"]
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == output_text(exp["usage"])
    assert chunks[-2].choices[0].finish_reason == "stop"
    # one chunk per 50 ms: the arrivals are spread, not bunched. A busy machine may hand two chunks to the client in
    # one read now and then, so the typical gap and the whole span are checked, not every gap.
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert len(chunks) == 7 and gaps[len(gaps) // 2] > 0.03 and arrivals[-1] - arrivals[0] > 0.2, gaps
    rec = s.wait_finished()
    assert rec.streamed and rec.completed and rec.chunks_written == rec.chunks_total == 8  # + [DONE]
    assert rec.response_headers["content-type"].startswith("text/event-stream")


def test_openai_chat_stream_without_include_usage_has_no_usage_chunk(ups):
    s = ups.openai
    s.chunk_delay = 0
    chunks = list(oai(s).chat.completions.create(model="gpt-4o-mini", stream=True,
                                                 messages=[{"role": "user", "content": "hi"}]))
    assert all(c.choices for c in chunks)
    assert all(getattr(c, "usage", None) is None for c in chunks)
    assert s.last().usage is None


def test_openai_chat_tools_sync_and_stream_helper(ups):
    s = ups.openai
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    r = oai(s).chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "standin",
                                                                                             "unit": "c"}
    with oai(s).chat.completions.stream(model="gpt-4o-mini", messages=msgs, tools=tools,
                                        stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert json.loads(final.choices[0].message.tool_calls[0].function.arguments)["city"] == "standin"
    assert final.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS
    # after a tool result it answers with text
    msgs2 = msgs + [r.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    r2 = oai(s).chat.completions.create(model="gpt-4o-mini", messages=msgs2, tools=tools)
    assert r2.choices[0].finish_reason == "stop" and r2.choices[0].message.content


def test_openai_chat_n_choices(ups):
    s = ups.openai
    r = oai(s).chat.completions.create(model="gpt-4o-mini", n=3, messages=[{"role": "user", "content": "hi"}])
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert r.usage.completion_tokens == 3 * DEFAULT_OUTPUT_TOKENS
    s.chunk_delay = 0
    chunks = list(oai(s).chat.completions.create(model="gpt-4o-mini", n=2, stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "hi"}]))
    assert {c.choices[0].index for c in chunks if c.choices} == {0, 1}
    assert chunks[-1].usage.completion_tokens == 2 * DEFAULT_OUTPUT_TOKENS


def test_openai_async_chat_stream_and_responses(ups):
    s = ups.openai
    s.chunk_delay = 0.01

    async def main():
        client = aoai(s)
        out = []
        stream = await client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                      stream_options={"include_usage": True},
                                                      messages=[{"role": "user", "content": PROMPT}])
        async for c in stream:
            out.append(c)
        resp = await client.responses.create(model="gpt-4o-mini", input=PROMPT + " [[usage cached=8]]")
        events = [e async for e in await client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
        await client.close()
        return out, resp, events

    out, resp, events = asyncio.run(main())
    assert out[-1].usage.prompt_tokens == expected_usage("openai", {"messages": [{"content": PROMPT}]})[
        "input_tokens"]
    assert resp.usage.input_tokens_details.cached_tokens == 8 and resp.output_text == output_text(
        expected_usage("openai", {"input": "hi"}, kind="responses")["usage"])
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.usage.output_tokens == DEFAULT_OUTPUT_TOKENS


def test_openai_responses_sync_stream_helper_reasoning_and_tools(ups):
    s = ups.openai
    s.chunk_delay = 0
    params = {"model": "o4-mini", "instructions": "Be brief.",
              "input": [{"role": "user", "content": PROMPT + " [[usage reasoning=128 cached=64 cache_write=32]]"}]}
    r = oai(s).responses.create(**params)
    exp = expected_usage("openai", params, kind="responses")
    assert r.model == "o4-mini-2025-04-16" and r.status == "completed"
    assert r.usage.input_tokens == exp["input_tokens"] and r.usage.output_tokens == exp["output_tokens"]
    assert r.usage.output_tokens_details.reasoning_tokens == 128
    assert r.usage.input_tokens_details.cached_tokens == 64
    assert [o.type for o in r.output] == ["reasoning", "message"]
    with oai(s).responses.stream(**params) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    assert final.usage.model_dump()["input_tokens"] == exp["input_tokens"]
    assert final.output_text == r.output_text
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}]
    r = oai(s).responses.create(model="gpt-4o-mini", input="Weather in Paris?", tools=tools)
    call = [o for o in r.output if o.type == "function_call"][0]
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] == "standin"
    with oai(s).responses.stream(model="gpt-4o-mini", input="Weather?", tools=tools) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "function_call" and json.loads(final.output[0].arguments)["unit"] == "c"


def test_openai_responses_incomplete_when_max_output_tokens_reached(ups):
    s = ups.openai
    s.chunk_delay = 0
    r = oai(s).responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=4)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 4
    events = list(oai(s).responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=4, stream=True))
    assert events[-1].type == "response.incomplete" and events[-1].response.usage.output_tokens == 4
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_openai_embeddings_base64_and_float(ups):
    s = ups.openai
    r = oai(s).embeddings.create(model="text-embedding-3-small", input=["one", "two three four five"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 8
    assert r.usage.prompt_tokens == r.usage.total_tokens == 1 + 5
    assert s.last().json["encoding_format"] == "base64"  # the SDK asks for base64 and decodes it
    r2 = oai(s).embeddings.create(model="text-embedding-3-small", input="one", encoding_format="float", dimensions=4)
    assert len(r2.data[0].embedding) == 4
    assert r2.data[0].embedding == pytest.approx(r.data[0].embedding[:4], abs=1e-6)
    assert expected_usage("openai", {"model": "text-embedding-3-small", "input": "one"})["input_tokens"] == 1


def test_openai_legacy_completions_and_models(ups):
    s = ups.openai
    s.chunk_delay = 0
    r = oai(s).completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test")
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS
    chunks = list(oai(s).completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=3, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 3 and chunks[-2].choices[0].finish_reason == "length"
    assert [m.id for m in oai(s).models.list()][:2] == ["gpt-4o", "gpt-4o-mini"]


def test_openai_file_upload_is_hashed_as_it_arrives(ups):
    s = ups.openai
    data = os.urandom(3 * 1024 * 1024 + 17)
    f = oai(s).files.create(file=("big.jsonl", data), purpose="batch")
    assert f.bytes == len(data) and f.filename == "big.jsonl" and f.purpose == "batch"
    rec = s.last()
    assert rec.body == b"" and rec.body_size > len(data)  # not kept, only counted
    part = [p for p in rec.parts if p["filename"]][0]
    assert part["size"] == len(data) and part["sha256"] == hashlib.sha256(data).hexdigest()
    assert [p["value"] for p in rec.parts if p["name"] == "purpose"] == ["batch"]


def test_raw_upload_is_read_while_it_is_sent_and_chunked_bodies_work(ups):
    s = ups.openai
    piece = b"x" * 65536
    total = 64 * len(piece)
    sock = socket.create_connection(("127.0.0.1", s.port))
    sock.sendall(b"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key.encode() +
                 b"\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % total)
    for _ in range(32):
        sock.sendall(piece)
    rec = s.wait_for_requests(1)[0]
    deadline = time.monotonic() + 5
    while rec.body_size < 32 * len(piece) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.body_size == 32 * len(piece) and not rec.body_complete  # seen before the client finished
    for _ in range(32):
        sock.sendall(piece)
    resp = sock.makefile("rb")
    assert resp.readline().startswith(b"HTTP/1.1 200")
    sock.close()
    assert rec.body_complete and rec.body_sha256 == hashlib.sha256(piece * 64).hexdigest()

    # a chunked request body (what a streaming proxy may send) is de-chunked and kept byte for byte
    body = b'{"model": "gpt-4o-mini",  "messages": [{"role": "user", "content": "h\\u00e9"}]}'
    r = requests.post(s.url + "/v1/chat/completions", data=iter([body[:10], body[10:40], body[40:]]),
                      headers={"Authorization": f"Bearer {s.key}", "Content-Type": "application/json"})
    assert r.status_code == 200
    rec = s.last()
    assert rec.chunked_request and rec.body == body and rec.header("transfer-encoding") == "chunked"


def test_request_log_keeps_exact_bytes_and_headers(ups):
    s = ups.anthropic
    body = ('{ "max_tokens":10,"model" : "claude-haiku-4-5", "messages":[{"role":"user","content":"ünïcødé ✓"}] ,'
            '"metadata":{"user_id":"u1"}}\n').encode()
    r = requests.post(s.url + "/v1/messages?beta=true", data=body, headers={
        "x-api-key": s.key, "anthropic-version": "2023-06-01", "content-type": "application/json",
        "X-Custom-Case": "Kept"})
    assert r.status_code == 200, r.text
    rec = s.last()
    assert rec.body == body and rec.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rec.query == {"beta": "true"} and rec.target == "/v1/messages?beta=true"
    assert ("X-Custom-Case", "Kept") in rec.raw_headers and rec.header("x-custom-case") == "Kept"
    assert rec.headers_with_prefix("x-tally-") == {}


# ---------------------------------------------------------------------------------------------------------------
# Anthropic

def test_anthropic_messages_sync_usage_all_token_classes(ups):
    s = ups.anthropic
    params = {"model": "claude-opus-4-6", "max_tokens": 1024, "system": "Be brief.",
              "messages": [{"role": "user", "content": PROMPT + " [[usage cached=2048 cache_write=512 "
                                                                "cache_write_1h=128 reasoning=40]]"}]}
    raw = ant(s).messages.with_raw_response.create(**params)
    m = raw.parse()
    exp = expected_usage("anthropic", params)
    assert m.model == "claude-opus-4-6" and m.stop_reason == "end_turn"
    assert m.usage.input_tokens == exp["input_tokens"] - 2048 - 512  # excludes both cache kinds
    assert m.usage.cache_read_input_tokens == 2048 and m.usage.cache_creation_input_tokens == 512
    assert m.usage.cache_creation.ephemeral_1h_input_tokens == 128
    assert m.usage.cache_creation.ephemeral_5m_input_tokens == 384
    assert m.usage.output_tokens == DEFAULT_OUTPUT_TOKENS + 40 == exp["output_tokens"]
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert raw.headers["request-id"].startswith("req_") and "anthropic-ratelimit-requests-remaining" in raw.headers
    assert m.usage.model_dump(exclude_none=True) == {k: v for k, v in exp["wire"].items() if v is not None}
    assert ant(s).messages.count_tokens(model="claude-opus-4-6", messages=params["messages"],
                                        system="Be brief.").input_tokens == exp["input_tokens"]
    assert [x.id for x in ant(s).models.list()] == ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]


def test_anthropic_stream_events_and_helper_usage(ups):
    s = ups.anthropic
    s.chunk_delay = 0.03
    params = {"model": "claude-haiku-4-5", "max_tokens": 512,
              "messages": [{"role": "user", "content": PROMPT + " [[usage cached=100 cache_write=50]]"}]}
    exp = expected_usage("anthropic", params)
    r = requests.post(s.url + "/v1/messages", json=dict(params, stream=True), stream=True,
                      headers={"x-api-key": s.key, "anthropic-version": "2023-06-01"})
    assert r.headers["content-type"].startswith("text/event-stream")
    text = r.content.decode()
    names = [line[7:] for line in text.split("\n") if line.startswith("event: ")]
    assert names[0] == "message_start" and names[1] == "content_block_start" and names[2] == "ping"
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = json.loads(text.split("event: message_start\ndata: ")[1].split("\n")[0])
    assert start["message"]["usage"]["cache_read_input_tokens"] == 100
    assert start["message"]["usage"]["cache_creation_input_tokens"] == 50
    delta = json.loads(text.split("event: message_delta\ndata: ")[1].split("\n")[0])
    assert delta["usage"] == {"output_tokens": exp["output_tokens"]}
    arrivals = []
    t0 = time.monotonic()
    with ant(s).messages.stream(**params) as stream:
        for _ in stream.text_stream:
            arrivals.append(time.monotonic() - t0)
        final = stream.get_final_message()
    assert final.usage.input_tokens == exp["input_tokens"] - 150
    assert final.usage.cache_read_input_tokens == 100 and final.usage.output_tokens == exp["output_tokens"]
    assert final.content[0].text == output_text(exp["usage"])
    assert arrivals[-1] - arrivals[0] > 0.03 * (len(arrivals) - 1) * 0.7


def test_anthropic_tool_use_sync_and_async_stream(ups):
    s = ups.anthropic
    s.chunk_delay = 0
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_TOOL_SCHEMA}]
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    m = ant(s).messages.create(model="claude-haiku-4-5", max_tokens=200, messages=msgs, tools=tools)
    assert m.stop_reason == "tool_use" and m.content[0].type == "tool_use"
    assert m.content[0].input == {"city": "standin", "unit": "c"}

    async def main():
        client = aant(s)
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=200, messages=msgs,
                                          tools=tools) as stream:
            final = await stream.get_final_message()
        plain = await client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=msgs + [
            {"role": "assistant", "content": [c.model_dump() for c in m.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": m.content[0].id,
                                          "content": "sunny"}]}], tools=tools)
        await client.close()
        return final, plain

    final, plain = asyncio.run(main())
    assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "standin", "unit": "c"}
    assert final.stop_reason == "tool_use"
    assert plain.stop_reason == "end_turn" and plain.content[0].type == "text"


def test_anthropic_delta_full_usage_option(ups):
    s = ups.anthropic
    s.chunk_delay = 0
    s.anthropic_delta_full_usage = True
    with ant(s).messages.stream(model="claude-haiku-4-5", max_tokens=5, messages=[
            {"role": "user", "content": "hi [[usage cached=7]]"}]) as stream:
        final = stream.get_final_message()
    assert final.usage.output_tokens == 5 and final.stop_reason == "max_tokens"
    assert final.usage.cache_read_input_tokens == 7


def test_anthropic_stream_usage_is_sent_verbatim(ups):
    """`anthropic_stream_usage`: message_start's usage and one message_delta per given usage, nulls as null, the
    stop reason on the last; the SDK merges them its own way (a null keeps the count before it)."""
    s = ups.anthropic
    s.chunk_delay = 0
    start = {"input_tokens": 12, "cache_read_input_tokens": 4096, "output_tokens": 1}
    deltas = [{"input_tokens": 40, "cache_read_input_tokens": 8192, "output_tokens": 150},
              {"input_tokens": None, "cache_read_input_tokens": None, "output_tokens": 300}]
    s.anthropic_stream_usage = {"start": start, "deltas": deltas}
    r = requests.post(s.url + "/v1/messages", headers={"x-api-key": s.key, "anthropic-version": "2023-06-01"},
                      json={"model": "claude-haiku-4-5", "max_tokens": 400, "stream": True,
                            "messages": [{"role": "user", "content": "hi"}]}, timeout=10)
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[0]["message"]["usage"] == start
    sent = [e for e in events if e["type"] == "message_delta"]
    assert [e["usage"] for e in sent] == deltas and '"input_tokens":null' in r.text
    assert [e["delta"]["stop_reason"] for e in sent] == [None, "end_turn"]
    assert "x-standin-usage" not in r.headers and s.last().usage is None
    with ant(s).messages.stream(model="claude-haiku-4-5", max_tokens=400, messages=[
            {"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (40, 8192, 300)


# ---------------------------------------------------------------------------------------------------------------
# Gemini

def test_gemini_generate_usage_metadata(ups):
    s = ups.google
    c = gem(s)
    r = c.models.generate_content(model="gemini-2.5-flash",
                                  contents=PROMPT + " [[usage cached=1000 reasoning=33 tool_use=5]]",
                                  config={"system_instruction": "Be brief."})
    body = s.last().json
    exp = expected_usage("google", body)
    um = r.usage_metadata
    assert um.prompt_token_count == exp["input_tokens"] - 5 and um.cached_content_token_count == 1000  # incl. cache
    assert um.candidates_token_count == DEFAULT_OUTPUT_TOKENS and um.thoughts_token_count == 33
    assert um.tool_use_prompt_token_count == 5
    assert um.total_token_count == um.prompt_token_count + um.candidates_token_count + 33 + 5
    assert exp["output_tokens"] == DEFAULT_OUTPUT_TOKENS + 33 and exp["cache_write_input_tokens"] == 0
    assert r.text == output_text(exp["usage"]) and r.model_version == "gemini-2.5-flash"
    assert s.last().path == "/v1/models/gemini-2.5-flash:generateContent"  # google-genai 3.4 defaults to v1
    assert s.last().header("x-goog-api-key") == s.key


def test_gemini_stream_sse_running_usage_and_async(ups):
    s = ups.google
    s.chunk_delay = 0.03
    c = gem(s)
    arrivals, chunks = [], []
    t0 = time.monotonic()
    for ch in c.models.generate_content_stream(model="gemini-2.5-flash", contents="hello there"):
        arrivals.append(time.monotonic() - t0)
        chunks.append(ch)
    rec = s.last()
    assert rec.query == {"alt": "sse"} and rec.response_headers["content-type"] == "text/event-stream"
    counts = [ch.usage_metadata.candidates_token_count for ch in chunks]
    assert counts == sorted(counts) and counts[-1] == DEFAULT_OUTPUT_TOKENS
    assert all(ch.usage_metadata.prompt_token_count == 3 for ch in chunks)
    assert chunks[-1].candidates[0].finish_reason == "STOP"
    assert "".join(ch.text for ch in chunks) == output_text(expected_usage("google", rec.json)["usage"])
    # Spread, not bunched: the typical gap (a busy machine may hand two pieces over in one read now and then).
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    assert gaps[len(gaps) // 2] > 0.015, gaps

    async def main():
        out = []
        async for ch in await c.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            out.append(ch)
        r = await c.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        return out, r

    out, r = asyncio.run(main())
    assert out[-1].usage_metadata.total_token_count == r.usage_metadata.total_token_count == 1 + 12


def test_gemini_json_array_stream_is_streamed(ups):
    s = ups.google
    s.chunk_delay = 0.05
    r = requests.post(s.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent", stream=True,
                      json={"contents": [{"parts": [{"text": "hi"}]}]}, params={"key": s.key})
    assert r.headers["content-type"].startswith("application/json")
    pieces, arrivals = [], []
    t0 = time.monotonic()
    for piece in r.iter_content(chunk_size=None):
        pieces.append(piece)
        arrivals.append(time.monotonic() - t0)
    arr = json.loads(b"".join(pieces))
    assert isinstance(arr, list) and len(arr) == 4 and len(pieces) >= 4
    assert arr[-1]["usageMetadata"]["candidatesTokenCount"] == DEFAULT_OUTPUT_TOKENS
    assert arrivals[-1] - arrivals[0] > 0.1
    assert s.last().query == {"key": s.key}


def test_gemini_tools_embeddings_and_models(ups):
    s = ups.google
    c = gem(s)

    def get_weather(city: str, unit: str) -> str:
        """Weather."""
        return "sunny"

    r = c.models.generate_content(model="gemini-2.5-flash", contents="Weather in Paris?",
                                  config={"tools": [get_weather],
                                          "automatic_function_calling": {"disable": True}})
    assert r.function_calls[0].name == "get_weather" and r.function_calls[0].args == {"city": "standin",
                                                                                       "unit": "standin"}
    e = c.models.embed_content(model="gemini-embedding-001", contents=["one", "two three four five"])
    assert len(e.embeddings) == 2 and len(e.embeddings[0].values) == 8
    assert s.last().path.endswith(":batchEmbedContents")
    assert expected_usage("google", s.last().json)["input_tokens"] == 1 + 5
    raw = requests.post(s.url + "/v1beta/models/gemini-embedding-001:embedContent", headers={"x-goog-api-key": s.key},
                        json={"content": {"parts": [{"text": "one"}]}}).json()
    assert raw["embedding"]["values"] == e.embeddings[0].values and raw["usageMetadata"]["promptTokenCount"] == 1
    names = [m.name for m in c.models.list()]
    assert "models/gemini-2.5-flash" in names


# ---------------------------------------------------------------------------------------------------------------
# Auth and errors

def test_wrong_keys_are_refused_in_each_providers_format(ups):
    with pytest.raises(openai.AuthenticationError) as e:
        openai.OpenAI(api_key="sk-wrong", base_url=ups.openai.sdk_base_url, max_retries=0).models.list()
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as e:
        anthropic.Anthropic(api_key="sk-ant-wrong", base_url=ups.anthropic.sdk_base_url, max_retries=0) \
            .messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 401 and e.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(genai_errors.ClientError) as e:
        gem(ups.google, key="AIza-wrong").models.generate_content(model="gemini-2.5-flash", contents="x")
    assert e.value.code == 400 and e.value.status == "INVALID_ARGUMENT"  # what Gemini answers a bad key
    assert e.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    r = requests.post(ups.openai.url + "/v1/chat/completions", json={})
    assert r.status_code == 401 and r.json()["error"]["code"] is None
    r = requests.get(ups.google.url + "/v1beta/models")
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("status,exc", [(400, openai.BadRequestError), (401, openai.AuthenticationError),
                                        (404, openai.NotFoundError), (429, openai.RateLimitError),
                                        (500, openai.InternalServerError), (529, openai.InternalServerError)])
def test_openai_injected_errors(ups, status, exc):
    s = ups.openai
    s.fault(status, match="/chat/completions")
    with pytest.raises(exc) as e:
        oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == status
    assert set(e.value.body) == {"message", "type", "param", "code"}
    if status == 429:
        assert e.value.response.headers["retry-after"] == "1"
        assert e.value.response.headers["retry-after-ms"] == "1000"
        assert e.value.code == "rate_limit_exceeded"
    assert e.value.response.headers["x-request-id"].startswith("req_")
    # only the next one
    oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("status,exc,etype", [
    (400, anthropic.BadRequestError, "invalid_request_error"), (401, anthropic.AuthenticationError,
                                                                "authentication_error"),
    (404, anthropic.NotFoundError, "not_found_error"), (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"), (529, anthropic.OverloadedError, "overloaded_error")])
def test_anthropic_injected_errors(ups, status, exc, etype):
    s = ups.anthropic
    s.fail(status)
    with pytest.raises(exc) as e:
        ant(s).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == status and e.value.body["error"]["type"] == etype
    assert e.value.body["request_id"] == e.value.response.headers["request-id"]
    if status == 429:
        assert e.value.response.headers["retry-after"] == "1"
    assert e.value.response.headers["x-should-retry"] == ("true" if status >= 429 else "false")


@pytest.mark.parametrize("status,exc,gstatus", [(400, genai_errors.ClientError, "INVALID_ARGUMENT"),
                                                (404, genai_errors.ClientError, "NOT_FOUND"),
                                                (429, genai_errors.ClientError, "RESOURCE_EXHAUSTED"),
                                                (500, genai_errors.ServerError, "INTERNAL"),
                                                (503, genai_errors.ServerError, "UNAVAILABLE")])
def test_gemini_injected_errors(ups, status, exc, gstatus):
    s = ups.google
    s.fail(status)
    with pytest.raises(exc) as e:
        gem(s).models.generate_content(model="gemini-2.5-flash", contents="x")
    assert e.value.code == status and e.value.status == gstatus


def test_sdk_retries_follow_the_fault_count(ups):
    s = ups.openai
    s.fail(429, times=2, headers={"retry-after-ms": "10"})
    r = oai(s, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert r.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS
    assert [x.status for x in s.recorded()] == [429, 429, 200]


def test_unknown_model_and_path_are_404_in_provider_format(ups):
    with pytest.raises(openai.NotFoundError) as e:
        oai(ups.openai).chat.completions.create(model="nonexistent-model", messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "model_not_found"
    r = requests.get(ups.openai.url + "/v1/batches/xyz", headers={"Authorization": f"Bearer {ups.openai.key}"})
    assert r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (GET /v1/batches/xyz)"
    with pytest.raises(genai_errors.ClientError) as e:
        gem(ups.google).models.generate_content(model="nonexistent-model", contents="x")
    assert e.value.code == 404


# ---------------------------------------------------------------------------------------------------------------
# Mid-stream faults, pacing, disconnects

def test_stream_cut_half_way(ups):
    s = ups.openai
    s.chunk_delay = 0
    s.cut_stream(after=3)
    got = []
    with pytest.raises(openai.APIConnectionError):
        for c in oai(s).chat.completions.create(model="gpt-4o-mini", stream=True,
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": "x"}]):
            got.append(c)
    assert len(got) == 3
    rec = s.wait_finished()
    assert rec.cut and not rec.completed and rec.chunks_written == 3 and not rec.disconnected
    a = ups.anthropic
    a.cut_stream(after=2)
    # anthropic 2.12 lets the transport error through unwrapped when a stream is cut
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)):
        with ant(a).messages.stream(model="claude-haiku-4-5", max_tokens=5,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()
    # non-streaming: half the body, then closed
    s.cut_stream(after=0)
    with pytest.raises(openai.APIConnectionError):
        oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_error_events_mid_stream(ups):
    s = ups.openai
    s.chunk_delay = 0
    s.stream_error(after=2)
    got = []
    with pytest.raises(openai.APIError) as e:
        for c in oai(s).chat.completions.create(model="gpt-4o-mini", stream=True,
                                                messages=[{"role": "user", "content": "x"}]):
            got.append(c)
    assert len(got) == 2 and "server had an error" in e.value.message
    s.stream_error(after=3)
    events = []
    for ev in oai(s).responses.create(model="gpt-4o-mini", input="x", stream=True):
        events.append(ev)
    assert events[-1].type == "error" and events[-1].code == "server_error"
    a = ups.anthropic
    a.stream_error(after=3)
    with pytest.raises(anthropic.APIStatusError) as e:
        with ant(a).messages.stream(model="claude-haiku-4-5", max_tokens=5,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()
    assert e.value.body["error"]["type"] == "overloaded_error"
    g = ups.google
    g.stream_error(after=1)
    with pytest.raises(genai_errors.APIError) as e:
        list(gem(g).models.generate_content_stream(model="gemini-2.5-flash", contents="x"))
    assert e.value.code == 500


def test_slow_first_byte_times_out_and_the_upstream_sees_the_close(ups):
    s = ups.openai
    s.slow(first_byte=2.0)
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai(s, timeout=0.3).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - t0 < 1.5
    rec = s.wait_for_disconnect()
    assert rec.headers_sent_at is None and rec.chunks_written == 0
    # the next request is fast again
    oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


def test_time_to_first_chunk_and_slow_chunks(ups):
    s = ups.anthropic
    s.slow(first_byte=0.2, first_chunk=0.3, chunk=0.01)
    conn = http.client.HTTPConnection("127.0.0.1", s.port)
    body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 20, "stream": True,
                       "messages": [{"role": "user", "content": "x"}]})
    t0 = time.monotonic()
    conn.request("POST", "/v1/messages", body, {"x-api-key": s.key, "anthropic-version": "2023-06-01",
                                                  "content-type": "application/json"})
    resp = conn.getresponse()
    t_headers = time.monotonic() - t0
    resp.read1(1)
    t_first = time.monotonic() - t0
    resp.read()
    assert 0.18 < t_headers < 0.45 and t_first - t_headers > 0.25, (t_headers, t_first)


def test_stall_mid_stream_is_one_long_pause_after_n_chunks(ups):
    s = ups.openai
    s.chunk_delay = 0.01
    s.fault(stall_after=2, stall=0.5)
    chunks = list(oai(s).chat.completions.create(model="gpt-4o-mini", stream=True,
                                                 messages=[{"role": "user", "content": "x [[usage chunks=3]]"}]))
    rec = s.wait_finished(s.last())  # the SDK may return before the stand-in has marked its last write
    assert rec.completed and len(chunks) == rec.chunks_total - 1  # all but [DONE]
    gaps = [b - a for a, b in zip(rec.chunk_sent_at, rec.chunk_sent_at[1:])]
    assert gaps[1] >= 0.45 and max(gaps[:1] + gaps[2:]) < 0.2, gaps  # the pause is before the third chunk only


def test_client_disconnect_mid_stream_is_recorded(ups):
    s = ups.openai
    s.chunk_delay = 0.05
    stream = oai(s).chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": "x"}])
    it = iter(stream)
    next(it)
    next(it)
    stream.close()
    rec = s.wait_for_disconnect()
    assert rec.disconnected and not rec.completed and 2 <= rec.chunks_written < rec.chunks_total
    assert rec.finished.is_set()
    # gemini too, async client
    g = ups.google
    g.chunk_delay = 0.1

    async def main():
        c = gem(g)
        s2 = await c.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="x")
        async for _ in s2:
            break
        await s2.aclose()

    asyncio.run(main())
    rec = g.wait_for_disconnect()
    assert rec.chunks_written < rec.chunks_total


def test_fault_matching_and_persistent_faults(ups):
    s = ups.openai
    s.fault(500, match="/embeddings", times=None)
    oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            oai(s).embeddings.create(model="text-embedding-3-small", input="x")
    s.fault(418, match=lambda r: r.header("x-pick") == "me")
    assert requests.get(s.url + "/v1/models", headers={"Authorization": f"Bearer {s.key}"}).status_code == 200
    assert requests.get(s.url + "/v1/models", headers={"Authorization": f"Bearer {s.key}",
                                                       "x-pick": "me"}).status_code == 418
    s.clear_faults()
    oai(s).embeddings.create(model="text-embedding-3-small", input="x")


def test_usage_override_and_unknown_directive(ups):
    s = ups.openai
    s.usage_override = {"cached": 5, "output": 2}
    r = oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "abcd"}])
    assert (r.usage.prompt_tokens, r.usage.prompt_tokens_details.cached_tokens, r.usage.completion_tokens) == (6, 5, 2)
    assert s.expected_usage({"messages": [{"content": "abcd"}]})["wire"] == r.usage.model_dump(exclude_none=True)
    with pytest.raises(openai.BadRequestError) as e:
        oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "[[usage cahced=1]]"}])
    assert "cahced" in e.value.message


def test_keep_alive_many_requests_on_one_connection(ups):
    s = ups.google
    conn = http.client.HTTPConnection("127.0.0.1", s.port)
    for i in range(50):
        conn.request("POST", "/v1beta/models/gemini-2.5-flash:generateContent",
                     json.dumps({"contents": [{"parts": [{"text": "x" * i}]}]}), {"x-goog-api-key": s.key})
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read())["usageMetadata"]["promptTokenCount"] == max(1, -(-i // 4))
    assert len(s.recorded()) == 50


# ---------------------------------------------------------------------------------------------------------------
# Fast mode

def test_fast_mode_speaks_the_same_formats_without_a_log():
    standins = UpstreamStandIns(fast=True).start()
    try:
        o, a, g = standins
        r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert r.usage.prompt_tokens == 24 and r.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS
        chunks = list(oai(o).chat.completions.create(model="gpt-4o", stream=True, stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "x"}]))
        assert chunks[-1].usage.total_tokens == 36 and chunks[0].model == "gpt-4o-2024-08-06"
        assert oai(o).responses.create(model="gpt-4o-mini", input="x").usage.total_tokens == 36
        assert oai(o).embeddings.create(model="text-embedding-3-small", input="x").usage.prompt_tokens == 24
        with ant(a).messages.stream(model="claude-haiku-4-5", max_tokens=5,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            assert stream.get_final_message().usage.output_tokens == DEFAULT_OUTPUT_TOKENS
        assert list(gem(g).models.generate_content_stream(
            model="gemini-2.5-flash", contents="x"))[-1].usage_metadata.total_token_count == 36
        o.fail(429)
        with pytest.raises(openai.RateLimitError):
            oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="bad", base_url=o.sdk_base_url, max_retries=0).models.list()
        assert o.recorded() == [] and o.served == 6 and a.served == 1
    finally:
        standins.stop()


def test_fast_mode_serves_many_concurrent_clients():
    s = UpstreamStandIn("openai", fast=True).start()
    try:
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
        headers = {"Authorization": f"Bearer {s.key}", "Content-Type": "application/json"}
        n_threads, per = 16, 100
        errors = []

        def worker():
            c = http.client.HTTPConnection("127.0.0.1", s.port)
            for _ in range(per):
                c.request("POST", "/v1/chat/completions", body, headers)
                r = c.getresponse()
                if r.status != 200 or b'"usage"' not in r.read():
                    errors.append(r.status)

        t0 = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and s.served == n_threads * per
        assert time.monotonic() - t0 < 10
    finally:
        s.stop()


# ---------------------------------------------------------------------------------------------------------------
# What the answer says: answer_text, [[echo]], answer_refusal, tool_arguments

def _post(s, path, body):
    """POST straight to a stand-in with its provider's auth; the whole raw answer is read."""
    headers = {"openai": {"Authorization": f"Bearer {s.key}"},
               "anthropic": {"x-api-key": s.key, "anthropic-version": "2023-06-01"},
               "google": {"x-goog-api-key": s.key}}[s.provider]
    r = requests.post(s.url + path, json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


def _events(r):
    """[(event name or None, data)] of an SSE answer, its bytes decoded strictly (a split character would fail)."""
    out = []
    for block in r.content.decode("utf-8", "strict").replace("\r\n", "\n").split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None and data != "[DONE]":
            out.append((name, json.loads(data)))
    return out


def _chat_stream(s, text_prompt="hi", **kw):
    body = dict({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text_prompt}], "stream": True,
                 "stream_options": {"include_usage": True}}, **kw)
    return [d for _, d in _events(_post(s, "/v1/chat/completions", body))]


def _responses_stream(s, text_prompt="hi", **kw):
    return _events(_post(s, "/v1/responses", dict({"model": "gpt-4o-mini", "input": text_prompt, "stream": True},
                                                  **kw)))


def _anthropic_stream(s, text_prompt="hi", max_tokens=1024):
    return _events(_post(s, "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": max_tokens, "stream": True,
                                             "messages": [{"role": "user", "content": text_prompt}]}))


def _gemini(s, text_prompt="hi", action="generateContent", query="", **gc):
    body = {"contents": [{"role": "user", "parts": [{"text": text_prompt}]}]}
    if gc:
        body["generationConfig"] = gc
    return _post(s, f"/v1beta/models/gemini-2.5-flash:{action}{query}", body)


def _gemini_texts(frames):
    return [p["text"] for f in frames for c in f["candidates"] for p in c.get("content", {}).get("parts", [])
            if "text" in p]


ANSWER = "The stand-in says exactly this, nothing more."  # 45 utf-8 bytes: 12 tokens
MULTIBYTE = "héllo 👋🏽 世界和平 🇫🇷 ok ✓ 🎉"  # 1-, 2-, 3- and 4-byte characters, a skin tone and a flag


def test_answer_text_openai_chat_whole_and_streamed(ups):
    s = ups.openai
    s.chunk_delay = 0
    s.answer_text = ANSWER
    raw = oai(s).chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                           messages=[{"role": "user", "content": PROMPT}])
    r = raw.parse()
    assert r.choices[0].message.content == ANSWER and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 12 and json.loads(raw.headers["x-standin-usage"])["output_tokens"] == 12
    assert s.expected_usage({"messages": [{"content": PROMPT}]})["output_tokens"] == 12
    chunks = _chat_stream(s, PROMPT)
    deltas = [c["choices"][0]["delta"]["content"] for c in chunks if c["choices"] and c["choices"][0]["delta"].get(
        "content")]
    assert "".join(deltas) == ANSWER and len(deltas) == 4  # DEFAULT_STREAM_CHUNKS
    assert chunks[-1]["usage"]["completion_tokens"] == 12 and chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert s.last().usage["output_tokens"] == 12
    # the chunks= directive still sets the number of pieces; the SDK reassembles the same text
    deltas = [c["choices"][0]["delta"]["content"] for c in _chat_stream(s, "x [[usage chunks=2]]")
              if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert deltas == [ANSWER[:23], ANSWER[23:]]
    with oai(s).chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                        stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == ANSWER and final.usage.completion_tokens == 12
    # n choices: each says it, the output counts each
    r = oai(s).chat.completions.create(model="gpt-4o-mini", n=2, messages=[{"role": "user", "content": "x"}])
    assert [c.message.content for c in r.choices] == [ANSWER, ANSWER] and r.usage.completion_tokens == 24
    # text even when tools are offered
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
    r = oai(s).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], tools=tools)
    assert r.choices[0].message.content == ANSWER and r.choices[0].message.tool_calls is None


def test_answer_text_openai_responses_and_legacy_completions(ups):
    s = ups.openai
    s.chunk_delay = 0
    s.answer_text = ANSWER
    r = oai(s).responses.create(model="gpt-4o-mini", input=PROMPT)
    assert r.output_text == ANSWER and r.status == "completed" and r.usage.output_tokens == 12
    events = _responses_stream(s, PROMPT)
    deltas = [d["delta"] for name, d in events if name == "response.output_text.delta"]
    assert "".join(deltas) == ANSWER and len(deltas) == 4
    assert [d["text"] for name, d in events if name == "response.output_text.done"] == [ANSWER]
    assert events[-1][0] == "response.completed" and events[-1][1]["response"]["usage"]["output_tokens"] == 12
    assert events[-1][1]["response"]["output"][0]["content"][0]["text"] == ANSWER
    with oai(s).responses.stream(model="gpt-4o-mini", input="x") as stream:
        assert stream.get_final_response().output_text == ANSWER
    r = oai(s).completions.create(model="gpt-3.5-turbo-instruct", prompt="x", max_tokens=100)
    assert r.choices[0].text == ANSWER and r.usage.completion_tokens == 12
    chunks = [d for _, d in _events(_post(s, "/v1/completions", {
        "model": "gpt-3.5-turbo-instruct", "prompt": "x", "max_tokens": 100, "stream": True,
        "stream_options": {"include_usage": True}}))]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == ANSWER
    assert chunks[-1]["usage"]["completion_tokens"] == 12 and chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_answer_text_anthropic_whole_and_streamed(ups):
    s = ups.anthropic
    s.chunk_delay = 0
    s.answer_text = ANSWER
    params = {"model": "claude-haiku-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}]}
    raw = ant(s).messages.with_raw_response.create(**params)
    m = raw.parse()
    assert [(b.type, b.text) for b in m.content] == [("text", ANSWER)] and m.stop_reason == "end_turn"
    assert m.usage.output_tokens == 12 and json.loads(raw.headers["x-standin-usage"])["output_tokens"] == 12
    events = _anthropic_stream(s, PROMPT)
    deltas = [d["delta"]["text"] for name, d in events if name == "content_block_delta"]
    assert "".join(deltas) == ANSWER and len(deltas) == 4
    delta = [d for name, d in events if name == "message_delta"][0]
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"] == {"output_tokens": 12}
    with ant(s).messages.stream(**params) as stream:
        assert "".join(stream.text_stream) == ANSWER
        assert stream.get_final_message().usage.output_tokens == 12
    # thinking stays apart from the visible text; reasoning still adds to the output
    m = ant(s).messages.create(**dict(params, messages=[{"role": "user", "content": "x [[usage reasoning=5]]"}]))
    assert [b.type for b in m.content] == ["thinking", "text"] and m.content[1].text == ANSWER
    assert m.usage.output_tokens == 17


def test_answer_text_gemini_whole_sse_and_json_array(ups):
    s = ups.google
    s.chunk_delay = 0
    s.answer_text = ANSWER
    r = gem(s).models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert r.text == ANSWER and r.candidates[0].finish_reason.name == "STOP"
    assert r.usage_metadata.candidates_token_count == 12
    frames = [d for _, d in _events(_gemini(s, PROMPT, "streamGenerateContent", "?alt=sse"))]
    assert "".join(_gemini_texts(frames)) == ANSWER and len(frames) == 4
    # running totals: the count of the text so far, the last one exact
    assert [f["usageMetadata"]["candidatesTokenCount"] for f in frames] == [3, 6, 9, 12]
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    r = _gemini(s, PROMPT, "streamGenerateContent")
    frames = json.loads(r.content.decode("utf-8", "strict"))
    assert "".join(_gemini_texts(frames)) == ANSWER and frames[-1]["usageMetadata"]["candidatesTokenCount"] == 12
    assert "".join(c.text for c in gem(s).models.generate_content_stream(model="gemini-2.5-flash",
                                                                         contents="x")) == ANSWER
    assert json.loads(s.last().response_headers["x-standin-usage"])["output_tokens"] == 12


def test_multibyte_answer_text_streams_in_pieces_and_reassembles_exactly(ups):
    n_bytes = len(MULTIBYTE.encode())
    assert n_bytes == 49  # 13 tokens
    prompt = "x [[usage chunks=7]]"
    for s in ups:
        s.chunk_delay = 0
        s.answer_text = MULTIBYTE
    o, a, g = ups
    deltas = [c["choices"][0]["delta"]["content"] for c in _chat_stream(o, prompt)
              if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert "".join(deltas) == MULTIBYTE and len(deltas) == 7
    assert o.last().usage["output_tokens"] == 13
    deltas = [d["delta"] for name, d in _responses_stream(o, prompt) if name == "response.output_text.delta"]
    assert "".join(deltas) == MULTIBYTE and len(deltas) == 7
    chunks = [d for _, d in _events(_post(o, "/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": prompt,
                                                                  "max_tokens": 100, "stream": True}))]
    assert "".join(c["choices"][0]["text"] for c in chunks) == MULTIBYTE and len(chunks) == 7
    deltas = [d["delta"]["text"] for name, d in _anthropic_stream(a, prompt) if name == "content_block_delta"]
    assert "".join(deltas) == MULTIBYTE and len(deltas) == 7
    assert a.last().usage["output_tokens"] == 13
    frames = [d for _, d in _events(_gemini(g, prompt, "streamGenerateContent", "?alt=sse"))]
    assert "".join(_gemini_texts(frames)) == MULTIBYTE and len(frames) == 7
    assert frames[-1]["usageMetadata"]["candidatesTokenCount"] == 13
    frames = json.loads(_gemini(g, prompt, "streamGenerateContent").content.decode("utf-8", "strict"))
    assert "".join(_gemini_texts(frames)) == MULTIBYTE and len(frames) == 7
    # every piece is whole characters: each HTTP chunk decodes on its own
    r = requests.post(a.url + "/v1/messages", stream=True, headers={"x-api-key": a.key,
                                                                     "anthropic-version": "2023-06-01"},
                      json={"model": "claude-haiku-4-5", "max_tokens": 100, "stream": True,
                            "messages": [{"role": "user", "content": prompt}]})
    pieces = [c.decode("utf-8", "strict") for c in r.raw.stream(decode_content=False)]
    assert len(pieces) >= 7
    # the SDKs agree
    assert "".join(c.choices[0].delta.content or "" for c in oai(o).chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": prompt}])) == MULTIBYTE
    assert "".join(c.text for c in gem(g).models.generate_content_stream(model="gemini-2.5-flash",
                                                                         contents=prompt)) == MULTIBYTE


def test_echo_directive_returns_the_last_prompt_text(ups):
    marker = "marker-" + os.urandom(6).hex()
    last = f"Repeat {marker} please [[echo]] [[usage cached=8 chunks=2]]"
    tokens = -(-len(last.encode()) // 4)
    o, a, g = ups
    for s in ups:
        s.chunk_delay = 0
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": [{"type": "text", "text": last}]}])
    assert r.choices[0].message.content == last and r.usage.completion_tokens == tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 8  # the other directives still work
    deltas = [c["choices"][0]["delta"]["content"] for c in _chat_stream(o, last)
              if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert "".join(deltas) == last and len(deltas) == 2
    o.answer_text = "ignored: the directive wins"
    assert oai(o).responses.create(model="gpt-4o-mini", instructions="Be brief.", input=last).output_text == last
    r = oai(o).completions.create(model="gpt-3.5-turbo-instruct", prompt=last, max_tokens=100)
    assert r.choices[0].text == last
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=1024, system="Be brief.",
                               messages=[{"role": "user", "content": last}])
    assert m.content[0].text == last and m.usage.output_tokens == tokens
    assert "".join(d["delta"]["text"] for name, d in _anthropic_stream(a, last)
                   if name == "content_block_delta") == last
    r = gem(g).models.generate_content(model="gemini-2.5-flash", contents=last)
    assert r.text == last and r.usage_metadata.candidates_token_count == tokens
    assert marker in "".join(_gemini_texts(json.loads(_gemini(g, last, "streamGenerateContent").content)))
    assert expected_usage("anthropic", {"messages": [{"content": last}], "max_tokens": 1024})["usage"].answer == last


def test_answer_refusal_in_each_providers_shape(ups):
    refusal = "I can't help with that. 🙅"  # 28 bytes: 7 tokens
    o, a, g = ups
    for s in ups:
        s.chunk_delay = 0
        s.answer_refusal = refusal
    # OpenAI chat
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    msg = r.choices[0].message
    assert msg.content is None and msg.refusal == refusal and r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 7
    chunks = _chat_stream(o)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None, "refusal": ""}
    pieces = [c["choices"][0]["delta"]["refusal"] for c in chunks[1:] if c["choices"] and "refusal" in c["choices"][
        0]["delta"]]
    assert "".join(pieces) == refusal and len(pieces) == 4
    assert not any(c["choices"][0]["delta"].get("content") for c in chunks if c["choices"])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["completion_tokens"] == 7
    with oai(o).chat.completions.stream(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.refusal == refusal and final.choices[0].message.content is None
    # OpenAI Responses
    r = oai(o).responses.create(model="gpt-4o-mini", input="x")
    assert r.status == "completed" and r.output[0].type == "message"
    assert r.output[0].content[0].model_dump() == {"type": "refusal", "refusal": refusal}
    assert r.output_text == "" and r.usage.output_tokens == 7
    events = _responses_stream(o)
    assert "".join(d["delta"] for name, d in events if name == "response.refusal.delta") == refusal
    assert [d["refusal"] for name, d in events if name == "response.refusal.done"] == [refusal]
    assert not [name for name, _ in events if name.startswith("response.output_text")]
    assert events[-1][1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": refusal}]
    with oai(o).responses.stream(model="gpt-4o-mini", input="x") as stream:
        assert stream.get_final_response().output[0].content[0].refusal == refusal
    # Anthropic
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=1024, messages=[{"role": "user", "content": "x"}])
    assert m.stop_reason == "refusal" and [(b.type, b.text) for b in m.content] == [("text", refusal)]
    assert m.usage.output_tokens == 7
    events = _anthropic_stream(a)
    assert "".join(d["delta"]["text"] for name, d in events if name == "content_block_delta") == refusal
    assert [d["delta"]["stop_reason"] for name, d in events if name == "message_delta"] == ["refusal"]
    # Gemini: SAFETY, no text
    body = _gemini(g).json()
    cand = body["candidates"][0]
    assert cand["finishReason"] == "SAFETY" and "content" not in cand and cand["safetyRatings"][0]["blocked"] is True
    assert body["usageMetadata"]["candidatesTokenCount"] == 7
    r = gem(g).models.generate_content(model="gemini-2.5-flash", contents="x")
    assert r.candidates[0].finish_reason.name == "SAFETY" and r.text is None
    frames = [d for _, d in _events(_gemini(g, "x", "streamGenerateContent", "?alt=sse"))]
    assert [c["finishReason"] for f in frames for c in f["candidates"]] == ["SAFETY"] and _gemini_texts(frames) == []
    assert frames[-1]["usageMetadata"]["candidatesTokenCount"] == 7


def test_tool_arguments_are_sent_exactly(ups):
    broken = '{"city": "Par\u00eds", "unit": '  # invalid JSON on purpose: 27 bytes, 7 tokens
    o, a, g = ups
    for s in ups:
        s.chunk_delay = 0
        s.tool_arguments = broken
    # OpenAI chat, whole and streamed fragments
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    call = r.choices[0].message.tool_calls[0]
    assert (call.type, call.function.name, call.function.arguments) == ("function", "lookup", broken)
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    assert r.usage.completion_tokens == 7
    chunks = _chat_stream(o)
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["id"].startswith("call_") and first["type"] == "function" and first["function"] == {
        "name": "lookup", "arguments": ""}
    frags = [c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:]
             if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert "".join(frags) == broken and len(frags) == 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls" and chunks[-1]["usage"]["completion_tokens"] == 7
    # the request's tool names the call
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], tools=tools)
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert r.choices[0].message.tool_calls[0].function.arguments == broken
    # Responses
    r = oai(o).responses.create(model="gpt-4o-mini", input="x")
    assert (r.output[0].type, r.output[0].name, r.output[0].arguments) == ("function_call", "lookup", broken)
    events = _responses_stream(o)
    assert "".join(d["delta"] for name, d in events if name == "response.function_call_arguments.delta") == broken
    # Anthropic: whole answers carry an object; streams the exact partial_json
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=1024, messages=[{"role": "user", "content": "x"}])
    assert m.stop_reason == "tool_use" and m.content[0].type == "tool_use" and m.content[0].name == "lookup"
    assert m.content[0].input == {"raw": broken} and m.usage.output_tokens == 7
    events = _anthropic_stream(a)
    start = [d for name, d in events if name == "content_block_start"][0]["content_block"]
    assert start["type"] == "tool_use" and start["input"] == {} and start["name"] == "lookup"
    partial = [d["delta"]["partial_json"] for name, d in events if name == "content_block_delta"]
    assert "".join(partial) == broken and len(partial) == 4
    assert [d["delta"]["stop_reason"] for name, d in events if name == "message_delta"] == ["tool_use"]
    a.tool_arguments = '{"city":"Paris","days":[1,2]}'
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=1024, messages=[{"role": "user", "content": "x"}])
    assert m.content[0].input == {"city": "Paris", "days": [1, 2]}
    assert "".join(d["delta"]["partial_json"] for name, d in _anthropic_stream(a)
                   if name == "content_block_delta") == '{"city":"Paris","days":[1,2]}'
    # Gemini: functionCall args are an object
    cand = _gemini(g).json()["candidates"][0]
    assert cand["content"]["parts"] == [{"functionCall": {"name": "lookup", "args": {"raw": broken}}}]
    assert cand["finishReason"] == "STOP"
    # legacy completions have no tool calls: the default words
    r = oai(o).completions.create(model="gpt-3.5-turbo-instruct", prompt="x", max_tokens=100)
    assert r.choices[0].text == output_text(expected_usage("openai", {"prompt": "x", "max_tokens": 100})["usage"])


def test_max_tokens_cut_answer_text(ups):
    o, a, g = ups
    text = "世界和平" + "abcdefgh"  # 12 + 8 bytes: 5 tokens
    for s in ups:
        s.chunk_delay = 0
        s.answer_text = text
    # 2 tokens = 8 bytes: two 3-byte characters fit, the third would not
    r = oai(o).chat.completions.create(model="gpt-4o-mini", max_tokens=2, messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "世界" and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 2
    chunks = _chat_stream(o, max_completion_tokens=4)  # 16 bytes
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "世界和平abcd"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length" and chunks[-1]["usage"]["completion_tokens"] == 4
    r = oai(o).responses.create(model="gpt-4o-mini", input="x", max_output_tokens=3)
    assert r.status == "incomplete" and r.output_text == "世界和平" and r.usage.output_tokens == 3
    events = _responses_stream(o, max_output_tokens=3)
    assert events[-1][0] == "response.incomplete"
    assert "".join(d["delta"] for name, d in events if name == "response.output_text.delta") == "世界和平"
    r = oai(o).completions.create(model="gpt-3.5-turbo-instruct", prompt="x")  # the endpoint's default 16 fits
    assert r.choices[0].text == text and r.choices[0].finish_reason == "stop"
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    assert m.content[0].text == "世" and m.stop_reason == "max_tokens" and m.usage.output_tokens == 1
    events = _anthropic_stream(a, max_tokens=1)
    assert [d["delta"]["stop_reason"] for name, d in events if name == "message_delta"] == ["max_tokens"]
    body = _gemini(g, maxOutputTokens=4).json()
    assert body["candidates"][0]["content"]["parts"] == [{"text": "世界和平abcd"}]
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS" and body["usageMetadata"]["candidatesTokenCount"] == 4
    assert json.loads(g.last().response_headers["x-standin-usage"])["output_tokens"] == 4
    # at the limit exactly: whole, not cut
    r = oai(o).chat.completions.create(model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == text and r.choices[0].finish_reason == "stop"


def test_empty_answer_text_and_reset(ups):
    o, a, g = ups
    for s in ups:
        s.chunk_delay = 0
        s.answer_text = ""
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == "" and r.usage.completion_tokens == 0
    chunks = _chat_stream(o)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == ""
    assert chunks[-1]["usage"]["completion_tokens"] == 0
    r = oai(o).responses.create(model="gpt-4o-mini", input="x")
    assert r.output_text == "" and r.usage.output_tokens == 0
    m = ant(a).messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert [(b.type, b.text) for b in m.content] == [("text", "")] and m.usage.output_tokens == 0
    body = _gemini(g).json()
    assert body["candidates"][0]["content"]["parts"] == [{"text": ""}]
    assert "candidatesTokenCount" not in body["usageMetadata"]  # a zero count is omitted
    o.answer_refusal = "no"
    o.tool_arguments = "{}"
    ups.reset()
    for s in ups:
        assert (s.answer_text, s.answer_refusal, s.tool_arguments) == (None, None, None)
    r = oai(o).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.content == output_text(expected_usage("openai", {"messages": [{"content": "x"}]})[
        "usage"]) and r.usage.completion_tokens == DEFAULT_OUTPUT_TOKENS
