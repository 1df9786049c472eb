"""Finding the `{variables}` in template text.

Template text uses Python format syntax, as LangChain's f-string prompts do: `{name}` is a
variable and `{{`/`}}` are literal braces. Only plain names are allowed: `{a.b}`, `{a[0]}`,
`{0}` or `{a!r}` would let a template reach into objects, and templates are data, not code.
"""

from __future__ import annotations

import string

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
