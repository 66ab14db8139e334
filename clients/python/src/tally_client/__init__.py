"""tally-client: send LLM usage events to Tally (a self-hosted usage and cost tracker) and record the calls of the
OpenAI and Anthropic SDKs.

    from tally_client import Tally
    tally = Tally("http://127.0.0.1:8080", "tly_…")
    client = tally.wrap(openai.OpenAI())
    with tally.attribute(feature="support-bot", user="u-42"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""
from ._async import AsyncTally
from ._attribution import attribute, current_attribution
from ._client import Tally
from ._delivery import Stats
from ._wrap import wrap

__version__ = "0.1.0"

__all__ = ["AsyncTally", "Stats", "Tally", "attribute", "current_attribution", "wrap", "__version__"]
