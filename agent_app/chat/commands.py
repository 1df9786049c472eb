"""Slash commands of the terminal chat, in one registry.

Each command is a small function taking the chat context and the text after the command name.
Bad arguments raise `AppError`; the REPL prints its one-line message and the chat goes on.
Later features add their commands with the same `@command` decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent_app.errors import ConfigError

if TYPE_CHECKING:
    from agent_app.chat.repl import ChatUI

EXIT_WORDS = {"exit", "quit", "bye", "/exit", "/quit", "/bye"}


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[ChatUI, str], None]


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str = "", help: str = "") -> Callable[[Callable[[ChatUI, str], None]], Callable]:
    """Register a `/name` command."""

    def register(func: Callable[[ChatUI, str], None]) -> Callable[[ChatUI, str], None]:
        COMMANDS[name] = Command(name, usage, help, func)
        return func

    return register


def find(name: str) -> Command:
    cmd = COMMANDS.get(name)
    if cmd is None:
        close = [c for c in COMMANDS if c.startswith(name[:2])]
        hint = f"did you mean /{close[0]}? " if close else ""
        raise ConfigError(f"unknown command /{name}: {hint}type /help for the list")
    return cmd


@command("help", help="show the commands")
def _help(ui: ChatUI, arg: str) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, padding=(0, 2))
    for cmd in COMMANDS.values():
        table.add_row(f"/{cmd.name} {cmd.usage}".rstrip(), cmd.help)
    table.add_row("/exit", "leave (also exit, quit, bye, Ctrl-D)")
    ui.console.print(table)
    ui.console.print("[dim]Ctrl-C stops an answer while it streams.[/dim]")


@command("model", "[provider/model]", "show or switch the model (local, openai/NAME, a folder); keeps the history")
def _model(ui: ChatUI, arg: str) -> None:
    if not arg:
        state = "" if ui.session.model_ready else f" ({ui.session.status})"
        ui.info(f"model: {ui.session.model_label}{state}")
        return
    with ui.console.status(f"loading {arg} ..."):
        label = ui.session.switch_model(arg)
    ui.info(f"model: {label} (history kept: {len(ui.session.history)} messages)")


@command("params", "[name=value ...]", "show or set generation parameters (name= resets one)")
def _params(ui: ChatUI, arg: str) -> None:
    from agent_app.models.params import parse_assignments

    if arg:
        ui.session.set_params(parse_assignments(arg.split()))
    ui.info(f"params: {ui.session.params.describe()}")


@command("clear", help="forget the conversation so far")
def _clear(ui: ChatUI, arg: str) -> None:
    ui.session.clear()
    ui.info("history cleared")
