"""Wrap the OpenAI and Anthropic clients: every call is recorded, the app's code does not change.

    TALLY_URL=... TALLY_TOKEN=tly_... OPENAI_API_KEY=... ANTHROPIC_API_KEY=... python chat.py
(OPENAI_BASE_URL / ANTHROPIC_BASE_URL, when set, are read by the SDKs themselves.)
"""
import dataclasses
import json
import os

import anthropic
import openai

from tally_client import Tally

tally = Tally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"])
oai = tally.wrap(openai.OpenAI())           # the same client object, its create calls recorded
claude = tally.wrap(anthropic.Anthropic())

with tally.attribute(feature="chat-example", user="u-7"):
    r = oai.chat.completions.create(model="gpt-4o-mini",
                                    messages=[{"role": "user", "content": "Say hello in five words."}])
    print("openai:", r.choices[0].message.content)
    m = claude.messages.create(model="claude-haiku-4-5", max_tokens=200,
                               messages=[{"role": "user", "content": "And you, Claude?"}])
    print("anthropic:", m.content[0].text)

tokens = r.usage.prompt_tokens + r.usage.completion_tokens
u = m.usage  # Anthropic's input_tokens leaves out cache reads and writes; Tally's counts all input
tokens += (u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
           + u.output_tokens)
tally.close()  # flushes
print(json.dumps({"events": 2, "request_ids": [r._request_id, m._request_id], "tokens": tokens,
                  "stats": dataclasses.asdict(tally.stats), "upstream_calls": 2}))
