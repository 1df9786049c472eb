"""The app's ways of answering, as the "models" an OpenAI client picks from.

- `chat`: the configured model on the default template, as the terminal chat answers;
- `template:NAME`: one prompt template (its chain: concise, translate, rag, ...);
- `agent`: the tool-using agent, tools and approval as configured (a tool whose policy is `ask`
  is refused: nobody is at a terminal to answer);
- `rag:NAME`: the `rag` template over collection NAME, with the sources in the reply.

A request's own messages are the history: `system` becomes the system prompt, earlier `user` and
`assistant` messages the conversation so far, the last `user` message the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_app.errors import AppError

if TYPE_CHECKING:
    from agent_app.chat.session import ChatSession
    from agent_app.config import Settings
    from agent_app.memory.store import ConversationStore
    from agent_app.models.handle import ModelHandle
    from agent_app.models.params import GenerationParams
    from agent_app.templates import TemplateRegistry

PLAIN = "chat"
AGENT = "agent"
TEMPLATE_PREFIX = "template:"
RAG_PREFIX = "rag:"
RAG_TEMPLATE = "rag"


class UnknownModelError(AppError):
    """A model id the server does not offer."""


@dataclass(frozen=True)
class Way:
    """One way of answering: what `/v1/models` lists and how a session is set up for it."""

    id: str
    description: str
    template: str | None = None
    agent: bool = False
    collection: str | None = None


def ways(settings: Settings) -> list[Way]:
    """Everything the server offers now (templates and collections are read afresh: an edited
    template or a new ingest shows up without a restart)."""
    from agent_app.retrieval.storage import collection_names
    from agent_app.templates import TemplateRegistry

    found = [Way(PLAIN, f"the model on the default template ({settings.templates.default_template})")]
    registry = TemplateRegistry.from_settings(settings.templates)
    found += [
        Way(TEMPLATE_PREFIX + info.name, info.description, template=info.name)
        for info in registry.list()
        if not info.error
    ]
    found.append(Way(AGENT, "the agent with its tools (tools that ask for approval are refused)", agent=True))
    found += [
        Way(RAG_PREFIX + name, f"answers from collection {name}, with sources", template=RAG_TEMPLATE, collection=name)
        for name in collection_names()
    ]
    return found


def find_way(settings: Settings, model_id: str, templates: TemplateRegistry) -> Way:
    """The way `model_id` names, resolved directly (listing every template per request would
    read them all)."""
    from agent_app.errors import TemplateError
    from agent_app.retrieval.storage import collection_names

    if model_id == PLAIN:
        return Way(PLAIN, "")
    if model_id == AGENT:
        return Way(AGENT, "", agent=True)
    if model_id.startswith(TEMPLATE_PREFIX):
        name = model_id.removeprefix(TEMPLATE_PREFIX)
        try:
            templates.get(name)
        except TemplateError:
            pass
        else:
            return Way(model_id, "", template=name)
    if model_id.startswith(RAG_PREFIX) and model_id.removeprefix(RAG_PREFIX) in collection_names():
        return Way(model_id, "", template=RAG_TEMPLATE, collection=model_id.removeprefix(RAG_PREFIX))
    known = ", ".join(w.id for w in ways(settings))
    raise UnknownModelError(f"unknown model {model_id!r}", hint=f"GET /v1/models lists them: {known}")


def session_for(
    settings: Settings,
    way: Way,
    models: ModelHandle,
    params: GenerationParams,
    *,
    system: str | None,
    history: list[Any],
    store: ConversationStore | None,
    templates: TemplateRegistry,
) -> ChatSession:
    """A ChatSession answering as `way`, on the server's one warm model."""
    from agent_app.chat.session import ChatSession

    session = ChatSession(
        settings,
        models=models,
        template=way.template,
        params=params,
        system_prompt=system,
        store=store,
        collection=way.collection,
        templates=templates,
    )
    session.agent_mode = way.agent
    session.ask_approval = None  # an `ask` tool is refused: no one can be asked
    session.log.history = list(history)
    return session
