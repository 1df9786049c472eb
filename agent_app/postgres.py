"""Connecting to PostgreSQL, for the two things that can live there: collections
(`retrieval.pg_store`) and conversations (`memory.pg_conversations`). One place turns what a
user can get wrong (the URL, a server that is down, a refused login) into one line.
psycopg is imported only when a PostgreSQL URL is used."""

from __future__ import annotations

import re
from typing import Any

from agent_app.errors import AppError

URL_PREFIXES = ("postgresql://", "postgres://")
URL_FORM = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"


class PostgresUnavailableError(AppError):
    """A PostgreSQL store cannot be reached or used (URL, server, extension, privileges)."""


def is_postgres_url(value: str) -> bool:
    return value.startswith(URL_PREFIXES)


def check_store(value: str) -> str:
    """A setting's store: "" (the data folder) or a PostgreSQL URL; ValueError otherwise."""
    value = value.strip()
    if value and not is_postgres_url(value):
        raise ValueError(f"must be empty (the data folder) or a URL {URL_FORM}")
    return value


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def connect(url: str, *, autocommit: bool = True) -> Any:
    """A psycopg connection, or PostgresUnavailableError saying what to do."""
    try:
        import psycopg
    except ImportError:
        raise PostgresUnavailableError(
            "a PostgreSQL store needs the psycopg package", hint="pip install 'psycopg[binary]'"
        ) from None
    try:
        return psycopg.connect(url, connect_timeout=10, autocommit=autocommit)
    except psycopg.ProgrammingError as exc:  # a malformed URL
        raise PostgresUnavailableError(
            f"not a usable PostgreSQL URL: {shown_url(url)} ({first_line(exc)})", hint=f"write it as {URL_FORM}"
        ) from None
    except psycopg.OperationalError as exc:
        raise PostgresUnavailableError(
            f"cannot reach PostgreSQL at {shown_url(url)} ({first_line(exc)})",
            hint="is the server running and the URL right? (`agent-app postgres start` runs a local one)",
        ) from None


def lost_connection(url: str, exc: BaseException) -> PostgresUnavailableError:
    return PostgresUnavailableError(
        f"lost the connection to PostgreSQL at {shown_url(url)} ({first_line(exc)})",
        hint="nothing was changed by the interrupted step; try again when the server is back",
    )
