"""Many events, few requests: record() only queues; a background thread sends batches of `batch_size`.

Here 250 events go in 3 requests (100, 100, 50). Each event's id is made on the client, so a batch retried after a
lost answer is counted as duplicates by Tally instead of stored twice.
"""
import dataclasses
import json
import os
import time

from tally_client import Tally

tally = Tally(os.environ.get("TALLY_URL", "http://127.0.0.1:8080"), os.environ["TALLY_TOKEN"],
              batch_size=100, flush_interval=5.0)

started = time.perf_counter()
with tally.attribute(feature="batch-example", environment="batch"):
    ids = [tally.record(provider="openai", model="gpt-4o-mini", input_tokens=10 + i % 7, output_tokens=5, batch=True)
           for i in range(250)]
queued_in = time.perf_counter() - started
tally.flush()
stats = dataclasses.asdict(tally.stats)
print(f"queued 250 events in {queued_in * 1000:.1f} ms; sent {stats['sent']} in {stats['requests']} requests")
tally.close()
print(json.dumps({"events": len(ids), "ids": ids, "stats": stats,
                  "tokens": sum(10 + i % 7 + 5 for i in range(250))}))
