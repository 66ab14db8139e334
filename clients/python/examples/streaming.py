"""Streaming through the wrappers: chunks reach the app unchanged, the usage is read from the stream.

For an OpenAI chat stream that does not ask for usage, the wrapper asks for it (stream_options.include_usage) and
keeps the extra usage-only chunk from the app, so the app sees the stream it asked for.
"""
import dataclasses
import json
import os
import sys

import anthropic
import openai

from tally_client import Tally

tally = Tally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"])
oai = tally.wrap(openai.OpenAI())
claude = tally.wrap(anthropic.Anthropic())

with tally.attribute(feature="streaming-example"):
    chunks = 0
    for chunk in oai.chat.completions.create(model="gpt-4o-mini", stream=True,
                                             messages=[{"role": "user", "content": "Count to five."}]):
        assert chunk.choices, "a usage-only chunk the app did not ask for"
        sys.stdout.write(chunk.choices[0].delta.content or "")
        chunks += 1
    print(f"\n({chunks} openai chunks)")

    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=200,
                                messages=[{"role": "user", "content": "Count to five."}]) as stream:
        for text in stream.text_stream:
            sys.stdout.write(text)
        final = stream.get_final_message()
    print(f"\n(anthropic: {final.usage.output_tokens} output tokens, stop: {final.stop_reason})")

tally.close()
print(json.dumps({"events": 2, "stats": dataclasses.asdict(tally.stats), "upstream_calls": 2}))
