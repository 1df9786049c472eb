"""Finding the `{variables}` in template text, and checking the ones a user sets.

Template text uses Python format syntax, as LangChain's f-string prompts do: `{name}` is a
variable and `{{`/`}}` are literal braces. Only plain names are allowed: `{a.b}`, `{a[0]}`,
`{0}` or `{a!r}` would let a template reach into objects, and templates are data, not code.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agent_app.errors import TemplateError


class Declares(Protocol):
    """What `check_declared` needs of a template (a protocol: the schema imports this module)."""

    @property
    def name(self) -> str | None: ...

    @property
    def variables(self) -> Mapping[str, Any]: ...


_FORMATTER = string.Formatter()


def variables_in(text: str) -> list[str]:
    """The variable names used in `text`, in order of first use.

    Raises `ValueError` with a short reason for malformed braces or non-plain fields.
    """
    names: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
        raise ValueError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            shown = field or "{}"
            raise ValueError(f"invalid variable {{{shown}}}: use a plain name such as {{topic}}")
        if conversion or spec:
            raise ValueError(f"variable {{{field}}} must not carry a format spec or conversion")
        if field not in names:
            names.append(field)
    return names


def check_declared(template: Declares, names: Iterable[str]) -> None:
    """Raise `TemplateError` for a name `template` does not declare, listing the ones it does
    (a silently ignored `/set target German` looks like it worked)."""
    declared = sorted(template.variables)
    for name in names:
        if name not in declared:
            known = ", ".join(declared) if declared else "none"
            raise TemplateError(
                f"template {template.name!r} has no variable {name!r}",
                hint=f"its variables: {known}; /templates shows each template's",
            )
