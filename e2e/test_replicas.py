"""Two `tally serve` replicas on one PostgreSQL: concurrent migrations, exact totals, revocation seen by both."""
import threading

import pytest
import requests

from conftest import PG_URL, Tally, event, fresh_postgres_url


@pytest.mark.skipif(not PG_URL, reason="TALLY_TEST_POSTGRES_URL is not set")
def test_two_replicas_share_one_postgres(tmp_path):
    t = Tally(str(tmp_path), fresh_postgres_url())
    try:
        a, b = t.serve(wait=False), t.serve(wait=False)  # both migrate at the same moment
        a.wait_ready()
        b.wait_ready()
        token = t.token()
        expected = {}

        def sender(server, n):
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {token}"
            for batch in range(10):
                # Ids overlap between the two replicas' senders (n % 4) so duplicates race across replicas.
                events = [event(f"r{n % 4}-{batch}-{k}", input_tokens=n % 4 + k, output_tokens=1) for k in range(100)]
                r = s.post(server.url + "/api/v1/events", json=events, timeout=30)
                assert r.status_code == 200, r.text
                for e in events:
                    expected[e["id"]] = e["input_tokens"]

        threads = [threading.Thread(target=sender, args=(a if n % 2 else b, n)) for n in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

        for server in (a, b):
            r = requests.get(server.url + "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
            totals = r.json()["totals"]
            assert totals["requests"] == len(expected)
            assert totals["input_tokens"] == sum(expected.values())
            assert totals["output_tokens"] == len(expected)

        token_id = [line.split("\t")[0] for line in t.cli("tokens", "list").stdout.splitlines()[1:]][0]
        t.cli("tokens", "revoke", token_id)
        for server in (a, b):
            r = requests.get(server.url + "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 401
    finally:
        t.stop_all()
