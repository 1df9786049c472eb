"""The one-call kinds: `chat` (role messages) and `completion` (a plain prompt string).

Their runnable streams: with a text output it is `variables | prompt | model | StrOutputParser`,
so `.stream()` yields the reply piece by piece.
"""

from __future__ import annotations

from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda

from agent_app.chains.context import ChainContext
from agent_app.templates.schema import TextOutput


def build_single_call(ctx: ChainContext) -> Runnable:
    """variables -> prompt -> model -> text (-> ChainResult when the output format parses)."""
    chain = RunnableLambda(ctx.prompt.variables, name="variables") | ctx.prompt.prompt | ctx.bound | StrOutputParser()
    if isinstance(ctx.template.output, TextOutput):
        return chain
    return chain | RunnableLambda(lambda text: ctx.finish(text), name="parse_output")
