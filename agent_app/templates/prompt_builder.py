"""Turning a validated `Template` into LangChain prompt objects, in code.

Chat mode builds a `ChatPromptTemplate`:

    system  ->  few-shot example messages  ->  history (MessagesPlaceholder)  ->  messages

Completion mode builds a `PromptTemplate` from `prompt`, where `{history}` is the earlier turns
written as "User: ...\\nAssistant: ...\\n" lines and `{examples}` the rendered examples.

`TemplatePrompt.variables()` prepares the values every prompt of a template is formatted with:
declared defaults, the user's values, the app's built-ins (examples, schema, history).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, convert_to_messages
from langchain_core.prompt_values import ChatPromptValue, PromptValue, StringPromptValue
from langchain_core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
)

from agent_app.errors import TemplateError
from agent_app.templates.schema import (
    GenerateKnowledgeChain,
    MapReduceChain,
    MessageSpec,
    SequentialChain,
    Template,
)
from agent_app.templates.selectors import EmbeddingsFactory, InputExampleSelector


class TemplatePrompt:
    """A template's prompts, ready to render: the main prompt plus auxiliary one-off prompts."""

    def __init__(
        self, template: Template, *, history_slot: bool = True, embeddings: EmbeddingsFactory | None = None
    ) -> None:
        self.template = template
        self.history_slot = history_slot
        self.selector = InputExampleSelector(template.few_shot, embeddings) if template.few_shot is not None else None
        self.prompt: BasePromptTemplate = self._build()

    # -- variables ---------------------------------------------------------------------------

    def variables(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults, then `values`, then the built-ins; raises `TemplateError` for a missing one."""
        template = self.template
        out: dict[str, Any] = {**template.defaults(), **{k: v for k, v in values.items() if v is not None}}
        missing = [name for name in template.required_variables() if name not in out]
        if missing:
            raise TemplateError(
                f"template {self.label}: missing variable {{{missing[0]}}}",
                hint=f"set it with --var {missing[0]}=VALUE or /set {missing[0]} VALUE",
            )
        text = str(out.get("input") or "")
        if template.delimiter:
            # The input sits between delimiters; removing them from it keeps it from closing the
            # quoted block and posing as instructions (prompt injection).
            text = text.replace(template.delimiter, "")
        out["input"] = text
        history = _as_messages(out.get("history"))
        if template.mode == "completion":
            out["history"] = self._history_text(history, out)
        else:
            out["history"] = history
        if template.json_schema is not None:
            out["schema"] = template.schema_text()
        if template.few_shot is not None and template.few_shot.example_prompt is not None:
            out["examples"] = self._examples_text(out)
        return out

    @property
    def label(self) -> str:
        """How error messages name the template: its name and file."""
        name = self.template.name or (self.template.source.stem if self.template.source else "<template>")
        return f"{name!r} ({self.template.source})" if self.template.source else repr(name)

    # -- rendering ---------------------------------------------------------------------------

    def render(self, variables: Mapping[str, Any]) -> PromptValue:
        """The main prompt, formatted with prepared `variables`."""
        return self.prompt.invoke(dict(variables))

    def single(self, text_template: str, variables: Mapping[str, Any]) -> PromptValue:
        """A one-off prompt (knowledge, a step, map, reduce): the template's system + this text.

        In completion mode it is the text alone.
        """
        text = _format(text_template, variables)
        if self.template.mode == "completion":
            return StringPromptValue(text=text)
        messages: list[BaseMessage] = []
        if self.template.system is not None:
            messages.append(SystemMessage(content=_format(self.template.system, variables)))
        messages.append(HumanMessage(content=text))
        return ChatPromptValue(messages=messages)

    def follow_up(self, prompt: PromptValue, reply: str, text: str) -> PromptValue:
        """`prompt` continued by the model's `reply` and a new user `text` (used to ask for a fix)."""
        if isinstance(prompt, StringPromptValue):
            return StringPromptValue(text=f"{prompt.text}{reply}\n\n{text}\n")
        messages = [*prompt.to_messages(), AIMessage(content=reply), HumanMessage(content=text)]
        return ChatPromptValue(messages=messages)

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> BasePromptTemplate:
        template = self.template
        if template.mode == "completion":
            return PromptTemplate.from_template(template.prompt or "{input}")
        parts: list[Any] = []
        if template.system is not None:
            parts.append(("system", template.system))
        few_shot = template.few_shot
        if few_shot is not None and few_shot.example_messages is not None:
            parts.append(
                FewShotChatMessagePromptTemplate(
                    example_selector=self.selector,
                    example_prompt=ChatPromptTemplate.from_messages(_tuples(few_shot.example_messages)),
                    input_variables=["input"],
                )
            )
        if self.history_slot:
            parts.append(MessagesPlaceholder("history", optional=True))
        parts.extend(_tuples(template.messages))
        return ChatPromptTemplate.from_messages(parts)

    def _examples_text(self, variables: Mapping[str, Any]) -> str:
        few_shot = self.template.few_shot
        assert few_shot is not None and few_shot.example_prompt is not None and self.selector is not None
        chosen = self.selector.select_examples({"input": variables["input"]})
        return few_shot.separator.join(_format(few_shot.example_prompt, e) for e in chosen)

    def _history_text(self, history: list[BaseMessage], variables: Mapping[str, Any]) -> str:
        labels = self.template.completion
        user = _format(labels.user_label, variables)
        assistant = _format(labels.assistant_label, variables)
        lines = []
        for message in history:
            if isinstance(message, HumanMessage):
                lines.append(f"{user}: {message.text}\n")
            elif isinstance(message, AIMessage):
                lines.append(f"{assistant}: {message.text}\n")
        return "".join(lines)


def render_prompt(
    template: Template,
    values: Mapping[str, Any],
    *,
    history_slot: bool = True,
    embeddings: EmbeddingsFactory | None = None,
) -> list[BaseMessage] | str:
    """The first prompt `template` sends for `values`: messages (chat mode) or a string.

    That is the main prompt, except for the kinds that start with another one: the knowledge
    prompt (generate-knowledge), the first step (sequential), the first part (map-reduce).
    """
    builder = TemplatePrompt(template, history_slot=history_slot, embeddings=embeddings)
    variables = builder.variables(values)
    chain = template.chain
    if isinstance(chain, GenerateKnowledgeChain):
        value = builder.single(chain.knowledge_prompt, variables)
    elif isinstance(chain, SequentialChain):
        value = builder.single(chain.steps[0].prompt, variables)
    elif isinstance(chain, MapReduceChain):
        value = builder.single(chain.map_prompt, {**variables, "text": variables["input"][: chain.chunk_size]})
    else:
        value = builder.render(variables)
    return value.text if isinstance(value, StringPromptValue) else value.to_messages()


def _tuples(messages: Sequence[MessageSpec]) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in messages]


def _format(text: str, variables: Mapping[str, Any]) -> str:
    # Validation made sure only known plain names appear; values are never re-parsed.
    return text.format_map(_Defaulting(variables))


class _Defaulting(dict):
    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return ""


def _as_messages(history: Any) -> list[BaseMessage]:
    if not history:
        return []
    if isinstance(history, str):
        raise TemplateError("history must be a list of messages, not text")
    return list(convert_to_messages(history))
