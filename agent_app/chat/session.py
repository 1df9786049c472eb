"""A conversation: model, template, variables, parameters, memory, persistence, one turn at a time.

The session knows nothing about terminals: the REPL and `ask` both drive it, and tests drive it
directly with the scripted model. Each turn:
1. loads the current template (hot reload: an edited file takes effect now; a broken edit keeps
   the last good template and warns);
2. selects the history the model sees with the memory strategy;
3. commits the user's message to the conversation store, streams the chain's answer, and commits
   the answer when it completes (or what there was of it when stopped).
The model itself is the `ModelHandle`'s business (lazy or background load, switching).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler

from agent_app.chat.answerers import Answerers
from agent_app.chat.conversation_log import ConversationLog
from agent_app.chat.turn import TurnItem, TurnResult, TurnWatcher, explained
from agent_app.errors import AppError, TemplateError
from agent_app.models.factory import parse_model_spec
from agent_app.models.handle import ModelHandle
from agent_app.models.params import GenerationParams
from agent_app.monitoring.stats import StatsCallback
from agent_app.templates.variables import check_declared

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from agent_app.config import Settings
    from agent_app.memory.store import Conversation, ConversationStore
    from agent_app.monitoring.setup import Monitoring
    from agent_app.templates import Template, TemplateRegistry
    from agent_app.tools.approval import Asker
    from agent_app.tools.toolbox import Toolbox


class ChatSession:
    """One conversation with one (switchable) model and template."""

    def __init__(
        self,
        settings: Settings,
        *,
        models: ModelHandle | None = None,
        template: str | None = None,
        variables: dict[str, str] | None = None,
        params: GenerationParams | None = None,
        system_prompt: str | None = None,
        store: ConversationStore | None = None,
        monitoring: Monitoring | None = None,
        collection: str | None = None,
        progress: Callable[[str], None] | None = None,
        templates: TemplateRegistry | None = None,
    ) -> None:
        """`models`: the chat model's handle (default: the one the settings choose, built on
        first use); pass `ModelHandle.given(model, "fake")` to use a ready model. `templates`: a
        registry to share (the server's), else one from the settings."""
        from agent_app.templates import TemplateRegistry

        self.settings = settings
        self.models = models or ModelHandle(settings, progress=progress)
        self.params = params or GenerationParams()
        """Parameters the user set (--param, /params): they win over the template's."""
        self.templates = templates or TemplateRegistry.from_settings(settings.templates)
        self.template_name = template or settings.templates.default_template
        self.variables: dict[str, str] = {**settings.templates.vars, **(variables or {})}
        self.system_prompt = system_prompt
        self.agent_mode = False
        """Answer with the ReAct/tool-calling agent instead of the template's chain."""
        self.collection_choice = collection
        """The collection the user chose (--collection, /kb use); wins over a template's own."""
        self.monitoring = monitoring
        self.stats = monitoring.stats if monitoring else StatsCallback()
        """Usage and timings of every turn: the one count behind `ask --json` and `/stats`."""
        self.last_turn: TurnResult | None = None
        self.on_progress: Callable[[str], None] | None = None
        """Called with what a multi-call chain is doing ("sample 3/5"): the REPL's spinner."""
        self.notices: list[str] = []
        """One-line warnings produced outside a turn's stream (broken template edit, ...)."""
        self.log = ConversationLog(store, self.notices, lambda: (self.model_label, self.template_name))
        """The messages, committed to `store` as they complete (chat.conversation_log)."""
        self.extra_callbacks: list[BaseCallbackHandler] = []
        """Handlers the owner adds to every turn (the server's: stop a turn whose client left)."""
        self.ask_approval: Asker | None = None
        """Asks the user about a tool call under `ask` (set by the chat on a terminal); None
        refuses such calls, unless `tools.assume_yes` (--yes)."""
        self._toolbox: Toolbox | None = None
        self._template: Template | None = None
        self.answerers = Answerers(settings, self.models)
        check_declared(self.template, variables or {})  # fail now on a bad --template or --var

    # -- model --------------------------------------------------------------------------
    @property
    def model_label(self) -> str:
        return self.models.label

    @property
    def model(self) -> BaseChatModel:
        """The chat model (built on first use, or awaited while it loads in the background)."""
        return self.models.model

    def switch_model(self, model: str) -> str:
        """Switch backend/model, keeping the history. On failure the current model stays."""
        label = self.models.switch(model)
        self.log.save_choices()
        return label

    def set_params(self, values: dict[str, Any]) -> GenerationParams:
        """Change generation parameters (validated; a `None` value resets one)."""
        self.params = self.params.merged(values)
        return self.params

    def effective_params(self) -> GenerationParams:
        """What the next answer uses: model defaults, then the template's, then the user's."""
        template = self._template.params if self._template else GenerationParams()
        return self.models.base_params().merged(template).merged(self.params)

    # -- templates ------------------------------------------------------------------------
    @property
    def template(self) -> Template:
        """The current template, reloaded when its file changed. A broken edit keeps the last
        good version (with a notice); a template that never loaded raises `TemplateError`."""
        try:
            template = self.templates.get(self.template_name)
        except TemplateError as exc:
            if self._template is None:
                raise
            self.notices.append(f"{exc} (still using the last good version)")
            return self._template
        self._template = template
        return template

    def use_template(self, name: str) -> Template:
        """Switch template; on any error the current one stays."""
        template = self.templates.get(name)
        self.template_name, self._template = name, template
        self.log.save_choices()
        return template

    def set_variable(self, name: str, value: str) -> None:
        """Set a variable the current template declares; any other name is an error that lists
        the declared ones (a silently ignored `/set target German` looks like it worked)."""
        if not name.isidentifier():
            raise TemplateError(f"invalid variable name {name!r}: use letters, digits and _")
        check_declared(self.template, [name])
        self.variables[name] = value

    @property
    def collection(self) -> str:
        """The document collection that retrieval templates and the knowledge_base tool search."""
        template_choice = getattr(self._template.chain, "collection", None) if self._template else None
        return self.collection_choice or template_choice or self.settings.retrieval.default_collection

    @collection.setter
    def collection(self, name: str) -> None:
        self.collection_choice = name

    @property
    def toolbox(self) -> Toolbox:
        """The agent's tools over the chat's life (tools.toolbox: its MCP servers start at first
        use and run until `close`)."""
        if self._toolbox is None:
            from agent_app.tools.toolbox import Toolbox

            self._toolbox = Toolbox(self.settings.tools, self.settings.retrieval)
        return self._toolbox

    def tools(self) -> list[Any]:
        """The agent's tools over the current collection, each under its approval policy (`ask`
        ones ask `ask_approval` before each call)."""
        self.toolbox.approval.ask = self.ask_approval
        return self.toolbox.tools(self.collection)

    def take_notices(self) -> list[str]:
        """The one-line warnings not shown yet (including MCP servers that failed or stopped)."""
        notices = list(self.notices)
        self.notices.clear()  # the same list: the conversation log writes to it too
        return notices + (self._toolbox.take_notices() if self._toolbox else [])

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Save what could not be saved yet (see `unsaved`), stop what the session started (MCP
        servers) and close its monitoring (log files)."""
        self.save_unsaved(now=True)
        if self._toolbox is not None:
            self._toolbox.close()
        if self.monitoring is not None:
            self.monitoring.close()

    def documents_changed(self) -> None:
        """The collection was re-ingested: build the retrieval chain and agent afresh next turn."""
        self.answerers.reset()

    # -- conversations ---------------------------------------------------------------------
    def save_unsaved(self, *, now: bool = False) -> None:
        self.log.save_unsaved(now=now)

    def start_conversation(self) -> None:
        """Begin a new conversation (persisted when a store is configured)."""
        self.log.start()
        self.stats.reset()

    def resume(self, ref: str, *, adopt_choices: bool = True) -> Conversation:
        """Restore a stored conversation: messages, and (`adopt_choices`) its template and model
        choice. The server passes False: its request names the way of answering, and its one
        model is shared by every client."""
        conversation = self.log.load(ref)
        if adopt_choices and conversation.template and conversation.template != self.template_name:
            try:
                self.use_template(conversation.template)
            except TemplateError as exc:
                self.notices.append(f"kept template {self.template_name}: {exc}")
        if adopt_choices and conversation.model and conversation.model != self.model_label:
            try:
                self.models.choose(parse_model_spec(conversation.model))
            except AppError as exc:  # a stored choice that no longer parses
                self.notices.append(f"kept model {self.model_label}: {exc}")
        self.stats.reset()
        return conversation

    def clear(self) -> None:
        """Forget the conversation so far (a stored one stays stored; a new one starts)."""
        self.start_conversation()

    def memory_view(self, config: RunnableConfig | None = None) -> list[BaseMessage]:
        """The part of the history the model sees, per the memory strategy."""
        return self.log.view(self.settings.memory, self.model, self.template_name, config)

    # -- turns --------------------------------------------------------------------------
    def callbacks(self, turn: TurnResult) -> list[BaseCallbackHandler]:
        self.stats.begin_turn()
        handlers: list[BaseCallbackHandler] = [TurnWatcher(turn, self.on_progress)]
        handlers += self.monitoring.callbacks if self.monitoring else [self.stats]
        return handlers + self.extra_callbacks

    def stream_reply(self, user_input: str) -> Generator[TurnItem, None, None]:
        """Stream the answer to `user_input`, committing both messages to the conversation.

        Yields answer text as `str`; in agent mode also the agent's `ToolCall` and `Observation`
        events (`TurnItem`), as they happen, for the caller to show. Stopping early (Ctrl-C,
        closing the iterator) keeps the partial answer. A failure keeps the user's message (nothing typed is
        lost) and adds no answer.
        """
        from langchain_core.messages import AIMessage, HumanMessage

        from agent_app.chains import ChainResult

        template = self.template
        turn = self.last_turn = TurnResult(model=self.model_label, template=self.template_name)
        turn.warnings += self.take_notices()
        config: RunnableConfig = {
            "callbacks": self.callbacks(turn),
            "run_name": "chat_turn",
            "metadata": {"model": self.model_label, "template": self.template_name},
        }
        history = self.memory_view(config)
        outputs: Iterator[Any]
        if self.agent_mode:
            outputs = self._agent_events(user_input, history, config, turn)
        else:
            chain = self.answerers.chain(template, self.model, self.params, self.system_prompt, self.collection)
            outputs = chain.stream({**self.variables, "input": user_input, "history": history}, config=config)
        self.log.remember(HumanMessage(user_input, response_metadata={"template": self.template_name}))
        turn.warnings += self.take_notices()  # e.g. a locked conversation database
        started = time.perf_counter()
        parts: list[str] = []
        try:
            for out in outputs:
                if isinstance(out, ChainResult):  # kinds beyond plain text answer in one piece
                    turn.details = {k: v for k, v in out.to_dict().items() if k != "text"}
                    text = out.text
                elif isinstance(out, str):
                    text = out
                else:  # an agent step, for the caller to show
                    yield out
                    continue
                if text:
                    if turn.first_token_s is None:
                        turn.first_token_s = time.perf_counter() - started
                    parts.append(text)
                    yield text
        except (KeyboardInterrupt, GeneratorExit):
            turn.interrupted = True
            raise
        except Exception as exc:
            error = explained(exc, self.settings, mid_answer=bool(parts))
            if error is None:
                raise
            raise error from exc
        finally:
            turn.total_s = time.perf_counter() - started
            if self.stats.last_turn is not None:
                turn.take_stats(self.stats.last_turn)
            turn.note_truncation(self.effective_params().max_tokens)
            turn.text = "".join(parts)
            if turn.text:
                about = {"model": self.model_label, "template": self.template_name, "interrupted": turn.interrupted}
                self.log.remember(AIMessage(turn.text, response_metadata=about))
                turn.warnings += self.take_notices()

    def _agent_events(
        self, user_input: str, history: list[BaseMessage], config: RunnableConfig, turn: TurnResult
    ) -> Iterator[TurnItem]:
        """The agent's run as answer text plus step events; records the steps on the turn."""
        from agent_app.agent import FinalAnswerToken, Finished, Observation, ToolCall

        turn.details["agent_mode"] = True
        agent = self.answerers.agent(self.model, self.tools(), self.collection)
        for event in agent.stream(user_input, history, config=config):
            if isinstance(event, FinalAnswerToken):
                yield event.text
            elif isinstance(event, ToolCall | Observation):
                yield event
            elif isinstance(event, Finished):
                turn.take_agent_result(event.result)
        turn.warnings += self.take_notices()  # MCP servers that failed to start or stopped

    def reply(self, user_input: str) -> TurnResult:
        """Answer without a consumer for the stream (timings are still measured)."""
        for _ in self.stream_reply(user_input):
            pass
        assert self.last_turn is not None
        return self.last_turn
