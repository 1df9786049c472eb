"""`build_agent`: the right agent for a model (native tool calling or ReAct, constrained or not)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from agent_app.agent.settings import AgentMode, AgentSettings
from agent_app.models.profile import profile_of

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from langchain_core.tools import BaseTool

    from agent_app.agent.run import Agent


def choose_mode(model: Any, mode: AgentMode = "auto") -> Literal["react", "native"]:
    """`native` for a model whose profile says it calls tools well (models.profile: OpenAI's
    tool families, a server set to `tool_calling: native`), `react` otherwise.

    The local model calls tools natively too (LocalChatModel.bind_tools), but `auto` keeps the
    ReAct loop for it: on bench/bench_agent.py's fresh check half (issue 27), ReAct chose the
    right tool for 96% of questions and answered 88% right (1.0 s median), native 20% and 20%:
    the 135M model rarely decides to call on its own, where the loop's routing prior decides."""
    if mode != "auto":
        return mode
    return "native" if profile_of(model).native_tools else "react"


def build_agent(
    model: Any,
    tools: Sequence[BaseTool],
    *,
    settings: AgentSettings | None = None,
    mode: AgentMode | None = None,
    embeddings: Embeddings | Literal["bundled"] | None = "bundled",
) -> Agent:
    """An agent over `model` (chat or completion) with `tools`.

    `mode` overrides `settings.mode`. `embeddings` picks the ReAct examples by similarity and
    gives the local model's routing prior ("bundled": MiniLM, loaded on first use; None: the
    first examples of each kind, no prior).
    """
    settings = settings or AgentSettings()
    chosen = choose_mode(model, mode or settings.mode)
    if chosen == "native":
        from agent_app.agent.native import NativeAgent

        return NativeAgent(model, tools, settings)
    from langchain_core.language_models import BaseChatModel

    from agent_app.agent.policies import LocalPolicy, TextPolicy
    from agent_app.agent.prompting import ReActPrompt
    from agent_app.agent.react import ReActAgent
    from agent_app.agent.routing import ExampleRouter, routing_texts
    from agent_app.agent.template import load_react_template

    profile = profile_of(model)
    # The constrained loop renders the chat prompt itself and scores continuations.
    constrained = settings.constrained and profile.scoring is not None and isinstance(model, BaseChatModel)
    thoughts = settings.thoughts if settings.thoughts is not None else not constrained
    prompt = ReActPrompt(load_react_template(settings.template), tools, thoughts=thoughts)
    router_embeddings: Any = embeddings
    if embeddings == "bundled":
        from agent_app.embeddings import LazyEmbeddings

        router_embeddings = LazyEmbeddings()  # loaded at the first question (about 3 s), not here
    shown = {example.action for example in prompt.examples}
    described = {t.name: routing_texts(t.name, t.description) for t in tools if t.name not in shown}
    router = ExampleRouter(prompt.examples, router_embeddings, described)
    # A server that reads GBNF grammars (llama.cpp) gets each step constrained (agent.grammar).
    grammar = settings.constrained and profile.accepts_grammar
    policy = (
        LocalPolicy(model, prompt, settings)
        if constrained
        else TextPolicy(model, prompt, settings, chat=isinstance(model, BaseChatModel), grammar=grammar)
    )
    return ReActAgent(policy, prompt, tools, router, settings)
