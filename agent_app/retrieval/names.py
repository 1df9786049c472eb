"""Collection names double as folder names, so they are restricted to a safe alphabet."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_collection_name(name: str) -> str:
    """Return `name` if it is a valid collection name, else raise ValueError saying what is allowed."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"invalid collection name {name!r}: use letters, digits, '-', '_' or '.' (at most 64)")
    return name
