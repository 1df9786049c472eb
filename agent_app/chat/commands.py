"""Slash commands of the terminal chat, in one registry.

Each command is a small function taking the chat context and the text after the command name.
Bad arguments raise `AppError`; the REPL prints its one-line message and the chat goes on.
A new command is one function with the `@command` decorator in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agent_app.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from agent_app.chat.session import ChatSession


class ChatUI(Protocol):
    """What a command needs from the chat it runs in (the REPL's `ChatUI` provides it). A
    protocol, so that this module does not import the REPL that imports it."""

    session: ChatSession
    console: Console

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...


EXIT_WORDS = {"exit", "quit", "bye", "/exit", "/quit", "/bye"}
# Typed without the slash, these are what people mean by them (as in a shell), not a question.
BARE_COMMANDS = {"help": "help", "?": "help", "clear": "clear"}


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
    table.add_row("help, ?, clear", "typed without the slash, they are these commands too")
    ui.console.print(table)
    ui.console.print("[dim]Ctrl-C stops an answer while it streams.[/dim]")


@command(
    "model",
    "[provider/model]",
    "show the model and what else can be chosen, or switch (local, llamacpp, ollama/NAME, openai/NAME, "
    "openai/NAME@http://host:port/v1, a folder); keeps the history",
)
def _model(ui: ChatUI, arg: str) -> None:
    if not arg:
        from rich.table import Table

        from agent_app.models.catalog import available_models

        state = "" if ui.session.models.ready else f" ({ui.session.models.status})"
        ui.info(f"model: {ui.session.model_label}{state}")
        table = Table(show_header=False, box=None, padding=(0, 2))
        for choice in available_models(ui.session.settings):
            table.add_row(f"/model {choice.model}", choice.note)
        ui.console.print(table)
        return
    from agent_app.monitoring.redact import redact_message

    with ui.console.status(f"loading {redact_message(arg)} ..."):
        label = ui.session.switch_model(arg)
    ui.info(f"model: {label} (history kept: {len(ui.session.log.history)} messages)")


@command("params", "[name=value ...]", "show or set generation parameters (name= resets one)")
def _params(ui: ChatUI, arg: str) -> None:
    from agent_app.models.params import parse_assignments

    if arg:
        ui.session.set_params(parse_assignments(arg.split()))
    ui.info(f"params: {ui.session.params.describe()}")
    if ui.session.models.ready:
        ui.console.print(
            f"[dim]in effect (model, template, yours): {ui.session.effective_params().describe()}[/dim]",
            highlight=False,
        )


@command("clear", help="forget the conversation so far")
def _clear(ui: ChatUI, arg: str) -> None:
    ui.session.clear()
    ui.info("history cleared")


# -- templates (prompts/ and your template folders) -------------------------------------------
@command("templates", help="list the templates (name, description)")
def _templates(ui: ChatUI, arg: str) -> None:
    from rich.table import Table

    table = Table(show_header=True, box=None, padding=(0, 2))
    table.add_column("template")
    table.add_column("description")
    for info in ui.session.templates.list():
        mark = "▸ " if info.name == ui.session.template_name else "  "
        where = "" if info.shipped else f" [dim]({info.path})[/dim]"
        desc = f"[red]broken: {info.error}[/red]" if info.error else info.description
        table.add_row(mark + info.name, desc + where)
    ui.console.print(table)


@command("template", "[NAME]", "show or switch the prompt template (edits apply on the next turn)")
def _template(ui: ChatUI, arg: str) -> None:
    if arg:
        ui.session.use_template(arg)
    template = ui.session.template
    needed = sorted(
        v for v, spec in template.variables.items() if spec.default is None and v not in ui.session.variables
    )
    extra = f" · needs: {', '.join(needed)} (/set NAME VALUE)" if needed else ""
    ui.info(f"template: {ui.session.template_name} — {template.description}{extra}")
    if arg and ui.session.settings.memory.scope == "template" and ui.session.log.history:
        ui.console.print(
            "[dim]it sees only the turns made under it (the whole conversation is still saved; "
            "memory: {scope: conversation} in the config shares every turn)[/dim]",
            highlight=False,
        )


@command("set", "NAME VALUE", "set a template variable (/set NAME with no value removes it)")
def _set(ui: ChatUI, arg: str) -> None:
    name, _, value = arg.partition(" ")
    if not name:
        shown = " ".join(f"{k}={v!r}" for k, v in ui.session.variables.items()) or "(none)"
        ui.info(f"variables: {shown}")
        return
    if value:
        ui.session.set_variable(name, value)
        ui.info(f"{name} = {value!r}")
    else:
        ui.session.variables.pop(name, None)
        ui.info(f"{name} removed")


# -- conversations ---------------------------------------------------------------------------
def _store(ui: ChatUI):
    if ui.session.log.store is None:
        raise ConfigError("conversations are not saved in this chat (started with --no-save)")
    return ui.session.log.store


@command("sessions", help="list saved conversations")
def _sessions(ui: ChatUI, arg: str) -> None:
    from rich.table import Table

    conversations = _store(ui).list(limit=30)
    if not conversations:
        ui.info("no saved conversations yet")
        return
    table = Table(box=None, padding=(0, 2))
    for col in ("id", "title", "model", "template", "messages", "last used"):
        table.add_column(col)
    current = ui.session.log.conversation.id if ui.session.log.conversation else None
    for c in conversations:
        mark = "▸" if c.id == current else " "
        table.add_row(
            f"{mark}{c.short_id}",
            c.title or "",
            c.model or "",
            c.template or "",
            str(c.message_count),
            when(c.last_used),
        )
    ui.console.print(table)


def when(epoch: float, now: float | None = None) -> str:
    """A time as people read it in a list: "today 14:02", "yesterday 09:15", "Mon 18:40"
    within the week, else the date ("2026-10-03")."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(epoch)
    days = (
        dt.datetime.fromtimestamp(now if now is not None else dt.datetime.now().timestamp()).date() - moment.date()
    ).days
    if days == 0:
        return f"today {moment:%H:%M}"
    if days == 1:
        return f"yesterday {moment:%H:%M}"
    if 1 < days < 7:
        return f"{moment:%a %H:%M}"
    return f"{moment:%Y-%m-%d}"


RECAP_EXCHANGES = 3
RECAP_CHARS = 160


def recap(history: list[Any], exchanges: int = RECAP_EXCHANGES) -> list[str]:
    """The last few exchanges of a resumed conversation, one shortened line per message
    ("you: ...", "assistant: ..."), so the user sees where it left off."""
    lines = []
    for message in history[-2 * exchanges :]:
        who = "you" if message.type == "human" else "assistant"
        text = " ".join(str(message.content).split())
        if len(text) > RECAP_CHARS:
            text = text[: RECAP_CHARS - 1] + "…"
        lines.append(f"{who}: {text}")
    return lines


def show_recap(console: Any, history: list[Any]) -> None:
    """Print `recap` dimmed (the REPL's /resume and the CLI's --resume)."""
    from rich.markup import escape

    for line in recap(history):
        console.print(f"[dim]  {escape(line)}[/dim]", highlight=False)


@command("resume", "ID|last", "continue a saved conversation (restores messages, template, model)")
def _resume(ui: ChatUI, arg: str) -> None:
    _store(ui)
    conversation = ui.session.resume(arg or "last")
    ui.info(
        f"resumed {conversation.short_id} “{conversation.title}”: {len(ui.session.log.history)} messages, "
        f"model {ui.session.model_label}, template {ui.session.template_name}"
    )
    show_recap(ui.console, ui.session.log.history)
    for notice in ui.session.take_notices():
        ui.warn(notice)


@command("new", help="start a new conversation")
def _new(ui: ChatUI, arg: str) -> None:
    ui.session.start_conversation()
    ui.info("new conversation")


@command("rename", "TITLE", "rename the current conversation")
def _rename(ui: ChatUI, arg: str) -> None:
    store = _store(ui)
    if not arg:
        raise ConfigError("give the new title: /rename My trip plans")
    log = ui.session.log
    if log.conversation is None:
        raise ConfigError("nothing to rename yet: ask something first")
    log.conversation = store.rename(log.conversation.id, arg)
    ui.info(f"renamed to “{arg}”")


@command("delete", "ID", "delete a saved conversation")
def _delete(ui: ChatUI, arg: str) -> None:
    store = _store(ui)
    if not arg:
        raise ConfigError("give the conversation's id from /sessions: /delete 1a2b3c4d")
    deleted = store.delete(arg)
    if ui.session.log.conversation and ui.session.log.conversation.id == deleted.id:
        ui.session.start_conversation()
    ui.info(f"deleted {deleted.short_id} “{deleted.title}”")


# -- watching ---------------------------------------------------------------------------------
@command("verbose", "on|off|debug", "show model, tool and retrieval events live")
def _verbose(ui: ChatUI, arg: str) -> None:
    levels = {"on": "info", "info": "info", "off": "off", "debug": "debug"}
    if ui.session.monitoring is None:
        raise ConfigError("event monitoring is not available in this chat")
    if arg:
        if arg not in levels:
            raise ConfigError("use /verbose on, /verbose off or /verbose debug")
        ui.session.monitoring.live.level = levels[arg]  # type: ignore[assignment]
    ui.info(f"verbose: {ui.session.monitoring.live.level}")


@command("stats", help="tokens, latency, first-token time, tokens/s and estimated cost")
def _stats(ui: ChatUI, arg: str) -> None:
    from agent_app.monitoring.stats import format_stats, load_prices

    ui.console.print(format_stats(ui.session.stats, load_prices()), highlight=False)


# -- documents --------------------------------------------------------------------------------
@command("ingest", "PATH ...", "add files or folders to the current document collection")
def _ingest(ui: ChatUI, arg: str) -> None:
    import shlex

    from agent_app.chat.knowledge import ingest_with_progress

    if not arg:
        raise ConfigError("give files or folders: /ingest ~/notes docs/manual.pdf")
    try:
        ingest_with_progress(
            shlex.split(arg), ui.console, collection=ui.session.collection, settings=ui.session.settings.retrieval
        )
    except KeyboardInterrupt:
        from agent_app.retrieval.checkpoint import interrupted

        ui.info(interrupted(ui.session.collection, ui.session.settings.retrieval))
        return
    ui.session.documents_changed()


@command("kb", "[remove PATH | use NAME]", "show document collections; remove a file; switch collection")
def _kb(ui: ChatUI, arg: str) -> None:
    from agent_app.chat.knowledge import print_report, show_collections

    action, _, rest = arg.partition(" ")
    if action == "remove" and rest.strip():
        import shlex

        from agent_app.retrieval import remove

        print_report(
            remove(shlex.split(rest), collection=ui.session.collection, settings=ui.session.settings.retrieval),
            ui.console,
        )
        ui.session.documents_changed()
    elif action == "use" and rest.strip():
        from agent_app.retrieval.storage import check_collection_name

        try:
            ui.session.collection = check_collection_name(rest.strip())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        ui.info(f"collection: {ui.session.collection}")
    elif action:
        raise ConfigError("use /kb, /kb remove PATH or /kb use NAME")
    else:
        show_collections(ui.console, ui.session.settings.retrieval)
        ui.info(f"current collection: {ui.session.collection}")


@command("search", "QUERY", "the passages QUERY retrieves from the collection, with scores (no model)")
def _search(ui: ChatUI, arg: str) -> None:
    from agent_app.chat.knowledge import search_rows, show_search

    if not arg.strip():
        raise ConfigError("give a query: /search opening hours")
    show_search(search_rows(arg, ui.session.collection, ui.session.settings.retrieval), ui.console)


@command("copy", help="put the last answer on the clipboard (OSC 52: works over SSH in most terminals)")
def _copy(ui: ChatUI, arg: str) -> None:
    import base64

    turn = ui.session.last_turn
    if turn is None or not turn.text:
        ui.info("nothing to copy yet: ask something first")
        return
    if not ui.console.is_terminal:
        raise ConfigError("/copy needs a terminal (it asks the terminal to set the clipboard)")
    # The terminal, not this process, sets the clipboard: no X11 or pbcopy needed, and it
    # works through SSH and tmux (with `set -g set-clipboard on`).
    payload = base64.b64encode(turn.text.encode("utf-8")).decode("ascii")
    ui.console.file.write(f"\x1b]52;c;{payload}\x07")
    ui.console.file.flush()
    ui.info(f"copied the last answer ({len(turn.text)} characters)")


@command("sources", help="where the last answer's passages came from")
def _sources(ui: ChatUI, arg: str) -> None:
    from agent_app.chat.knowledge import show_sources

    turn = ui.session.last_turn
    show_sources(turn.sources if turn else [], ui.console)


# -- agent ------------------------------------------------------------------------------------
# bench/bench_agent.py, fresh check half (issue 27): the bundled model chose the right tool for
# 96% of questions on `local` (tool names and inputs constrained by its logits, plus an embedding
# prior) but 72% on `llamacpp`, where a GBNF grammar holds each step to the format and the tool
# names and the action input stays free text (answers right: 88% against 44%).
LLAMACPP_AGENT_HINT = (
    "with the bundled model the agent picks tools far better on --model local (72% right on llama.cpp, "
    "96% on local); a bigger GGUF does better"
)


@command("agent", "on|off", "answer with the ReAct agent and its tools (calculator, web_search, weather, ...)")
def _agent(ui: ChatUI, arg: str) -> None:
    if arg not in ("", "on", "off"):
        raise ConfigError("use /agent on or /agent off")
    if arg:
        ui.session.agent_mode = arg == "on"
    if ui.session.agent_mode:
        names = ", ".join(t.name for t in ui.session.tools())
        ui.info(f"agent: on · tools: {names}")
        for notice in ui.session.take_notices():  # an MCP server that did not start
            ui.warn(notice)
        if ui.session.models.spec.label == "llamacpp":
            ui.warn(LLAMACPP_AGENT_HINT)
    else:
        ui.info(f"agent: off · template: {ui.session.template_name}")


@command("steps", help="the last agent answer's steps in full")
def _steps(ui: ChatUI, arg: str) -> None:
    turn = ui.session.last_turn
    if not turn or not turn.steps:
        ui.info("the last answer used no tools")
        return
    for i, step in enumerate(turn.steps, 1):
        mark = "[red]✗[/red]" if step.error else "✓"
        ui.console.print(f"{mark} {i}. [bold]{step.tool}[/bold]({step.input})", highlight=False)
        ui.console.print(f"   [dim]{step.observation}[/dim]", highlight=False)
