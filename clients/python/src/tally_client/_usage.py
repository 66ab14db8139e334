"""Each provider's `usage` object in Tally's token classes, exactly as Tally's gateway maps it
(Sources/TallyProviders/*/…Usage.swift): `input_tokens` is ALL input (cache reads and writes included) and
`output_tokens` ALL output (reasoning included)."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

Usage = Dict[str, int]
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_input_tokens",
                "cache_write_1h_input_tokens", "reasoning_tokens", "input_audio_tokens", "output_audio_tokens",
                "cached_input_audio_tokens")


def to_dict(obj: Any) -> Any:
    """A pydantic model of the SDKs (extra fields included) as plain data; dicts and others unchanged."""
    if obj is None or isinstance(obj, (dict, list, str, int, float, bool)):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return dump(by_alias=True, exclude_unset=True)
        except Exception:  # noqa: BLE001
            pass
    to = getattr(obj, "to_dict", None)
    if callable(to):
        try:
            return to()
        except Exception:  # noqa: BLE001
            pass
    return getattr(obj, "__dict__", None)


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(obj: Any, key: str) -> int:
    v = _obj(obj).get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _cached_audio(details: Mapping[str, Any], u: Usage) -> int:
    reported = _int(_obj(details.get("cached_tokens_details")), "audio_tokens")
    return min(reported, u["cached_input_tokens"], u["input_audio_tokens"])


def _empty() -> Usage:
    return {k: 0 for k in TOKEN_FIELDS}


def openai_chat(usage: Any) -> Usage:
    """Chat Completions (and legacy completions, embeddings) `usage`."""
    usage = _obj(to_dict(usage))
    u = _empty()
    u["input_tokens"] = _int(usage, "prompt_tokens")
    u["output_tokens"] = _int(usage, "completion_tokens")
    prompt = _obj(usage.get("prompt_tokens_details"))
    completion = _obj(usage.get("completion_tokens_details"))
    u["cached_input_tokens"] = _int(prompt, "cached_tokens")
    u["cache_write_input_tokens"] = _int(prompt, "cache_write_tokens")
    u["input_audio_tokens"] = _int(prompt, "audio_tokens")
    u["cached_input_audio_tokens"] = _cached_audio(prompt, u)
    u["reasoning_tokens"] = _int(completion, "reasoning_tokens")
    u["output_audio_tokens"] = _int(completion, "audio_tokens")
    return u


def openai_responses(usage: Any) -> Usage:
    """Responses API `usage`."""
    usage = _obj(to_dict(usage))
    u = _empty()
    u["input_tokens"] = _int(usage, "input_tokens")
    u["output_tokens"] = _int(usage, "output_tokens")
    details = _obj(usage.get("input_tokens_details"))
    u["cached_input_tokens"] = _int(details, "cached_tokens")
    u["cache_write_input_tokens"] = _int(details, "cache_write_tokens")
    u["input_audio_tokens"] = _int(details, "audio_tokens")
    u["cached_input_audio_tokens"] = _cached_audio(details, u)
    u["reasoning_tokens"] = _int(_obj(usage.get("output_tokens_details")), "reasoning_tokens")
    return u


def anthropic(usage: Any) -> Usage:
    """Anthropic Messages `usage` (a stream's: `message_start`'s merged with the `message_delta`s')."""
    usage = _obj(to_dict(usage))
    u = _empty()
    read = _int(usage, "cache_read_input_tokens")
    creation = _obj(usage.get("cache_creation"))
    write_5m = _int(creation, "ephemeral_5m_input_tokens")
    write_1h = _int(creation, "ephemeral_1h_input_tokens")
    # Older answers give only the total of writes; newer ones split it by TTL as well.
    writes = max(_int(usage, "cache_creation_input_tokens"), write_5m + write_1h)
    u["input_tokens"] = _int(usage, "input_tokens") + read + writes
    u["cached_input_tokens"] = read
    u["cache_write_input_tokens"] = writes
    u["cache_write_1h_input_tokens"] = write_1h
    u["output_tokens"] = _int(usage, "output_tokens")
    u["reasoning_tokens"] = min(_int(_obj(usage.get("output_tokens_details")), "thinking_tokens"),
                                u["output_tokens"])
    return u


def merge_anthropic_delta(carried: Optional[Dict[str, Any]], delta_usage: Any) -> Dict[str, Any]:
    """`message_delta.usage` over the usage carried from `message_start`: a count it carries replaces the one
    before, a null is absent (the start's input and cache counts stay)."""
    merged = dict(carried or {})
    for k, v in _obj(to_dict(delta_usage)).items():
        if v is not None:
            merged[k] = v
    return merged


def service_tier(value: Any) -> Optional[str]:
    """A tier as an answer names it: a non-empty string of at most 64 bytes, lowercased (Tally's ServiceTier)."""
    if isinstance(value, str) and value and len(value.encode("utf-8")) <= 64:
        return value.lower()
    return None
