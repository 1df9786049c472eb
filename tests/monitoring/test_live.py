"""Live notes: what each level shows, secrets, and holding notes while an answer line is open."""

from __future__ import annotations

import io

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from rich.console import Console
from rich.text import Text

from agent_app.models.fake import ScriptedChatModel
from agent_app.monitoring.live import LiveEventPrinter
from tests.support.monitoring_helpers import make_chain


def notes_of(printer_level: str, run) -> list[str]:
    notes: list[Text] = []
    printer = LiveEventPrinter(Console(file=io.StringIO()), level=printer_level, emit=notes.append)
    run(printer)
    return [n.plain for n in notes]


def ask(printer: LiveEventPrinter) -> None:
    chain = make_chain(ScriptedChatModel(replies=["one two three"]))
    chain.invoke({"question": "count"}, config={"callbacks": [printer]})


def test_info_shows_model_start_and_end_with_timings() -> None:
    notes = notes_of("info", ask)
    assert len(notes) == 2
    assert notes[0] == "  · model started (scriptedchatmodel/scripted), 2 messages"
    assert notes[1].startswith("  · model done: 3 tokens, ")
    assert "tok/s" in notes[1]


def test_debug_adds_the_chains() -> None:
    notes = notes_of("debug", ask)
    assert notes[0] == "· RunnableSequence started"
    assert notes[-1].startswith("· RunnableSequence done in ")
    assert len(notes) == 8


def test_off_shows_nothing_and_levels_are_checked() -> None:
    assert notes_of("off", ask) == []
    with pytest.raises(ValueError, match="verbose level"):
        LiveEventPrinter(level="loud")  # type: ignore[arg-type]


def test_tools_retrieval_and_errors() -> None:
    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return "4"

    class Docs(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
            return [Document("a"), Document("b"), Document("c"), Document("d")]

    def run(printer: LiveEventPrinter) -> None:
        calculator.invoke("2+2", config={"callbacks": [printer]})
        Docs().invoke("q", config={"callbacks": [printer]})
        with pytest.raises(RuntimeError):
            ScriptedChatModel(echo=False).invoke("hi", config={"callbacks": [printer]})

    notes = notes_of("info", run)
    assert notes[0] == "· tool calculator ← '2+2'"
    assert notes[1].startswith("· tool calculator → '4' (")
    assert notes[2].startswith("· retrieved 4 docs in ")
    assert notes[3] == "· model started (scriptedchatmodel/scripted), 1 messages"
    assert notes[4].startswith("· model failed after ")
    assert notes[4].endswith("RuntimeError: ScriptedChatModel has no replies left")


def test_secrets_are_redacted_in_notes() -> None:
    @tool
    def fetch(url: str) -> str:
        """Fetch a URL."""
        return "ok"

    notes = notes_of("info", lambda p: fetch.invoke("https://x.test/?api_key=abcdef123456", config={"callbacks": [p]}))
    assert "abcdef123456" not in "".join(notes)


def test_notes_wait_while_the_answer_line_is_open() -> None:
    out = io.StringIO()
    line_open = True
    printer = LiveEventPrinter(Console(file=out, width=200), level="info", defer_while=lambda: line_open)
    ask(printer)
    assert out.getvalue() == ""  # nothing printed into the middle of the answer
    line_open = False
    printer.flush()
    printed = out.getvalue().splitlines()
    assert len(printed) == 2 and "model started" in printed[0] and "model done" in printed[1]


def test_default_console_is_stderr() -> None:
    assert LiveEventPrinter().console.stderr
