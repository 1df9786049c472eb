"""`structured`: a JSON reply checked against the template's schema.

When the reply does not parse or fit, the model sees its reply and the error and is asked once
(`retries`) for a corrected JSON; if that fails too, `ModelOutputError` carries the last reply.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from agent_app.chains.context import ChainContext, ModelOutputError
from agent_app.chains.result import ChainResult
from agent_app.templates.output import OutputFormatError, parse_json
from agent_app.templates.schema import StructuredChain


def build_structured(ctx: ChainContext) -> Runnable:
    spec: StructuredChain = ctx.options
    schema = ctx.template.json_schema

    def run(values: dict[str, Any], config: RunnableConfig) -> ChainResult:
        variables = ctx.prompt.variables(values)
        prompt = ctx.prompt.render(variables)
        reply = ctx.call(prompt, config)
        for attempt in range(spec.retries + 1):
            try:
                data = parse_json(reply, schema)
            except OutputFormatError as exc:
                if attempt == spec.retries:
                    tried = f" after {attempt} retr{'y' if attempt == 1 else 'ies'}" if attempt else ""
                    raise ModelOutputError(
                        f"template {ctx.prompt.label}: no valid JSON{tried}: {exc}", raw=reply
                    ) from None
                fix = spec.fix_prompt.format(error=str(exc), schema=ctx.template.schema_text())
                prompt = ctx.prompt.follow_up(prompt, reply, fix)
                reply = ctx.call(prompt, config)
            else:
                text = json.dumps(data, ensure_ascii=False, indent=2)
                return ChainResult(text=text, kind="structured", data=data, retries=attempt, raw=reply)
        raise AssertionError("unreachable")

    return RunnableLambda(run, name="structured")
