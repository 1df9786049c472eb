"""`sequential`: steps declared in the template run in order; each output is `{step_name}` later."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.chains.context import ChainContext
from agent_app.chains.result import ChainResult
from agent_app.templates.schema import SequentialChain


def build_sequential(ctx: ChainContext) -> Runnable:
    spec: SequentialChain = ctx.options

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        outputs: dict[str, str] = {}
        for number, step in enumerate(spec.steps, 1):
            ctx.progress(config, f"step {number}/{len(spec.steps)}: {step.name}")
            overrides = step.params.invoke_kwargs() if step.params is not None else {}
            output = ctx.call(ctx.prompt.single(step.prompt, variables), config, **overrides).strip()
            outputs[step.name] = output
            variables[step.name] = output
        last = outputs[spec.steps[-1].name]
        shown = "\n\n".join(f"[{name}]\n{out}" for name, out in outputs.items()) if spec.show_steps else last
        return ctx.finish(shown, parse=last, steps=outputs)

    return RunnableLambda(run, name="sequential")
