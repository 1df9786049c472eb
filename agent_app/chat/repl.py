"""The terminal chat: prompt_toolkit for line editing and history, rich for output.

On a terminal, answers stream into a live Markdown view; when input is piped (scripts, tests)
the chat reads lines from stdin and streams plain text, so it behaves the same either way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agent_app.agent.run import Observation, ToolCall
from agent_app.chat import commands
from agent_app.errors import AppError
from agent_app.textinput import NOT_UTF8_WARNING, clean_input

if TYPE_CHECKING:
    from rich.console import Console

    from agent_app.chat.session import ChatSession
    from agent_app.tools.approval import Answer


class ChatUI:
    """Reads input, runs commands, streams answers. One instance per chat."""

    def __init__(
        self,
        session: ChatSession,
        console: Console,
        *,
        interactive: bool | None = None,
        history_file: str | None = None,
    ) -> None:
        self.session = session
        self.console = console
        self.interactive = sys.stdin.isatty() and console.is_terminal if interactive is None else interactive
        self.history_file = history_file
        self._prompt: Any = None
        self._live: Any = None
        if self.interactive:
            session.ask_approval = self.ask_approval

    # -- output helpers -----------------------------------------------------------------
    def info(self, text: str) -> None:
        self.console.print(f"[cyan]{text}[/cyan]", highlight=False, markup=True)

    def warn(self, text: str) -> None:
        from rich.markup import escape

        from agent_app.monitoring.redact import redact_message

        self.console.print(f"[yellow]warning:[/yellow] {escape(redact_message(text))}", highlight=False)

    def error(self, text: str) -> None:
        from rich.markup import escape

        from agent_app.monitoring.redact import redact_message

        self.console.print(f"[red]error:[/red] {escape(redact_message(text))}", highlight=False)

    def ask_approval(self, tool: str, arguments: Any) -> Answer:
        """Ask whether a tool under `ask` may run: yes, no, or always (for this session).
        The live answer view pauses while the question is on screen."""
        from prompt_toolkit import prompt
        from rich.markup import escape

        from agent_app.tools.approval import QUESTION, describe_call, read_answer

        if self._live is not None:
            self._live.stop()
        try:
            self.console.print(f"[yellow]approve[/yellow] {escape(describe_call(tool, arguments))}", highlight=False)
            while True:
                try:
                    answer = read_answer(prompt(f"  {QUESTION}: "))
                except EOFError:
                    return "no"
                if answer is not None:
                    return answer
        finally:
            if self._live is not None:
                self._live.start()

    # -- loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.console.print(
            f"[bold]agent-app[/bold] · model [cyan]{self.session.model_label}[/cyan] · "
            "/help for commands, /exit to leave",
            highlight=False,
        )
        if self.session.models.needs_conversion():
            self._first_run()
        self.session.models.load_in_background()
        while True:
            try:
                line = self.read_line()
            except KeyboardInterrupt:
                continue  # Ctrl-C at the prompt clears the line, like a shell
            if line is None:
                return 0
            if not self.handle(line):
                return 0

    def _first_run(self) -> None:
        """The one-time conversion of the bundled model, in the foreground (so nothing draws over
        the prompt), with its stage and the seconds against the measured estimate; then, once,
        what the bundled model is for and how to use a bigger one."""
        from agent_app.models.weights import conversion_seconds

        models = self.session.models
        self.info("First run: preparing the bundled model once; later starts take a few seconds.")
        models.load_in_background()
        if self.interactive:
            from rich.live import Live

            waiting = Waiting("the bundled model", estimate=conversion_seconds(models.settings.dtype))
            with Live(waiting, console=self.console, refresh_per_second=8, transient=True):
                while not models.wait(0.125):
                    waiting.set_detail(models.status)
        else:  # piped: one line per stage
            shown = ""
            while not models.wait(0.125):
                if models.status != shown:
                    shown = models.status
                    self.console.print(f"[dim]  {shown}[/dim]", highlight=False)
        try:
            self.session.model  # noqa: B018 - raises a failed load here
        except AppError as exc:
            self.error(str(exc))
            return
        self.info(SMALL_MODEL_HINT)

    def read_line(self) -> str | None:
        """The next input line, or None at end of input (Ctrl-D)."""
        if not self.interactive:
            line = sys.stdin.readline()
            if line == "":
                return None
            line, replaced = clean_input(line.rstrip("\n"))
            if replaced:
                self.warn(NOT_UTF8_WARNING)
            return line
        if self._prompt is None:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory

            from agent_app.chat.completion import ChatCompleter

            history = FileHistory(self.history_file) if self.history_file else InMemoryHistory()
            self._prompt = PromptSession(
                history=history, completer=ChatCompleter(self.session), complete_while_typing=False
            )
        try:
            return self._prompt.prompt("› ", bottom_toolbar=self._toolbar, refresh_interval=0.5)
        except EOFError:
            return None

    def _toolbar(self) -> str:
        """The status bar: model (and its loading state), template, agent."""
        state = "" if self.session.models.ready else f" · {self.session.models.status}"
        agent = "agent on" if self.session.agent_mode else "agent off"
        return f" {self.session.model_label}{state} · template {self.session.template_name} · {agent} · /help"

    def handle(self, line: str) -> bool:
        """Run one input line. Returns False when the user asked to leave."""
        text = line.strip()
        if not text:
            return True
        if text.lower() in commands.EXIT_WORDS:
            return False
        try:
            if text.lower() in commands.BARE_COMMANDS:  # "help", "?" and "clear" mean the command
                commands.find(commands.BARE_COMMANDS[text.lower()]).run(self, "")
            elif text.startswith("/"):
                name, _, arg = text[1:].partition(" ")
                commands.find(name.lower()).run(self, arg.strip())
            else:
                self.answer(text)
        except AppError as exc:
            self.error(str(exc))
        except KeyboardInterrupt:  # Ctrl-C during a command (answers handle their own): stop it, stay
            self.console.print("\n[dim]⏹ stopped[/dim]")
        return True

    def answer(self, text: str) -> None:
        """Stream the answer to `text`; Ctrl-C stops it (or the model load) and keeps what was said."""
        try:
            if not self.session.models.ready:
                with self.console.status(f"loading {self.session.model_label} ..."):
                    self.session.model  # noqa: B018 - waits for the background load
            if self.interactive:
                self.console.print(f"[dim]● {self.session.model_label}[/dim]", highlight=False)
            stream = self.session.stream_reply(text)
            try:
                if self.interactive:
                    with _typed_text_kept_quiet():
                        self._render_live(stream)
                else:
                    self._render_plain(stream)
            finally:
                stream.close()
        except KeyboardInterrupt:
            self.console.print("\n[dim]⏹ stopped[/dim]")
        turn = self.session.last_turn
        for warning in turn.warnings if turn else []:
            self.warn(warning)

    def _render_plain(self, stream) -> None:
        out = self.console.file
        for piece in stream:
            out.write(piece if isinstance(piece, str) else step_line(piece) + "\n")
            out.flush()
        out.write("\n")

    def _render_live(self, stream) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.markdown import Markdown
        from rich.text import Text

        text = ""
        calls: list[str] = []
        failures: dict[str, str] = {}
        lines: list[str] = []
        waiting = Waiting(self.session.model_label)
        self.session.on_progress = waiting.set_detail

        def view(final: bool = False) -> Group:
            if not lines and not text and not final:
                return Group(waiting)
            if not lines:
                return Group(Markdown(text))
            if final:  # collapse the steps into one line; /steps shows them again
                return Group(Text(collapsed_steps(calls, failures), style="dim"), Markdown(text))
            return Group(Text("\n".join(lines), style="dim"), Markdown(text))

        with Live(view(), console=self.console, refresh_per_second=8, vertical_overflow="visible") as live:
            self._live = live
            try:
                for piece in stream:
                    if isinstance(piece, str):
                        text += piece
                    else:
                        lines.append(step_line(piece))
                        if isinstance(piece, ToolCall):
                            calls.append(piece.tool)
                        elif piece.error:
                            failures.setdefault(piece.tool, str(piece.text))
                    live.update(view())
            finally:
                self._live = None
                live.update(view(final=True))


def collapsed_steps(calls: list[str], failures: dict[str, str]) -> str:
    """The one line left of an answer's tool steps: each tool once, a failed one with a cross
    and its reason ("▸ 1 tool call(s): ✗ weather (cannot reach ...) — /steps to expand")."""
    names = []
    for tool in dict.fromkeys(calls):
        if tool in failures:
            reason = " ".join(failures[tool].split()).split(": ", 1)[-1]
            names.append(f"✗ {tool} ({reason[:80]}{'…' if len(reason) > 80 else ''})")
        else:
            names.append(tool)
    return f"▸ {len(calls)} tool call(s): {', '.join(names)} — /steps to expand"


def step_line(event: ToolCall | Observation) -> str:
    """One line for an agent step: `→ tool(input)` or `← observation` (shortened)."""
    if isinstance(event, ToolCall):
        return f"  → {event.tool}({event.input})"
    text = " ".join(str(event.text).split())
    return f"  ← {text[:160]}{'…' if len(text) > 160 else ''}"


SMALL_MODEL_HINT = (
    "The bundled model (SmolLM2-135M) is small: it is here so the app works offline, for trying "
    "it out; it gets facts wrong, Japanese especially. For better answers use a bigger model: "
    "--model openai/NAME with OPENAI_API_KEY, or any OpenAI-compatible server with "
    "--model openai/NAME --base-url http://HOST:PORT/v1 (see README)."
)


class Waiting:
    """A spinner with the seconds waited, shown until the first token arrives: a slow or silent
    server is visible as such, and says which setting bounds the wait. With an estimate (a
    measured duration) it shows that instead of the timeout hint."""

    def __init__(self, label: str, *, estimate: float | None = None) -> None:
        import time

        from rich.spinner import Spinner

        self.label = label
        self.estimate = estimate
        self.detail = ""
        self._clock = time.monotonic
        self._started = self._clock()
        self._spinner = Spinner("dots", style="dim")

    def set_detail(self, text: str) -> None:
        """What the chain is doing now ("sample 3/5"), shown after the seconds."""
        self.detail = text

    def __rich__(self):
        from rich.text import Text

        waited = self._clock() - self._started
        remote = not self.label.startswith(("local", "fake", "the bundled"))
        hint = " · gives up after request_timeout" if remote and waited >= 10 else ""
        if self.estimate:
            hint = f" · usually about {self.estimate:.0f} s, longer on a busy machine"
        detail = f" · {self.detail}" if self.detail else ""
        self._spinner.text = Text(f"waiting for {self.label} ({waited:.0f} s){detail}{hint}", style="dim")
        return self._spinner


@contextmanager
def _typed_text_kept_quiet() -> Iterator[None]:
    """While an answer streams, what the user types is not echoed into it. The terminal's echo
    is switched off (Ctrl-C still works); the typed text stays in the terminal's buffer, and the
    next prompt reads it, so nothing is lost."""
    try:
        import termios
    except ImportError:  # Windows: nothing to do
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):  # not a terminal (pipes, tests)
        yield
        return
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~termios.ECHO  # local flags
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)
