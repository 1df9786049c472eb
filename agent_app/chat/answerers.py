"""What answers a turn: the template's chain or the agent, each built once and kept until what it
depends on changes (the template file, the model, the parameters, the collection, the tools)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.tools import BaseTool

    from agent_app.config import Settings
    from agent_app.models.handle import ModelHandle
    from agent_app.models.params import GenerationParams
    from agent_app.templates import Template


class Answerers:
    def __init__(self, settings: Settings, models: ModelHandle) -> None:
        self.settings, self.models = settings, models
        self._chain: Any = None
        self._chain_key: tuple[Any, ...] | None = None
        self._agent: Any = None
        self._agent_key: tuple[Any, ...] | None = None

    def reset(self) -> None:
        """Build both afresh next time (the collection was re-ingested)."""
        self._chain_key = self._agent_key = None

    def agent(self, model: BaseChatModel, tools: list[BaseTool], collection: str) -> Any:
        from agent_app.agent import build_agent

        # The tool names are in the key: knowledge_base comes with documents, and an MCP
        # server that stops takes its tools out.
        key = (id(model), collection, tuple(tool.name for tool in tools))
        if key != self._agent_key:
            self._agent = build_agent(model, tools, settings=self.settings.agent)
            self._agent_key = key
        return self._agent

    def chain(
        self,
        template: Template,
        model: BaseChatModel,
        params: GenerationParams,
        system_prompt: str | None,
        collection: str,
    ) -> Any:
        from agent_app.chains import build_chain

        key = (id(template), id(model), params.model_dump_json(), system_prompt, collection)
        if key != self._chain_key:
            if system_prompt and template.mode == "chat":
                # --system is literal text, not a template: braces are escaped so that
                # `Reply in JSON like {"a": 1}` is sent as written and `{input}` is not filled in.
                literal = system_prompt.replace("{", "{{").replace("}", "}}")
                template = template.model_copy(update={"system": literal})
            llm = self.models.completion_model() if template.mode == "completion" else None
            extras: dict[str, Any] = {}
            if template.kind == "retrieval":
                from agent_app.retrieval import get_retriever

                extras["retriever"] = get_retriever(collection, self.settings.retrieval)
                extras["context_tokens"] = self.settings.retrieval.context_tokens
            self._chain = build_chain(template, model, llm, params=params, **extras)
            self._chain_key = key
        return self._chain
