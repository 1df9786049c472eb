"""The same chain code on the real local model and on a real OpenAI-compatible server."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

pytestmark = [pytest.mark.real_model]
GREEDY = {"temperature": 0, "max_tokens": 24}
QUESTION = [SystemMessage("You are a helpful assistant."), HumanMessage("Describe the sea in two sentences.")]


def test_invoke_reports_text_and_usage(any_chat_model):
    reply = any_chat_model.invoke(QUESTION, **GREEDY)
    assert reply.text.strip()
    usage = reply.usage_metadata
    assert usage["input_tokens"] > 10
    assert 0 < usage["output_tokens"] <= 24
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_stream_is_token_by_token_and_matches_invoke(any_chat_model):
    whole = any_chat_model.invoke(QUESTION, **GREEDY).text
    chunks = list(any_chat_model.stream(QUESTION, **GREEDY))
    text_chunks = [c for c in chunks if c.text]
    assert len(text_chunks) >= 10  # about one chunk per token, not one blob
    assert "".join(c.text for c in chunks) == whole
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[-1]["output_tokens"] > 0


def test_multi_token_stop_string_in_invoke_stream_and_batch(any_chat_model):
    full = any_chat_model.invoke(QUESTION, **GREEDY).text
    words = full.split()
    assert len(words) >= 6, full
    stop = f" {words[3]} {words[4]}"  # several tokens, mid-answer
    expected = full[: full.index(stop)]
    assert any_chat_model.invoke(QUESTION, stop=[stop], **GREEDY).text == expected
    assert "".join(c.text for c in any_chat_model.stream(QUESTION, stop=[stop], **GREEDY)) == expected
    batch = any_chat_model.batch([QUESTION, QUESTION], stop=[stop], **GREEDY)
    assert [m.text for m in batch] == [expected, expected]


def test_same_chain_code_and_token_callbacks(any_chat_model):
    class Tokens(BaseCallbackHandler):
        def __init__(self):
            self.tokens = []

        def on_llm_new_token(self, token, **kwargs):
            self.tokens.append(token)

    prompt = ChatPromptTemplate.from_messages([("system", "Answer in one short line."), ("human", "{q}")])
    chain = prompt | any_chat_model.bind(**GREEDY) | StrOutputParser()
    handler = Tokens()
    streamed = "".join(chain.stream({"q": "Name a fruit."}, config={"callbacks": [handler]}))
    assert streamed.strip()
    assert len(handler.tokens) >= 3 and "".join(handler.tokens).strip() == streamed.strip()


def test_async_invoke_and_stream(any_chat_model):
    async def run():
        reply = await any_chat_model.ainvoke(QUESTION, **GREEDY)
        pieces = [c.text async for c in any_chat_model.astream(QUESTION, **GREEDY)]
        return reply.text, pieces

    text, pieces = asyncio.run(run())
    assert text and len([p for p in pieces if p]) >= 10
    assert "".join(pieces) == text


def test_generation_parameters_are_accepted_by_both(any_chat_model):
    params = {
        "temperature": 0.8,
        "top_p": 0.9,
        "top_k": 20,
        "repetition_penalty": 1.2,
        "no_repeat_ngram_size": 3,
        "seed": 7,
        "max_tokens": 8,
    }
    first = any_chat_model.invoke(QUESTION, **params)
    assert 0 < first.usage_metadata["output_tokens"] <= 8
    assert first.text.strip()
