"""What every chain builder gets: the template, its prompts, and the model to call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig

from agent_app.chains.result import ChainResult
from agent_app.errors import AppError
from agent_app.models.params import GenerationParams
from agent_app.templates.output import OutputFormatError, parse_output
from agent_app.templates.prompt_builder import TemplatePrompt
from agent_app.templates.schema import Template, TextOutput


class ModelOutputError(AppError):
    """The model's reply does not have the format the template asks for."""

    def __init__(self, message: str, *, raw: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw
        """The reply that did not parse, so the chat can still show it."""


@dataclass
class ChainContext:
    """A template ready to run on a model, shared by the chain builders."""

    template: Template
    prompt: TemplatePrompt
    model: BaseLanguageModel
    """The model that runs the prompts (a completion LLM for completion templates, if given)."""
    params: GenerationParams
    """The effective generation parameters (template's, overridden by the user's)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Objects a kind needs besides the model (e.g. a retriever), from `build_chain(**extras)`."""

    @property
    def bound(self) -> Any:
        """The model with the generation parameters bound as invoke kwargs."""
        kwargs = self.params.invoke_kwargs()
        return self.model.bind(**kwargs) if kwargs else self.model

    @property
    def options(self) -> Any:
        """The chain kind's options (`template.chain`)."""
        return self.template.chain

    def call(self, prompt: PromptValue, config: RunnableConfig | None = None, **overrides: Any) -> str:
        """Run one prompt and return the reply text; `overrides` replace bound parameters."""
        kwargs = {**self.params.invoke_kwargs(), **overrides}
        runnable = self.model.bind(**kwargs) if kwargs else self.model
        reply = runnable.invoke(prompt, config=config)
        return reply.text if isinstance(reply, BaseMessage) else str(reply)

    @staticmethod
    def progress(config: RunnableConfig | None, text: str) -> None:
        """Tell the chat what a multi-call chain is doing ("sample 3/5"), as a `progress`
        custom event: the REPL shows it beside its spinner; nothing else listens."""
        import contextlib

        from langchain_core.callbacks.manager import dispatch_custom_event

        with contextlib.suppress(RuntimeError):  # called outside a run (direct use): nobody to tell
            dispatch_custom_event("progress", {"text": text}, config=config)

    def finish(self, text: str, *, parse: str | None = None, **fields: Any) -> ChainResult:
        """A `ChainResult` for `text`, with the output format parsed from `parse` (default `text`)."""
        data = None
        if not isinstance(self.template.output, TextOutput):
            source = text if parse is None else parse
            try:
                data = parse_output(self.template.output, source)
            except OutputFormatError as exc:
                raise ModelOutputError(
                    f"template {self.prompt.label}: the reply does not fit output {self.template.output.type}: {exc}",
                    raw=source,
                ) from None
        return ChainResult(text=text, kind=self.template.kind, data=data, **fields)
