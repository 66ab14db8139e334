"""The OpenAPI document tells the truth (issue 14): schemathesis, the property-based API tester, runs every
`/api/v1` operation of the served document against a live `tally serve`, signed in as an admin, a member and a
viewer, and fails on any answer the document does not describe: a 5xx, an undocumented status, a content type or
a body (an error code outside the enum, say) that breaks the documented schema.

Each role signs in through the real login form and calls the API with its session cookie and the session's CSRF
token (the way the dashboard does), each on a server of its own, so what one role changes cannot hide a route from
another. The server is seeded first (a project, tokens, events, a price entry, an invite, a provider connection to
the list-models stand-in), and every `{id}` in a path is set to a real object, so the routes answer more than 404.
The run is bounded (a few examples per operation, one worker) and derandomized (a fixed seed, deterministic
generation), so it takes well under a minute per role and finds the same things every time.
"""
import datetime
import json
import os
import subprocess
import sys
import urllib.parse
import uuid
from xml.etree import ElementTree

import pytest
import requests

from conftest import Browser, bearer, event, location_path, signed_in

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# A few examples per operation keep the run short; TALLY_SCHEMATHESIS_EXAMPLES raises it for a deeper search.
MAX_EXAMPLES = int(os.environ.get("TALLY_SCHEMATHESIS_EXAMPLES", "8"))
SEED = 14
# Creating an organization switches the session into it (as its owner), which would change the role of every call
# after it; that one operation therefore runs last, on its own.
SWITCHES_ORGANIZATION = "POST /api/v1/organizations"


def invite_and_accept(owner, role):
    """A new member with `role`, signed in through the invite link: the browser, with its CSRF token."""
    email = f"{role}-{uuid.uuid4().hex[:6]}@example.test"
    r = owner.api("POST", "/api/v1/invites", json={"email": email, "role": role})
    assert r.status_code == 201, f"POST /api/v1/invites: {r.status_code} {r.text[:300]}"
    b = Browser(owner.server)
    r = b.fill(urllib.parse.urlsplit(r.json()["url"]).path, name=f"A {role}", password="member-password-0123")
    assert r.status_code == 303 and location_path(r) == "/", f"accepting: {r.status_code} {r.text[:300]}"
    b.me()
    return b


def created(response, what):
    assert response.status_code in (200, 201), f"{what}: {response.status_code} {response.text[:300]}"
    return response.json()


def seed(owner, role, standin):
    """Objects for every `{id}` of the API, as the owner makes them; returns the path parameters per operation."""
    server = owner.server
    created(owner.api("POST", "/api/v1/projects", json={"name": "web"}), "project")
    # The project the admin's run may rename or archive, so "web" stays as the seeded tokens' project.
    scratch = created(owner.api("POST", "/api/v1/projects", json={"name": "scratch"}), "project")
    admin_token = created(owner.api("POST", "/api/v1/tokens",
                                    json={"name": "seed", "project": "web", "scopes": ["admin"]}), "token")["secret"]
    events = [event(f"evt-{i}", model=model, feature="support", user=f"u-{i}")
              for i, model in enumerate(["gpt-4o", "gpt-4o-mini", "a-model-without-a-price"])]
    r = requests.post(server.url + "/api/v1/events", json=events, headers=bearer(admin_token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    price = created(owner.api("POST", "/api/v1/prices", json={
        "model": "a-model-without-a-price", "from": "2026-01-01", "prices": {"input": "1.00", "output": "2.00"}}),
        "price")
    invite = created(owner.api("POST", "/api/v1/invites", json={"email": "pending@example.test", "role": "viewer"}),
                     "invite")["invite"]
    connection = created(owner.api("POST", "/api/v1/provider-connections", json={
        "provider": "openai", "name": "openai prod", "api_key": "sk-proj-good-" + uuid.uuid4().hex,
        "base_url": standin.url}), "connection")
    channel = created(owner.api("POST", "/api/v1/alert-channels", json={
        "name": "seeded", "type": "email", "to": ["alerts@example.test"]}), "alert channel")
    budget = created(owner.api("POST", "/api/v1/budgets", json={
        "name": "seeded", "scope": {"project": "web"}, "period": "month", "amount_usd": "250.00"}), "budget")
    # An alert to acknowledge: a tiny budget crossed by one event of now, fired by a check.
    created(owner.api("POST", "/api/v1/budgets", json={
        "name": "tiny", "period": "month", "amount_usd": "0.000001", "thresholds": [50]}), "budget")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(server.url + "/api/v1/events", json=[event("evt-now", timestamp=now)],
                      headers=bearer(admin_token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    alert = next(a for a in created(owner.api("POST", "/api/v1/alerts/check"), "check")["fired"]
                 if a["type"] == "budget_threshold")
    # An insight to dismiss: spend of two days ago, a floor of $0, computed now (one provider: a concentration).
    two_days_ago = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(server.url + "/api/v1/events", json=[event("evt-insight", timestamp=two_days_ago)],
                      headers=bearer(admin_token), timeout=30)
    assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
    created(owner.api("PUT", "/api/v1/insight-settings", json={"floor_usd": "0"}), "insight settings")
    insight = created(owner.api("POST", "/api/v1/insights/check"), "insights")["data"][0]
    # A policy in monitor mode (it blocks nothing the run sends through the gateway, which it sends nothing to anyway).
    policy = created(owner.api("POST", "/api/v1/policies", json={
        "name": "seeded", "mode": "monitor", "rules": {"requests_per_minute": 100}}), "policy")
    # A team (of the scratch project) and a closed month (issue 20): the run may rename, delete, reopen, close again.
    team = created(owner.api("POST", "/api/v1/teams", json={"name": "seeded", "projects": ["scratch"]}), "team")
    created(owner.api("POST", "/api/v1/periods/2026-09/close"), "closed month")
    # A safety filter that only flags (issue 21): the run may change or delete it.
    safety = created(owner.api("POST", "/api/v1/safety-filters", json={
        "name": "seeded", "detectors": ["email"], "on": "both", "action": "flag"}), "safety filter")
    # A member the admin may change or remove, so the run's PATCH and DELETE never touch the signed-in roles.
    spare = invite_and_accept(owner, "viewer")
    spare_id = spare.me()["user"]["id"]
    caller = invite_and_accept(owner, role)
    me = caller.me()
    # A token the caller may revoke: its own where its role may create one, else the owner's (then 403/404).
    own = caller.api("POST", "/api/v1/tokens", json={"name": "mine", "project": "web", "scopes": ["read"]})
    token_id = own.json()["token"]["id"] if own.status_code == 201 else created(
        owner.api("POST", "/api/v1/tokens", json={"name": "spare", "project": "web", "scopes": ["read"]}),
        "token")["token"]["id"]
    params = {
        "/api/v1/events/{id}": {"id": "evt-0"},
        "/api/v1/prices/{id}": {"id": price["id"]},
        "/api/v1/organizations/{id}/switch": {"id": me["organization"]["id"]},
        "/api/v1/members/{id}": {"id": spare_id},
        "/api/v1/invites/{id}": {"id": invite["id"]},
        "/api/v1/projects/{id}": {"id": scratch["id"]},
        "/api/v1/tokens/{id}": {"id": token_id},
        "/api/v1/provider-connections/{id}": {"id": connection["id"]},
        "/api/v1/provider-connections/{id}/test": {"id": connection["id"]},
        "/api/v1/provider-connections/{id}/sync": {"id": connection["id"]},
        "/api/v1/provider-connections/{id}/refs": {"id": connection["id"]},
        "/api/v1/provider-connections/{id}/refs/{ref}": {"id": connection["id"], "ref": "proj_seeded"},
        "/api/v1/budgets/{id}": {"id": budget["id"]},
        "/api/v1/alert-channels/{id}": {"id": channel["id"]},
        "/api/v1/alert-channels/{id}/test": {"id": channel["id"]},
        "/api/v1/projects/{id}/budget": {"id": scratch["id"]},
        "/api/v1/alerts/{id}/acknowledge": {"id": alert["id"]},
        "/api/v1/insights/{id}/dismiss": {"id": insight["id"]},
        "/api/v1/policies/{id}": {"id": policy["id"]},
        "/api/v1/policies/{id}/hits": {"id": policy["id"]},
        "/api/v1/events/{id}/receipt": {"id": "evt-0"},
        "/api/v1/alert-channels/{id}/send-now": {"id": channel["id"]},
        "/api/v1/teams/{id}": {"id": team["id"]},
        "/api/v1/safety-filters/{id}": {"id": safety["id"]},
        "/api/v1/events/{id}/content": {"id": "evt-0"},
        "/api/v1/periods/{month}/close": {"month": "2026-09"},
        "/api/v1/periods/{month}/reopen": {"month": "2026-09"},
        # Identities are linked only through a provider's sign-in (test_sso.py unlinks real ones): here the run
        # checks that an unknown one answers as documented (404).
        "/api/v1/account/identities/{id}": {"id": "idn_unknown"},
    }
    return caller, params


def toml_string(value):
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def config(caller, params, csrf=True):
    """A schemathesis.toml: the session's headers, fixed path parameters, a bounded and derandomized generation."""
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        "request-timeout = 30",
        "[headers]",
        f"Cookie = {toml_string('tally_session=' + caller.session_cookie)}",
    ]
    if csrf:
        lines.append(f"X-CSRF-Token = {toml_string(caller.csrf)}")
    lines += [
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "deterministic = true",
        # The session is in the headers above: schemathesis must not invent bearer tokens or cookies of its own.
        "with-security-parameters = false",
        'database = "none"',
        # The document declares no links between operations, so there is nothing for the stateful phase to follow.
        "[phases.stateful]",
        "enabled = false",
    ]
    for path, values in params.items():
        lines += ["[[operations]]", f"include-path = {toml_string(path)}", "[operations.parameters]"]
        lines += [f"{toml_string(k)} = {toml_string(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def run_schemathesis(server, config_text, tmp_path, name, selection, standin):
    """Runs schemathesis over the document the server serves; returns (exit code, output, operations tested)."""
    config_file = tmp_path / f"{name}.toml"
    config_file.write_text(config_text)
    junit = tmp_path / f"{name}.xml"
    args = [SCHEMATHESIS, "--config-file", str(config_file), "--no-color", "run", server.url + "/api/v1/openapi.json",
            "--url", server.url, "--checks", CHECKS, "--report", "junit", "--report-junit-path", str(junit),
            *selection]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks", TALLY_TEST_STANDIN_URL=standin.url,
               PYTHONPATH=os.pathsep.join(filter(None, [HERE, os.environ.get("PYTHONPATH")])))
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    output = f"== schemathesis ({name}):\n{r.stdout[-12000:]}\n{r.stderr[-2000:]}"
    tested = {case.get("name") for case in ElementTree.parse(junit).iter("testcase")} if junit.exists() else set()
    return r.returncode, output, tested


def api_paths(server):
    doc = requests.get(server.url + "/api/v1/openapi.json", timeout=10).json()
    # The API, and the OTLP receiver at the root (`POST /v1/traces`, issue 22).
    return {path: item for path, item in doc["paths"].items() if path.startswith(("/api/v1/", "/v1/"))}


def documented_operations(server, methods=("get", "post", "put", "patch", "delete")):
    return {f"{m.upper()} {path}" for path, item in api_paths(server).items() for m in item if m in methods}


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
def test_every_api_operation_answers_as_the_document_says(sqlite_site, provider_standins, tmp_path, role):
    server = sqlite_site.serve()
    owner = signed_in(server)
    standin = provider_standins["openai"]
    caller, params = seed(owner, role, standin)
    assert caller.me()["organization"]["role"] == role
    # A route added with an {id} needs a seeded object here, or its run would only ever see 404.
    assert {path for path in api_paths(server) if "{" in path} == set(params)
    cfg = config(caller, params)

    code, output, tested = run_schemathesis(server, cfg, tmp_path, "api", [
        "--include-path-regex", "^/(api/)?v1/", "--exclude-name", SWITCHES_ORGANIZATION], standin)
    print(output)
    assert code == 0, output
    last_code, last_output, last_tested = run_schemathesis(server, cfg, tmp_path, "new-organization", [
        "--include-name", SWITCHES_ORGANIZATION], standin)
    print(last_output)
    assert last_code == 0, last_output
    # Every /api/v1 operation of the document was exercised, none skipped or filtered out by mistake.
    assert tested | last_tested == documented_operations(server)
    assert len(tested) >= 40


def test_cookie_calls_without_the_csrf_token_answer_as_documented(sqlite_site, provider_standins, tmp_path):
    """A state-changing call with the session cookie but no X-CSRF-Token is refused with 403 `csrf_failed`, on every
    route, and the document lists that answer (status and error code) for each of them."""
    server = sqlite_site.serve()
    owner = signed_in(server)
    standin = provider_standins["openai"]
    caller, params = seed(owner, "member", standin)
    r = caller.api("POST", "/api/v1/projects", json={"name": "sneaky"}, csrf=False)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    projects = owner.api("GET", "/api/v1/projects").json()
    assert "sneaky" not in [p["name"] for p in (projects["data"] if isinstance(projects, dict) else projects)]

    code, output, tested = run_schemathesis(server, config(caller, params, csrf=False), tmp_path, "no-csrf", [
        "--include-path-regex", "^/(api/)?v1/", "--include-method-regex", "^(POST|PUT|PATCH|DELETE)$",
        "--max-examples", "2"], standin)
    print(output)
    assert code == 0, output
    assert tested == documented_operations(server, methods=("post", "put", "patch", "delete"))


def test_an_amount_beyond_the_money_range_is_a_400_not_a_crash(sqlite_site):
    """Found by the run above: a provider_cost_usd of ten whole digits overflowed Int64 nano-dollars and the Swift
    trap ended the server (every request on it). It is a 400 naming the field, and the server keeps serving."""
    server = sqlite_site.serve()
    owner = signed_in(server)
    created(owner.api("POST", "/api/v1/projects", json={"name": "web"}), "project")
    r = owner.api("POST", "/api/v1/events", json=[event("big", project="web", provider_cost_usd="9766439370")])
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_request" and [d["field"] for d in error["details"]] == ["provider_cost_usd"]
    assert server.proc.poll() is None and owner.api("GET", "/api/v1/me").status_code == 200


def test_a_cost_beyond_the_money_range_is_a_400_not_a_crash(sqlite_site):
    server = sqlite_site.serve()
    owner = signed_in(server)
    try:
        r = owner.api("POST", "/api/v1/prices/quote",
                      json={"provider": "openai", "model": "gpt-4o", "output_tokens": 10**15})
        assert r.status_code == 400, r.text
        assert [d["field"] for d in r.json()["error"]["details"]] == ["output_tokens"], r.text
    finally:
        assert server.proc.poll() is None, "the server died"
