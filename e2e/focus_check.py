#!/usr/bin/env python3
"""Checks a FOCUS CSV with the pinned FinOps focus-validator, the way Tally's tests do.

    from focus_check import validate, ensure_validator
    ok, report = validate("export.csv", python=ensure_validator(".focus-venv"))

`validate` runs this file with the validator venv's python (`python` argument, else $TALLY_FOCUS_VALIDATOR), so the
caller's own environment needs none of the validator's packages. `python focus_check.py FILE.csv` does the same
from a shell: it prints the report and exits 0 when the file passes, 1 when it does not, 2 on a usage error.

The validator: focus-validator 1.0.0, the newest release on PyPI (its GitHub successors that know FOCUS 1.1/1.2 are
not published there). It validates FOCUS 1.0, 1.0-preview and 0.5; we run its FOCUS 1.0 rules. Its CLI exits 0 even
when validation fails and its currency check opens a file by a path relative to the working directory, so it is
driven through its Python API here, from its package's folder, and every failed or errored check counts:

- Columns are read as text (`dtype=str`, only an empty cell is null), then the columns its rules type as decimal are
  converted to floats. Its CLI lets pandas guess types instead, and then rejects integer-only decimal columns
  (`ConsumedQuantity` of whole tokens) and numeric-looking string ids; FOCUS allows both ("-3" and "4" are valid
  Numeric values). Before the conversion every numeric cell is checked against FOCUS's Numeric Format here.
- Four columns FOCUS 1.0 GA renamed are given back the names the validator still uses (LEGACY_NAMES).
- The checks in SKIPPED_CHECKS are skipped (an override file, the validator's own mechanism), each for its reason.

On top, a few FOCUS 1.2 requirements the 1.0 rules cannot know are checked here ("tally-1.2" in the report): the 21
mandatory columns, `x_` prefixes of custom columns, the Date/Time and Numeric formats exactly, allowed values of
ChargeCategory, ChargeClass, ChargeFrequency and ServiceSubcategory, Tags as a JSON object, and charge periods
inside billing periods.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

VALIDATOR_VERSION = "1.0.0"
RULES_VERSION = "1.0"
REQUIREMENTS = Path(__file__).resolve().with_name("focus-requirements.txt")

# FOCUS 1.0 GA (and 1.2) name -> the name focus-validator 1.0.0's FOCUS 1.0 rules still use (0.5 / 1.0-preview).
LEGACY_NAMES = {
    "ProviderName": "Provider",
    "PublisherName": "Publisher",
    "InvoiceIssuerName": "InvoiceIssuer",
    "ResourceId": "ResourceID",
}

_CONDITIONAL = "conditional in FOCUS 1.0 and 1.2, and its condition does not hold for Tally"
SKIPPED_CHECKS = {
    "SkuPriceId_Nullable": "a broken rule: its SQL reads ChargeType, a FOCUS 0.5 column removed in 1.0, so it errors "
    "on every FOCUS 1.0 dataset",
    "CommitmentDiscountCategory_Required": _CONDITIONAL + " (no commitment discounts: list prices)",
    "CommitmentDiscountId_Required": _CONDITIONAL + " (no commitment discounts: list prices)",
    "CommitmentDiscountName_Required": _CONDITIONAL + " (no commitment discounts: list prices)",
    "CommitmentDiscountStatus_Required": _CONDITIONAL + " (no commitment discounts: list prices)",
    "CommitmentDiscountType_Required": _CONDITIONAL + " (no commitment discounts: list prices)",
    "RegionId_Required": _CONDITIONAL + " (global APIs, region not known)",
    "RegionName_Required": _CONDITIONAL + " (global APIs, region not known)",
}

FOCUS_12_MANDATORY = [
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost", "PricingQuantity",
    "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
]
FOCUS_12_COLUMNS = set(FOCUS_12_MANDATORY) | {
    "AvailabilityZone", "BillingAccountType", "CapacityReservationId", "CapacityReservationStatus",
    "ChargeFrequency", "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountQuantity", "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit",
    "ConsumedQuantity", "ConsumedUnit", "ContractedUnitPrice", "InvoiceId", "ListUnitPrice", "PricingCategory",
    "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName",
    "SubAccountType", "Tags",
}
DATETIME_COLUMNS = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"]
NUMERIC_COLUMNS = [
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ConsumedQuantity", "PricingQuantity",
    "ListUnitPrice", "ContractedUnitPrice", "CommitmentDiscountQuantity", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice",
]
NON_NEGATIVE_COLUMNS = ["ListUnitPrice", "ContractedUnitPrice"]
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {"Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
}
AI_SUBCATEGORIES = {
    "AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing",
    "Other (AI and Machine Learning)",
}
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NUMERIC_RE = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")


def validate(csv_path, python: str | None = None, timeout: float = 600) -> tuple[bool, str]:
    """Runs the pinned focus-validator over `csv_path`: (passed, report text)."""
    python = python or os.environ.get("TALLY_FOCUS_VALIDATOR")
    if not python:
        raise RuntimeError(
            "no validator python: pass python= or set TALLY_FOCUS_VALIDATOR (see ensure_validator)")
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), str(csv_path)],
        capture_output=True, text=True, timeout=timeout)
    report = proc.stdout + (("\n" + proc.stderr) if proc.stderr.strip() else "")
    return proc.returncode == 0, report


def ensure_validator(venv_dir) -> str:
    """The python of a venv at `venv_dir` with the pinned validator, created from focus-requirements.txt if needed
    (needs `python3 -m venv`: Debian's python3-venv)."""
    venv = Path(venv_dir)
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('focus-validator'))"],
        capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != VALIDATOR_VERSION:
        # The file is the constraints too, so the two source packages build with the pinned backends.
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
             str(REQUIREMENTS)],
            check=True, env={**os.environ, "PIP_CONSTRAINT": str(REQUIREMENTS)})
    return str(python)


# ---------------------------------------------------------------------------------------------------------------
# Run inside the validator's venv.

def _tally_checks(header: list[str], df) -> list[tuple[str, str]]:
    """FOCUS 1.2 requirements the validator's 1.0 rules do not cover: (check, problem) pairs."""
    problems = []

    def rows(mask) -> str:
        numbers = [str(i + 1) for i, bad in enumerate(mask) if bad]
        return ",".join(numbers[:10]) + (" …" if len(numbers) > 10 else "")

    if len(set(header)) != len(header):
        repeated = sorted({c for c in header if header.count(c) > 1})
        problems.append(("tally-1.2 ColumnNames", f"repeated columns: {repeated}"))
    for column in FOCUS_12_MANDATORY:
        if column not in header:
            problems.append(("tally-1.2 MandatoryColumns", f"{column} is missing"))
    for column in header:
        if column not in FOCUS_12_COLUMNS and not column.startswith("x_"):
            problems.append(("tally-1.2 CustomColumnPrefix", f"{column} is neither a FOCUS 1.2 column nor x_-prefixed"))
    for column in DATETIME_COLUMNS:
        if column in df:
            bad = [v is None or v != v or not DATETIME_RE.match(v) for v in df[column]]
            if any(bad):
                problems.append((f"tally-1.2 DateTimeFormat {column}",
                                 f"not YYYY-MM-DDTHH:mm:ssZ (or null) in rows {rows(bad)}"))
    for column in NUMERIC_COLUMNS:
        if column in df:
            bad = [isinstance(v, str) and not NUMERIC_RE.match(v) for v in df[column]]
            if any(bad):
                problems.append((f"tally-1.2 NumericFormat {column}", f"not a plain decimal in rows {rows(bad)}"))
    for column in NON_NEGATIVE_COLUMNS:
        if column in df:
            bad = [isinstance(v, str) and v.startswith("-") for v in df[column]]
            if any(bad):
                problems.append((f"tally-1.2 {column}", f"negative in rows {rows(bad)}"))
    for column, allowed in ALLOWED.items():
        if column in df:
            bad = [isinstance(v, str) and v not in allowed for v in df[column]]
            if column == "ChargeCategory":
                bad = [b or not isinstance(v, str) for b, v in zip(bad, df[column])]
            if any(bad):
                problems.append((f"tally-1.2 {column}", f"not one of {sorted(allowed)} in rows {rows(bad)}"))
    if "ServiceSubcategory" in df and "ServiceCategory" in df:
        bad = [isinstance(s, str) and c == "AI and Machine Learning" and s not in AI_SUBCATEGORIES
               for s, c in zip(df["ServiceSubcategory"], df["ServiceCategory"])]
        if any(bad):
            problems.append(("tally-1.2 ServiceSubcategory",
                             f"not an AI and Machine Learning subcategory in rows {rows(bad)}"))
    if "Tags" in df:
        def not_object(v):
            if not isinstance(v, str):
                return False
            try:
                return not isinstance(json.loads(v), dict)
            except ValueError:
                return True
        bad = [not_object(v) for v in df["Tags"]]
        if any(bad):
            problems.append(("tally-1.2 Tags", f"not a JSON object in rows {rows(bad)}"))
    if all(c in df for c in DATETIME_COLUMNS):
        # Same-format UTC strings order as text.
        bad = []
        for bs, be, cs, ce in zip(*(df[c] for c in DATETIME_COLUMNS)):
            values = (bs, be, cs, ce)
            if not all(isinstance(v, str) and DATETIME_RE.match(v) for v in values):
                bad.append(False)  # reported above
                continue
            bad.append(not (bs < be and cs < ce and bs <= cs and ce <= be))
        if any(bad):
            problems.append(("tally-1.2 Periods", f"a charge period not inside its billing period in rows {rows(bad)}"))
    return problems


def _run(csv_path: str) -> int:
    from importlib.metadata import version

    import pandas as pd
    import yaml

    import focus_validator
    from focus_validator.config_objects import ChecklistObjectStatus, Rule
    from focus_validator.config_objects.common import DataTypeCheck, DataTypes
    from focus_validator.rules.spec_rules import SpecRules
    from focus_validator.validator import DEFAULT_VERSION_SETS_PATH

    installed = version("focus-validator")
    print(f"focus-validator {installed} (pinned {VALIDATOR_VERSION}), FOCUS {RULES_VERSION} rules, file {csv_path}")
    problems: list[tuple[str, str]] = []
    if installed != VALIDATOR_VERSION:
        problems.append(("pin", f"focus-validator {installed} is installed, not {VALIDATOR_VERSION}"))

    csv_path = str(Path(csv_path).resolve())
    with open(csv_path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), [])
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    df = df.astype(object).where(df.notna(), None)
    print(f"{len(df)} rows, {len(header)} columns")
    problems += _tally_checks(header, df)

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as override:
        yaml.safe_dump({"overrides": sorted(SKIPPED_CHECKS)}, override)
    try:
        # get_currency_codes() opens "focus_validator/utils/currency_codes.csv" relative to the working directory.
        os.chdir(Path(focus_validator.__file__).resolve().parent.parent)
        spec = SpecRules(override_filename=override.name, rule_set_path=DEFAULT_VERSION_SETS_PATH,
                         rules_version=RULES_VERSION, column_namespace=None)
        spec.load()
        decimal = {r.column_id for r in spec.rules
                   if isinstance(r, Rule) and isinstance(r.check, DataTypeCheck)
                   and r.check.data_type == DataTypes.DECIMAL}
        frame = df.rename(columns=LEGACY_NAMES)
        for column in decimal & set(frame.columns):
            # A cell that is not a number becomes null here; the NumericFormat check above has reported it.
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        result = spec.validate(frame)
    finally:
        os.unlink(override.name)

    counts: dict[str, int] = {}
    for item in result.checklist.values():
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
    print("validator checks: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    print("renamed for the validator: " + ", ".join(f"{a} -> {b}" for a, b in LEGACY_NAMES.items() if a in header))
    print("skipped validator checks:")
    for name, why in SKIPPED_CHECKS.items():
        print(f"  {name}: {why}")

    cases = result.failure_cases
    for name, item in sorted(result.checklist.items()):
        if item.status not in (ChecklistObjectStatus.FAILED, ChecklistObjectStatus.ERRORED):
            continue
        detail = item.error or item.friendly_name or ""
        if cases is not None and item.status == ChecklistObjectStatus.FAILED:
            mine = cases[cases["Check Name"] == name]
            row_numbers = [str(int(r)) for r in mine["Row #"].dropna().unique()[:10]]
            values = [str(v) for v in mine["Values"].dropna().unique()[:5]]
            detail += f"; rows: {','.join(row_numbers) or '(whole file)'}; values: {values or '(none)'}"
        problems.append((f"{item.status.value.upper()} {name} ({item.column_id})", detail))

    for check, detail in problems:
        print(f"{check}: {detail}")
    if problems:
        print(f"FOCUS check FAILED: {len(problems)} problem(s)")
        return 1
    print("FOCUS check passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} FILE.csv (run with the validator venv's python)", file=sys.stderr)
        sys.exit(2)
    sys.exit(_run(sys.argv[1]))
