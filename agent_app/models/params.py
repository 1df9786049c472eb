"""Generation parameters shared by every backend.

One pydantic model validates them wherever they come from (config file, `--param`, `/params`,
a template); every chat model of ours accepts them as invoke keyword arguments, so
`model.bind(**params.invoke_kwargs())` works the same on the local and the OpenAI backend.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent_app.errors import ConfigError


class GenerationParams(BaseModel):
    """Sampling and length settings. `None` means "the backend's default"."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    temperature: float | None = Field(None, ge=0.0, le=2.0, description="0 = greedy")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    max_tokens: int | None = Field(None, ge=1, le=32768, description="new tokens at most")
    repetition_penalty: float | None = Field(None, gt=0.0, le=10.0)
    no_repeat_ngram_size: int | None = Field(None, ge=0)
    stop: list[str] | None = Field(None, description="stop strings, removed from the output")
    seed: int | None = Field(None, ge=0)

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(s == "" for s in value):
            raise ValueError("stop strings must not be empty")
        return value or None

    def invoke_kwargs(self) -> dict[str, Any]:
        """The parameters that are set, as keyword arguments for `invoke`/`stream`/`bind`."""
        return self.model_dump(exclude_none=True)

    def merged(self, override: GenerationParams | dict[str, Any] | None) -> GenerationParams:
        """A copy where every parameter set in `override` wins."""
        if override is None:
            return self.model_copy()
        if isinstance(override, GenerationParams):
            override = override.model_dump(exclude_none=True)
        data = self.model_dump(exclude_none=True) | dict(override)
        return validate_params(data)

    def describe(self) -> str:
        """A one-line `name=value` listing of the parameters that are set."""
        items = self.invoke_kwargs()
        return " ".join(f"{k}={v!r}" for k, v in items.items()) or "(backend defaults)"


PARAM_NAMES: tuple[str, ...] = tuple(GenerationParams.model_fields)


def validate_params(data: dict[str, Any]) -> GenerationParams:
    """Validate a dict of parameters, turning pydantic's report into one actionable line."""
    try:
        return GenerationParams.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc), hint=f"known parameters: {', '.join(PARAM_NAMES)}") from None


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Parse `name=value` strings (from `--param` or `/params`) into raw values.

    `stop` may be given several times or as a comma list; `name=` (empty) resets a parameter.
    Values stay strings except for `stop`: pydantic converts and range-checks them.
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigError(f"malformed parameter {item!r}: write name=value, e.g. temperature=0.7")
        if name not in PARAM_NAMES:
            raise ConfigError(f"unknown parameter {name!r}", hint=f"known: {', '.join(PARAM_NAMES)}")
        value = value.strip()
        if value == "" or value.lower() in {"none", "default"}:
            out[name] = None
        elif name == "stop":
            decoded = unescape(value)
            out.setdefault("stop", [])
            out["stop"] = (out["stop"] or []) + [decoded]
        else:
            out[name] = value
    return out


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[ntr\\]|.?)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(value: str) -> str:
    """Turn the escapes a user can type (\\n, \\t, \\r, \\\\, \\uXXXX) into characters.

    Only these are understood, and anything else is an error with the list: the codec
    `unicode_escape` that was used before crashed on `\\x` and turned `。` into mojibake
    (it reads the UTF-8 bytes as Latin-1).
    """

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if code[:1] in ("u", "U") and len(code) > 1:
            try:
                return chr(int(code[1:], 16))
            except ValueError:  # beyond U+10FFFF
                pass
        raise ConfigError(
            f"unknown escape {match.group(0)} in stop={value}",
            hint="use \\n, \\t, \\r, \\\\ or \\uXXXX (four hex digits)",
        )

    return _ESCAPE.sub(replace, value)


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown parameter"
        parts.append(f"{where}: {msg}")
    return "invalid parameters: " + "; ".join(parts)
