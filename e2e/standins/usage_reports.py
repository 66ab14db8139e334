"""Stand-ins for the providers' organization usage and cost reports, the APIs Tally syncs from.

One threaded HTTP server per provider on 127.0.0.1:<free port>; `url` is the base_url to give Tally (it appends
`/v1/...`). Formats follow /work/shared/reference/provider-apis.md 1.2-1.4, 1.8 (OpenAI) and 2.2-2.4, 2.6
(Anthropic):

openai     (`Authorization: Bearer sk-admin-…`)
           GET /v1/organization/usage/{completions,embeddings,moderations,images,audio_speeches,audio_transcriptions}
           GET /v1/organization/costs
           GET /v1/organization/projects                       (limit/after paging)
           GET /v1/organization/projects/{id}/api_keys         (limit/after paging)
anthropic  (`x-api-key: sk-ant-admin…` + `anthropic-version`)
           GET /v1/organizations/usage_report/messages
           GET /v1/organizations/cost_report
           GET /v1/organizations/workspaces                    (limit/after_id paging)
           GET /v1/organizations/api_keys                      (limit/after_id paging, workspace_id filter)
           GET /v1/organizations/me

The data is a deterministic `Dataset` (days ending `today` UTC × models × projects/workspaces × keys × variants,
from `seed`). It is never materialised per request: every value is `time factor × static weight`, where the time
factor t[day][hour] is a small integer and the static part is (u + v·delta)·rate for one cell (key × model ×
variant), v being the day's "version" (raised by `bump`, for late-finalised data). An aggregate over any filter /
group_by is therefore computed once per query (cached) and a bucket is `Σ t × S_v[group]`, so pages of the large
benchmark dataset take milliseconds. `Dataset.records()` yields the same data as explicit hourly records (small
datasets only) so tests can check the arithmetic independently.

Conventions decided where the reference is silent:
- a bucket is returned for every bucket start in [floor(start), end); `end` defaults to now. A partial
  last bucket (end inside it) is included.
- usage happens at one minute per active hour (`1m` buckets are mostly empty) and today is a full day.
- OpenAI `user_id` is always null (all usage is API-key usage) even when grouped; Anthropic `inference_geo`
  groups as "not_available", `speed` as "standard", `account_id`/`service_account_id` as null.
- Anthropic: usage of the default workspace has `workspace_id: null` (one key there), Console usage has
  `api_key_id: null` (both on by default); Priority Tier usage never appears in the cost report.
- OpenAI cost line items are "<model>, input" (all input tokens incl. cached) and "<model>, output"; prices are
  whole/even dollars per 1M tokens so every amount is exact to 6 decimals. Anthropic costs are exact decimal cents.
- `standin.cost_results = {bucket start (unix s): [result, ...]}` makes the cost report answer exactly those results
  (every other bucket: none) instead of the dataset's, for amounts written by hand: an OpenAI `amount.value` may be
  `Number("0.0123456789012345678")` (that literal text as a JSON number) or a string. `expected_totals` ignores it.
"""
import base64
import collections
import datetime as dt
import hashlib
import json
import random
import re
import threading
import time
import urllib.parse
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import clock  # e2e/clock.py: the clock Tally is told to use

PROVIDERS = ("openai", "anthropic")
DAY = 86400
WIDTHS = {"1m": 60, "1h": 3600, "1d": DAY}
# Buckets per page: (default, maximum) per bucket width (reference 1.2, 1.3, 2.2, 2.3).
USAGE_LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
OPENAI_COST_LIMITS = {"1d": (7, 180)}
ANTHROPIC_COST_LIMITS = {"1d": (7, 31)}

OPENAI_MODELS = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4o-audio-preview-2024-12-17"]
ANTHROPIC_MODELS = ["claude-sonnet-4-20250514", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805"]
OPENAI_OTHER_MODELS = {
    "embeddings": ["text-embedding-3-small", "text-embedding-3-large"],
    "moderations": ["omni-moderation-2024-09-26"],
    "images": ["gpt-image-1", "dall-e-3"],
    "audio_speeches": ["tts-1", "gpt-4o-mini-tts"],
    "audio_transcriptions": ["whisper-1", "gpt-4o-transcribe"],
}

SMALL = dict(days=35, models=3, projects=2, api_keys=2)
LARGE = dict(days=90, models=50, projects=20, api_keys=20, density=0.25)

OPENAI_INVALID_KEY = ("Incorrect API key provided: {redacted}. You can find your API key at "
                      "https://platform.openai.com/account/api-keys.")
OPENAI_NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header using "
                 "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
                 "you're accessing the API from your browser and are prompted for a username and password. You can "
                 "obtain an API key from https://platform.openai.com/account/api-keys.")
OPENAI_NOT_ADMIN = ("You have insufficient permissions for this operation. Missing scopes: api.usage.read. Check that "
                    "you have the correct role in your organization (Owner), and if you're using a restricted API key, "
                    "that it has the necessary scopes.")
OPENAI_RATE_LIMITED = "Rate limit reached for requests"
ANTHROPIC_INVALID_KEY = "invalid x-api-key"
ANTHROPIC_RATE_LIMITED = "Number of requests has exceeded your per-minute rate limit"


# ---------------------------------------------------------------------------------------------------------------
# Endpoints: output dimensions (in field order), metrics, filters, allowed group_by.

class Endpoint:
    def __init__(self, provider, name, path, result_object, dims, metrics, filters, group_by, limits, widths,
                 constants=None, cost=False):
        self.provider = provider
        self.name = name
        self.path = path
        self.result_object = result_object
        self.dims = dims                    # every grouping field of a result, in output order
        self.metrics = metrics              # flat metric names ("cache_creation.ephemeral_5m_input_tokens")
        self.filters = filters              # query parameter (without []) -> dimension
        self.group_by = group_by            # allowed group_by values
        self.limits = limits
        self.widths = widths
        self.constants = constants or {}    # dimensions whose value is the same for every record
        self.cost = cost


_OAI_DIMS = ["project_id", "user_id", "api_key_id", "model"]
_OAI_FILTERS = {"project_ids": "project_id", "user_ids": "user_id", "api_key_ids": "api_key_id", "models": "model"}
_ALL_WIDTHS = ("1m", "1h", "1d")


def _openai_usage(name, metrics, extra_dims=(), extra_filters=None):
    dims = _OAI_DIMS + list(extra_dims)
    return Endpoint("openai", name, f"/v1/organization/usage/{name}", f"organization.usage.{name}.result", dims,
                    metrics, dict(_OAI_FILTERS, **(extra_filters or {})), dims, USAGE_LIMITS, _ALL_WIDTHS,
                    constants={"user_id": None})


ENDPOINTS = {
    "openai": {
        "completions": _openai_usage(
            "completions", ["input_tokens", "input_cached_tokens", "output_tokens", "input_audio_tokens",
                            "output_audio_tokens", "num_model_requests"],
            ("batch", "service_tier"), {"batch": "batch"}),
        "embeddings": _openai_usage("embeddings", ["input_tokens", "num_model_requests"]),
        "moderations": _openai_usage("moderations", ["input_tokens", "num_model_requests"]),
        "images": _openai_usage("images", ["images", "num_model_requests"], ("size", "source"),
                                {"sizes": "size", "sources": "source"}),
        "audio_speeches": _openai_usage("audio_speeches", ["characters", "num_model_requests"]),
        "audio_transcriptions": _openai_usage("audio_transcriptions", ["seconds", "num_model_requests"]),
        "costs": Endpoint("openai", "costs", "/v1/organization/costs", "organization.costs.result",
                          ["line_item", "project_id", "api_key_id"], ["amount", "quantity"],
                          {"project_ids": "project_id", "api_key_ids": "api_key_id"},
                          ["project_id", "line_item", "api_key_id"], OPENAI_COST_LIMITS, ("1d",), cost=True),
    },
    "anthropic": {
        "messages": Endpoint(
            "anthropic", "messages", "/v1/organizations/usage_report/messages", None,
            ["api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo", "account_id",
             "service_account_id", "speed"],
            ["uncached_input_tokens", "cache_creation.ephemeral_5m_input_tokens",
             "cache_creation.ephemeral_1h_input_tokens", "cache_read_input_tokens", "output_tokens",
             "server_tool_use.web_search_requests"],
            {"api_key_ids": "api_key_id", "workspace_ids": "workspace_id", "models": "model",
             "service_tiers": "service_tier", "context_window": "context_window", "inference_geos": "inference_geo",
             "account_ids": "account_id", "service_account_ids": "service_account_id", "speeds": "speed"},
            ["api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo", "speed",
             "account_id", "service_account_id"], USAGE_LIMITS, _ALL_WIDTHS,
            constants={"inference_geo": "not_available", "account_id": None, "service_account_id": None,
                       "speed": "standard"}),
        "cost": Endpoint("anthropic", "cost", "/v1/organizations/cost_report", None, ["workspace_id", "description"],
                         ["amount"], {}, ["workspace_id", "description"], ANTHROPIC_COST_LIMITS, ("1d",), cost=True),
    },
}
ENDPOINT_BY_PATH = {e.path: e for eps in ENDPOINTS.values() for e in eps.values()}
ARRAY_PARAMS = {"group_by", "models", "project_ids", "user_ids", "api_key_ids", "sources", "sizes", "workspace_ids",
                "service_tiers", "context_window", "account_ids", "service_account_ids", "inference_geos", "speeds",
                "line_items", "vector_store_ids", "context_levels"}

# Variants (the dimensions besides key and model) with their relative weight and cost multiplier.
OPENAI_COMPLETION_VARIANTS = [  # (batch, service_tier, price multiplier)
    (False, "default", 1), (True, "default", Decimal("0.5")), (False, "flex", Decimal("0.5")), (False, "priority", 2)]
OPENAI_IMAGE_VARIANTS = [("1024x1024", "image.generation"), ("1024x1792", "image.generation"),
                         ("1024x1024", "image.edit")]
ANTHROPIC_VARIANTS = [("standard", "0-200k"), ("batch", "0-200k"), ("standard", "200k-1M"), ("priority", "0-200k")]
ANTHROPIC_TOKEN_TYPES = [  # (metric, token_type, price multiplier of the input price, description text)
    ("uncached_input_tokens", "uncached_input_tokens", Decimal(1), "Input Tokens"),
    ("output_tokens", "output_tokens", Decimal(5), "Output Tokens"),
    ("cache_read_input_tokens", "cache_read_input_tokens", Decimal("0.1"), "Input Tokens, Cache Read"),
    ("cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_5m_input_tokens", Decimal("1.25"),
     "Input Tokens, Cache Write (5m)"),
    ("cache_creation.ephemeral_1h_input_tokens", "cache_creation.ephemeral_1h_input_tokens", Decimal(2),
     "Input Tokens, Cache Write (1h)"),
]
WEB_SEARCH_CENTS = Decimal(1)  # $10 per 1000 searches


def endpoint(provider, name):
    """An Endpoint by provider and short name ("completions", "costs", "messages", "cost") or by path."""
    if name in ENDPOINT_BY_PATH:
        return ENDPOINT_BY_PATH[name]
    return ENDPOINTS[provider][name]


# ---------------------------------------------------------------------------------------------------------------
# Time helpers

def to_unix(value):
    """Unix seconds from an int, a datetime/date or an RFC 3339 string."""
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp())
    if isinstance(value, dt.date):
        return int(dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).timestamp())
    return parse_rfc3339(value)


def parse_rfc3339(text):
    if not re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}:\d{2})$", text or ""):
        raise ValueError(text)
    parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    return int(parsed.timestamp())


def rfc3339(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bucket_starts(start, end, width):
    """Bucket starts for [start, end): the first snapped down to a UTC boundary, every start < end."""
    step = WIDTHS[width]
    first = start - start % step
    return range(first, max(first, end), step)


def dec_str(value):
    """A Decimal as plain fixed-point text, no exponent, no trailing zeros ("0.000123", "12", "0")."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def _h(*parts):
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Dataset

class Cell:
    """One key × model × variant: its dimensions and its per-time-unit metrics, base and late-data delta."""
    __slots__ = ("dims", "base", "delta")

    def __init__(self, dims, base, delta):
        self.dims = dims
        self.base = base
        self.delta = delta


class Dataset:
    """Deterministic usage and cost data of one provider's organization.

    provider   "openai" or "anthropic"
    days       number of UTC days with data, ending `today` (inclusive)
    models     a list of model names or a count (the first names are real, the rest synthetic)
    projects   OpenAI projects / Anthropic workspaces (`workspaces=` is an alias)
    api_keys   keys per project/workspace
    seed       everything is derived from it
    today      a datetime.date (default: today UTC when built)
    density    share of key × model pairs with usage (1.0: every key uses every model)
    default_workspace, console_usage   Anthropic only: a key in the default workspace (workspace_id null) and
               Console usage (api_key_id null, default workspace)
    """

    def __init__(self, provider, days=35, models=3, projects=2, api_keys=2, seed=1, today=None, density=1.0,
                 workspaces=None, default_workspace=True, console_usage=True, other_models=None):
        assert provider in PROVIDERS, provider
        self.provider = provider
        self.days = days
        self.seed = seed
        self.density = density
        if workspaces is not None:
            projects = workspaces
        self.today = today or clock.today()
        self.first_day_ts = to_unix(self.today) - (days - 1) * DAY
        self.end_ts = to_unix(self.today) + DAY
        names = OPENAI_MODELS if provider == "openai" else ANTHROPIC_MODELS
        if isinstance(models, int):
            synth = ("gpt-test-{:03d}-2025-01-01" if provider == "openai" else "claude-test-{}-20250101")
            models = names[:models] + [synth.format(i) for i in range(len(names), models)]
        self.models = list(models)
        self.other_models = dict(OPENAI_OTHER_MODELS, **(other_models or {}))
        self.created_at = self.first_day_ts - 30 * DAY
        self._lock = threading.Lock()
        self.versions = [0] * days  # raised by bump() for late data
        self.descriptions = {}      # Anthropic cost description -> cost_type, model, token_type, …
        self._build_orgs(projects, api_keys, default_workspace, console_usage)
        self._time = {}
        self._cells = {}
        self._aggregates = {}

    # -- organization

    def _build_orgs(self, n_projects, n_keys, default_workspace, console_usage):
        s = self.seed
        self.projects = []   # [{"id", "name"}]
        self.keys = []       # [{"id", "name", "project_id" | "workspace_id", "redacted"}]; id None = Console
        if self.provider == "openai":
            for p in range(n_projects):
                pid = f"proj_{_h(s, 'proj', p)[:24]}"
                self.projects.append({"id": pid, "name": f"Project {p + 1}"})
                for k in range(n_keys):
                    hx = _h(s, 'key', p, k)
                    self.keys.append({"id": f"key_{hx[:16]}", "name": f"Key {p + 1}.{k + 1}", "project_id": pid,
                                      "redacted": f"sk-proj-****{hx[-4:]}"})
        else:
            for w in range(n_projects):
                wid = f"wrkspc_01{_h(s, 'ws', w)[:22]}"
                self.projects.append({"id": wid, "name": f"Workspace {w + 1}"})
                for k in range(n_keys):
                    hx = _h(s, 'key', w, k)
                    self.keys.append({"id": f"apikey_01{hx[:22]}", "name": f"Key {w + 1}.{k + 1}",
                                      "workspace_id": wid, "redacted": f"sk-ant-api03-{hx[:3]}...{hx[-4:]}AA"})
            if default_workspace:
                hx = _h(s, 'key', 'default')
                self.keys.append({"id": f"apikey_01{hx[:22]}", "name": "Default workspace key",
                                  "workspace_id": None, "redacted": f"sk-ant-api03-{hx[:3]}...{hx[-4:]}AA"})
            if console_usage:
                self.keys.append({"id": None, "name": "Console", "workspace_id": None, "redacted": None})

    def listed_keys(self):
        return [k for k in self.keys if k["id"] is not None]

    def owner_of(self, key):
        return key.get("project_id") if self.provider == "openai" else key.get("workspace_id")

    # -- time factors

    def day_index(self, ts):
        d = (ts - self.first_day_ts) // DAY
        return d if 0 <= d < self.days else None

    def hours(self, d):
        """[(t, minute)] for the 24 hours of day index d: t is the usage multiplier, minute where it happens."""
        got = self._time.get(d)
        if got is None:
            rng = random.Random(f"{self.seed}:{self.provider}:time:{d}")
            empty = d < self.days - 7 and rng.random() < 0.1
            got = [(0 if empty else rng.choice((0, 0, 1, 1, 2, 3)), rng.randrange(60)) for _ in range(24)]
            if not empty and sum(t for t, _ in got) == 0:
                got[12] = (1, got[12][1])
            self._time[d] = got
        return got

    def factors(self, bucket_start, width):
        """[(day index, factor)] of one bucket (every bucket lies inside one UTC day)."""
        d = self.day_index(bucket_start - bucket_start % DAY)
        if d is None:
            return []
        hours = self.hours(d)
        if width == "1d":
            return [(d, sum(t for t, _ in hours))]
        h = (bucket_start % DAY) // 3600
        t, minute = hours[h]
        if width == "1h":
            return [(d, t)]
        return [(d, t)] if (bucket_start % 3600) // 60 == minute else []

    # -- cells

    def cells(self, name):
        got = self._cells.get(name)
        if got is None:
            got = self._cells[name] = getattr(self, f"_cells_{self.provider}")(name)
        return got

    def _weights(self, key_index, model, n_variants, tag):
        """[(u, delta)] per variant of one key × model: u is the base weight, delta what each bump adds."""
        rng = random.Random(f"{self.seed}:{self.provider}:{tag}:w:{key_index}:{model}")
        out = []
        active = rng.random() < self.density
        for j in range(n_variants):
            if j == 0:
                u = rng.randint(1, 3) if active else 0
                delta = 1 if active or rng.random() < 0.05 else 0
            else:
                u = 1 if active and rng.random() < 0.35 else 0
                delta = 1 if u and rng.random() < 0.5 else 0
            out.append((u, delta))
        return out

    def _rates(self, model, tag):
        return random.Random(f"{self.seed}:{self.provider}:{tag}:rate:{model}")

    def _cells_openai(self, name):
        cells = []
        if name in ("completions", "costs"):
            rates = {}
            prices = {}
            for m in self.models:
                rng = self._rates(m, "completions")
                inp = rng.randint(800, 4000)
                audio = "audio" in m
                rates[m] = [inp, inp * rng.randint(0, 6) // 10, rng.randint(100, 1500),
                            inp // 5 if audio else 0, rng.randint(10, 50) * 10 if audio else 0, rng.randint(1, 4)]
                pin = 2 * rng.randint(1, 5)  # dollars per 1M tokens, even so that half price stays whole
                prices[m] = (pin, 4 * pin)
            for ki, key in enumerate(self.keys):
                for m in self.models:
                    ws = self._weights(ki, m, len(OPENAI_COMPLETION_VARIANTS), "completions")
                    if name == "completions":
                        for (u, delta), (batch, tier, _) in zip(ws, OPENAI_COMPLETION_VARIANTS):
                            if u or delta:
                                cells.append(Cell({"project_id": key["project_id"], "api_key_id": key["id"],
                                                   "model": m, "batch": batch, "service_tier": tier, "user_id": None},
                                                  [u * r for r in rates[m]], [delta * r for r in rates[m]]))
                        continue
                    for kind, rate_i, price in (("input", 0, prices[m][0]), ("output", 2, prices[m][1])):
                        base = [Decimal(0), 0]
                        late = [Decimal(0), 0]
                        for (u, delta), (_, _, mult) in zip(ws, OPENAI_COMPLETION_VARIANTS):
                            tokens = rates[m][rate_i]
                            unit = Decimal(tokens) * price * mult / 1000000
                            base[0] += u * unit
                            base[1] += u * tokens
                            late[0] += delta * unit
                            late[1] += delta * tokens
                        if base[1] or late[1]:
                            cells.append(Cell({"project_id": key["project_id"], "api_key_id": key["id"],
                                               "line_item": f"{m}, {kind}"}, base, late))
            return cells
        variants = OPENAI_IMAGE_VARIANTS if name == "images" else [()]
        for ki, key in enumerate(self.keys):
            for m in self.other_models[name]:
                rng = self._rates(m, name)
                per_request = {"embeddings": (20, 400), "moderations": (20, 200), "images": (1, 2),
                               "audio_speeches": (50, 400), "audio_transcriptions": (10, 120)}[name]
                ws = self._weights(ki, m, len(variants), name)
                for (u, delta), var in zip(ws, variants):
                    if not (u or delta):
                        continue
                    reqs = rng.randint(1, 3)
                    rate = [reqs * rng.randint(*per_request), reqs]
                    dims = {"project_id": key["project_id"], "api_key_id": key["id"], "model": m, "user_id": None}
                    if name == "images":
                        dims.update(size=var[0], source=var[1])
                    cells.append(Cell(dims, [u * r for r in rate], [delta * r for r in rate]))
        return cells

    def _display_name(self, model):
        words = re.sub(r"-\d{8}$", "", model).split("-")
        out = []
        for w in words:
            if w.isdigit() and out and out[-1][-1].isdigit():
                out[-1] += "." + w
            else:
                out.append(w.capitalize() if not w.isdigit() else w)
        return " ".join(out)

    def _cells_anthropic(self, name):
        rates = {}
        prices = {}
        for m in self.models:
            rng = self._rates(m, "messages")
            unc = rng.randint(500, 3000)
            rates[m] = [unc, rng.randint(0, 400), rng.randint(0, 100), unc * rng.randint(0, 8) + rng.randint(0, 9),
                        rng.randint(200, 2000), rng.choice((0, 0, 1))]
            base = {"haiku": 1, "sonnet": 3, "opus": 15}
            prices[m] = Decimal(next((v for k, v in base.items() if k in m), rng.choice((1, 3, 15)))) * 100
        cells = []
        costs = collections.OrderedDict()
        for ki, key in enumerate(self.keys):
            for m in self.models:
                ws = self._weights(ki, m, len(ANTHROPIC_VARIANTS), "messages")
                for (u, delta), (tier, cw) in zip(ws, ANTHROPIC_VARIANTS):
                    if not (u or delta):
                        continue
                    r = rates[m]
                    if name == "messages":
                        cells.append(Cell({"api_key_id": key["id"], "workspace_id": key["workspace_id"], "model": m,
                                           "service_tier": tier, "context_window": cw, "inference_geo": "not_available",
                                           "account_id": None, "service_account_id": None, "speed": "standard"},
                                          [u * x for x in r], [delta * x for x in r]))
                        continue
                    if tier == "priority":  # Priority Tier is billed differently, never in the cost report
                        continue
                    display = self._display_name(m)
                    metric_rate = dict(zip(ENDPOINTS["anthropic"]["messages"].metrics, r))
                    for metric, token_type, mult, text in ANTHROPIC_TOKEN_TYPES:
                        cents = prices[m] * mult / 1000000
                        if tier == "batch":
                            cents /= 2
                        if cw == "200k-1M":
                            cents *= 2 if metric != "output_tokens" else Decimal("1.5")
                        desc = (f"{display}{' Batch' if tier == 'batch' else ''} Usage - {text}"
                                f"{' - Long Context' if cw == '200k-1M' else ''}")
                        info = {"cost_type": "tokens", "model": m, "token_type": token_type, "service_tier": tier,
                                "context_window": cw}
                        self._add_cost(costs, key["workspace_id"], desc, info, metric_rate[metric] * cents, u, delta)
                    searches = metric_rate["server_tool_use.web_search_requests"]
                    if searches:
                        info = {"cost_type": "web_search", "model": m, "token_type": None, "service_tier": None,
                                "context_window": None}
                        self._add_cost(costs, key["workspace_id"], f"{display} Web Search", info,
                                       searches * WEB_SEARCH_CENTS, u, delta)
        if name == "messages":
            return cells
        out = []
        descriptions = {}
        for (ws_id, desc), (info, base, late) in costs.items():
            descriptions[desc] = info
            out.append(Cell({"workspace_id": ws_id, "description": desc}, [base], [late]))
        self.descriptions = descriptions
        return out

    @staticmethod
    def _add_cost(costs, ws_id, desc, info, unit_cents, u, delta):
        entry = costs.setdefault((ws_id, desc), [info, Decimal(0), Decimal(0)])
        entry[1] += u * unit_cents
        entry[2] += delta * unit_cents

    # -- aggregation

    def aggregate(self, name, version, filters, group_by):
        """{group values in endpoint dim order: metric vector} per time unit for one version of the data."""
        ep = ENDPOINTS[self.provider][name]
        gdims = tuple(d for d in ep.dims if d in group_by)
        fkey = tuple(sorted((dim, tuple(sorted(map(str, vals)))) for dim, vals in filters.items()))
        cache_key = (name, version, fkey, gdims)
        got = self._aggregates.get(cache_key)
        if got is not None:
            return gdims, got
        out = {}
        for c in self.cells(name):
            if any(c.dims.get(dim) not in vals for dim, vals in filters.items()):
                continue
            g = tuple(c.dims[d] for d in gdims)
            vec = out.get(g)
            if vec is None:
                vec = out[g] = [0] * len(c.base)
            for i, (b, x) in enumerate(zip(c.base, c.delta)):
                vec[i] += b + version * x
        out = {g: v for g, v in out.items() if any(v)}
        self._aggregates[cache_key] = out
        return gdims, out

    def bucket(self, name, start, width, filters, group_by):
        """{group: metric vector} of one bucket."""
        total = {}
        gdims = ()
        for d, factor in self.factors(start, width):
            if not factor:
                continue
            gdims, agg = self.aggregate(name, self.versions[d], filters, group_by)
            for g, vec in agg.items():
                acc = total.setdefault(g, [0] * len(vec))
                for i, x in enumerate(vec):
                    acc[i] += factor * x
        return gdims, total

    def bump(self, days_back=2, times=1):
        """Late data: the last `days_back` days (today included) get different (larger) numbers."""
        with self._lock:
            for d in range(max(0, self.days - days_back), self.days):
                self.versions[d] += times

    # -- explicit records, for checking the arithmetic on small datasets

    def records(self, name):
        """Every usage/cost record as ({dims}, hour start, minute ts, {metric: value}); costs are daily records
        (hour start = day start) with OpenAI amounts in dollars and Anthropic amounts in cents."""
        ep = ENDPOINTS[self.provider][name]
        cells = self.cells(name)
        for d in range(self.days):
            v = self.versions[d]
            day = self.first_day_ts + d * DAY
            hours = self.hours(d)
            slots = [(day, day, sum(t for t, _ in hours))] if ep.cost else \
                [(day + h * 3600, day + h * 3600 + mm * 60, t) for h, (t, mm) in enumerate(hours)]
            for c in cells:
                for hour_ts, minute_ts, t in slots:
                    if t:
                        yield c.dims, hour_ts, minute_ts, {m: t * (b + v * x)
                                                           for m, b, x in zip(ep.metrics, c.base, c.delta)}

    def expected_totals(self, name, start, end, group_by=(), bucket_width="1d", per_bucket=False, **filters):
        """The exact sums the API returns over [start, end): {group tuple (group_by order): {metric: value}}.

        Tokens are ints; costs are Decimal dollars under "amount" (Anthropic cents under "amount_cents"). With
        per_bucket=True the keys are (bucket start, *group). Filters use query parameter names (`models=[…]`,
        `project_ids=[…]`, `api_key_ids=[…]`, `workspace_ids=[…]`, `batch=True`)."""
        ep = endpoint(self.provider, name)
        fdims = {ep.filters[k]: set(v) if isinstance(v, (list, tuple, set)) else {v} for k, v in filters.items()}
        order = [g for g in group_by]
        out = {}
        for b in bucket_starts(to_unix(start), to_unix(end), bucket_width):
            gdims, rows = self.bucket(ep.name, b, bucket_width, fdims, set(group_by))
            for g, vec in rows.items():
                named = dict(zip(gdims, g))
                key = tuple(named[x] for x in order)
                if per_bucket:
                    key = (b,) + key
                acc = out.setdefault(key, collections.Counter())
                for m, x in zip(ep.metrics, vec):
                    acc[m] += x
        for acc in out.values():
            if ep.cost and self.provider == "anthropic":
                acc["amount_cents"] = acc["amount"]
                acc["amount"] = acc["amount"] / 100
        return {k: dict(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------------------
# The request log

class UsageRequest:
    """One request as the stand-in saw it: method, path, target (path + query as sent), headers (lower-cased),
    key (the credential) and key_header ("authorization" / "x-api-key"), status, fault, page, time. `query` maps
    names (brackets stripped) to a list for array parameters and to the last value for scalars; `array_encoding` is
    "brackets", "repeat", "mixed" or None."""

    def __init__(self, method, target, headers, provider):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.raw_query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        self.query, self.array_encoding = normalise_query(self.raw_query)
        self.headers = {k.lower(): v for k, v in headers.items()}
        auth = self.headers.get("authorization", "")
        bearer = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None
        if provider == "anthropic" and self.headers.get("x-api-key"):
            self.key, self.key_header = self.headers["x-api-key"], "x-api-key"
        else:
            # OpenAI reads only the bearer token. For Anthropic it is the fallback: the installed anthropic SDK
            # (2.12) sends its api_key as `Authorization: Bearer`; Tally should send x-api-key (see key_header).
            self.key, self.key_header = bearer, ("authorization" if bearer else None)
        self.time = time.time()
        self.status = None
        self.fault = None
        self.page = None  # page number of a report page (1 = no cursor)

    def __repr__(self):
        return f"<{self.method} {self.target} -> {self.status}{' ' + self.fault if self.fault else ''}>"


def normalise_query(pairs):
    query = {}
    encodings = set()
    for name, value in pairs:
        bare = name[:-2] if name.endswith("[]") else name
        if bare in ARRAY_PARAMS:
            encodings.add("brackets" if name.endswith("[]") else "repeat")
            query.setdefault(bare, []).append(value)
        else:
            query[bare] = value
    encoding = None if not encodings else encodings.pop() if len(encodings) == 1 else "mixed"
    return query, encoding


class _Reply(Exception):
    def __init__(self, status, body, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


# ---------------------------------------------------------------------------------------------------------------
# The server

class UsageReportStandIn:
    """One provider's usage/cost report API on 127.0.0.1:<free port>, serving `dataset`.

    Keys: OpenAI admin keys start with `sk-admin-`, Anthropic ones with `sk-ant-admin`; other keys, keys containing
    "bad-" and revoked keys get the provider's 401. Faults are queued with the methods below and consumed in order
    by the requests they match (`path=None` matches every path)."""

    def __init__(self, provider, dataset=None, **dataset_params):
        assert provider in PROVIDERS, provider
        self.provider = provider
        self.dataset = dataset or Dataset(provider, **dataset_params)
        self.requests = []
        self.counters = collections.Counter()
        self.revoked = set()
        self._faults = []      # dicts: kind, remaining, path, ...
        self._malformed = []   # dicts: path, page, kind, field, remaining
        self.cost_results = None  # {bucket start: [cost result rows]}: the cost report answers exactly these
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "usage-report-standin"
            sys_version = ""

            def log_message(self, *args):
                pass

            def do_GET(self):
                standin._handle(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                standin._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name=f"usage-standin-{provider}",
                                        daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    # -- what tests set

    def rate_limit(self, times=1, retry_after=1, path=None):
        """The next `times` requests (to `path`) answer 429 with `Retry-After: retry_after`."""
        self._add_fault(kind="rate_limit", remaining=times, path=path, retry_after=retry_after)

    def server_error(self, times=1, status=500, path=None):
        """The next `times` requests answer `status` (500 api/server error; Anthropic 503/529 overloaded_error)."""
        self._add_fault(kind="server_error", remaining=times, path=path, status=status)

    def overloaded(self, times=1, path=None):
        """OpenAI 503 "overloaded", Anthropic 529 overloaded_error."""
        self.server_error(times, 503 if self.provider == "openai" else 529, path)

    def hang(self, seconds, times=1, path=None):
        """The next `times` requests wait `seconds` before answering (normally) - a client timeout."""
        self._add_fault(kind="hang", remaining=times, path=path, seconds=seconds)

    def malformed(self, path, page=1, kind="truncated", field="has_more", times=1):
        """Page `page` (1 = the request without a cursor) of `path` answers a broken 200 body `times` times:
        kind "truncated" (JSON cut in half) or "missing_field": `field` is removed - a top-level name
        ("has_more", "data", "next_page"), "bucket:<name>" from every bucket or "result:<name>" from every result."""
        with self._lock:
            self._malformed.append(dict(path=path, page=page, kind=kind, field=field, remaining=times))

    def revoke(self, key):
        """`key` is refused with the provider's authentication error from now on."""
        with self._lock:
            self.revoked.add(key)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()
            self._malformed.clear()
            self.revoked.clear()

    def bump(self, days_back=2, times=1):
        """Late data: the records of the last `days_back` days change (grow)."""
        self.dataset.bump(days_back, times)

    def expected_totals(self, endpoint_name, start, end, group_by=(), bucket_width="1d", per_bucket=False,
                        **filters):
        return self.dataset.expected_totals(endpoint_name, start, end, group_by, bucket_width, per_bucket,
                                            **filters)

    # -- what tests read

    def recorded(self, path=None):
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def hits(self, path=None):
        return len(self.recorded(path))

    def clear(self):
        with self._lock:
            self.requests.clear()
            self.counters.clear()

    def _add_fault(self, **fault):
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path):
        with self._lock:
            for f in self._faults:
                if f["remaining"] > 0 and f["path"] in (None, path):
                    f["remaining"] -= 1
                    return dict(f)
        return None

    def _take_malformed(self, path, page):
        with self._lock:
            for f in self._malformed:
                if f["remaining"] > 0 and f["path"] == path and f["page"] == page:
                    f["remaining"] -= 1
                    return dict(f)
        return None

    # -- serving

    def _handle(self, handler):
        req = UsageRequest(handler.command, handler.path, dict(handler.headers.items()), self.provider)
        with self._lock:
            self.requests.append(req)
            self.counters["requests"] += 1
        rid = "req_" + uuid.uuid4().hex[:24]
        common = {"x-request-id": rid, "openai-processing-ms": "7", "openai-version": "2020-10-01"} \
            if self.provider == "openai" else {"request-id": rid}
        raw = None
        try:
            fault = self._take_fault(req.path)
            if fault and fault["kind"] == "hang":
                req.fault = "hang"
                self.counters["hung"] += 1
                time.sleep(fault["seconds"])
            elif fault:
                req.fault = fault["kind"]
                self.counters[fault["kind"]] += 1
                raise self._fault_reply(fault, rid)
            if handler.command != "GET":
                raise self._error(404, "not_found", f"Invalid URL ({handler.command} {req.path})", rid)
            self._authenticate(req, rid)
            status, body = 200, self._route(req, rid)
            bad = self._take_malformed(req.path, req.page) if req.page else None
            if bad:
                req.fault = "malformed"
                self.counters["malformed"] += 1
                raw = self._break(body, bad)
            headers = {}
        except _Reply as reply:
            status, body, headers = reply.status, reply.body, reply.headers
        if raw is None:
            raw = dump_json(body)
        req.status = status
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            for name, value in {**common, **headers}.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def _break(self, body, bad):
        if bad["kind"] == "truncated":
            raw = dump_json(body)
            return raw[: max(1, len(raw) // 2)]
        field = bad["field"]
        if field.startswith("bucket:"):
            for b in body.get("data", []):
                b.pop(field[7:], None)
        elif field.startswith("result:"):
            for b in body.get("data", []):
                for r in b.get("results", []):
                    r.pop(field[7:], None)
        else:
            body.pop(field, None)
        return dump_json(body)

    def _error(self, status, kind, message, rid, param=None, code=None, headers=None):
        if self.provider == "openai":
            types = {"not_found": "invalid_request_error", "invalid": "invalid_request_error",
                     "auth": "invalid_request_error"}
            return _Reply(status, {"error": {"message": message, "type": types.get(kind, kind), "param": param,
                                             "code": code}}, headers)
        types = {"not_found": "not_found_error", "invalid": "invalid_request_error", "auth": "authentication_error"}
        return _Reply(status, {"type": "error", "error": {"type": types.get(kind, kind), "message": message},
                               "request_id": rid}, headers)

    def _fault_reply(self, fault, rid):
        if fault["kind"] == "rate_limit":
            ra = str(fault["retry_after"])
            if self.provider == "openai":
                return self._error(429, "requests", OPENAI_RATE_LIMITED, rid, code="rate_limit_exceeded", headers={
                    "retry-after": ra, "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": f"{ra}s"})
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + float(ra)))
            return self._error(429, "rate_limit_error", ANTHROPIC_RATE_LIMITED, rid, headers={
                "retry-after": ra, "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset})
        status = fault["status"]
        if self.provider == "openai":
            if status == 503:
                return self._error(503, "server_error", "The engine is currently overloaded, please try again later.",
                                   rid)
            return self._error(status, "server_error",
                               "The server had an error while processing your request. Sorry about that!", rid)
        if status in (503, 529):
            return self._error(status, "overloaded_error", "Overloaded", rid)
        if status == 504:
            return self._error(status, "timeout_error", "Request timed out", rid)
        return self._error(status, "api_error", "Internal server error", rid)

    def _authenticate(self, req, rid):
        key = req.key or ""
        if self.provider == "openai":
            if not key:
                raise self._error(401, "auth", OPENAI_NO_KEY, rid)
            if "bad-" in key or key in self.revoked or not key.startswith("sk-"):
                self.counters["unauthorized"] += 1
                raise self._error(401, "auth", OPENAI_INVALID_KEY.format(redacted=_redact(key)), rid,
                                  code="invalid_api_key")
            if not key.startswith("sk-admin-"):
                self.counters["unauthorized"] += 1
                raise self._error(401, "auth", OPENAI_NOT_ADMIN, rid)
            return
        if not key:
            raise self._error(401, "auth", "x-api-key header is required", rid)
        if "bad-" in key or key in self.revoked or not key.startswith("sk-ant-admin"):
            self.counters["unauthorized"] += 1
            raise self._error(401, "auth", ANTHROPIC_INVALID_KEY, rid)
        if not req.headers.get("anthropic-version"):
            raise self._error(400, "invalid", "anthropic-version: header is required", rid)

    def _route(self, req, rid):
        ep = ENDPOINT_BY_PATH.get(req.path)
        if ep is not None and ep.provider == self.provider:
            return self._report(ep, req, rid)
        if self.provider == "openai":
            if req.path == "/v1/organization/projects":
                return self._openai_list(req, rid, [self._openai_project(p) for p in self.dataset.projects])
            m = re.fullmatch(r"/v1/organization/projects/([^/]+)/api_keys", req.path)
            if m:
                if not any(p["id"] == m.group(1) for p in self.dataset.projects):
                    raise self._error(404, "not_found", f"No such project: {m.group(1)}", rid)
                keys = [self._openai_key(k) for k in self.dataset.keys if k["project_id"] == m.group(1)]
                return self._openai_list(req, rid, keys)
        else:
            if req.path == "/v1/organizations/me":
                return {"id": "12345678-1234-5678-1234-567812345678", "type": "organization", "name": "Stand-in Org"}
            if req.path == "/v1/organizations/workspaces":
                return self._anthropic_list(req, rid, [self._anthropic_workspace(w) for w in self.dataset.projects])
            if req.path == "/v1/organizations/api_keys":
                keys = self.dataset.listed_keys()
                if "workspace_id" in req.query:
                    keys = [k for k in keys if k["workspace_id"] == req.query["workspace_id"]]
                if req.query.get("status") not in (None, "active"):
                    keys = []
                return self._anthropic_list(req, rid, [self._anthropic_key(k) for k in keys])
        raise self._error(404, "not_found", f"Invalid URL (GET {req.path})" if self.provider == "openai"
                          else "Not found", rid)

    # -- listings

    def _openai_project(self, p):
        return {"id": p["id"], "object": "organization.project", "name": p["name"],
                "created_at": self.dataset.created_at, "archived_at": None, "status": "active"}

    def _openai_key(self, k):
        return {"object": "organization.project.api_key", "id": k["id"], "name": k["name"],
                "redacted_value": k["redacted"], "created_at": self.dataset.created_at,
                "last_used_at": self.dataset.end_ts - DAY,
                "owner": {"type": "service_account", "service_account": {
                    "object": "organization.project.service_account", "id": "svc_acct_" + k["id"][4:],
                    "name": k["name"], "role": "member", "created_at": self.dataset.created_at}}}

    def _anthropic_workspace(self, w):
        return {"id": w["id"], "type": "workspace", "name": w["name"], "created_at": rfc3339(self.dataset.created_at),
                "archived_at": None, "display_color": "#6C5BB9"}

    def _anthropic_key(self, k):
        return {"id": k["id"], "type": "api_key", "name": k["name"], "workspace_id": k["workspace_id"],
                "created_at": rfc3339(self.dataset.created_at), "created_by": {"id": "user_01Example", "type": "user"},
                "expires_at": None, "partial_key_hint": k["redacted"], "status": "active"}

    def _list_limit(self, req, rid, default, maximum):
        try:
            limit = int(req.query.get("limit", default))
        except ValueError:
            raise self._error(400, "invalid", "limit: Input should be a valid integer", rid, param="limit")
        if not 1 <= limit <= maximum:
            raise self._error(400, "invalid", f"limit: must be between 1 and {maximum}", rid, param="limit",
                              code="invalid_value")
        return limit

    def _openai_list(self, req, rid, items):
        limit = self._list_limit(req, rid, 20, 100)
        after = req.query.get("after")
        ids = [i["id"] for i in items]
        start = ids.index(after) + 1 if after in ids else 0
        page = items[start:start + limit]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": start + limit < len(items)}

    def _anthropic_list(self, req, rid, items):
        limit = self._list_limit(req, rid, 20, 1000)
        ids = [i["id"] for i in items]
        after, before = req.query.get("after_id"), req.query.get("before_id")
        if after is not None:
            start = ids.index(after) + 1 if after in ids else len(ids)
            page = items[start:start + limit]
            more = start + limit < len(items)
        elif before is not None:
            stop = ids.index(before) if before in ids else 0
            page = items[max(0, stop - limit):stop]
            more = stop - limit > 0
        else:
            page = items[:limit]
            more = limit < len(items)
        return {"data": page, "has_more": more, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None}

    # -- reports

    def _report(self, ep, req, rid):
        q = req.query
        oai = self.provider == "openai"
        start_name, end_name = ("start_time", "end_time") if oai else ("starting_at", "ending_at")

        def invalid(message, param, code="invalid_value"):
            return self._error(400, "invalid", message, rid, param=param, code=code)

        def instant(name):
            text = q.get(name)
            try:
                return int(text) if oai else parse_rfc3339(text)
            except (TypeError, ValueError):
                raise invalid(f"Invalid value for '{name}': expected " +
                              ("an integer (Unix seconds)." if oai else "an RFC 3339 datetime."), name)

        if q.get(start_name) in (None, ""):
            raise invalid(f"Missing required parameter: '{start_name}'." if oai
                          else f"{start_name}: Field required", start_name, "missing_required_parameter")
        start = instant(start_name)
        end = instant(end_name) if q.get(end_name) not in (None, "") else int(clock.timestamp())
        if end <= start:
            raise invalid(f"'{end_name}' must be after '{start_name}'.", end_name)
        width = q.get("bucket_width", "1d")
        if width not in ep.widths:
            raise invalid(f"Invalid value for 'bucket_width': '{width}'. Supported values are: "
                          f"{', '.join(repr(w) for w in ep.widths)}.", "bucket_width")
        default, maximum = ep.limits[width]
        try:
            limit = int(q.get("limit", default))
        except ValueError:
            raise invalid("Invalid value for 'limit': expected an integer.", "limit")
        if not 1 <= limit <= maximum:
            raise invalid(f"Invalid value for 'limit': {limit}. It must be between 1 and {maximum} for "
                          f"bucket_width={width}." if oai else
                          f"limit: Input should be less than or equal to {maximum} for bucket_width {width}",
                          "limit")
        group_by = q.get("group_by", [])
        for g in group_by:
            if g not in ep.group_by:
                raise invalid(f"Invalid value for 'group_by': '{g}'. Supported values are: "
                              f"{', '.join(ep.group_by)}." if oai else
                              f"group_by: Input should be {', '.join(repr(x) for x in ep.group_by)}", "group_by")
        filters = {}
        for name, dim in ep.filters.items():
            if name not in q:
                continue
            vals = q[name] if isinstance(q[name], list) else [q[name]]
            if name == "batch":
                if vals[-1] not in ("true", "false"):
                    raise invalid("Invalid value for 'batch': expected a boolean.", "batch")
                vals = [vals[-1] == "true"]
            filters[dim] = set(vals)
        starts = bucket_starts(start, end, width)
        first_index, page_no = 0, 1
        if q.get("page"):
            cursor = _decode_cursor(q["page"])
            if cursor is None or cursor.get("w") != width or cursor.get("p") != ep.path:
                raise invalid("Invalid value for 'page': the cursor is malformed or belongs to another query."
                              if oai else "page: invalid page token", "page")
            first_index = (cursor["s"] - starts.start) // WIDTHS[width] if len(starts) else 0
            page_no = cursor["n"]
            if not 0 <= first_index <= len(starts):
                raise invalid("Invalid value for 'page': out of range.", "page")
        req.page = page_no
        page_starts = starts[first_index:first_index + limit]
        more = first_index + limit < len(starts)
        data = [self._bucket(ep, b, width, filters, set(group_by)) for b in page_starts]
        next_page = _encode_cursor({"p": ep.path, "w": width, "s": starts[first_index + limit], "n": page_no + 1}) \
            if more else None
        if oai:
            return {"object": "page", "data": data, "has_more": more, "next_page": next_page}
        return {"data": data, "has_more": more, "next_page": next_page}

    def _bucket(self, ep, start, width, filters, group_by):
        end = start + WIDTHS[width]
        if ep.cost and self.cost_results is not None:
            results = list(self.cost_results.get(start, []))
            if self.provider == "openai":
                return {"object": "bucket", "start_time": start, "end_time": end, "results": results}
            return {"starting_at": rfc3339(start), "ending_at": rfc3339(end), "results": results}
        gdims, rows = self.dataset.bucket(ep.name, start, width, filters, group_by)
        results = []
        for g, vec in sorted(rows.items(), key=lambda kv: tuple("" if x is None else str(x) for x in kv[0])):
            named = dict(zip(gdims, g))
            dims = {d: (named[d] if d in named else None) for d in ep.dims}
            metrics = dict(zip(ep.metrics, vec))
            results.append(getattr(self, f"_row_{self.provider}")(ep, dims, metrics, group_by))
        if self.provider == "openai":
            return {"object": "bucket", "start_time": start, "end_time": end, "results": results}
        return {"starting_at": rfc3339(start), "ending_at": rfc3339(end), "results": results}

    def _row_openai(self, ep, dims, metrics, group_by):
        if ep.cost:
            by_item = "line_item" in group_by
            return {"object": ep.result_object, "amount": {"value": metrics["amount"], "currency": "usd"},
                    "line_item": dims["line_item"], "project_id": dims["project_id"], "api_key_id": dims["api_key_id"],
                    "quantity": metrics["quantity"] if by_item else None,
                    "quantity_unit": "tokens" if by_item else None}
        return {"object": ep.result_object, **metrics, **dims}

    def _row_anthropic(self, ep, dims, metrics, group_by):
        if ep.cost:
            info = self.dataset.descriptions.get(dims["description"]) or {}
            return {"currency": "USD", "amount": dec_str(metrics["amount"]), "workspace_id": dims["workspace_id"],
                    "description": dims["description"], "cost_type": info.get("cost_type"),
                    "model": info.get("model"), "service_tier": info.get("service_tier"),
                    "token_type": info.get("token_type"), "context_window": info.get("context_window"),
                    "inference_geo": None}
        row = {"uncached_input_tokens": metrics["uncached_input_tokens"],
               "cache_creation": {"ephemeral_5m_input_tokens": metrics["cache_creation.ephemeral_5m_input_tokens"],
                                  "ephemeral_1h_input_tokens": metrics["cache_creation.ephemeral_1h_input_tokens"]},
               "cache_read_input_tokens": metrics["cache_read_input_tokens"],
               "output_tokens": metrics["output_tokens"],
               "server_tool_use": {"web_search_requests": metrics["server_tool_use.web_search_requests"]}}
        for d in ep.dims:
            if d == "speed" and "speed" not in group_by:
                continue  # newer field, only sent when asked for
            row[d] = dims[d]
        return row


def _redact(key):
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def _encode_cursor(obj):
    return "page_" + base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(text):
    try:
        assert text.startswith("page_")
        raw = text[5:]
        obj = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        assert isinstance(obj["s"], int) and isinstance(obj["n"], int)
        return obj
    except Exception:
        return None


_DEC_MARK = "\x01D"


class Number:
    """A JSON number written with exactly this literal text (`Number("1.5e-3")`, `Number("0.0123456789012345678")`)."""

    def __init__(self, text):
        assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text), text
        self.text = text


def _json_default(value):
    if isinstance(value, Decimal):
        return _DEC_MARK + dec_str(value) + "\x01"
    if isinstance(value, Number):
        return _DEC_MARK + value.text + "\x01"
    raise TypeError(type(value))


def dump_json(body):
    """JSON bytes; Decimals (and Numbers) become number literals with exactly their digits (never through a float)."""
    text = json.dumps(body, default=_json_default, separators=(",", ":"))
    if "\\u0001D" in text:
        text = re.sub(r'"\\u0001D(-?[0-9.eE+-]+)\\u0001"', r"\1", text)
    return text.encode()


def loads_exact(raw):
    """Parse a report body keeping JSON numbers with a fraction as Decimal (how Tally must read amounts)."""
    return json.loads(raw, parse_float=Decimal)


# ---------------------------------------------------------------------------------------------------------------
# Fixture

class UsageReportStandIns(dict):
    """{"openai": UsageReportStandIn, "anthropic": UsageReportStandIn} with the small default dataset, plus
    `start(provider, **dataset_params)` for more (e.g. `start("openai", **LARGE)`), all stopped at teardown."""

    def __init__(self):
        super().__init__()
        self.extra = []

    def start(self, provider, dataset=None, **dataset_params):
        s = UsageReportStandIn(provider, dataset, **dataset_params).start()
        self.extra.append(s)
        return s

    def expected_totals(self, provider, endpoint_name, start, end, group_by=(), **kwargs):
        return self[provider].expected_totals(endpoint_name, start, end, group_by, **kwargs)

    def stop(self):
        for s in [*self.values(), *self.extra]:
            s.stop()


@pytest.fixture
def usage_report_standins():
    standins = UsageReportStandIns()
    for p in PROVIDERS:
        standins[p] = UsageReportStandIn(p, **SMALL).start()
    yield standins
    standins.stop()
