"""Command-line entry point: `python main.py [options] [chat|ask] ...`.

Only argparse and the standard library are imported to parse arguments, so `--help` is instant;
everything else is imported by the subcommand that needs it. `AppError`s become one line on
stderr and a non-zero exit; anything else keeps its traceback, because it is a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agent_app import __version__

Handler = Callable[[argparse.Namespace], int]


# The common options each subcommand takes after its name; the main parser takes them all
# (`main.py --model X ask ...`), so a subcommand's --help lists only what means something there.
MODEL_OPTIONS = frozenset(
    [
        "model",
        "base_url",
        "param",
        "system",
        "template",
        "var",
        "collection",
        "store",
        "agent",
        "yes",
        "verbose",
        "threads",
        "dtype",
    ]
)
SUBCOMMAND_OPTIONS: dict[str, frozenset[str]] = {
    "chat": MODEL_OPTIONS | {"config"},
    "ask": MODEL_OPTIONS | {"config"},
    "ingest": frozenset(["collection", "store", "verbose", "config"]),
    "search": frozenset(["collection", "store", "config"]),
    "models": frozenset(["base_url", "config"]),
    "templates": frozenset(["config"]),
    "collections": frozenset(["store", "config"]),
    "tools": frozenset(["collection", "store", "config"]),
    "sessions": frozenset(["config"]),
    "logs": frozenset(["config"]),
    "completion": frozenset(),
    "postgres": frozenset(["config"]),
    "serve": frozenset(["model", "base_url", "threads", "dtype", "yes", "verbose", "store", "config"]),
}


class _OptionGroup:
    """An argument group that adds only the options in `only` (all when None)."""

    def __init__(self, group: argparse._ArgumentGroup, only: frozenset[str] | None) -> None:
        self.group, self.only = group, only

    def add_argument(self, *flags: str, completer: str | None = None, **kwargs) -> None:
        dest = flags[-1].lstrip("-").replace("-", "_")
        if self.only is None or dest in self.only:
            _completes(self.group.add_argument(*flags, **kwargs), completer)


def _completes(action: argparse.Action, completer: str | None) -> argparse.Action:
    """Name the shell completer of an argument (a function of `shell_completion`), imported
    only when the shell asks, so parsing stays on the standard library."""
    if completer is not None:
        action.completer = _LazyCompleter(completer)  # type: ignore[attr-defined]
    return action


class _LazyCompleter:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, **kwargs) -> list[str]:
        from agent_app import shell_completion

        return getattr(shell_completion, self.name)(**kwargs)


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool, only: frozenset[str] | None = None) -> None:
    """Options accepted before or after the subcommand (`main.py --model X ask ...` and
    `main.py ask --model X ...`); a subcommand takes `only` those that apply to it."""
    default = argparse.SUPPRESS if suppress else None
    g = _OptionGroup(parser.add_argument_group("model and configuration"), only)
    g.add_argument(
        "-m",
        "--model",
        default=default,
        completer="models",
        metavar="PROVIDER/MODEL",
        help="local (bundled SmolLM2-135M), local/FOLDER_OR_HF_ID, llamacpp[/FILE.gguf], ollama/NAME, "
        "openai[/NAME], fake[/FILE]; `models` lists them; default: openai when OPENAI_API_KEY is set, else local",
    )
    g.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (env OPENAI_BASE_URL)",
    )
    g.add_argument(
        "-p",
        "--param",
        action="append",
        default=default,
        metavar="NAME=VALUE",
        help="generation parameter, repeatable: temperature, top_p, top_k, max_tokens, "
        "repetition_penalty, no_repeat_ngram_size, stop, seed",
    )
    g.add_argument("--system", default=default, metavar="TEXT", help="system prompt for this run")
    g.add_argument(
        "-t",
        "--template",
        default=default,
        completer="templates",
        metavar="NAME_OR_PATH",
        help="prompt template: a name `templates` lists (shipped or in your template folders), or a YAML file",
    )
    g.add_argument(
        "--var",
        action="append",
        default=default,
        metavar="KEY=VALUE",
        help="template variable, repeatable (like /set KEY VALUE in the chat)",
    )
    g.add_argument(
        "-c",
        "--collection",
        default=default,
        completer="collections",
        metavar="NAME",
        help="document collection for ingest and the rag template (default: 'default')",
    )
    g.add_argument(
        "--store",
        default=default,
        metavar="URL",
        help="collections in PostgreSQL at URL (retrieval.store)",
    )
    g.add_argument(
        "--agent",
        action="store_true",
        default=default,
        help="answer with the ReAct agent and its tools (in the chat: /agent on|off)",
    )
    g.add_argument(
        "-y",
        "--yes",
        action="store_true",
        default=default,
        help="run tools whose policy is 'ask' without asking (tools.approval; MCP tools ask by default)",
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="show model, tool and retrieval events live beside the answer",
    )
    g.add_argument(
        "--threads", type=int, default=default, metavar="N", help="threads for the local model (torch or ONNX Runtime)"
    )
    g.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16", "int8", "q4"],
        default=default,
        help="weights of the local model (default auto: q4, the bundled GGUF's 4-bit weights on ONNX Runtime; "
        "float32 for other models)",
    )
    g.add_argument(
        "--config",
        default=default,
        metavar="FILE",
        help="configuration file (default: config.yaml in the app's config folder)",
    )


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block is what --help is for)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(prog: str = "main.py") -> argparse.ArgumentParser:
    """The CLI's parser; `prog` is how the user ran it (`main.py` in the repository, or the
    installed `agent-app` command), so help and errors show what to type."""
    run = f"python {prog}" if prog.endswith(".py") else prog
    parser = _Parser(
        prog=prog,
        description="An offline-first LangChain terminal assistant. Without a subcommand: the chat.",
        add_help=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"`{prog} COMMAND --help` shows a command's own options.\n\nExamples:\n  {run}\n"
        f"  {run} --model openai/gpt-4o-mini\n  {run} --model llamacpp\n"
        f"  {run} ask --json \"What is LangChain?\"\n  echo 'Hello' | {run} ask",
    )
    parser.add_argument("-h", "--help", action="help", help="show this help and exit")
    parser.add_argument("--version", action="version", version=f"agent-app {__version__}")
    _common_options(parser, suppress=False)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def sub(name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        p = subs.add_parser(name, help=help_text, description=help_text)
        _common_options(p, suppress=True, only=SUBCOMMAND_OPTIONS[name])
        p.set_defaults(handler=handler)
        return p

    chat = sub("chat", "open the terminal chat (the default)", run_chat)
    resume_help = "continue a saved conversation"
    resume = chat.add_argument("--resume", metavar="ID|last", default=argparse.SUPPRESS, help=resume_help)
    _completes(resume, "conversations")
    chat.add_argument("--no-save", action="store_true", default=argparse.SUPPRESS, help="do not save this conversation")
    ask = sub("ask", "print one answer (question as arguments or on stdin)", run_ask)
    ask.add_argument("question", nargs="*", help="the question; read from stdin when omitted")
    ask.add_argument("--json", action="store_true", help="print answer, model, token usage and timings as JSON")
    ask.add_argument(
        "--server",
        metavar="URL",
        help="ask a running `serve` (or any OpenAI-compatible server) instead of loading a model; "
        "the key from OPENAI_API_KEY (config: serve.url)",
    )
    serve = sub("serve", "serve the model, templates, agent and collections: OpenAI API and web page", run_serve)
    serve.add_argument("--host", help="address to bind (default serve.host: 127.0.0.1; others need API keys)")
    serve.add_argument("--port", type=_port, help="port to bind (default serve.port: 8000; 0 picks a free one)")
    ingest = sub("ingest", "add files and folders to a document collection (for --template rag)", run_ingest)
    ingest.add_argument("paths", nargs="+", metavar="PATH", help=".txt .md .pdf .html .csv .json files or folders")
    ingest.add_argument("--include", action="append", metavar="GLOB", help="only files matching (repeatable)")
    ingest.add_argument("--exclude", action="append", metavar="GLOB", help="skip matching files (repeatable)")
    ingest.add_argument("--rebuild", action="store_true", help="re-embed everything (e.g. after an index error)")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="read, split and embed on Ray (a local Ray when no ADDRESS; needs: pip install 'agent-app[ray]')",
    )
    search = sub("search", "print the passages a query retrieves, with their scores (no chat model)", run_search)
    search.add_argument("query", nargs="+", help="what to look for")
    search.add_argument(
        "-k",
        type=_passages,
        default=None,
        metavar="N",
        help=f"how many passages, 1-{MAX_PASSAGES} (default: retrieval.k)",
    )
    search.add_argument("--json", action="store_true", help="print the passages and scores as JSON")
    models = sub("models", "list the models --model can choose on this machine", run_models)
    models.add_argument("--json", action="store_true", help="print the list as JSON")
    templates = sub("templates", "list the prompt templates, or show one's file", run_templates)
    templates.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    _completes(templates.add_argument("name", nargs="?", help="the template to show"), "templates")
    templates.add_argument("--json", action="store_true", help="print as JSON")
    sessions = sub("sessions", "list, show, export or delete saved conversations", run_sessions)
    sessions.add_argument("action", nargs="?", choices=["list", "show", "export", "delete"], default="list")
    _completes(
        sessions.add_argument("id", nargs="?", help="a conversation id (its first characters are enough) or 'last'"),
        "conversations",
    )
    sessions.add_argument("--json", action="store_true", help="print as JSON (export always does)")
    collections = sub("collections", "list collections, show one's files, or remove one", run_collections)
    collections.add_argument("action", nargs="?", choices=["list", "show", "remove"], default="list")
    _completes(collections.add_argument("name", nargs="?", help="the collection to show or remove"), "collections")
    collections.add_argument("--json", action="store_true", help="print as JSON")
    postgres = sub("postgres", "run a local PostgreSQL with pgvector, to try --store", run_postgres)
    postgres.add_argument("action", choices=["start", "stop", "status"])
    postgres.add_argument("--data", metavar="DIR", help="its data folder (default: postgres/ in the app's data folder)")
    postgres.add_argument("--port", type=_port, help="port on 127.0.0.1 (default: a free one)")
    tools = sub("tools", "list the tools the agent can use, and where each comes from", run_tools)
    tools.add_argument("--json", action="store_true", help="print as JSON")
    logs = sub("logs", "print the event log human-readable", run_logs)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new events (a running chat's)")
    logs.add_argument("--json", action="store_true", help="print the raw JSON lines")
    logs.add_argument("-n", "--tail", type=_count, metavar="N", help="only the last N events")
    completion = sub("completion", "print the shell completion script (see README)", run_completion)
    completion.add_argument("shell", nargs="?", choices=["bash", "zsh", "fish"], default="bash")
    _completes(
        parser.add_argument("--resume", metavar="ID|last", help="continue a saved conversation (chat)"), "conversations"
    )
    parser.add_argument("--no-save", action="store_true", help="do not save this conversation (chat)")
    parser.set_defaults(handler=run_chat, prog=prog)
    return parser


def _count(text: str) -> int:
    """A whole number >= 0, for argparse (its message names the option and the value)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative: give a count of 0 or more")
    return min(value, sys.maxsize)  # more than there can be means all of them


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port: give 0-65535")
    return value


MAX_PASSAGES = 50  # retrieval.k's own limit


def _passages(text: str) -> int:
    """How many passages `search` shows: 1 to MAX_PASSAGES."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_PASSAGES:
        raise argparse.ArgumentTypeError(f"{text} passages: give a number from 1 to {MAX_PASSAGES}")
    return value


def _settings(args: argparse.Namespace):
    from pathlib import Path

    from agent_app.config import load_settings

    overrides = {"model": args.model, "base_url": args.base_url, "threads": args.threads, "dtype": args.dtype}
    settings = load_settings(args.config, overrides)
    if getattr(args, "yes", False):
        settings.tools.assume_yes = True
    if args.verbose:
        settings.logging.verbose = "info"
    if store := getattr(args, "store", None):
        try:
            settings.retrieval.store = store
        except ValueError as exc:
            from agent_app.errors import ConfigError

            raise ConfigError(f"--store {store}: {exc.errors()[0]['msg']}") from None  # type: ignore[attr-defined]
        named = (
            getattr(args, "collection", None) or getattr(args, "name", None) or settings.retrieval.default_collection
        )
        settings.retrieval.stores.pop(named, None)
    template = getattr(args, "template", None)
    if template and template.endswith((".yaml", ".yml")) and Path(template).expanduser().is_file():
        # An explicit file: its folder joins the template folders, so the usual rules
        # (names resolve only inside template folders) still hold.
        path = Path(template).expanduser().resolve()
        settings.templates.template_dirs.insert(0, path.parent)
        args.template = path.stem
    return settings


def _session(args: argparse.Namespace, settings, *, console=None, store=None, progress=None):
    """A ChatSession configured from the command line."""
    from agent_app.chat.session import ChatSession
    from agent_app.models.params import GenerationParams, parse_assignments
    from agent_app.monitoring.setup import build_monitoring

    params = GenerationParams().merged(parse_assignments(args.param)) if args.param else None
    secret = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    monitoring = build_monitoring(
        settings.logging,
        secrets=[secret],
        console=console,
        on_warning=lambda msg: print(f"warning: {msg}", file=sys.stderr),
    )
    session = ChatSession(
        settings,
        template=args.template,
        variables=_vars(args.var),
        params=params,
        system_prompt=args.system,
        store=store,
        monitoring=monitoring,
        progress=progress,
        collection=args.collection,
    )
    session.agent_mode = bool(args.agent)
    return session


def _vars(items: list[str] | None) -> dict[str, str]:
    from agent_app.errors import ConfigError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --var {item!r}: write KEY=VALUE, e.g. --var lang=French")
        out[key.strip()] = value
    return out


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    # Output read by scripts (pipes, files) keeps its lines whole instead of wrapping at 80 columns.
    console.soft_wrap = not console.is_terminal
    return console


def _quiet_libraries() -> None:
    """Keep library progress bars and advisory warnings out of the chat."""
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", module="transformers")


def run_chat(args: argparse.Namespace) -> int:
    from agent_app import paths
    from agent_app.chat.repl import ChatUI

    settings = _settings(args)
    console = _console()
    store = None
    if not args.no_save:
        from agent_app.memory import open_store

        store = open_store(settings.memory.store)
    interactive = sys.stdin.isatty() and console.is_terminal
    # Live notes share the answer's console on a terminal (printed above the live view); with
    # piped output they go to stderr so stdout stays the answer alone.
    session = _session(args, settings, console=console if interactive else _console(stderr=True), store=store)
    try:
        with session:
            if args.resume:
                conversation = session.resume(args.resume)
                console.print(
                    f"[dim]resumed {conversation.short_id} “{conversation.title}” "
                    f"({len(session.log.history)} messages)[/dim]",
                    highlight=False,
                )
                from agent_app.chat.commands import show_recap

                show_recap(console, session.log.history)
            history_file = None
            if settings.history:
                paths.data_dir().mkdir(parents=True, exist_ok=True)
                history_file = str(paths.data_dir() / "input_history")
            return ChatUI(session, console, interactive=interactive, history_file=history_file).run()
    finally:
        _report_unsaved(session)
        if store is not None:
            store.close()


def _report_unsaved(session) -> None:
    """Say so when messages could not be saved by the end (the database stayed locked or full)."""
    if session.log.unsaved:
        n = len(session.log.unsaved)
        print(
            f"warning: {n} message{'s' if n != 1 else ''} of this conversation could not be saved "
            "(the conversation database stayed unavailable); `sessions` shows what was saved",
            file=sys.stderr,
        )


def run_ask(args: argparse.Namespace) -> int:
    import json
    import time

    from agent_app.errors import ConfigError
    from agent_app.textinput import NOT_UTF8_WARNING, clean_input

    question = " ".join(args.question).strip()
    if not question and not sys.stdin.isatty():
        question = sys.stdin.read().strip()
    question, replaced = clean_input(question)
    if replaced:
        print(f"warning: {NOT_UTF8_WARNING}", file=sys.stderr)
    if getattr(args, "resume", None):
        raise ConfigError(
            "--resume continues a conversation in the chat; ask answers one question on its own",
            hint=f"python main.py --resume {args.resume}",
        )
    if not question:
        raise ConfigError('no question given: python main.py ask "your question" (or pipe it on stdin)')
    if args.server:  # no settings to load: a script asking a warm server pays only for HTTP
        return _ask_server(args, args.server, question)
    settings = _settings(args)
    if settings.serve.url:
        return _ask_server(args, settings.serve.url, question)
    err = _console(stderr=True)
    session = _session(args, settings, console=err, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    started = time.perf_counter()
    session.model  # noqa: B018 - load now, so load time is reported apart from the answer
    load_s = time.perf_counter() - started
    if sys.stdin.isatty() and err.is_terminal:  # someone can answer approval questions
        session.ask_approval = _ask_on_terminal(err)
    with session:
        if args.json:
            turn = session.reply(question)
            data = turn.as_dict()
            data["timings"]["load_s"] = round(load_s, 3)
            print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        else:
            from agent_app.chat.repl import step_line

            for piece in session.stream_reply(question):
                if isinstance(piece, str):
                    sys.stdout.write(piece)
                    sys.stdout.flush()
                else:  # agent steps go to stderr: stdout stays the answer alone
                    err.print(f"[dim]{step_line(piece)}[/dim]", highlight=False)
            sys.stdout.write("\n")
            for warning in session.last_turn.warnings if session.last_turn else []:
                err.print(f"[yellow]warning:[/yellow] {warning}")
    return 0


def _ask_server(args: argparse.Namespace, server: str, question: str) -> int:
    """`ask --server`: the question to a running server; the answer streamed as `ask` prints it."""
    import json

    from agent_app.models.params import GenerationParams, parse_assignments
    from agent_app.serve import client

    if args.agent:
        model = "agent"
    elif args.template and args.template == "rag" and args.collection:
        model = f"rag:{args.collection}"
    elif args.template:
        model = f"template:{args.template}"
    else:
        model = "chat"
    params = GenerationParams().merged(parse_assignments(args.param)) if args.param else GenerationParams()
    body = params.model_dump(exclude_none=True, include={"temperature", "top_p", "max_tokens", "stop", "seed"})

    def show(text: str) -> None:
        if not args.json:
            sys.stdout.write(text)
            sys.stdout.flush()

    def step(event: dict) -> None:
        if not args.json:
            shown = (
                f"  → {event.get('tool')}({event.get('input')})"
                if event.get("type") == "tool_call"
                else (f"  ← {' '.join(str(event.get('text', '')).split())[:160]}")
            )
            print(shown, file=sys.stderr)

    result = client.ask(
        server,
        question,
        system=args.system,
        model=model,
        params=body,
        on_text=show,
        on_step=step,
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write("\n")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from agent_app.models.handle import ModelHandle
    from agent_app.serve.api import check_binding, run

    settings = _settings(args)
    host = args.host or settings.serve.host
    port = settings.serve.port if args.port is None else args.port
    check_binding(settings, host)  # before minutes of loading
    err = _console(stderr=True)
    models = ModelHandle(settings, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    models.model  # noqa: B018 - warm before the first request, not during it

    def ready(url: str) -> None:
        err.print(
            f"Serving {models.label} on {url}  (web page: {url}/, OpenAI API: {url}/v1; Ctrl-C stops)",
            highlight=False,
        )

    run(settings, models, host=host, port=port, on_ready=ready)
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    import json

    from agent_app.chat.knowledge import ingest_with_progress

    settings = _settings(args)
    if args.include:
        settings.retrieval.include = args.include
    if args.exclude:
        settings.retrieval.exclude = [*settings.retrieval.exclude, *args.exclude]
    console = _console(stderr=args.json)
    try:
        report = ingest_with_progress(
            args.paths,
            console,
            collection=args.collection,
            settings=settings.retrieval,
            rebuild=args.rebuild,
            ray=args.ray,
        )
    except KeyboardInterrupt:
        from agent_app.retrieval.checkpoint import interrupted

        name = args.collection or settings.retrieval.default_collection
        print(interrupted(name, settings.retrieval), file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(report.model_dump(), ensure_ascii=False, indent=2))
    return 0


def run_search(args: argparse.Namespace) -> int:
    import json

    from agent_app.chat.knowledge import search_rows, show_search

    settings = _settings(args)
    collection = args.collection or settings.retrieval.default_collection
    rows = search_rows(" ".join(args.query), collection, settings.retrieval, args.k or None)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        show_search(rows, _console())
    return 0


def run_models(args: argparse.Namespace) -> int:
    import json

    from agent_app.models.catalog import available_models

    choices = available_models(_settings(args))
    if args.json:
        print(json.dumps([c.to_dict() for c in choices], ensure_ascii=False, indent=2))
        return 0
    from rich.table import Table

    table = Table("--model", "source", "note", box=None, pad_edge=False)
    for choice in choices:
        table.add_row(choice.model, choice.source, choice.note)
    _console().print(table)
    return 0


def run_templates(args: argparse.Namespace) -> int:
    import json

    from agent_app.errors import ConfigError
    from agent_app.templates import TemplateRegistry

    registry = TemplateRegistry.from_settings(_settings(args).templates)
    if args.action == "show":
        if not args.name or args.name not in registry.names():
            what = f"no template {args.name!r}" if args.name else "templates show needs a name"
            raise ConfigError(what, hint="`templates` lists them")
        # find() applies the rule -t and /template apply: a template is a .yaml file that lies
        # inside a template folder once symlinks are followed.
        path = registry.find(args.name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read template {args.name!r}: {getattr(exc, 'strerror', None) or exc}") from None
        print(
            json.dumps({"name": path.stem, "path": str(path), "text": text}, ensure_ascii=False) if args.json else text
        )
        return 0
    infos = registry.list()
    rows = [
        {"name": i.name, "description": i.description, "shipped": i.shipped, "path": str(i.path), "error": i.error}
        for i in infos
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.table import Table

    table = Table("template", "description", "where", box=None, pad_edge=False)
    for i in infos:
        table.add_row(
            i.name, f"broken: {i.error}" if i.error else i.description, "shipped" if i.shipped else str(i.path)
        )
    _console().print(table)
    return 0


def run_sessions(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from agent_app.errors import ConfigError
    from agent_app.memory import open_store

    with open_store(_settings(args).memory.store) as store:
        if args.action == "list":
            conversations = store.list()
            if args.json:
                print(json.dumps([asdict(c) for c in conversations], ensure_ascii=False, indent=2))
                return 0
            from rich.table import Table

            from agent_app.chat.commands import when

            table = Table("id", "title", "model", "messages", "last used", box=None, pad_edge=False)
            for c in conversations:
                table.add_row(c.short_id, c.title or "", c.model or "", str(c.message_count), when(c.last_used))
            _console().print(table)
            return 0
        if not args.id:
            raise ConfigError(f"sessions {args.action} needs an id", hint="`sessions` lists them; 'last' also works")
        conversation = store.get(args.id)
        if args.action == "delete":
            store.delete(conversation.id)
            print(f"deleted {conversation.short_id} ({conversation.title or 'untitled'})")
            return 0
        messages = [{"role": m.type, "content": m.content} for m in store.messages(conversation.id)]
        if args.action == "export" or args.json:
            print(json.dumps({**asdict(conversation), "messages": messages}, ensure_ascii=False, indent=2))
            return 0
        for m in messages:
            print(f"{m['role']}: {m['content']}")
        return 0


def run_collections(args: argparse.Namespace) -> int:
    import json

    from agent_app.errors import ConfigError
    from agent_app.retrieval import describe_collections, drop_collection

    retrieval = _settings(args).retrieval
    if args.action != "list" and not args.name:
        raise ConfigError(f"collections {args.action} needs a name", hint="`collections` lists them")
    if args.action == "remove":
        from agent_app.chat.knowledge import WAITING

        if not drop_collection(args.name, retrieval, on_wait=lambda: print(WAITING, file=sys.stderr)):
            raise ConfigError(f"no collection {args.name!r}", hint="`collections` lists them")
        print(f"removed collection {args.name} (the files it was made from are untouched)")
        return 0
    infos = describe_collections(retrieval)
    if args.action == "show":
        infos = [i for i in infos if i.name == args.name]
        if not infos:
            raise ConfigError(f"no collection {args.name!r}", hint="`collections` lists them")
    if args.json:
        print(json.dumps([i.model_dump() for i in infos], ensure_ascii=False, indent=2))
    elif args.action == "show":
        for f in infos[0].files:
            print(f"{f.chunks:6} chunks  {f.path}")
    else:
        from agent_app.chat.knowledge import show_collections

        show_collections(_console(), retrieval)
    return 0


def run_postgres(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent_app import local_postgres

    data = Path(args.data).expanduser() if args.data else None
    if args.action == "start":
        url = local_postgres.start(data, args.port)
        print(url)
        print(f"use it with: python main.py ingest PATH --store {url}", file=sys.stderr)
    elif args.action == "stop":
        print("stopped" if local_postgres.stop(data) else "not running")
    else:
        print(local_postgres.status(data) or "not running")
    return 0


def _ask_on_terminal(console):
    """An approval asker for `ask` run from a terminal (the question on stderr)."""

    def ask(tool: str, arguments) -> str:
        from agent_app.tools.approval import QUESTION, describe_call, read_answer

        while True:
            console.print(f"approve {describe_call(tool, arguments)}: {QUESTION} ", end="")
            try:
                answer = read_answer(input())
            except EOFError:
                return "no"
            if answer is not None:
                return answer

    return ask


def run_tools(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from agent_app.tools.toolbox import Toolbox

    settings = _settings(args)
    collection = args.collection or settings.retrieval.default_collection
    with Toolbox(settings.tools, settings.retrieval) as box:
        rows = [asdict(row) for row in box.describe(collection)]
        notices = box.take_notices()
    for notice in notices:
        print(f"warning: {notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.table import Table

    table = Table("tool", "source", "approval", "what it does", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row["name"], row["source"], row["approval"], row["description"])
    _console().print(table)
    return 0


def run_completion(args: argparse.Namespace) -> int:
    from agent_app.shell_completion import script

    print(script(args.prog, args.shell))
    return 0


def run_logs(args: argparse.Namespace) -> int:
    import contextlib

    from agent_app.monitoring.logs_view import show_logs

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the way to end --follow
        show_logs(follow=args.follow, as_json=args.json, tail=args.tail, console=_console())
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "main.py") -> int:
    """Run the CLI; returns the exit code."""
    import os

    parser = build_parser(prog)
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: print them and exit
        from agent_app.shell_completion import complete

        complete(parser)
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # `main.py --help | head`
        return 0
    _quiet_libraries()
    from agent_app.errors import AppError
    from agent_app.monitoring.redact import redact_message

    original = output = sys.stdout
    if original is not None and not original.isatty():  # a file or a pipe: its writes can fail
        sys.stdout = output = _Output(original)
    try:
        code = args.handler(args)
        sys.stdout.flush()
        return code
    except AppError as exc:
        print(f"error: {redact_message(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`ask ... | head -c 5`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again.
        _discard_stdout()
        return 141  # what a shell reports for a process ended by SIGPIPE
    finally:
        sys.stdout = original
        if isinstance(output, _Output) and output.failed:
            _discard_stdout()


class _Output:
    """Standard output that reports a failed write (disk full, an I/O error) as one
    `OutputError` line instead of a traceback; a reader that went away stays BrokenPipeError."""

    failed = False

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._call(self._stream.write, text)

    def flush(self) -> None:
        self._call(self._stream.flush)

    def _call(self, fn, *args):
        from agent_app.errors import OutputError

        try:
            return fn(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            self.failed = True
            raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _discard_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that what is still buffered for it is dropped
    quietly at exit instead of failing again there."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def tool_main() -> int:
    """The installed `agent-app` command."""
    return main(prog="agent-app")
