"""Shell completion for `agent-app` / `main.py` (bash, zsh, fish) through argcomplete.

The shell runs the program with `_ARGCOMPLETE` set; `complete` then prints the candidates and
exits before anything else happens. Commands, options and fixed choices come from the parser
itself; the completers below add what only this machine knows: template names, model choices,
conversation ids and collection names. A completer never raises: a broken configuration file
must not print a traceback into the user's prompt, so it offers nothing instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Completer = Callable[..., list[str]]


def _settings(parsed_args: argparse.Namespace) -> Any:
    from agent_app.config import load_settings

    return load_settings(getattr(parsed_args, "config", None), {})


def _quiet(completer: Callable[[argparse.Namespace], list[str]]) -> Completer:
    def run(*, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
        from agent_app.errors import AppError

        try:
            return completer(parsed_args)
        except (AppError, OSError):
            return []

    return run


@_quiet
def templates(parsed_args: argparse.Namespace) -> list[str]:
    """Template names (the shipped ones and those in the user's template folders)."""
    from agent_app.templates import TemplateRegistry

    registry = TemplateRegistry.from_settings(_settings(parsed_args).templates)
    return [info.name for info in registry.list() if not info.error]


@_quiet
def models(parsed_args: argparse.Namespace) -> list[str]:
    """What `models` lists, plus the bare providers."""
    from agent_app.models.catalog import available_models

    found = [choice.model for choice in available_models(_settings(parsed_args))]
    return list(dict.fromkeys([*found, "local", "llamacpp", "openai", "ollama/", "fake"]))


@_quiet
def conversations(parsed_args: argparse.Namespace) -> list[str]:
    """Saved conversations' short ids, and `last`."""
    from agent_app.memory import open_store

    with open_store(_settings(parsed_args).memory.store) as store:
        return ["last", *(c.short_id for c in store.list(limit=50))]


@_quiet
def collections(parsed_args: argparse.Namespace) -> list[str]:
    """Document collection names."""
    from agent_app.retrieval import describe_collections

    return [info.name for info in describe_collections(_settings(parsed_args).retrieval)]


def script(program: str, shell: str) -> str:
    """The script that registers completion for `program` in `shell` (bash, zsh or fish)."""
    import argcomplete

    return argcomplete.shellcode([program], shell=shell)


def complete(parser: argparse.ArgumentParser) -> None:
    """Print the completions the shell asked for, then exit (argcomplete's protocol)."""
    import argcomplete

    argcomplete.autocomplete(parser)
