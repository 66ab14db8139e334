"""An acknowledged event survives kill -9 of the server, exactly once."""
import threading
from collections import Counter

import requests

from conftest import all_event_ids, event, wait_until


def test_acknowledged_events_survive_kill_9(any_tally):
    token = any_tally.token()
    server = any_tally.serve()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        session = requests.Session()
        session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        i = 0
        while not stop.is_set():
            ids = [f"c{n}-{i}-{k}" for k in range(1 if i % 2 == 0 else 5)]
            i += 1
            try:
                r = session.post(server.url + "/api/v1/events", json=[event(x) for x in ids], timeout=5)
            except requests.RequestException:
                return  # the server died mid-request: not acknowledged
            if r.status_code == 200:
                with lock:
                    acknowledged.extend(ids)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    # Kill under load: once well over the 100 acknowledged events asserted below, with all 16 clients still posting.
    wait_until(lambda: len(acknowledged) >= 300, 60, "300 acknowledged events")
    server.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) > 100, "the load should have been acknowledged for a while before the kill"

    restarted = any_tally.serve()
    stored = all_event_ids(restarted, token)
    counts = Counter(stored)
    assert [i for i, c in counts.items() if c > 1] == []
    missing = set(acknowledged) - set(stored)
    assert missing == set(), f"{len(missing)} acknowledged events were lost"

    replay = requests.post(restarted.url + "/api/v1/events", json=[event(x) for x in acknowledged[:50]],
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert replay.json() == {"accepted": 0, "duplicates": 50}
