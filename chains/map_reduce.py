"""`map-reduce`: summarise text longer than the context.

The input is split with LangChain's RecursiveCharacterTextSplitter (paragraphs, then lines, then
words), each part is summarised (map), and the summaries are combined (reduce). When the joined
summaries are still longer than a part, they are combined in groups first, a few rounds at most.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.chains.context import ChainContext
from agent_app.chains.result import ChainResult
from agent_app.templates.schema import MapReduceChain

MAX_COLLAPSE_ROUNDS = 3


def split_text(text: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    """The parts of `text`, each at most `chunk_size` characters where the text allows."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    return splitter.split_text(text)


def numbered(summaries: list[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(summaries, 1))


def build_map_reduce(ctx: ChainContext) -> Runnable:
    spec: MapReduceChain = ctx.options

    def summarise(prompt: str, variables: dict[str, Any], config: RunnableConfig) -> str:
        return ctx.call(ctx.prompt.single(prompt, variables), config).strip()

    def reduce(summaries: list[str], variables: dict[str, Any], config: RunnableConfig) -> str:
        return summarise(spec.reduce_prompt, {**variables, "summaries": numbered(summaries)}, config)

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        parts = split_text(variables["input"], spec.chunk_size, spec.chunk_overlap)
        if not parts:
            return ChainResult(text="(nothing to summarize: the input is empty)", kind="map-reduce", parts=[])
        summaries = []
        for number, part in enumerate(parts, 1):
            ctx.progress(config, f"part {number}/{len(parts)}")
            summaries.append(summarise(spec.map_prompt, {**variables, "text": part}, config))
        ctx.progress(config, "combining the parts")
        if len(summaries) == 1:
            final = summaries[0]  # the text fitted into one part: nothing to combine
        else:
            level = summaries
            for _ in range(MAX_COLLAPSE_ROUNDS):
                groups = _groups_that_fit(level, spec.chunk_size)
                if len(groups) == 1 or all(len(g) == 1 for g in groups):
                    break  # fits, or no two summaries fit together: combining in groups cannot help
                level = [reduce(g, variables, config) if len(g) > 1 else g[0] for g in groups]
            final = reduce(level, variables, config)
        shown = final
        if spec.show_parts:
            shown = f"{numbered(summaries)}\n\n{final}"
        return ctx.finish(shown, parse=final, parts=summaries)

    return RunnableLambda(run, name="map-reduce")


def _groups_that_fit(summaries: list[str], size: int) -> list[list[str]]:
    """Consecutive groups whose numbered text fits `size` characters (at least one per group)."""
    groups: list[list[str]] = [[]]
    for summary in summaries:
        if groups[-1] and len(numbered([*groups[-1], summary])) > size:
            groups.append([])
        groups[-1].append(summary)
    return groups
