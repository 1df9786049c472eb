"""Configuration: a YAML file, then environment variables, then command-line flags, later ones
winning, validated once by pydantic.

- File: `config.yaml` in the config folder (see `agent_app.paths`), or `--config PATH`.
- Environment: `AGENT_APP_<FIELD>` and `AGENT_APP_<SECTION>__<FIELD>` (for example
  `AGENT_APP_MODEL=local`, `AGENT_APP_PARAMS__TEMPERATURE=0.2`), plus the standard
  `OPENAI_API_KEY`, `OPENAI_BASE_URL` and `OLLAMA_HOST`, and `AGENT_APP_SERVE_KEYS` (comma-separated).
- Flags: whatever the CLI passes as `overrides`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from agent_app import paths
from agent_app.agent.settings import AgentSettings
from agent_app.errors import ConfigError
from agent_app.memory.settings import MemorySettings
from agent_app.models.settings import ModelSettings
from agent_app.monitoring.settings import LoggingSettings
from agent_app.retrieval.settings import RetrievalSettings
from agent_app.serve.settings import ServeSettings
from agent_app.templates.settings import TemplateSettings
from agent_app.tools.settings import ToolsSettings

ENV_PREFIX = "AGENT_APP_"
# Environment variables with that prefix that are not settings (they move folders).
_NOT_SETTINGS = {"DATA_DIR", "CACHE_DIR", "CONFIG_DIR"}


class Settings(ModelSettings):
    """Everything the app can be configured with: the model settings (top-level keys) and one
    section per package. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    history: bool = Field(True, description="keep a readline history of chat input")
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict safe to print or log (secrets hidden)."""
        data = self.model_dump(mode="json", exclude_none=True)
        if self.openai_api_key is not None:
            data["openai_api_key"] = "***"
        if self.serve.api_keys:
            data["serve"]["api_keys"] = ["***"] * len(self.serve.api_keys)
        return data


def default_config_path() -> Path:
    return paths.config_dir() / "config.yaml"


def load_settings(
    config_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge file, environment and flag values (in that order) and validate them."""
    environ = dict(os.environ if environ is None else environ)
    explicit = config_path is not None
    path = Path(config_path).expanduser() if config_path is not None else default_config_path()
    data: dict[str, Any] = {}
    text: str | None = None
    if path.is_file():
        data, text = _read_yaml(path)
    elif explicit and path.is_dir():
        raise ConfigError(f"--config {path} is a folder", hint="give the YAML file itself, e.g. config.yaml")
    elif explicit:
        raise ConfigError(f"config file not found: {path}")
    _deep_merge(data, _from_environ(environ))
    _deep_merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        from agent_app.yamlfile import line_of, validation_message

        # Name the file (and line) only when the bad key is in it, not in the environment or flags.
        in_file = text is not None and line_of(text, tuple(exc.errors()[0]["loc"])) is not None
        source = f"invalid configuration in {path}" if in_file else "invalid configuration"
        raise ConfigError(validation_message(exc, source, text if in_file else None)) from None
    from agent_app.monitoring.redact import register_secret

    if settings.openai_api_key is not None:
        register_secret(settings.openai_api_key.get_secret_value())
    return settings


def _read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    from agent_app.yamlfile import YAMLProblem, read_yaml_text

    try:
        loaded, text = read_yaml_text(path)
    except YAMLProblem as exc:
        raise ConfigError(f"configuration file {exc.where(path)}: {exc.problem}") from None
    if loaded is None:
        return {}, text
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(loaded).__name__}")
    return loaded, text


def _from_environ(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if environ.get("OPENAI_API_KEY"):
        out["openai_api_key"] = environ["OPENAI_API_KEY"]
    if environ.get("OPENAI_BASE_URL"):
        out["base_url"] = environ["OPENAI_BASE_URL"]
    if environ.get("OLLAMA_HOST"):
        out["ollama_host"] = environ["OLLAMA_HOST"]
    if environ.get("AGENT_APP_SERVE_KEYS"):
        keys = [key.strip() for key in environ["AGENT_APP_SERVE_KEYS"].split(",") if key.strip()]
        out["serve"] = {"api_keys": keys}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name[len(ENV_PREFIX) :] in _NOT_SETTINGS:
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        if keys[0] not in Settings.model_fields:
            continue  # the environment is shared: ignore what is not ours
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return out


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value
