"""Child processes for the durability tests: `python child_writer.py MODE DB_PATH [ARGS]`.

Each reports its progress on stdout, one line per step, flushed, so the parent test can
synchronise on it instead of sleeping.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from langchain_core.messages import AIMessage, HumanMessage

from agent_app.memory.store import ConversationStore
from agent_app.models.fake import ScriptedChatModel


def say(*words: object) -> None:
    print(*words, flush=True)


def write_conversation(db: str, n_turns: str) -> None:
    """Write a conversation of n turns and exit normally."""
    store = ConversationStore(db)
    conv = store.create(model="scripted", template="default")
    for i in range(int(n_turns)):
        store.append(conv.id, HumanMessage(f"question {i}"))
        store.append(conv.id, AIMessage(f"answer {i}"))
    say(conv.id)


def killed_mid_answer(db: str, n_turns: str) -> None:
    """Commit n turns and a question, then stream an answer; while it streams, keep committing
    filler messages to a second conversation and report each one, until killed."""
    store = ConversationStore(db)
    conv = store.create(model="scripted", template="default")
    model = ScriptedChatModel(replies=[f"answer {i}" for i in range(int(n_turns))] + ["word " * 10_000])
    history = []
    for i in range(int(n_turns)):
        question = HumanMessage(f"question {i}")
        store.append(conv.id, question)
        answer = AIMessage(model.invoke([*history, question]).text)
        store.append(conv.id, answer)
        history += [question, answer]
    store.append(conv.id, HumanMessage("the question being answered"))
    say("conversation", conv.id, store.get(conv.id).message_count)
    filler = store.create("filler")
    partial = ""
    for chunk in model.stream([HumanMessage("the question being answered")]):
        partial += chunk.text
        if len(partial) > 20:
            break
    say("mid-answer", len(partial))
    n = 0
    while True:  # the answer is still "streaming"; other writes go on until the kill
        seq = store.append(filler.id, AIMessage(f"filler {n}"))
        say("filler", filler.id, seq)
        n += 1


def race(db: str, conv_id: str, name: str, count: str) -> None:
    """Wait for "go" on stdin, then append `count` messages to a shared conversation."""
    store = ConversationStore(db)
    say("ready")
    sys.stdin.readline()
    for i in range(int(count)):
        store.append(conv_id, HumanMessage(f"{name} {i}"))
    say("done")


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    {"write": write_conversation, "killed": killed_mid_answer, "race": race}[mode](*args)
