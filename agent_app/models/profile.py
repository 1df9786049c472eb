"""What kind of model this is: the one answer every part of the app reads.

The app steers a small local model (the bundled 135M) where a capable model is left free: the
agent scores its actions and constrains its inputs, RAG quotes instead of generating, memory
counts tokens with the model's own tokenizer. Each model class of the app says what it is
(`app_profile`, fixed by what the model was built from); `profile_of` finds it through
LangChain's wrappers (`bind`, `bind_tools`) and gives a model from elsewhere the capable default.

Not LangChain's own `BaseChatModel.profile` (a beta dictionary of a provider's capabilities:
context size, modalities): this one says how the app treats the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class TokenCounter(Protocol):
    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]: ...


@dataclass(frozen=True)
class ModelProfile:
    small: bool = False
    """A small local model the app steers: constrained agent steps, quoted RAG answers, shorter
    contexts (the bundled model and any model on the local runtime)."""
    scoring: Any = None
    """What scores continuations and writes constrained text (the local runtime: agent.scoring),
    or None where the model gives no log-probabilities."""
    native_tools: bool = False
    """Calls tools natively and well enough that the agent's `auto` mode uses them (OpenAI's tool
    families, or a server configured with `tool_calling: native`)."""
    accepts_grammar: bool = False
    """The server reads a GBNF `grammar` in the request (llama.cpp): the agent constrains each step."""
    tokenizer: TokenCounter | None = None
    """The model's own tokenizer, where the app has it (memory budgets and RAG contexts count with it)."""


CAPABLE = ModelProfile()


def profile_of(model: Any) -> ModelProfile:
    """The profile of `model`, looking through LangChain's bindings; CAPABLE for a model the app
    did not build."""
    while model is not None:
        profile = getattr(model, "app_profile", None)
        if isinstance(profile, ModelProfile):
            return profile
        model = getattr(model, "bound", None)
    return CAPABLE
