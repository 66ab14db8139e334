"""scripts/price-crosscheck and scripts/price-gaps on small made-up data: no package is downloaded.

The real runs (against the pinned genai-prices, LiteLLM and SDKs) are steps of scripts/test; these pin the rules
those runs rely on: how the catalog side of a cell is computed, how LiteLLM's keys are read, and that an unlisted,
changed or stale difference and an unexplained or stale SDK gap fail the run.
"""
import datetime as dt
import importlib.machinery
import importlib.util
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def load(name):
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(SCRIPTS / name))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


crosscheck = load("price-crosscheck")
gaps = load("price-gaps")


def entry(model, **fields):
    e = {"id": f"openai:{model}:2025-01-01", "provider": "openai", "model": model, "aliases": [],
         "from": "2025-01-01", "to": None, "source": "https://example.test/", "checked": "2026-12-03",
         "prices": {"input": "2.00", "cached_input": "0.20", "output": "8.00"}, "batch": "0.5"}
    e.update(fields)
    return e


def rates(e, level, variant):
    r, stated, modelled = crosscheck.catalog_cell(e, level, variant)
    return {c: str(v.normalize()) for c, v in r.items() if c in ("input", "cached_input", "output")}, stated, modelled


# ---------------------------------------------------------------- the catalog's side of a cell


def test_batch_bills_a_class_named_in_batch_prices_at_that_rate_and_the_others_at_the_multiplier():
    e = entry("m", batch_prices={"cached_input": "0.20"})
    assert rates(e, 0, "batch") == ({"input": "1", "cached_input": "0.2", "output": "4"}, {"cached_input"}, True)
    assert crosscheck.catalog_cell(e, 0, "batch")[0][crosscheck.CACHED_AUDIO] == Decimal("0.20")
    assert rates(entry("m"), 0, "batch")[0]["cached_input"] == "0.1"
    assert rates(entry("m", batch=None), 0, "batch")[2] is False


def test_a_service_tier_is_its_own_set_else_its_multiplier_else_standard_and_fast_falls_back_to_priority():
    e = entry("m", service_tiers={"flex": {"input": "1.00", "output": "4.00"}},
              service_tier_multipliers={"priority": "1.8"})
    flex, stated, modelled = rates(e, 0, "flex")
    # A set's own fallbacks apply inside it: flex cached input falls back to flex input, not to standard.
    assert (flex, stated, modelled) == ({"input": "1", "cached_input": "1", "output": "4"}, {"input", "output"}, True)
    assert rates(e, 0, "priority") == ({"input": "3.6", "cached_input": "0.36", "output": "14.4"}, set(), True)
    assert rates(e, 0, "fast")[0] == rates(e, 0, "priority")[0]
    assert rates(entry("m"), 0, "flex") == ({"input": "2", "cached_input": "0.2", "output": "8"}, set(), False)


def test_a_long_context_tier_uses_its_own_rates_service_tiers_and_batch_prices():
    tier = {"above_input_tokens": 272000, "prices": {"input": "4.00", "cached_input": "0.40", "output": "12.00"},
            "service_tiers": {"flex": {"input": "2.00", "cached_input": "0.20", "output": "6.00"}},
            "batch_prices": {"cached_input": "0.40"}}
    e = entry("m", tiers=[tier], service_tiers={"flex": {"input": "1.00", "cached_input": "0.10", "output": "4.00"}},
              batch_prices={"cached_input": "0.20"})
    assert rates(e, 272000, "standard")[0] == {"input": "4", "cached_input": "0.4", "output": "12"}
    assert rates(e, 272000, "flex")[0] == {"input": "2", "cached_input": "0.2", "output": "6"}
    assert rates(e, 272000, "batch")[0] == {"input": "2", "cached_input": "0.4", "output": "6"}


# ---------------------------------------------------------------- LiteLLM's keys


def test_litellm_keys_by_class_level_and_variant():
    cells = crosscheck.litellm_cells({
        "input_cost_per_token": 2e-06, "output_cost_per_token": 8e-06,
        "cache_creation_input_token_cost_above_1hr": 4e-06,
        "input_cost_per_token_above_272k_tokens": 4e-06,
        "input_cost_per_token_flex": 1e-06, "input_cost_per_token_above_272k_tokens_flex": 2e-06,
        "input_cost_per_token_ultrafast": 9e-06, "cache_creation_input_token_cost_above_12hr": 1e-06,
        "litellm_provider": "openai"})
    assert set(cells) == {"standard", "flex"}  # unknown suffixes and classes are not read as something else
    std = cells["standard"]
    assert std[0]["rates"]["cache_write_1h"] == Decimal(4) and std[0]["rates"]["cache_write_5m"] == Decimal(2)
    assert std[272000]["rates"]["input"] == Decimal(4) and std[272000]["rates"]["output"] == Decimal(8)
    assert std[272000]["stated"] == {"input"}
    assert cells["flex"][0]["rates"] == {"input": Decimal(1)}  # a class it does not name is "none"
    assert cells["flex"][272000]["rates"]["input"] == Decimal(2)


def test_compare_entry_rows():
    e = entry("m", batch_prices={"cached_input": "0.20"}, tiers=[
        {"above_input_tokens": 200000, "prices": {"input": "4.00", "output": "12.00"}}])
    found = {"variants": {
        "standard": {0: {"stated": {"input", "output"}, "rates": {c: crosscheck.effective(
            {"input": Decimal(2), "cached_input": Decimal("0.2"), "output": Decimal(9)}, c) for c in crosscheck.CLASSES}},
                     272000: {"stated": {"input"}, "rates": {}}},
        "batch": {0: {"stated": {"input"}, "rates": {"input": Decimal(1)}}}}}
    rows = [r[:3] for r in crosscheck.compare_entry(e, found)]
    assert rows == [(">200000 tier", "tier", "no tier"), (">272000 tier", "no tier", "tier"),
                    ("output", "8", "9"), ("batch cached_input", "0.2", "none")]


# ---------------------------------------------------------------- the known differences table


@pytest.fixture
def crosscheck_run(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"format": 2, "entries": [entry("m"), entry("n")]}))
    doc = tmp_path / "pricing.md"
    monkeypatch.setattr(crosscheck.tools, "CATALOG", catalog)
    monkeypatch.setattr(crosscheck, "PRICING_DOC", doc)
    theirs = {"input": Decimal(2), "cached_input": Decimal("0.2"), "output": Decimal(9)}
    result = {"name": "m", "package_model": "m", "variants": {"standard": {0: {
        "stated": set(theirs), "rates": {c: crosscheck.effective(theirs, c) for c in crosscheck.CLASSES}}}}}
    monkeypatch.setattr(crosscheck, "litellm_lookup", lambda lookups: ("LiteLLM 1.110.2", {"openai:m:2025-01-01": result}))

    def run(rows, *args):
        table = "| Source | Model | Cell | Catalog | Theirs | Reason |\n| --- | --- | --- | --- | --- | --- |\n"
        doc.write_text("# Pricing\n\n## Known differences\n\nIntro.\n\n" + table + "".join(r + "\n" for r in rows)
                       + "\n## After\n")
        monkeypatch.setattr("sys.argv", ["price-crosscheck", "--source", "litellm", "--date", "2026-12-03", *args])
        return crosscheck.main()
    return run, doc


LISTED = "| LiteLLM | m | `output` | 8 | 9 | LiteLLM's output rate is a made-up 9 |"


def test_a_listed_difference_passes_and_an_unlisted_one_fails(crosscheck_run):
    run, _ = crosscheck_run
    assert run([LISTED]) == 0
    assert run([]) == 1


def test_a_stale_row_a_changed_row_and_a_row_without_reason_fail(crosscheck_run):
    run, _ = crosscheck_run
    assert run([LISTED, "| LiteLLM | n | `input` | 2 | 3 | no longer differs |"]) == 1
    assert run(["| LiteLLM | m | `output` | 8 | 9.5 | values changed |"]) == 1
    assert run(["| LiteLLM | m | `output` | 8 | 9 | REASON NEEDED |"]) == 1
    # A row of a source not run this time is neither checked nor stale.
    assert run([LISTED, "| genai-prices | n | `input` | 2 | 3 | only genai-prices says so |"]) == 0


def test_write_known_keeps_reasons_marks_new_rows_and_keeps_the_rest_of_the_document(crosscheck_run, capsys):
    run, doc = crosscheck_run
    assert run(["| LiteLLM | n | `input` | 2 | 3 | stale |"], "--write-known") == 0
    text = doc.read_text()
    assert "| LiteLLM | m | `output` | 8 | 9 | REASON NEEDED |" in text and "stale" not in text
    assert text.startswith("# Pricing\n\n## Known differences\n\nIntro.\n\n| Source") and text.endswith("\n## After\n")
    # Given a reason, the row written is one the check accepts.
    row = next(line for line in text.splitlines() if "REASON NEEDED" in line)
    assert run([row.replace("REASON NEEDED", "a reason")]) == 0


# ---------------------------------------------------------------- price-gaps


def gaps_entry(model, aliases, start, end=None):
    return {"id": f"google:{model}:{start}", "provider": "google", "model": model, "aliases": aliases,
            "from": start, "to": end, "source": "https://example.test/", "prices": {"input": "1.00"}}


DATED = [gaps_entry("gemini-2.5-flash", [{"name": "gemini-flash-latest", "from": "2025-09-25", "to": "2026-01-21"}],
                    "2025-06-17"),
         gaps_entry("gemini-3-flash", [{"name": "gemini-flash-latest", "from": "2026-01-21"}], "2025-12-17")]


def test_a_dated_alias_names_its_entry_only_on_its_days():
    for day, model in [("2025-09-24", None), ("2025-09-25", "gemini-2.5-flash"), ("2026-01-20", "gemini-2.5-flash"),
                       ("2026-01-21", "gemini-3-flash")]:
        found, _ = gaps.resolver(DATED, dt.date.fromisoformat(day))("gemini-flash-latest")
        assert (found and found["model"]) == model, day


def test_the_catalog_loader_reads_format_2_and_refuses_a_dated_alias_in_force_twice(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog.json"
    monkeypatch.setattr(gaps, "CATALOG", catalog)
    catalog.write_text(json.dumps({"format": 2, "entries": DATED}))
    assert [e["model"] for e in gaps.load_catalog()] == ["gemini-2.5-flash", "gemini-3-flash"]
    overlapping = json.loads(json.dumps(DATED))
    overlapping[1]["aliases"][0]["from"] = "2026-01-20"
    catalog.write_text(json.dumps({"format": 2, "entries": overlapping}))
    with pytest.raises(SystemExit) as e:
        gaps.load_catalog()
    assert e.value.code == 2
    catalog.write_text(json.dumps({"format": 3, "entries": DATED}))
    with pytest.raises(SystemExit):
        gaps.load_catalog()


@pytest.fixture
def gaps_run(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    sources = {"openai-9.0.0-py3-none-any.whl": ("openai/types.py", 'ChatModel = Literal["gpt-4o", "gpt-new-1"]\n'),
               "anthropic-9.0.0-py3-none-any.whl": ("anthropic/types.py", 'Model = Literal["claude-opus-4-5"]\n'),
               "google_genai-9.0.0-py3-none-any.whl": ("google/genai/types.py", 'X = "models/gemini-2.5-flash"\n')}
    for name, (member, text) in sources.items():
        with zipfile.ZipFile(wheels / name, "w") as z:
            z.writestr(member, text)
    catalog, unpriced, listing = tmp_path / "catalog.json", tmp_path / "unpriced.txt", tmp_path / "sdk-models.txt"
    entries = [{**gaps_entry("claude-opus-4-5", [], "2025-11-24"), "provider": "anthropic",
                "id": "anthropic:claude-opus-4-5:2025-11-24"},
               gaps_entry("gemini-2.5-flash", [], "2025-06-17"),
               {**gaps_entry("gpt-4o", [], "2024-05-13"), "provider": "openai", "id": "openai:gpt-4o:2024-05-13"}]
    catalog.write_text(json.dumps({"format": 1, "entries": entries}))
    for name, value in [("CATALOG", catalog), ("UNPRICED", unpriced), ("SDK_MODELS", listing)]:
        monkeypatch.setattr(gaps, name, value)
    monkeypatch.setattr(gaps.tools, "TOOLS", tmp_path / "tools")
    monkeypatch.setattr(gaps, "REPO", tmp_path)

    def run(explained, *args):
        unpriced.write_text("".join(f"{line}\n" for line in explained))
        monkeypatch.setattr("sys.argv", ["price-gaps", "--wheels", str(wheels), "--date", "2026-12-03", *args])
        return gaps.main()
    return run, listing


def test_price_gaps_fails_on_an_unexplained_gap_and_on_a_stale_explanation(gaps_run):
    run, listing = gaps_run
    assert run([]) == 1
    assert "openai\tgpt-new-1\n" in listing.read_text()
    assert run(["openai\tgpt-new-1\tno published price"]) == 0
    assert run(["openai\tgpt-new-1\tno published price", "anthropic\tclaude-2.1\tretired"]) == 1


def test_price_gaps_check_fails_when_the_listing_is_outdated_and_writes_nothing(gaps_run):
    run, listing = gaps_run
    explained = ["openai\tgpt-new-1\tno published price"]
    assert run(explained) == 0
    assert run(explained, "--check") == 0
    listing.write_text(listing.read_text().replace("gpt-new-1", "gpt-old-1"))
    assert run(explained, "--check") == 1
    assert "gpt-old-1" in listing.read_text()
