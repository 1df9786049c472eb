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

from agent_app.chains.context import ChainContext
from agent_app.chains.result import ChainResult
from agent_app.models.profile import profile_of
from agent_app.retrieval.answering import (
    ANSWERABLE_THRESHOLD,
    answer_type_missing,
    extractive_answer,
    is_supported,
    with_citation,
)
from agent_app.templates.schema import RetrievalChain


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
        # The opened collection (its store, embedding model and calibration) rides along for
        # the answer: opening it again by name would not know which store the settings chose.
        opened = getattr(retriever, "collection", None)
        return {**variables, "documents": documents, "context": format_context(shown), "searched": opened}

    budget = ctx.extras.get("context_tokens") or (
        LOCAL_CONTEXT_TOKENS if profile_of(ctx.model).small else CONTEXT_TOKENS
    )
    count = _token_counter(ctx.model)

    # The bundled model's default quotes: over the Japanese Debian Reference (bench_rag_real.py)
    # `auto` held the fact exactly as often as `extractive` on both halves, and took 3.5 s a
    # question against 0.45 s: the 135M model's answer was never the better one.
    style = options.answer_style or ("extractive" if profile_of(ctx.model).small else "generative")

    def respond(variables: dict[str, Any], config: RunnableConfig) -> Runnable | str | ChainResult:
        documents = variables["documents"]
        if not documents:
            return options.no_context_answer
        passages = [doc.page_content for doc in documents]
        question = variables["input"]
        if style == "generative":
            # A returned runnable is run (and streamed) by RunnableLambda with the same input.

            def cite(chunks: Iterator[str]) -> Iterator[str]:
                yield from _cited(chunks, passages)

            return answer | RunnableGenerator(cite, name="cite")
        collection = _collection_of(documents, variables.get("searched"))
        if collection is None:  # documents from a retriever of the caller's, not a collection
            return _by_keywords(question, documents, answer, variables, config, options, style)
        from agent_app.retrieval.evidence import find_evidence

        evidence = find_evidence(question, documents, collection)
        if not evidence.answerable:
            return _not_found(documents, options, evidence)
        if style == "extractive":
            return _quoted(evidence)
        generated = answer.invoke(variables, config=config)
        # Kept when the passages back it and it holds the kind of value asked for (a price, a
        # time ...); otherwise the passages' own best sentences.
        if is_supported(generated, passages) and not answer_type_missing(question, generated):
            return ChainResult(
                with_citation(generated.strip(), passages),
                kind="retrieval",
                answer_source="generated",
                raw=generated,
                **evidence.details(),
            )
        return _quoted(evidence, raw=generated)

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
    """Counts tokens as the model does: its own tokenizer (models.profile), else an estimate."""
    from agent_app.retrieval.embedding_models import estimate_tokens

    tokenizer = profile_of(model).tokenizer
    if tokenizer is None:
        return estimate_tokens
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


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


LEAD = "From your documents:"
TRY_NEXT = "Try rephrasing the question, `search` to see what was found, or a bigger model."


def _quoted(evidence: Any, raw: str | None = None) -> ChainResult:
    """The best units of the passages, quoted with their [n], after a one-line lead."""
    quotes = " ".join(f"“{unit.text}” [{unit.index}]" for unit, _ in evidence.answer_quotes)
    return ChainResult(f"{LEAD} {quotes}", kind="retrieval", answer_source="quoted", raw=raw, **evidence.details())


def _not_found(documents: list[Any], options: RetrievalChain, evidence: Any, raw: str | None = None) -> ChainResult:
    """ "Not in your documents", with what was closest: the passage of the best unit and the
    two best units, so the user sees what was found without asking for /sources."""
    from agent_app.retrieval import sources_from_documents

    sources = sources_from_documents(documents)
    closest = evidence.quotes[0][0].index if evidence.quotes else 1
    text = f"{options.unsupported_answer} The closest passage is [{closest}] {sources[closest - 1].label}"
    if evidence.quotes:
        text += ": " + " ".join(f"“{unit.text}” [{unit.index}]" for unit, _ in evidence.quotes)
    text += f". {TRY_NEXT}"
    return ChainResult(text, kind="retrieval", answer_source="not found", raw=raw, **evidence.details())


def _collection_of(documents: list[Any], searched: Any = None) -> Any:
    """The collection the documents were retrieved from (its embedding model and calibration):
    `searched` when they came from it, else opened by name from the data folder; None for
    documents that did not come from one."""
    from agent_app.errors import AppError
    from agent_app.retrieval.stores import open_collection

    name = documents[0].metadata.get("collection")
    if not name:
        return None
    if searched is not None and getattr(searched, "name", None) == name:
        return searched
    try:
        return open_collection(name, cached=True)
    except AppError:
        return None


def _by_keywords(
    question: str,
    documents: list[Any],
    answer: Runnable,
    variables: dict[str, Any],
    config: RunnableConfig,
    options: RetrievalChain,
    style: str,
) -> ChainResult:
    """Documents from a caller's own retriever (no collection, so no embedding model or
    calibration): the keyword rules decide. Kept for LangChain users who pass a retriever."""
    from agent_app.retrieval.evidence import Evidence

    passages = [doc.page_content for doc in documents]
    raw = None
    if style != "extractive":
        raw = answer.invoke(variables, config=config)
        if is_supported(raw, passages) and not answer_type_missing(question, raw):
            return ChainResult(
                with_citation(raw.strip(), passages), kind="retrieval", answer_source="generated", raw=raw
            )
    quoted, score = extractive_answer(question, passages)
    if not quoted or score < ANSWERABLE_THRESHOLD or answer_type_missing(question, quoted):
        return _not_found(documents, options, Evidence(), raw)
    return ChainResult(
        f"{LEAD} {quoted}", kind="retrieval", answer_source="quoted", raw=raw, match_score=round(score, 3)
    )


def _open(options: RetrievalChain) -> BaseRetriever:
    from agent_app.retrieval import get_retriever

    return get_retriever(collection=options.collection, k=options.k)


def _with_k(retriever: BaseRetriever, k: int | None) -> BaseRetriever:
    """The template's `k` wins over the given retriever's, when the retriever has one."""
    if k is None or "k" not in type(retriever).model_fields:
        return retriever
    return retriever.model_copy(update={"k": k})
