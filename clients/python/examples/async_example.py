"""asyncio: AsyncTally and the async SDK clients, several calls at once, each attributed to its own user.

attribute() uses a context variable, so each task keeps its own values.
"""
import asyncio
import dataclasses
import json
import os

import anthropic
import openai

from tally_client import AsyncTally


async def main():
    async with AsyncTally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"]) as tally:
        oai = tally.wrap(openai.AsyncOpenAI())
        claude = tally.wrap(anthropic.AsyncAnthropic())

        async def ask_openai(user, question):
            with tally.attribute(feature="async-example", user=user):
                r = await oai.chat.completions.create(model="gpt-4o-mini",
                                                      messages=[{"role": "user", "content": question}])
                return r._request_id, r.choices[0].message.content

        async def ask_claude(user, question):
            with tally.attribute(feature="async-example", user=user):
                stream = await claude.messages.create(model="claude-haiku-4-5", max_tokens=100, stream=True,
                                                      messages=[{"role": "user", "content": question}])
                text = ""
                async for event in stream:
                    if event.type == "content_block_delta":
                        text += event.delta.text
                return stream.response.headers.get("request-id"), text

        answers = await asyncio.gather(ask_openai("alice", "Hi?"), ask_openai("bob", "Hello?"),
                                       ask_claude("carol", "Hey?"))
        for request_id, text in answers:
            print(f"{request_id}: {text}")
        await tally.flush()
        await oai.close()
        await claude.close()
    print(json.dumps({"events": 3, "request_ids": [a[0] for a in answers],
                      "stats": dataclasses.asdict(tally.stats), "upstream_calls": 3}))


asyncio.run(main())
