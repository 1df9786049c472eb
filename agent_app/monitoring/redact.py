"""Removing secrets from anything that is logged or shown.

Two layers: the exact values the app knows are secret (the configured API keys), and patterns
that look like credentials wherever they come from (`sk-...`, `Bearer ...`, `api_key=...`).
Dictionary entries whose key names a credential are hidden whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Values shorter than this are not masked by value: masking "x" or "abc" everywhere would wreck logs.
MIN_SECRET_LENGTH = 6

_PATTERNS = [
    # Credentials inside a URL: http://user:pass@host -> http://***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@:]*:[^\s/@]*@"), r"\1" + MASK + "@"),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-" + MASK),
    (re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=\-]{6,}"), "Bearer " + MASK),
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9]+[_-])*(?:api[_-]?key|access[_-]?token|auth[_-]?token|secret|password|passwd|token))"
            r"([\"']?\s*[=:]\s*)([\"']?)[^\s\"',;&}]+"
        ),
        r"\1\2\3" + MASK,
    ),
]
_SECRET_KEY = re.compile(
    r"(?i)^(?:[a-z0-9]+[_-])*(?:api[_-]?key|access[_-]?token|auth[_-]?token|authorization|secret|password|passwd|token)$"
)


class Redactor:
    """Masks known secret values and credential-looking text in strings and nested data."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}
        # Longest first, so a secret containing another is masked whole.
        self._values = sorted(values, key=len, reverse=True)

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_LENGTH and value not in self._values:
            self._values = sorted([*self._values, value], key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: (MASK if isinstance(k, str) and _SECRET_KEY.match(k) and v else self.data(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


# Secrets the app was configured with (API keys), masked in every message shown to the user,
# not only in logs: an error from a server can echo the key back.
_known = Redactor()


def register_secret(value: str | None) -> None:
    """Remember a configured secret so that `redact_message` masks it wherever it appears."""
    _known.add_secret(value)


def redact_message(text: str) -> str:
    """`text` with registered secrets, URL passwords and credential-looking values masked."""
    return _known.text(text)
