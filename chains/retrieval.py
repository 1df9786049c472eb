"""The `retrieval` kind (the `rag` template): answer from the user's documents, with citations.

    variables -> retriever(input) -> {context} = numbered <data> blocks -> prompt | model | text

The retriever runs as a child runnable of the chain, so `on_retriever_start/end` callbacks see
the documents (the chat collects `/sources` from `on_retriever_end`). With no documents the
model is not called: the reply is the template's `no_context_answer`, rather than a guess.
The output is a string that streams like the chat kind's.
"""

from __future__ import annotations

from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.templates.schema import RetrievalChain
from chains.context import ChainContext


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
        return {**variables, "documents": documents, "context": format_context(documents)}

    def respond(variables: dict[str, Any]) -> Runnable | str:
        # A returned runnable is run (and streamed) by RunnableLambda with the same input.
        return answer if variables["documents"] else options.no_context_answer

    return (
        RunnableLambda(ctx.prompt.variables, name="variables")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(respond, name="answer")
    )


def _open(options: RetrievalChain) -> BaseRetriever:
    from agent_app.retrieval import get_retriever

    return get_retriever(collection=options.collection, k=options.k)


def _with_k(retriever: BaseRetriever, k: int | None) -> BaseRetriever:
    """The template's `k` wins over the given retriever's, when the retriever has one."""
    if k is None or "k" not in type(retriever).model_fields:
        return retriever
    return retriever.model_copy(update={"k": k})
