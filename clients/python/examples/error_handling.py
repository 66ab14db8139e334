"""What "never raises" means: tracking problems are logged and counted, the app's own errors stay the app's.

- An SDK call that fails raises the SDK's own exception, unchanged; it is recorded as an error event.
- An event Tally would refuse is dropped with a warning naming the field; record() does not raise.
- An unreachable Tally: the batch is retried, then dropped with a warning; flush() and close() do not raise.
"""
import dataclasses
import json
import logging
import os

import openai

from tally_client import Tally

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

tally = Tally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"])
oai = tally.wrap(openai.OpenAI(max_retries=0))

try:
    oai.chat.completions.create(model="gpt-nonexistent", messages=[{"role": "user", "content": "hi"}])
except openai.NotFoundError as e:  # the SDK's own exception, as without the wrapper
    print(f"the app got {type(e).__name__} (HTTP {e.status_code}); Tally records it as an error event")
    request_id = e.request_id

# Not an event field: dropped at once, with a warning naming it.
print("record() with a bad field returned", tally.record(provider="openai", model="gpt-4o", colour="blue"))

# A Tally that cannot be reached: retried (here once, quickly), then dropped with a warning.
unreachable = Tally("http://127.0.0.1:9", "tly_unused", max_retries=1, backoff_base=0.05, timeout=2)
unreachable.record(provider="openai", model="gpt-4o", input_tokens=1)
unreachable.close()
print("unreachable Tally:", dataclasses.asdict(unreachable.stats))

tally.close()
print(json.dumps({"events": 1, "request_ids": [request_id], "stats": dataclasses.asdict(tally.stats),
                  "expected_dropped": 1, "unreachable_dropped": unreachable.stats.dropped, "upstream_calls": 1}))
