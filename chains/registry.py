"""Chain kind -> builder, and `build_chain`, the one entry point.

Adding a kind (as `retrieval` was added):
1. add its options model to `ChainSpec` in agent_app/templates/schema.py (a `kind` literal);
2. write `build_<kind>(ctx: ChainContext) -> Runnable` (input: the variables dict with `input`
   and optional `history`; output: a string or a `ChainResult`);
3. register it: `CHAIN_BUILDERS["retrieval"] = build_retrieval` (or `register_chain_kind`).
Extra objects a kind needs (a retriever) can be passed to `build_chain(..., **extras)` and are
available as `ctx.extras`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.runnables import Runnable

from agent_app.chains.context import ChainContext
from agent_app.chains.knowledge import build_generate_knowledge
from agent_app.chains.map_reduce import build_map_reduce
from agent_app.chains.reasoning import build_chain_of_thought, build_self_consistency
from agent_app.chains.retrieval import build_retrieval
from agent_app.chains.sequential import build_sequential
from agent_app.chains.simple import build_single_call
from agent_app.chains.structured import build_structured
from agent_app.errors import TemplateError
from agent_app.models.params import GenerationParams
from agent_app.templates.prompt_builder import TemplatePrompt
from agent_app.templates.schema import Template
from agent_app.templates.selectors import EmbeddingsFactory

ChainBuilder = Callable[[ChainContext], Runnable]

CHAIN_BUILDERS: dict[str, ChainBuilder] = {
    "chat": build_single_call,
    "completion": build_single_call,
    "chain-of-thought": build_chain_of_thought,
    "self-consistency": build_self_consistency,
    "generate-knowledge": build_generate_knowledge,
    "sequential": build_sequential,
    "map-reduce": build_map_reduce,
    "structured": build_structured,
    "retrieval": build_retrieval,
}


def register_chain_kind(kind: str, builder: ChainBuilder) -> None:
    """Make `kind` buildable (its options model must also be part of the template schema)."""
    CHAIN_BUILDERS[kind] = builder


def build_chain(
    template: Template,
    model: BaseLanguageModel,
    llm: BaseLanguageModel | None = None,
    history_slot: bool = True,
    *,
    params: GenerationParams | Mapping[str, Any] | None = None,
    embeddings: EmbeddingsFactory | None = None,
    **extras: Any,
) -> Runnable:
    """An LCEL runnable running `template` on `model`.

    - input: a dict with `input` (the user's message), optional `history` (earlier messages)
      and the template's variables;
    - output: a string for chat/completion templates with text output (streamable), else a
      `ChainResult`.

    `llm` is a completion model used for `mode: completion` templates when given (otherwise the
    chat model gets the prompt as one human message). `params` are the parameters the user set
    explicitly; they win over the template's. `embeddings` replaces the bundled MiniLM for the
    similarity example selector (tests). `extras` reach the builder as `ctx.extras`.
    """
    builder = CHAIN_BUILDERS.get(template.kind)
    if builder is None:
        raise TemplateError(f"template {template.name or template.source}: no builder for kind {template.kind!r}")
    runner = llm if (llm is not None and template.mode == "completion") else model
    ctx = ChainContext(
        template=template,
        prompt=TemplatePrompt(template, history_slot=history_slot, embeddings=embeddings),
        model=runner,
        params=template.params.merged(dict(params) if isinstance(params, Mapping) else params),
        extras=extras,
    )
    name = template.name or (template.source.stem if template.source else "template")
    return builder(ctx).with_config(run_name=f"template:{name}")
