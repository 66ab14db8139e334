"""Pricing from the command line, beside a running server: import LiteLLM prices, list them, re-price on purpose."""
import json

import requests


LITELLM = {
    "sample_spec": {"input_cost_per_token": 0},
    "acme-large": {"litellm_provider": "acme", "mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
    "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 1e-07},
}


def test_import_list_and_recompute(any_tally, tmp_path):
    server = any_tally.serve()
    token = any_tally.token(scopes="ingest,read")
    headers = {"Authorization": f"Bearer {token}"}
    body = [{"id": "a1", "timestamp": "2026-11-20T10:00:00Z", "provider": "acme", "model": "acme-large",
             "input_tokens": 1000, "output_tokens": 500},
            {"id": "g1", "timestamp": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
             "input_tokens": 1000, "output_tokens": 500}]
    assert requests.post(server.url + "/api/v1/events", headers=headers, json=body).status_code == 200
    assert requests.get(server.url + "/api/v1/events/a1", headers=headers).json()["cost_usd"] is None

    prices = tmp_path / "litellm.json"
    prices.write_text(json.dumps(LITELLM))
    out = any_tally.cli("prices", "import", str(prices), "--from", "2026-01-01").stdout
    assert "imported 1 entries" in out and "skipped 1" in out
    listing = any_tally.cli("prices", "list", "--model", "acme-large").stdout
    assert "acme-large" in listing and "organization" in listing

    # Stored costs do not move by themselves; a dry run shows the change, the real run applies it.
    dry = json.loads(any_tally.cli("prices", "recompute", "--from", "2026-11-01", "--to", "2026-12-01", "--dry-run").stdout)
    # acme-large: 1000×1 + 500×2 per 1M = 0.002; gpt-4o-mini unchanged: 1000×0.15 + 500×0.60 = 0.00045
    assert (dry["events"], dry["changed"], dry["cost_before"], dry["cost_after"]) == (2, 1, "0.00045", "0.00245")
    assert requests.get(server.url + "/api/v1/events/a1", headers=headers).json()["cost_usd"] is None
    applied = json.loads(any_tally.cli("prices", "recompute", "--from", "2026-11-01", "--to", "2026-12-01").stdout)
    assert applied["applied"] is True
    assert requests.get(server.url + "/api/v1/events/a1", headers=headers).json()["cost_usd"] == "0.002"
    summary = requests.get(server.url + "/api/v1/usage/summary?from=2026-11-01&to=2026-12-01", headers=headers).json()
    assert summary["totals"]["cost_usd"] == "0.00245" and summary["totals"]["unpriced_requests"] == 0
