"""Reading one template file: the app's YAML reader (`agent_app.yamlfile`), then the pydantic `Template`.

Every failure becomes a `TemplateError` with one line naming the file and the line and field:

    prompts/bad.yaml line 4 (sytem): unknown key

`langchain_core.prompts.load_prompt` is deliberately not used: it is deprecated and had a
path-traversal advisory (CVE-2026-34070). LangChain prompt objects are built in code from the
validated data (see `prompt_builder`), so a template can never name a file or a class to load.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from agent_app.errors import TemplateError
from agent_app.templates.schema import Template, TemplateProblem
from agent_app.yamlfile import YAMLProblem, line_of, parse_yaml

MAX_TEMPLATE_BYTES = 256 * 1024
"""Larger files are refused: a template is a page of text, and YAML aliases can blow up."""


def load_template(path: str | Path) -> Template:
    """Load and validate the template file at `path` (no folder restriction: see the registry)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise TemplateError(f"{path}: too large for a template ({size} bytes)")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
    template = parse_template(text, source=path)
    if template.name is None:
        template.name = path.stem  # the file name is the template's name
    elif template.name != path.stem:
        raise TemplateError(
            f"{path}{_line_suffix(text, ('name',))} (name): {template.name!r} differs from the file "
            f"name; rename the file or remove the name"
        )
    return template


def parse_template(text: str, source: str | Path = "<template>") -> Template:
    """Validate template YAML `text`; `source` only names it in error messages."""
    try:
        data = parse_yaml(text)
    except YAMLProblem as exc:
        raise TemplateError(f"{exc.where(source)}: invalid YAML: {exc.problem}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template must be a mapping of keys (name, system, messages, ...)")
    try:
        template = Template.model_validate(data)
    except ValidationError as exc:
        loc, message = _first_error(exc)
        loc = _without_union_tags(loc)
        field = ".".join(str(p) for p in loc)
        line = _line_suffix(text, loc)
        raise TemplateError(f"{source}{line} ({field or 'template'}): {message}") from None
    if isinstance(source, Path):
        template._source = source
    return template


def _first_error(exc: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """The first pydantic error as (location, short message), preferring our own problems."""
    err = exc.errors()[0]
    original = (err.get("ctx") or {}).get("error")
    if isinstance(original, TemplateProblem):
        return original.loc, _one_line(str(original))
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        return loc, "unknown key"
    if err["type"] == "missing":
        return loc, "required key is missing"
    if err["type"] == "union_tag_invalid":
        tag = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
        expected = (err.get("ctx") or {}).get("expected_tags", "")
        return (*loc, tag), f"unknown {tag} {err['input'].get(tag)!r}; expected one of: {expected}"
    if err["type"] == "union_tag_not_found":
        tag = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
        return (*loc, tag), f"{tag} is missing"
    message = err["msg"].removeprefix("Value error, ")
    return loc, _one_line(message)


_UNION_FIELDS = {"chain", "output", "selector"}


def _without_union_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the union tags pydantic puts into locations (`chain.self-consistency.samples`)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] in _UNION_FIELDS and isinstance(part, str) and i + 1 < len(loc):
            continue
        out.append(part)
    return tuple(out)


def _line_suffix(text: str, loc: tuple[str | int, ...]) -> str:
    line = line_of(text, loc) if loc else line_of(text, ())
    return f" line {line}" if line else ""


def _one_line(message: str) -> str:
    return " ".join(str(message).split())
