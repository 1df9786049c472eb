"""What `--model` can be set to on this machine: `python main.py models` and `/model` list it.

- the bundled SmolLM2-135M, on ONNX Runtime or torch (`local`, by `dtype`) and on llama.cpp (`llamacpp`);
- models already converted for transformers (the cache), by their folder;
- GGUF files in the models folder (`models_dir`, default DATA/models), for `llamacpp/PATH`;
- Ollama's pulled models, when Ollama answers (a short probe: a stopped Ollama costs little);
- OpenAI, when a key or a compatible base_url is configured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from agent_app import paths
from agent_app.errors import AppError
from agent_app.models.settings import ModelSettings

OLLAMA_LIST_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class ModelChoice:
    """One value for `--model`, where it comes from, and a note for people."""

    model: str
    source: str  # bundled, converted, gguf, ollama, openai
    note: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def models_dir(settings: ModelSettings) -> Path:
    """The folder whose GGUF files are listed."""
    return Path(settings.models_dir).expanduser() if settings.models_dir else paths.data_dir() / "models"


def available_models(settings: ModelSettings) -> list[ModelChoice]:
    """Every model choice found, bundled first."""
    choices = [
        ModelChoice("local", "bundled", "SmolLM2-135M-Instruct, its 4-bit weights on ONNX Runtime (the default)"),
        ModelChoice("llamacpp", "bundled", "the same model on llama.cpp: several times faster"),
    ]
    choices += _converted()
    choices += [
        ModelChoice(f"llamacpp/{path}", "gguf", f"{path.stat().st_size / 1e6:,.0f} MB")
        for path in sorted(models_dir(settings).glob("**/*.gguf"))
    ]
    choices += _ollama(settings)
    if settings.openai_api_key or settings.base_url:
        from agent_app.monitoring.redact import redact_message

        where = redact_message(settings.base_url) if settings.base_url else "api.openai.com"
        choices.append(ModelChoice("openai/NAME", "openai", f"any model {where} serves, e.g. openai/gpt-4o-mini"))
    return choices


def _converted() -> list[ModelChoice]:
    """Folders converted for transformers other than the bundled model's own copy."""
    root = paths.cache_dir() / "models"
    found = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        if (folder / "config.json").is_file() and not folder.name.startswith("SmolLM2-135M-Instruct"):
            found.append(ModelChoice(f"local/{folder}", "converted", "converted for transformers"))
    return found


def _ollama(settings: ModelSettings) -> list[ModelChoice]:
    from agent_app.models.factory import ollama_models

    try:
        names = ollama_models(settings.ollama_host, timeout=OLLAMA_LIST_TIMEOUT_S)
    except AppError:
        return []  # not running: nothing to list (choosing ollama/NAME says how to start it)
    return [ModelChoice(f"ollama/{name}", "ollama", f"pulled in Ollama at {settings.ollama_host}") for name in names]
