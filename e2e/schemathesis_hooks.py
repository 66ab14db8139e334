"""Schemathesis hooks for test_openapi_conformance.py (loaded through SCHEMATHESIS_HOOKS).

A provider connection saved without `base_url` is validated against the provider's real API host. The tests have no
internet (and must not call providers), so such a call would only wait for its connect timeout: a connection the run
creates without a `base_url` is pointed at the list-models stand-in instead (TALLY_TEST_STANDIN_URL)."""
import os

import schemathesis

STANDIN_URL = os.environ["TALLY_TEST_STANDIN_URL"]


@schemathesis.hook
def before_call(context, case, kwargs):
    creates_connection = case.operation.method.upper() == "POST" and case.operation.path == "/api/v1/provider-connections"
    if creates_connection and isinstance(case.body, dict) and not case.body.get("base_url"):
        case.body["base_url"] = STANDIN_URL
