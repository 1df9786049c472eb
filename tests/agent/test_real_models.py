"""The agent on real models: the constrained loop on the bundled local model, and the free-text
loop over the real OpenAI-compatible test server (which never emits native tool calls).
Few questions with short outputs: these share two CPU cores."""

from __future__ import annotations

import pytest

from agent_app.agent import AgentSettings, build_agent
from tests.support.agent_helpers import Recorder, run

pytestmark = [pytest.mark.real_model]

SHORT = AgentSettings(answer_max_tokens=24, input_max_tokens=16, step_max_tokens=48, max_steps=2)


def test_local_model_uses_the_calculator(local_chat_model, tools) -> None:
    recorder = Recorder()
    agent = build_agent(local_chat_model, tools, settings=SHORT, embeddings=None)
    assert agent.mode == "react-constrained"
    _, result = run(agent, "What is 17 times 23?", config={"callbacks": [recorder]})
    assert result.steps and result.steps[0].tool == "calculator"
    assert result.steps[0].observation == "391"
    assert result.answer
    assert recorder.named("tool_start") and recorder.named("llm_start")  # generation went through LangChain


def test_local_model_routes_weather_with_the_embedding_prior(local_chat_model, tools, open_meteo) -> None:
    agent = build_agent(local_chat_model, tools, settings=SHORT)  # bundled MiniLM examples + prior
    _, result = run(agent, "How warm is it in Tokyo right now?")
    assert result.steps[0].tool == "weather"
    assert "Tokyo" in result.steps[0].observation and "21" in result.steps[0].observation


@pytest.mark.server
def test_free_text_react_over_the_openai_compatible_server(server_chat_model, tools) -> None:
    agent = build_agent(server_chat_model, tools, settings=SHORT, embeddings=None)
    assert agent.mode == "react"  # "smollm2" is not a tool-calling model name
    _events, result = run(agent, "What is 6 times 7?")
    # A 135M model writes what it writes: the loop must end with an answer either way.
    assert result.answer.strip()
    assert result.n_steps <= SHORT.max_steps
    for step in result.steps:
        assert step.observation  # every step was answered (tool result or feedback)


def test_candidates_scored_side_by_side_match_scoring_each_alone(local_chat_model) -> None:
    """Candidates scored on top of the prompt's cache (models.decoding.score) get the
    log-probabilities each gets when scored from scratch on its own."""
    from agent_app import torch_thread
    from agent_app.agent.scoring import score_continuations
    from agent_app.models.decoding import _score_alone

    runtime = local_chat_model.runtime
    prompt = "Question: What is 15% of 80?\nThought: I need a tool.\n" * 4
    candidates = ["Action: calculator\n", "Action: weather\n", "Final Answer:", "A", "Action: web_search\n"]
    got = score_continuations(runtime, prompt, candidates)

    def alone(candidate: str) -> float:
        tok = runtime.tokenizer
        return _score_alone(runtime.engine, tok.encode(prompt + candidate), len(tok.encode(prompt)))

    want = [torch_thread.run(alone, c) for c in candidates]
    assert got == pytest.approx(want, abs=1e-3)
    assert len(set(got)) == len(got)  # a real ranking, not a constant


def test_guessed_tokens_give_the_same_text_in_fewer_forward_passes(fp32_chat_model, monkeypatch) -> None:
    """Prompt lookup decoding (models.decoding.draft): tokens guessed from the prompt and checked in one
    pass leave the greedy text unchanged (copy boost, allowed tokens, Japanese) and save passes
    when the answer copies the prompt. On torch's fp32 weights: q4 does not guess (see below)."""
    from agent_app.agent.scoring import stream_from

    runtime = fp32_chat_model.runtime
    observation = "Tokyo is 21 °C, slight rain, wind 11 km/h (at 2026-11-21T12:00 local time)"
    question = " Who wrote Pride and Prejudice?"
    cases = [
        (f"Question: Weather in Tokyo?\nObservation: {observation}\nFinal Answer:", {"copy_from": [observation]}),
        ("Question: 東京の天気は？\nObservation: 東京は21°C、小雨。\nFinal Answer:", {"copy_from": ["東京は21°C"]}),
        (
            f"Question:{question}\nAction: web_search\nAction Input:",
            {"allowed": set(runtime.tokenizer.encode(question))},
        ),
        ("Write a story about a dragon.\nStory:", {}),
    ]
    passes = []
    forward = runtime.engine.forward

    def counted(*args, **kwargs):
        passes.append(1)
        return forward(*args, **kwargs)

    monkeypatch.setattr(runtime.engine, "forward", counted)
    for prompt, extra in cases:
        kwargs = {"max_tokens": 24, "boost_value": 2.0 if "copy_from" in extra else 0.0, **extra}
        passes.clear()
        plain = "".join(stream_from(runtime, prompt, draft_tokens=0, **kwargs))
        one_by_one = len(passes)
        passes.clear()
        guessed = "".join(stream_from(runtime, prompt, **kwargs))
        assert guessed == plain
        if prompt.startswith("Question: Weather"):
            assert "21 °C" in plain and len(passes) * 2 < one_by_one  # the copy came in big steps


@pytest.mark.parametrize(("engine", "guesses"), [("float32", True), ("int8", False), ("q4", False)])
def test_no_guessing_on_int8_or_q4(engine: str, guesses: bool, monkeypatch) -> None:
    """int8 shares one activation scale per pass and q4's attention over several new tokens
    rounds differently, so a pass over guesses could change the text."""
    from types import SimpleNamespace

    from agent_app.agent import scoring
    from agent_app.models.engines import TorchEngine
    from agent_app.models.onnx_q4 import OnnxEngine

    exact = {"float32": True, "int8": False, "q4": OnnxEngine.exact_batches}[engine]
    assert TorchEngine.exact_batches and not OnnxEngine.exact_batches
    seen = []
    runtime = SimpleNamespace(
        engine=SimpleNamespace(exact_batches=exact),
        tokenizer=SimpleNamespace(encode=lambda text: [1]),
        line_ends=lambda: {0},
        write_line=lambda prompt, how: seen.append(how.draft_tokens) or iter(()),
    )
    list(scoring.stream_from(runtime, "prompt", max_tokens=4))
    assert seen == [scoring.DRAFT_TOKENS if guesses else 0]
