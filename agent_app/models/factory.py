"""The one place that turns configuration into a LangChain model.

A model is chosen by a "provider/model" string:
- `local` (the bundled SmolLM2-135M-Instruct), `local/PATH` (a model folder) or `local/ORG/NAME`
  (a Hugging Face id, loaded from the hub when online); a bare existing folder also works;
- `openai` (gpt-4o-mini) or `openai/NAME`, on api.openai.com or any compatible `base_url`;
- `llamacpp` (the bundled GGUF) or `llamacpp/PATH.gguf`: any GGUF file through llama.cpp, served
  inside this process and reached like a compatible server (see `agent_app.models.llamacpp`);
- `ollama/NAME`: a model of a running Ollama (`ollama_host`, OLLAMA_HOST), by its OpenAI API;
- `fake` (echoes) or `fake/FILE` (replies from a YAML list): the scripted model, for demos/tests.
Heavy modules (torch, transformers, langchain_openai) are imported only when a model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_app.errors import ConfigError, MissingCredentialsError, ModelNotFoundError, ProviderError
from agent_app.models.params import GenerationParams

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel, BaseLLM

    from agent_app.models.settings import ModelSettings
    from agent_app.models.weights import Progress

OLLAMA_PROBE_TIMEOUT_S = 3.0
CONNECT_TIMEOUT_S = 10.0
BUNDLED_ALIASES = {"", "default", "smollm2", "smollm2-135m", "smollm2-135m-instruct"}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model choice."""

    provider: str
    name: str  # "" for the provider's default

    @property
    def label(self) -> str:
        """How the choice is shown and stored: `provider/name`, a password in it masked."""
        from agent_app.monitoring.redact import redact_message

        return redact_message(self._plain_label)

    @property
    def _plain_label(self) -> str:
        if self.provider == "local" and self.name.lower() in BUNDLED_ALIASES:
            return "local/SmolLM2-135M-Instruct"
        if self.provider == "openai" and not self.name:
            return "openai/gpt-4o-mini"
        if self.provider == "llamacpp" and self.name.lower() in BUNDLED_ALIASES:
            return "llamacpp"
        return f"{self.provider}/{self.name}" if self.name else self.provider


def resolve_model_spec(settings: ModelSettings) -> ModelSpec:
    """The model the settings choose: `model` (from the config, AGENT_APP_MODEL or --model), else
    openai when a key is configured, else the bundled local model. The one place that decides."""
    return parse_model_spec(settings.model or ("openai" if settings.openai_api_key else "local"))


def parse_model_spec(text: str | None) -> ModelSpec:
    """Parse `provider/model`, a bare provider, or a bare model folder."""
    text = (text or "local").strip()
    if not text:
        raise ConfigError("empty model name: use e.g. --model local or --model openai/gpt-4o-mini")
    provider, _, name = text.partition("/")
    if provider in REGISTRY:
        return ModelSpec(provider, name.strip())
    if Path(text).expanduser().is_dir():
        return ModelSpec("local", text)
    if text.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model folder not found: {text}")
    raise ModelNotFoundError(
        f"unknown model provider {provider!r}",
        hint="use local, openai/MODEL, llamacpp[/FILE.gguf], ollama/NAME or fake, e.g. --model openai/gpt-4o-mini",
    )


def _local_source(spec: ModelSpec) -> str:
    if spec.name.lower() in BUNDLED_ALIASES:
        return "bundled"
    path = Path(spec.name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if spec.name.startswith((".", "/", "~")) or spec.name.count("/") != 1:
        raise ModelNotFoundError(
            f"model folder not found: {spec.name}", hint="give an existing folder or a Hugging Face id like ORG/NAME"
        )
    return spec.name  # a Hugging Face id


def _openai_kwargs(spec: ModelSpec, settings: ModelSettings) -> dict:
    from agent_app.models.openai import DEFAULT_OPENAI_MODEL

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if key is None:
        if not settings.base_url:
            raise MissingCredentialsError(
                "no OpenAI API key is set",
                hint="export OPENAI_API_KEY=sk-..., set --base-url for a compatible server, or use --model local",
            )
        key = "not-needed"  # most self-hosted OpenAI-compatible servers accept any key
    return _connection(spec.name or DEFAULT_OPENAI_MODEL, key, settings.base_url, settings)


def _connection(model: str, key: str, base_url: str | None, settings: ModelSettings) -> dict:
    """Constructor arguments of an OpenAI-API model: which model, where, and how long to wait."""
    return {
        "model": model,
        "api_key": key,
        "base_url": base_url,
        # A server that accepts and never answers is given up on after request_timeout seconds
        # without a byte; one that is down fails fast (connect).
        "timeout": _timeout(settings.request_timeout),
        "max_retries": settings.max_retries,
    }


def _server_kwargs(spec: ModelSpec, settings: ModelSettings) -> dict:
    """Connection of a server the app finds itself: llama.cpp in-process, or Ollama."""
    if spec.provider == "llamacpp":
        from agent_app.models.llamacpp import get_server

        name = "" if spec.name.lower() in BUNDLED_ALIASES else spec.name
        server = get_server(
            name, threads=settings.threads, context=settings.context_window, chat_template=settings.chat_template
        )
        base_url, model = server.base_url, server.alias
    else:
        base_url, model = _ollama(spec, settings), spec.name
    return _connection(model, "not-needed", base_url, settings)


def _served_defaults(spec: ModelSpec) -> GenerationParams:
    """The bundled model keeps its tuned sampling (and answer cap) on llama.cpp too; other
    models start from their server's defaults."""
    if spec.provider == "llamacpp" and spec.name.lower() in BUNDLED_ALIASES:
        from agent_app.models.local_runtime import LOCAL_DEFAULT_PARAMS

        return LOCAL_DEFAULT_PARAMS
    return GenerationParams()


def ollama_base(host: str) -> str:
    """Ollama's address as OLLAMA_HOST may write it ("0.0.0.0:11434", "localhost") made a URL."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    scheme, _, rest = host.partition("://")
    hostname, _, port = rest.partition(":")
    hostname = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1"}.get(hostname, hostname)
    return f"{scheme}://{hostname}:{port or '11434'}"


def ollama_models(host: str, timeout: float = OLLAMA_PROBE_TIMEOUT_S) -> list[str]:
    """Names of the models Ollama at `host` has pulled (its /api/tags); raises ProviderError
    when Ollama does not answer."""
    import httpx

    base = ollama_base(host)
    try:
        response = httpx.get(f"{base}/api/tags", timeout=timeout)
        response.raise_for_status()
        return sorted(m["name"] for m in response.json().get("models", []))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProviderError(
            f"Ollama is not running at {base} ({type(exc).__name__})",
            hint="start it with `ollama serve`, or set OLLAMA_HOST to where it listens",
        ) from None


def _ollama(spec: ModelSpec, settings: ModelSettings) -> str:
    """Ollama's OpenAI-compatible URL, after checking it runs and has the model (a clear message
    now rather than a connection error at the first question)."""
    if not spec.name:
        raise ConfigError("ollama needs a model name", hint="e.g. --model ollama/llama3.2 (see `ollama list`)")
    names = ollama_models(settings.ollama_host)
    if spec.name not in names and f"{spec.name}:latest" not in names:
        pulled = ", ".join(names) or "none"
        raise ModelNotFoundError(
            f"Ollama has no model {spec.name!r} (pulled: {pulled})", hint=f"run `ollama pull {spec.name}`"
        )
    return ollama_base(settings.ollama_host) + "/v1"


def _timeout(seconds: float) -> Any:
    import httpx

    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_S, seconds))


@dataclass(frozen=True)
class Provider:
    """How one provider's models are built: a chat model, and a completion model if it has one."""

    chat: Callable[[ModelSpec, ModelSettings, GenerationParams, Progress | None], BaseChatModel]
    completion: Callable[[ModelSpec, ModelSettings, GenerationParams, Progress | None], BaseLLM]


def _openai_chat(spec: ModelSpec, settings: ModelSettings, params: GenerationParams, _p: Progress | None) -> Any:
    from agent_app.models.openai import OpenAIChatModel

    return OpenAIChatModel(
        **_openai_kwargs(spec, settings),
        stream_usage=True,
        tool_calling=settings.tool_calling,
        **_openai_params(params),
    )


def _openai_completion(spec: ModelSpec, settings: ModelSettings, params: GenerationParams, _p: Progress | None) -> Any:
    from agent_app.models.openai import OpenAICompletionModel

    kwargs = _openai_kwargs(spec, settings)
    if not spec.name:
        kwargs["model"] = "gpt-3.5-turbo-instruct"  # OpenAI's completions-endpoint model
    return OpenAICompletionModel(**kwargs, **_openai_params(params))


def _served_chat(spec: ModelSpec, settings: ModelSettings, params: GenerationParams, _p: Progress | None) -> Any:
    """llama.cpp in-process or Ollama: a server the app finds itself, reached as OpenAI's API."""
    from agent_app.models.openai import OpenAIChatModel

    return OpenAIChatModel(
        **_server_kwargs(spec, settings),
        stream_usage=True,
        accepts_grammar=spec.provider == "llamacpp",  # the agent constrains its steps with a GBNF grammar
        tool_calling=settings.tool_calling,
        **_openai_params(_served_defaults(spec).merged(params)),
    )


def _served_completion(spec: ModelSpec, settings: ModelSettings, params: GenerationParams, _p: Progress | None) -> Any:
    from agent_app.models.openai import OpenAICompletionModel

    return OpenAICompletionModel(
        **_server_kwargs(spec, settings), **_openai_params(_served_defaults(spec).merged(params))
    )


def _fake_chat(spec: ModelSpec, _s: ModelSettings, _params: GenerationParams, _p: Progress | None) -> Any:
    from agent_app.models.fake import ScriptedChatModel

    return ScriptedChatModel(replies=_fake_replies(spec.name), model_name=spec.label)


def _fake_completion(spec: ModelSpec, _s: ModelSettings, _params: GenerationParams, _p: Progress | None) -> Any:
    from langchain_core.language_models import FakeListLLM

    return FakeListLLM(responses=[str(r) for r in _fake_replies(spec.name)] or ["(scripted)"])


def _local_chat(spec: ModelSpec, settings: ModelSettings, params: GenerationParams, progress: Progress | None) -> Any:
    from agent_app.models.local import LOCAL_DEFAULT_PARAMS, LocalChatModel, LocalCompletionModel

    merged = LOCAL_DEFAULT_PARAMS.merged(params)
    llm = LocalCompletionModel(_runtime(spec, settings, progress), params=merged)
    return LocalChatModel(llm=llm, params=merged, context_window=settings.context_window)


def _local_completion(
    spec: ModelSpec, settings: ModelSettings, params: GenerationParams, progress: Progress | None
) -> Any:
    from agent_app.models.local import LOCAL_DEFAULT_PARAMS, LocalCompletionModel

    return LocalCompletionModel(_runtime(spec, settings, progress), params=LOCAL_DEFAULT_PARAMS.merged(params))


REGISTRY: dict[str, Provider] = {
    "local": Provider(_local_chat, _local_completion),
    "openai": Provider(_openai_chat, _openai_completion),
    "llamacpp": Provider(_served_chat, _served_completion),
    "ollama": Provider(_served_chat, _served_completion),
    "fake": Provider(_fake_chat, _fake_completion),
}
"""Provider prefix -> how its models are built: a new provider is one entry here (and its
errors in models.errors.explain)."""


def build_chat_model(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    params: GenerationParams | None = None,
    progress: Progress | None = None,
) -> BaseChatModel:
    """Build the chat model `spec` with the settings' connection and generation `params`."""
    return REGISTRY[spec.provider].chat(spec, settings, settings.params.merged(params), progress)


def build_completion_model(
    spec: ModelSpec,
    settings: ModelSettings,
    *,
    params: GenerationParams | None = None,
    progress: Progress | None = None,
) -> BaseLLM:
    """A plain text-completion model (prompt string in, text out) for completion templates."""
    return REGISTRY[spec.provider].completion(spec, settings, settings.params.merged(params), progress)


def _runtime(spec: ModelSpec, settings: ModelSettings, progress: Progress | None) -> Any:
    """The shared local runtime for `spec` with the settings' dtype and threads."""
    from agent_app.models.local_runtime import get_runtime

    return get_runtime(
        _local_source(spec),
        dtype=settings.dtype,
        threads=settings.threads,
        decode_threads=settings.decode_threads,
        progress=progress,
    )


def _openai_params(params: GenerationParams) -> dict:
    """Constructor fields of the OpenAI models; the rest go per call via `invoke_kwargs`."""
    p = params.invoke_kwargs()
    fields: dict[str, Any] = {k: p.pop(k) for k in ("temperature", "top_p", "max_tokens", "seed") if k in p}
    if "stop" in p:
        fields["stop"] = p.pop("stop")
    if p:
        fields["model_kwargs"] = p  # top_k etc., moved to extra_body for compatible servers
    return fields


def _fake_replies(name: str) -> list[str]:
    if not name:
        return []
    from agent_app.yamlfile import YAMLProblem, read_yaml

    path = Path(name).expanduser()
    try:
        replies = read_yaml(path)
    except YAMLProblem as exc:
        raise ModelNotFoundError(f"scripted replies {exc.where(path)}: {exc.problem}") from None
    if not isinstance(replies, list):
        raise ConfigError(f"{path} must hold a YAML list of replies")
    return [str(r) for r in replies]
