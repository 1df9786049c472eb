"""Reading the log back: human lines, raw JSON, tail, and following a growing, rotating file."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import pytest
from rich.console import Console

from agent_app.errors import AppError
from agent_app.models.fake import ScriptedChatModel
from agent_app.monitoring.jsonl import JsonlLogHandler, RotatingAppender
from agent_app.monitoring.logs_view import show_logs
from tests.support.monitoring_helpers import make_chain


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def write_chain_log(path: Path) -> None:
    handler = JsonlLogHandler(path)
    make_chain(ScriptedChatModel(replies=["hi there"])).invoke({"question": "q"}, config={"callbacks": [handler]})


def test_human_readable_lines_are_indented_by_nesting(log_path: Path) -> None:
    write_chain_log(log_path)
    con, out = console()
    assert show_logs(log_path, console=con) == 8
    lines = out.getvalue().splitlines()
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d\d\d .+", line) for line in lines)
    timeless = [re.sub(r"\d+ ms|\d+\.\d s", "T", line[13:]) for line in lines]
    assert timeless[:4] == [
        "RunnableSequence started",
        "  ChatPromptTemplate started",
        "  ChatPromptTemplate done in T",
        "  model started (scriptedchatmodel/scripted), 2 messages",
    ]
    assert re.fullmatch(r"  model done: 2 tokens, T, \d+ tok/s", timeless[4])
    assert timeless[5:] == ["  StrOutputParser started", "  StrOutputParser done in T", "RunnableSequence done in T"]


def test_json_prints_the_raw_lines_and_tail_limits_them(log_path: Path) -> None:
    write_chain_log(log_path)
    con, out = console()
    show_logs(log_path, as_json=True, tail=2, console=con)
    assert out.getvalue().splitlines() == log_path.read_text().splitlines()[-2:]


def test_a_missing_log_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(AppError, match="no event log"):
        show_logs(tmp_path / "none.jsonl")


def test_an_unreadable_line_is_shown_not_fatal(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.write_text('not json\n{"event": "x", "kind": "app", "depth": 0}\n')
    con, out = console()
    assert show_logs(log_path, console=con) == 2
    assert "(unreadable line) not json" in out.getvalue()


class Watcher(io.StringIO):
    """A console file that signals when an expected text has been printed."""

    def __init__(self) -> None:
        super().__init__()
        self.expect = ""
        self.seen = threading.Event()

    def write(self, s: str) -> int:
        n = super().write(s)
        if self.expect and self.expect in self.getvalue():
            self.seen.set()
        return n

    def wait_for(self, text: str) -> None:
        self.expect, self.seen = text, threading.Event()
        if text in self.getvalue():
            return
        assert self.seen.wait(10), f"{text!r} never printed; got {self.getvalue()!r}"


def test_follow_prints_appended_lines_across_a_rotation(log_path: Path) -> None:
    writer = RotatingAppender(log_path, max_bytes=400, backups=1)
    writer.write_line(json.dumps({"event": "first", "kind": "app", "depth": 0}))
    watcher = Watcher()
    stop = threading.Event()
    follower = threading.Thread(
        target=show_logs,
        args=(log_path,),
        kwargs={"follow": True, "as_json": True, "console": Console(file=watcher), "stop": stop, "poll_seconds": 0.01},
    )
    follower.start()
    try:
        watcher.wait_for('"first"')
        lines = [json.dumps({"event": f"e{i}", "kind": "app", "depth": 0, "pad": "x" * 40}) for i in range(8)]
        for line in lines[:4]:
            writer.write_line(line)
        watcher.wait_for('"e3"')
        for line in lines[4:]:  # the first of these rotates the file (400 bytes)
            writer.write_line(line)
        watcher.wait_for('"e7"')
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()
    assert log_path.with_name("events.jsonl.1").exists()
    printed = [json.loads(line)["event"] for line in watcher.getvalue().splitlines()]
    assert printed == ["first"] + [f"e{i}" for i in range(8)]


def test_follow_waits_for_a_log_that_does_not_exist_yet(log_path: Path) -> None:
    con, out = console()
    assert show_logs(log_path, follow=True, console=con, max_polls=2, poll_seconds=0) == 0
    assert out.getvalue() == ""
