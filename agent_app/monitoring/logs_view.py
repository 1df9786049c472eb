"""Reading the event log back: `python main.py logs [--json] [--follow]`.

Human form: one line per event, `HH:MM:SS.mmm` then the description, indented by run depth.
`--json` prints the stored lines unchanged. `--follow` keeps reading what a running chat appends,
like `tail -f`, reopening the file when it is rotated; the loop polls and stops when `stop` is
set or after `max_polls` polls (the CLI stops it with Ctrl-C).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from agent_app.errors import AppError
from agent_app.monitoring.describe import describe
from agent_app.monitoring.jsonl import default_log_path

POLL_SECONDS = 0.25


def format_event(event: dict[str, Any]) -> Text:
    """One human-readable line for an event."""
    ts = str(event.get("ts", ""))
    clock = ts[11:23] if len(ts) >= 23 else ts
    line = describe(event, "debug") or str(event.get("event", "?"))
    depth = event.get("depth")
    depth = depth if isinstance(depth, int) and 0 <= depth < 50 else 0  # a hand-edited line may hold anything
    style = "red" if event.get("phase") == "error" else ("bold" if depth == 0 else "")
    text = Text(f"{clock} ", style="dim")
    text.append("  " * depth + line, style=style)
    return text


def show_logs(
    path: str | Path | None = None,
    *,
    follow: bool = False,
    as_json: bool = False,
    tail: int | None = None,
    console: Console | None = None,
    stop: threading.Event | None = None,
    max_polls: int | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> int:
    """Print the log (the last `tail` lines if given), then with `follow` what gets appended.
    Returns the number of lines printed. Raises AppError when there is no log to show."""
    path = Path(path).expanduser() if path is not None else default_log_path()
    console = console or Console()
    stop = stop or threading.Event()
    if not path.exists() and not follow:
        raise AppError(f"no event log at {path} yet", hint="chat first, with logging enabled")
    printed = 0

    def show(line: str) -> None:
        nonlocal printed
        line = line.rstrip("\n")
        if not line.strip():
            return
        if as_json:
            console.out(line, highlight=False)
        else:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = None
            if not isinstance(event, dict):  # not JSON, or JSON that is not an event object
                console.print(Text(f"(unreadable line) {line[:200]}", style="yellow"))
            else:
                console.print(format_event(event), highlight=False, soft_wrap=True)
        printed += 1

    follower = _Follower(path)
    first = follower.read_lines()
    for line in deque(first, maxlen=tail) if tail is not None else first:
        show(line)
    polls = 0
    while follow and not stop.is_set() and (max_polls is None or polls < max_polls):
        stop.wait(poll_seconds)
        polls += 1
        for line in follower.read_lines():
            show(line)
    follower.close()
    return printed


class _Follower:
    """Reads complete new lines from a file that grows, gets rotated or appears later."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._inode: int | None = None
        self._partial = b""

    def read_lines(self) -> Iterator[str]:
        lines = list(self._drain())
        if self._replaced():
            # Finish the old file (already drained), then start the new one from its beginning.
            self.close()
            lines.extend(self._drain())
        return iter(lines)

    def _drain(self) -> Iterator[str]:
        if self._file is None and not self._open():
            return
        assert self._file is not None
        while line := self._file.readline():
            if line.endswith(b"\n"):
                yield (self._partial + line).decode("utf-8", errors="replace")
                self._partial = b""
            else:  # the writer is mid-line: keep it for the next read
                self._partial += line

    def _open(self) -> bool:
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - kept open between polls
        except FileNotFoundError:
            return False
        self._inode = os.fstat(self._file.fileno()).st_ino
        return True

    def _replaced(self) -> bool:
        if self._file is None:
            return False
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        # A new file (rotation), or the same one truncated.
        return stat.st_ino != self._inode or stat.st_size < self._file.tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._partial = b""
