"""Helpers of the monitoring tests: a small LCEL chain around the scripted model, a log reader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from agent_app.models.fake import ScriptedChatModel


def make_chain(model: ScriptedChatModel, system: str = "You are helpful.") -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages([("system", system), ("human", "{question}")])
    return prompt | model | StrOutputParser()


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every line parsed as JSON (fails the test on an invalid line)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines, f"{path} is empty"
    return [json.loads(line) for line in lines]
