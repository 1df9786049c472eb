"""Example selectors: which few-shot examples go into the prompt for a given input.

Thin adapters over LangChain's selectors. They look only at the user's `input` (LangChain's
prompts pass every variable to a selector, including the history messages, which the length
selector cannot measure), and the similarity one loads the embeddings on first use, so loading
a template never costs the ~3 s MiniLM start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.example_selectors import BaseExampleSelector

from agent_app.templates.schema import FewShot, LengthBudgetExamples, SimilarExamples

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

EmbeddingsFactory = Callable[[], "Embeddings"]


def default_embeddings() -> Embeddings:
    """The bundled MiniLM embeddings (imported late: it pulls in torch)."""
    from agent_app.embeddings import bundled_embeddings

    return bundled_embeddings()


class InputExampleSelector(BaseExampleSelector):
    """Selects examples by the `input` variable with the strategy of a template's `few_shot`."""

    def __init__(self, few_shot: FewShot, embeddings: EmbeddingsFactory | None = None) -> None:
        self.few_shot = few_shot
        self._embeddings_factory = embeddings or default_embeddings
        self._inner: BaseExampleSelector | None = None

    def add_example(self, example: dict[str, str]) -> Any:  # required by the interface
        raise NotImplementedError("template examples are fixed by the template file")

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict]:
        query = str(input_variables.get("input") or "")
        spec = self.few_shot.selector
        if isinstance(spec, SimilarExamples):
            picked = self._selector().select_examples({spec.match_on: query})
            return list(reversed(picked))  # most similar last: closest to the question
        if isinstance(spec, LengthBudgetExamples):
            return self._selector().select_examples({"input": query})
        return list(self.few_shot.examples)

    def _selector(self) -> BaseExampleSelector:
        if self._inner is None:
            self._inner = self._build()
        return self._inner

    def _build(self) -> BaseExampleSelector:
        spec = self.few_shot.selector
        examples = [dict(e) for e in self.few_shot.examples]
        if isinstance(spec, SimilarExamples):
            from langchain_core.example_selectors import SemanticSimilarityExampleSelector
            from langchain_core.vectorstores import InMemoryVectorStore

            return SemanticSimilarityExampleSelector.from_examples(
                examples,
                self._embeddings_factory(),
                InMemoryVectorStore,
                k=min(spec.k, len(examples)),
                input_keys=[spec.match_on],
            )
        from langchain_core.example_selectors import LengthBasedExampleSelector
        from langchain_core.prompts import PromptTemplate

        assert isinstance(spec, LengthBudgetExamples)
        measure = len if spec.unit == "characters" else _word_count
        return LengthBasedExampleSelector(
            examples=examples,
            example_prompt=PromptTemplate.from_template(_example_text_format(self.few_shot)),
            max_length=spec.max_length,
            get_text_length=measure,
        )


def _example_text_format(few_shot: FewShot) -> str:
    """One string holding the example's format, for measuring its length."""
    if few_shot.example_prompt is not None:
        return few_shot.example_prompt
    return "\n".join(m.content for m in few_shot.example_messages or [])


def _word_count(text: str) -> int:
    return len(re.split(r"\s+", text.strip())) if text.strip() else 0
