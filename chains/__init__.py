"""Chains: turn a prompt template plus a model into an LCEL runnable.

    from agent_app.chains import build_chain, result_text
    chain = build_chain(template, model)                    # template: agent_app.templates.Template
    out = chain.invoke({"input": "...", "history": [...], "lang": "French"})
    print(result_text(out))                                 # str, or ChainResult.text

Kinds: chat, completion, chain-of-thought, self-consistency, generate-knowledge, sequential,
map-reduce, structured, retrieval (see chains/registry.py to add one).
"""

from agent_app.chains.context import ChainContext, ModelOutputError
from agent_app.chains.registry import CHAIN_BUILDERS, build_chain, register_chain_kind
from agent_app.chains.result import ChainResult, result_text

__all__ = [
    "CHAIN_BUILDERS",
    "ChainContext",
    "ChainResult",
    "ModelOutputError",
    "build_chain",
    "register_chain_kind",
    "result_text",
]
