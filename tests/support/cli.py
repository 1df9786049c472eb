"""Running the CLI in-process, as a user would from a shell, and capturing what it prints.

Like simonw/llm's CliRunner use: `main(argv)` is called with stdin, stdout and stderr replaced.
An exception that escapes `main` is a traceback the user would have seen, so it fails the test.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    # The names of subprocess.CompletedProcess, so a test can switch runners freely.
    @property
    def returncode(self) -> int:
        return self.code

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(*argv: str, stdin: str | bytes = b"") -> CliResult:
    """Run `main.py argv...` in this process; `stdin` bytes may be invalid UTF-8 on purpose."""
    from agent_app.cli import main

    data = stdin.encode() if isinstance(stdin, str) else stdin
    # What Python gives a program whose stdin is a pipe: UTF-8 with surrogateescape.
    fake_in = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    sys.stdin = fake_in
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdin = old_in
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: CliResult, *fragments: str) -> str:
    """The run failed with exactly one non-empty stderr line, holding every fragment; no traceback."""
    assert result.code != 0, result
    lines = result.error_lines
    assert len(lines) == 1, lines
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def run_main(*args: str, stdin: str = "", env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python main.py args...` in a real subprocess: for what only a real process shows
    (start-up imports, exit codes with real pipes, signals)."""
    return subprocess.run(
        [sys.executable, "main.py", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def spawn_chat(*args: str, timeout: float = 90, env: dict | None = None):
    """`python main.py args...` in a real pseudo-terminal (pexpect), 40x100, for what only a
    terminal shows: prompt_toolkit input, the live answer, Ctrl-C, echo."""
    import pexpect

    return pexpect.spawn(
        sys.executable,
        ["main.py", *args],
        cwd=str(REPO),
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, 100),
        env={**os.environ, "TERM": "xterm", **(env or {})},
        # A child inherits ignored signals. Seen in full test runs: the test process had SIGINT
        # and SIGQUIT ignored at times (what C's system() does while it runs, here in a library
        # thread), so the chat never saw the test's Ctrl-C. A terminal's user has them.
        preexec_fn=_default_signals,
    )


def _default_signals() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
