"""How a tool says that it failed: one observation line with a fixed prefix.

Tools return their failures as text ("weather unavailable: cannot reach ...", "search
unavailable: ...", "calculator error: ...") so that the model can read why and the chat keeps
going. This is the one place that recognises such a line, so the agent can mark the step as
failed (a cross in the chat, `"error": true` in `ask --json`) instead of a success.
"""

from __future__ import annotations

import re

_FAILURE = re.compile(r"^\s*(?:[\w ]{1,40}? (?:unavailable|failed|error|refused)|tool error):", re.IGNORECASE)


def is_failure(observation: str) -> bool:
    """True when a tool's observation reports that the tool could not do its job."""
    return bool(_FAILURE.match(observation))
