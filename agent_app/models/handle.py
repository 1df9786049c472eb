"""The model a chat uses, over its lifetime: chosen once, built lazily or in the background,
switched, and paired with its text-completion sibling for completion templates.

The chat session is given one `ModelHandle` and asks it for `.model`; it never builds models
itself. Tests hand in a ready model (`ModelHandle.given`) or a `factory`, so nothing reaches
into private attributes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent_app.errors import AppError
from agent_app.models.factory import (
    BUNDLED_ALIASES,
    ModelSpec,
    build_chat_model,
    build_completion_model,
    parse_model_spec,
    resolve_model_spec,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel, BaseLLM

    from agent_app.models.params import GenerationParams
    from agent_app.models.settings import ModelSettings

Factory = Callable[[ModelSpec, Callable[[str], None]], "BaseChatModel"]
"""Builds the chat model for a spec; the second argument reports loading progress."""


class ModelHandle:
    """One (switchable) chat model; thread-safe to wait on while it loads in the background."""

    def __init__(
        self,
        settings: ModelSettings,
        spec: ModelSpec | None = None,
        *,
        factory: Factory | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.spec = spec or resolve_model_spec(settings)
        self.progress = progress
        self.status = "not loaded"
        self._factory = factory or (lambda s, report: build_chat_model(s, settings, progress=report))
        self._model: BaseChatModel | None = None
        self._completion: BaseLLM | None = None
        self._error: BaseException | None = None
        self._loaded = threading.Event()
        self._loader: threading.Thread | None = None

    @classmethod
    def given(cls, model: BaseChatModel, spec: ModelSpec | str, settings: ModelSettings | None = None) -> ModelHandle:
        """A handle over a model that is already built (tests, embedding the app)."""
        from agent_app.models.settings import ModelSettings

        spec = parse_model_spec(spec) if isinstance(spec, str) else spec
        handle = cls(settings or ModelSettings(), spec)
        handle._set(model)
        return handle

    # -- state ------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> BaseChatModel:
        """The chat model, built on first use (or awaited while it loads in the background).
        A failed load raises here, once; the next access tries again."""
        if self._model is None:
            if self._loader is None:
                self._load()
            self._loaded.wait()
            if self._error is not None:
                error, self._error = self._error, None
                self._loader = None
                self._loaded.clear()
                raise error
        assert self._model is not None
        return self._model

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a background load; True once it has ended."""
        return self._loaded.wait(timeout)

    def base_params(self) -> GenerationParams:
        """The model's own defaults (the local model has some), else the settings'."""
        return getattr(self._model, "params", None) or self.settings.params

    def needs_conversion(self) -> bool:
        """True on the very first use of the bundled model, before its one-time conversion."""
        if self.spec.provider != "local" or self.spec.name.lower() not in BUNDLED_ALIASES:
            return False
        from agent_app.models.weights import bundled_cache_ready

        try:
            return not bundled_cache_ready(self.settings.dtype)
        except AppError:  # the package is missing: reported when the model loads
            return False

    # -- loading and switching ----------------------------------------------------------------
    def load_in_background(self) -> None:
        """Start building the model in a thread; `model` waits for it."""
        if self._loader is None and self._model is None:
            self._loader = threading.Thread(target=self._load, name="model-loader", daemon=True)
            self._loader.start()

    def switch(self, spec: ModelSpec | str) -> str:
        """Build and switch to another model now; on failure the current one stays.

        `openai/NAME@http://host:port/v1` also sets the compatible server's URL (base_url), so a
        server is reachable without leaving the chat."""
        # Split at the first "@http(s)://": the URL may hold "user:password@" itself.
        if isinstance(spec, str) and (at_url := re.match(r"^(.*?)@(https?://.*)$", spec.strip())):
            name, url = at_url.groups()
            previous = self.settings.base_url
            self.settings.base_url = url
            try:
                return self.switch(name)
            except BaseException:
                self.settings.base_url = previous
                raise
        spec = parse_model_spec(spec) if isinstance(spec, str) else spec
        model = self._factory(spec, self._report)
        self.spec = spec
        self._set(model)
        return spec.label

    def choose(self, spec: ModelSpec) -> None:
        """Make `spec` the model, built lazily on next use (a resumed conversation's choice)."""
        self.spec, self._model, self._completion, self._loader = spec, None, None, None
        self._loaded.clear()
        self.status = "not loaded"

    def completion_model(self) -> BaseLLM | None:
        """The text-completion model for `mode: completion` templates on this backend, if any."""
        if self._completion is None:
            llm = getattr(self.model, "llm", None)  # the local chat model wraps one
            # A compatible server has a completions endpoint (api.openai.com's old models aside).
            served = self.spec.provider in ("llamacpp", "ollama")
            if llm is None and (served or (self.spec.provider == "openai" and self.settings.base_url)):
                llm = build_completion_model(self.spec, self.settings)
            self._completion = llm
        return self._completion

    # -- internals ----------------------------------------------------------------------------
    def _set(self, model: BaseChatModel) -> None:
        self._model, self._completion, self._loader, self._error = model, None, None, None
        self._loaded.set()
        self.status = "ready"

    def _load(self) -> None:
        self.status = "loading"
        try:
            self._model = self._factory(self.spec, self._report)
            self.status = "ready"
        except BaseException as exc:  # handed to the thread that needs the model
            self._error = exc
            self.status = "failed"
        finally:
            self._loaded.set()

    def _report(self, message: str) -> None:
        self.status = message
        if self.progress:
            self.progress(message)
