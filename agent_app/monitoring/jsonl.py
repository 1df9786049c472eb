"""The event log: one JSON object per line in `data_dir()/logs/events.jsonl`.

Each event (see `agent_app.monitoring.events`) is redacted, serialised and appended with a single
`os.write` on a file opened with O_APPEND, so the lines of two chats sharing the log never
interleave. The file rotates by size (`events.jsonl.1` ... `.N`); a process that finds the file
rotated by another one reopens it (the stdlib RotatingFileHandler would keep writing into the
renamed file). Logging is best effort: the first failure to write (full disk, unwritable folder)
is reported once through `on_warning` and the log is switched off; the chat goes on.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agent_app import paths
from agent_app.monitoring.events import CONTENT_KEYS, DEFAULT_MAX_FIELD_CHARS, EventCallbackHandler
from agent_app.monitoring.redact import Redactor

DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_BACKUPS = 3


def default_log_path() -> Path:
    return paths.data_dir() / "logs" / "events.jsonl"


def warn(message: str) -> None:
    """The default warning channel: Python's warnings (shown once by default)."""
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class RotatingAppender:
    """Appends whole lines to a file, rotating it by size. Raises OSError on failure."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd: int | None = None
        self._lock = threading.Lock()

    def write_line(self, line: str) -> None:
        # backslashreplace: a lone surrogate that slipped through is written as \\udcff instead
        # of failing the write (which would switch the log off for the rest of the run).
        data = (line.rstrip("\n") + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            if self._fd is None or self._rotated_elsewhere():
                self._reopen()
            assert self._fd is not None
            size = os.fstat(self._fd).st_size
            if self.max_bytes and size and size + len(data) > self.max_bytes:
                self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _reopen(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _rotated_elsewhere(self) -> bool:
        assert self._fd is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            return True

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        if self.backups > 0:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._reopen()


class JsonlLogHandler(EventCallbackHandler):
    """Writes every run event as a JSON line. Pass it in `config={"callbacks": [...]}`.

    `log_content=False` leaves out prompts, answers, tool input/output and documents (keeps names,
    timings, token counts and errors). `secrets` are values masked wherever they appear, on top of
    the credential patterns every log line is scrubbed of.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        log_content: bool = True,
        secrets: Iterable[str | None] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        on_warning: Callable[[str], None] | None = None,
        max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    ) -> None:
        super().__init__(max_field_chars=max_field_chars)
        self.path = Path(path).expanduser() if path is not None else default_log_path()
        self.log_content = log_content
        self.redactor = Redactor(secrets)
        self.on_warning = on_warning or warn
        self.disabled = False
        self._appender = RotatingAppender(self.path, max_bytes, backups)

    def handle_event(self, event: dict[str, Any]) -> None:
        if self.disabled:
            return
        if not self.log_content:
            event = {k: v for k, v in event.items() if k not in CONTENT_KEYS}
        line = json.dumps(self.redactor.data(event), ensure_ascii=False, default=str)
        try:
            self._appender.write_line(line)
        except OSError as exc:
            self.disabled = True
            self._appender.close()
            reason = exc.strerror or str(exc)
            self.on_warning(f"event log switched off: cannot write {self.path} ({reason})")

    def close(self) -> None:
        self._appender.close()
