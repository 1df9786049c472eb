"""`generate-knowledge`: ask for relevant facts first, then answer with them in `{knowledge}`."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.chains.context import ChainContext
from agent_app.chains.result import ChainResult
from agent_app.templates.schema import GenerateKnowledgeChain


def build_generate_knowledge(ctx: ChainContext) -> Runnable:
    spec: GenerateKnowledgeChain = ctx.options

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        ctx.progress(config, "step 1/2: knowledge")
        knowledge = ctx.call(ctx.prompt.single(spec.knowledge_prompt, variables), config).strip()
        ctx.progress(config, "step 2/2: answer")
        answer = ctx.call(ctx.prompt.render({**variables, "knowledge": knowledge}), config).strip()
        shown = f"Knowledge:\n{knowledge}\n\nAnswer:\n{answer}" if spec.show_knowledge else answer
        return ctx.finish(shown, parse=answer, answer=answer, knowledge=knowledge)

    return RunnableLambda(run, name="generate-knowledge")
