"""Live event notes: one dim line per event, printed as it happens (`--verbose`, `/verbose on`).

Contract with the chat, so the notes never break the streamed answer:
- Every note is one whole line, handed to `emit(text)`. By default that prints it on the console
  given (make it `Console(stderr=True)` when the answer streams to stdout). A console that also
  drives a `rich.live.Live` prints the note above the live region, which is the cleanest setup.
- When the answer streams as raw text (`print(chunk, end="")`), pass `defer_while=` a callable that
  is True while the answer's current line is unfinished: notes arriving then are queued, and the
  chat calls `flush()` when the line is complete (or when the answer ends).
- `level` ("off", "info", "debug") can be changed at any time; "off" prints nothing.
Secrets are redacted like in the log file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.text import Text

from agent_app.monitoring.describe import LEVELS, Level, describe
from agent_app.monitoring.events import EventCallbackHandler
from agent_app.monitoring.redact import Redactor

INDENT = "  "


class LiveEventPrinter(EventCallbackHandler):
    """Prints a dim one-line note per event while the chat runs."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        level: Level = "info",
        secrets: Iterable[str | None] = (),
        emit: Callable[[Text], None] | None = None,
        defer_while: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(max_field_chars=500)
        self.console = console or Console(stderr=True)
        self.level = level
        self.redactor = Redactor(secrets)
        self.emit = emit or self._print
        self.defer_while = defer_while
        self._pending: list[Text] = []
        self._pending_lock = threading.Lock()

    @property
    def level(self) -> Level:
        return self._level

    @level.setter
    def level(self, value: Level) -> None:
        if value not in LEVELS:
            raise ValueError(f"verbose level must be one of {', '.join(LEVELS)}, not {value!r}")
        self._level = value

    def handle_event(self, event: dict[str, Any]) -> None:
        line = describe(event, self.level)
        if line is None:
            return
        style = "red" if event.get("phase") == "error" else "dim"
        text = Text(INDENT * int(event.get("depth", 0)) + "· " + self.redactor.text(line), style=style)
        if self.defer_while is not None and self.defer_while():
            with self._pending_lock:
                self._pending.append(text)
            return
        self.flush()
        self.emit(text)

    def flush(self) -> None:
        """Print the notes queued while `defer_while` was true."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for text in pending:
            self.emit(text)

    def _print(self, text: Text) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)
