"""Output parsers for a template's `output` format: text, json (checked against the schema), list."""

from __future__ import annotations

import json
import re
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.output_parsers import BaseOutputParser

from agent_app.templates import json_check
from agent_app.templates.schema import JsonOutput, ListOutput, OutputSpec

_BULLET = re.compile(r"^\s*(?:[-*•・]|\d+[.)])\s*")


class OutputFormatError(ValueError):
    """The reply does not have the template's output format; the message says why, in one line."""


def parse_output(spec: OutputSpec, text: str) -> Any:
    """`text` parsed by the output spec: str, a JSON value or a list of str."""
    if isinstance(spec, JsonOutput):
        return parse_json(text, spec.schema_)
    if isinstance(spec, ListOutput):
        return parse_list(text, spec.style)
    return text


class TemplateOutputParser(BaseOutputParser[Any]):
    """LangChain parser for a template's output spec; raises `OutputParserException` on failure."""

    spec: OutputSpec

    def parse(self, text: str) -> Any:
        try:
            return parse_output(self.spec, text)
        except OutputFormatError as exc:
            raise OutputParserException(str(exc), llm_output=text) from None

    @property
    def _type(self) -> str:
        return "template_output"


def parse_json(text: str, schema: dict[str, Any] | None = None) -> Any:
    """The first JSON object or array in `text` (code fences allowed), checked against `schema`."""
    start = min((i for i in (text.find("{"), text.find("[")) if i != -1), default=-1)
    if start == -1:
        raise OutputFormatError("no JSON object or array found in the reply")
    try:
        value, _end = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise OutputFormatError(f"invalid JSON: {exc.msg} at character {start + exc.pos}") from None
    if schema is not None:
        try:
            json_check.validate(value, schema)
        except ValueError as exc:
            raise OutputFormatError(f"JSON does not match the schema: {exc}") from None
    return value


def parse_list(text: str, style: str = "lines") -> list[str]:
    """Items of a list reply: one per line (bullets/numbers removed), or split on `,` and `、`."""
    if style == "comma":
        items = re.split(r"[,、，]", text.strip().splitlines()[0] if text.strip() else "")
    else:
        items = [_BULLET.sub("", line) for line in text.splitlines()]
    return [item.strip().rstrip("。.") for item in items if item.strip().rstrip("。.")]
