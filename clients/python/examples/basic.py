"""Record events by hand: the smallest use of tally-client.

    TALLY_URL=http://127.0.0.1:8080 TALLY_TOKEN=tly_... python basic.py
"""
import dataclasses
import datetime
import json
import os
import uuid

from tally_client import Tally

tally = Tally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"])

ids = []
# Who and what the usage is for: every event recorded inside the block carries these values.
with tally.attribute(feature="basic-example", user="u-42", environment="dev"):
    ids.append(tally.record(provider="openai", model="gpt-4o-mini", input_tokens=1200, output_tokens=300,
                            cached_input_tokens=200, latency_ms=840))
    ids.append(tally.record(provider="anthropic", model="claude-sonnet-4-5", input_tokens=12000,
                            cached_input_tokens=8000, cache_write_input_tokens=3000, output_tokens=900,
                            streamed=True, tags={"route": "/chat"}))
# An event with its own id and time: recording it again (say, after a crash) is counted as a duplicate, not stored.
ids.append(tally.record(id=f"basic-example-{uuid.uuid4().hex[:8]}",
                        timestamp=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5),
                        provider="openai", model="text-embedding-3-small", operation="embedding", input_tokens=64))

tally.flush()  # blocks until the three are acknowledged (or given up); record() itself never waits
print(f"recorded {len(ids)} events: {', '.join(ids)}")
stats = dataclasses.asdict(tally.stats)
print(f"sent={stats['sent']} dropped={stats['dropped']} retries={stats['retries']}")
tally.close()
print(json.dumps({"events": len(ids), "ids": ids, "stats": stats, "tokens": 1500 + 12900 + 64}))
