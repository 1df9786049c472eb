"""The one way the app reads YAML: safe, alias-free, with `file line N: problem` errors.

Why aliases are refused: `yaml.safe_load` builds nothing dangerous, but nested aliases
(`a: &a [x, x]`, `b: &b [*a, *a]`, ...) are shared references that expand when the data is
walked or rendered. A 610-byte template once grew to about 1 GB in 90 s when its schema was
printed. Nothing the app reads (templates, config, prices, scripted replies) needs aliases, so a
file that uses one is refused with its line, before any expansion can happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

MAX_YAML_BYTES = 1024 * 1024
"""Bigger files are refused: every YAML file the app reads is a page or two of text."""


class YAMLProblem(ValueError):
    """A YAML text that cannot be used; `line` is 1-based where known."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line else problem)

    def where(self, source: str | Path) -> str:
        """`source line N`, for messages."""
        return f"{source} line {self.line}" if self.line else str(source)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that stops at the first alias (`*name`), before anything is built."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed: write the value out", event.start_mark
            )
        return super().compose_node(parent, index)


def parse_yaml(text: str) -> Any:
    """Parse YAML text (safe types only, no aliases). Raises `YAMLProblem`."""
    if len(text) > MAX_YAML_BYTES:
        raise YAMLProblem(f"too large ({len(text)} characters; at most {MAX_YAML_BYTES})")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise YAMLProblem(" ".join(str(problem).split()), mark.line + 1 if mark is not None else None) from None


def read_yaml(path: Path) -> Any:
    """Read and parse a UTF-8 YAML file. Raises `YAMLProblem` (unreadable, not UTF-8, bad YAML)."""
    return read_yaml_text(path)[0]


def read_yaml_text(path: Path) -> tuple[Any, str]:
    """The parsed data and the text (for `line_of`) of a UTF-8 YAML file. Raises `YAMLProblem`."""
    try:
        if path.is_dir():
            raise YAMLProblem("is a folder, not a file")
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise YAMLProblem(f"too large ({size} bytes; at most {MAX_YAML_BYTES})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise YAMLProblem("not UTF-8 text") from None
    except FileNotFoundError:
        raise YAMLProblem("not found") from None
    except OSError as exc:
        raise YAMLProblem(f"cannot read it ({exc.strerror or exc})") from None
    return parse_yaml(text), text


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """1-based line of the YAML node at `loc`, as deep as the path can be followed; None when
    not even its first key is in the text.

    Parts that are not in the document (pydantic's union tags, missing keys) are skipped, so the
    line points at the closest existing parent.
    """
    try:
        node: Any = yaml.compose(text, Loader=_NoAliasLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line: int | None = None
    for depth, part in enumerate(loc):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    line, child = key_node.start_mark.line + 1, value_node
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None and depth == 0:
            return None
        if child is not None:
            node = child
    return line


def validation_message(exc: ValidationError, source: str | Path, text: str | None = None) -> str:
    """`source line N (field): message` for the first error of a pydantic validation."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    else:
        message = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
    line = line_of(text, loc) if text is not None else None
    where = f"{source} line {line}" if line else str(source)
    field = ".".join(str(p) for p in loc)
    return f"{where} ({field}): {message}" if field else f"{where}: {message}"
