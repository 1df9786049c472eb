"""The `retrieval` kind (the `rag` template): answer from the user's documents, with citations.

    variables -> retriever(input) -> {context} = numbered <data> blocks -> prompt | model | text

The retriever runs as a child runnable of the chain, so `on_retriever_start/end` callbacks see
the documents (the chat collects `/sources` from `on_retriever_end`). With no documents the
model is not called: the reply is the template's `no_context_answer`, rather than a guess.
The output is a string that streams like the chat kind's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableGenerator, RunnableLambda

from agent_app.retrieval.answering import (
    ANSWERABLE_THRESHOLD,
    answer_type_missing,
    covering_passages,
    extractive_answer,
    is_supported,
    with_citation,
)
from agent_app.templates.schema import RetrievalChain
from chains.context import ChainContext
from chains.result import ChainResult


def build_retrieval(ctx: ChainContext) -> Runnable:
    """variables -> retrieve -> (no documents: no_context_answer | prompt -> model -> text).

    `ctx.extras["retriever"]` (a BaseRetriever) is searched when given; otherwise the
    template's `collection` is opened on each run (so a missing index is reported when asking).
    """
    options: RetrievalChain = ctx.options
    given: BaseRetriever | None = ctx.extras.get("retriever")
    answer = ctx.prompt.prompt | ctx.bound | StrOutputParser()

    def retrieve(variables: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        from agent_app.retrieval import format_context

        retriever = _with_k(given, options.k) if given is not None else _open(options)
        # Invoked with the run's config so the retriever is a child run and callbacks fire.
        documents = retriever.invoke(variables["input"], config=config)
        shown = _within_budget(variables["input"], documents, budget, count)
        return {**variables, "documents": documents, "context": format_context(shown)}

    budget = ctx.extras.get("context_tokens") or (LOCAL_CONTEXT_TOKENS if _is_local(ctx.model) else CONTEXT_TOKENS)
    count = _token_counter(ctx.model)

    style = options.answer_style or ("auto" if _is_local(ctx.model) else "generative")

    def respond(variables: dict[str, Any], config: RunnableConfig) -> Runnable | str | ChainResult:
        documents = variables["documents"]
        if not documents:
            return options.no_context_answer
        passages = [doc.page_content for doc in documents]
        covering = set(covering_passages(variables["input"], passages))
        if style != "generative" and not covering:
            # No passage holds what the question is about: whatever the model writes, or the
            # closest sentence says, answers another question.
            return _not_found(documents, options, 0.0, None)
        # Quoted only from the passages that hold what the question is about; the others stay
        # (empty) so that the [n] numbers still match the sources.
        quotable = [p if i in covering else "" for i, p in enumerate(passages)]
        if style == "extractive":
            return _extractive(variables["input"], documents, quotable, options)
        if style == "generative":
            # A returned runnable is run (and streamed) by RunnableLambda with the same input.

            def cite(chunks: Iterator[str]) -> Iterator[str]:
                yield from _cited(chunks, passages)

            return answer | RunnableGenerator(cite, name="cite")
        generated = answer.invoke(variables, config=config)
        # Kept when the passages back it and it holds the kind of value asked for (a price, a
        # time ...); otherwise the passages' own sentences, or "not in your documents".
        if is_supported(generated, passages) and not answer_type_missing(variables["input"], generated):
            return ChainResult(
                with_citation(generated.strip(), passages), kind="retrieval", answer_source="generated", raw=generated
            )
        return _extractive(variables["input"], documents, quotable, options, raw=generated)

    return (
        RunnableLambda(ctx.prompt.variables, name="variables")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(respond, name="answer")
    )


# How many tokens of retrieved text reach the model's prompt (retrieval.context_tokens changes
# it). The local default keeps a RAG prompt near 800 tokens in all: with 4 whole chunks it was
# about 2,000, and the 135M model on 2 cores waited tens of seconds for its first token.
LOCAL_CONTEXT_TOKENS = 600
CONTEXT_TOKENS = 3000


def _within_budget(question: str, documents: list[Any], budget: int, count: Any) -> list[Any]:
    """The documents with their text cut to their best sentences when all of them together
    exceed `budget` tokens (see `fit_to_budget`); citations and sources are unchanged."""
    from agent_app.retrieval.answering import fit_to_budget

    texts = fit_to_budget(question, [d.page_content for d in documents], budget, count)
    return [
        d if t == d.page_content else d.model_copy(update={"page_content": t})
        for d, t in zip(documents, texts, strict=True)
    ]


def _token_counter(model: Any) -> Any:
    """Counts tokens as the model does: the local model's own tokenizer, else an estimate."""
    from agent_app.retrieval.embedding_models import estimate_tokens

    target = getattr(model, "bound", model)
    runtime = getattr(target, "runtime", None) or getattr(getattr(target, "llm", None), "runtime", None)
    tokenizer = getattr(runtime, "tokenizer", None)
    if tokenizer is None:
        return estimate_tokens
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def _is_local(model: Any) -> bool:
    """The bundled-model path (our local chat or completion model), where `auto` is the default."""
    target = getattr(model, "bound", model)
    return type(target).__name__ in {"LocalChatModel", "LocalCompletionModel"}


def _cited(chunks: Iterator[str], passages: list[str]) -> Iterator[str]:
    """Stream the answer; at its end add the [n] of the best-supporting passage if none was cited."""
    parts = []
    for chunk in chunks:
        parts.append(chunk)
        yield chunk
    text = "".join(parts)
    cited = with_citation(text, passages)
    if cited != text.rstrip():
        yield cited[len(text.rstrip()) :]


def _extractive(
    question: str, documents: list[Any], quotable: list[str], options: RetrievalChain, raw: str | None = None
) -> ChainResult:
    """The passages' own best sentences (from `quotable`: the passages, "" where one may not be
    quoted), quoted and cited; or a plain "not in your documents" with the closest source when
    no sentence answers the question."""
    quoted, score = extractive_answer(question, quotable)
    if not _answers(question, quoted, score):
        return _not_found(documents, options, score, raw)
    return ChainResult(quoted, kind="retrieval", answer_source="quoted", raw=raw, match_score=round(score, 3))


def _answers(question: str, quoted: str, score: float) -> bool:
    """Do the best-matching sentences answer the question: enough of its keywords, and the
    kind of value it asks for (see `answer_type_missing`)?"""
    return bool(quoted) and score >= ANSWERABLE_THRESHOLD and not answer_type_missing(question, quoted)


def _not_found(documents: list[Any], options: RetrievalChain, score: float, raw: str | None) -> ChainResult:
    from agent_app.retrieval import sources_from_documents

    closest = sources_from_documents(documents)[0]
    text = f"{options.unsupported_answer} The closest passage is [1] {closest.label}."
    return ChainResult(text, kind="retrieval", answer_source="not found", raw=raw, match_score=round(score, 3))


def _open(options: RetrievalChain) -> BaseRetriever:
    from agent_app.retrieval import get_retriever

    return get_retriever(collection=options.collection, k=options.k)


def _with_k(retriever: BaseRetriever, k: int | None) -> BaseRetriever:
    """The template's `k` wins over the given retriever's, when the retriever has one."""
    if k is None or "k" not in type(retriever).model_fields:
        return retriever
    return retriever.model_copy(update={"k": k})
