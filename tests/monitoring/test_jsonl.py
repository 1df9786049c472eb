"""The JSON Lines event log: events and their order, content switch, secrets, rotation, failures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool

from agent_app import paths
from agent_app.models.fake import ScriptedChatModel
from agent_app.monitoring.jsonl import JsonlLogHandler, RotatingAppender, default_log_path
from tests.support.monitoring_helpers import make_chain, read_events

FAKE_KEY = "sk-test-1234567890abcdefghijklmnop"


def test_a_streamed_chain_logs_every_run_in_order(log_path: Path) -> None:
    handler = JsonlLogHandler(log_path)
    chain = make_chain(ScriptedChatModel(replies=["four it is"]))
    assert "".join(chain.stream({"question": "2+2?"}, config={"callbacks": [handler]})) == "four it is"

    events = read_events(log_path)
    assert [(e["event"], e["name"], e["depth"]) for e in events] == [
        ("chain_start", "RunnableSequence", 0),
        ("chain_start", "ChatPromptTemplate", 1),
        ("chain_end", "ChatPromptTemplate", 1),
        ("chat_model_start", "ScriptedChatModel", 1),
        ("chain_start", "StrOutputParser", 1),  # streaming: the parser starts with the first chunk
        ("chat_model_end", "ScriptedChatModel", 1),
        ("chain_end", "StrOutputParser", 1),
        ("chain_end", "RunnableSequence", 0),
    ]
    root = events[0]["run_id"]
    assert root and events[0]["parent_run_id"] is None
    assert all(e["parent_run_id"] == root for e in events[1:-1])
    start, end = events[3], events[5]
    assert start["run_id"] == end["run_id"]
    assert start["model"] == "scripted"
    assert start["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "human", "content": "2+2?"},
    ]
    assert end["usage"] == {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7}
    assert end["text"] == "four it is"
    assert end["chunks"] == 3  # tokens are counted, not logged one by one
    assert 0 <= end["ttft_ms"] <= end["duration_ms"]
    assert all(e["duration_ms"] >= 0 for e in events if e["phase"] == "end")


async def test_an_async_stream_logs_the_same_events(log_path: Path) -> None:
    handler = JsonlLogHandler(log_path)
    chain = make_chain(ScriptedChatModel(replies=["four it is"]))
    chunks = [c async for c in chain.astream({"question": "2+2?"}, config={"callbacks": [handler]})]
    assert "".join(chunks) == "four it is"
    events = read_events(log_path)
    assert [e["event"] for e in events] == [
        "chain_start",
        "chain_start",
        "chain_end",
        "chat_model_start",
        "chain_start",
        "chat_model_end",
        "chain_end",
        "chain_end",
    ]
    assert events[5]["chunks"] == 3 and events[5]["ttft_ms"] is not None


def test_a_failing_model_call_logs_errors_up_the_chain(log_path: Path) -> None:
    handler = JsonlLogHandler(log_path)
    chain = make_chain(ScriptedChatModel(echo=False))  # no replies: the call raises
    with pytest.raises(RuntimeError, match="no replies left"):
        chain.invoke({"question": "anything"}, config={"callbacks": [handler]})

    events = read_events(log_path)
    assert [e["event"] for e in events] == [
        "chain_start",
        "chain_start",
        "chain_end",
        "chat_model_start",
        "chat_model_error",
        "chain_error",
    ]
    for event in events[-2:]:
        assert event["error"] == {"type": "RuntimeError", "message": "ScriptedChatModel has no replies left"}
        assert event["duration_ms"] >= 0


def test_tools_and_retrievers_are_logged(log_path: Path) -> None:
    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return "4"

    class Docs(BaseRetriever):
        def _get_relevant_documents(self, query: str, *, run_manager) -> list[Document]:
            return [Document("a", metadata={"source": "a.md"}), Document("b", metadata={"source": "b.md"})]

    handler = JsonlLogHandler(log_path)
    calculator.invoke("2+2", config={"callbacks": [handler]})
    Docs().invoke("where?", config={"callbacks": [handler]})
    events = read_events(log_path)
    assert [(e["event"], e["name"]) for e in events] == [
        ("tool_start", "calculator"),
        ("tool_end", "calculator"),
        ("retriever_start", "Docs"),
        ("retriever_end", "Docs"),
    ]
    assert (events[0]["input"], events[1]["output"]) == ("2+2", "4")
    assert events[2]["query"] == "where?"
    assert (events[3]["n_docs"], events[3]["sources"]) == (2, ["a.md", "b.md"])
    assert events[3]["documents"][0] == {"source": "a.md", "content": "a"}


def test_content_can_be_left_out(log_path: Path) -> None:
    handler = JsonlLogHandler(log_path, log_content=False)
    make_chain(ScriptedChatModel(replies=["the secret answer"])).invoke(
        {"question": "private question"}, config={"callbacks": [handler]}
    )
    text = log_path.read_text()
    assert "private question" not in text and "the secret answer" not in text
    end = next(e for e in read_events(log_path) if e["event"] == "chat_model_end")
    assert end["usage"]["output_tokens"] == 3  # metrics stay


def test_secrets_never_reach_the_log(log_path: Path) -> None:
    configured = "my-configured-key-value-42"
    handler = JsonlLogHandler(log_path, secrets=[configured, None])
    chain = make_chain(
        ScriptedChatModel(replies=[f"your key is {configured} and Bearer abcdef123456"]),
        system=f"Use api_key={FAKE_KEY} when calling.",
    )
    chain.invoke({"question": f"is {configured} valid? token: hunter22"}, config={"callbacks": [handler]})
    handler.record("settings_loaded", settings={"openai_api_key": "plain-value-xyz", "model": "x"})

    text = log_path.read_text()
    for leaked in (FAKE_KEY, configured, "abcdef123456", "hunter22", "plain-value-xyz", "sk-test"):
        assert leaked not in text
    assert "***" in text
    assert read_events(log_path)[-1]["settings"] == {"openai_api_key": "***", "model": "x"}


def test_the_default_log_is_in_the_data_dir() -> None:
    assert default_log_path() == paths.data_dir() / "logs" / "events.jsonl"
    handler = JsonlLogHandler()
    handler.record("hello")
    assert read_events(default_log_path())[0]["event"] == "hello"


def test_an_unwritable_log_folder_warns_once_and_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    seen: list[str] = []
    handler = JsonlLogHandler(blocker / "logs" / "events.jsonl", on_warning=seen.append)
    chain = make_chain(ScriptedChatModel(replies=["fine", "still fine"]))
    assert chain.invoke({"question": "q"}, config={"callbacks": [handler]}) == "fine"
    assert chain.invoke({"question": "q"}, config={"callbacks": [handler]}) == "still fine"
    assert len(seen) == 1 and "event log switched off" in seen[0] and str(blocker) in seen[0]
    assert handler.disabled


def test_a_full_disk_warns_once_through_python_warnings() -> None:
    handler = JsonlLogHandler("/dev/full")  # every write fails with ENOSPC
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            handler.record("event")
    assert [str(w.message) for w in caught] == [
        "event log switched off: cannot write /dev/full (No space left on device)"
    ]


def test_the_log_rotates_and_every_file_stays_valid(log_path: Path) -> None:
    handler = JsonlLogHandler(log_path, max_bytes=2_000, backups=2)
    for i in range(100):
        handler.record("tick", i=i, padding="x" * 50)
    files = [log_path, log_path.with_name("events.jsonl.1"), log_path.with_name("events.jsonl.2")]
    assert all(f.stat().st_size <= 2_000 for f in files)
    assert not log_path.with_name("events.jsonl.3").exists()
    numbers = [e["i"] for f in reversed(files) for e in read_events(f)]
    assert numbers == list(range(numbers[0], 100))  # the newest events, none lost inside the window


def test_a_writer_follows_a_rotation_done_by_another_process(log_path: Path) -> None:
    ours = RotatingAppender(log_path, max_bytes=10_000)
    theirs = RotatingAppender(log_path, max_bytes=10_000)
    ours.write_line(json.dumps({"n": 1}))
    theirs._reopen()
    theirs._rotate()  # another chat rotated the file under us
    ours.write_line(json.dumps({"n": 2}))
    assert read_events(log_path) == [{"n": 2}]
    assert read_events(log_path.with_name("events.jsonl.1")) == [{"n": 1}]
