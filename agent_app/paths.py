"""Where the app keeps its files: configuration, data (conversations, indexes, logs) and cache
(the converted local model). Each can be moved with an environment variable, which is how the
tests keep a user's real folders untouched."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "agent-app"


def _dir(env_var: str, kind: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        return Path(override).expanduser()
    import platformdirs  # cheap, but only needed here

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def config_dir() -> Path:
    """Folder of `config.yaml` (AGENT_APP_CONFIG_DIR overrides)."""
    return _dir("AGENT_APP_CONFIG_DIR", "config")


def data_dir() -> Path:
    """Folder for conversations, document indexes and logs (AGENT_APP_DATA_DIR overrides)."""
    return _dir("AGENT_APP_DATA_DIR", "data")


def cache_dir() -> Path:
    """Folder for re-creatable files such as the converted model (AGENT_APP_CACHE_DIR overrides)."""
    return _dir("AGENT_APP_CACHE_DIR", "cache")


def shipped(*parts: str) -> Path:
    """A file or folder shipped inside the package (the prompt templates, the price table).

    Found with importlib.resources, so it works from the repository and from an installed wheel
    alike. The wheel is installed unzipped (pip, pipx and uv all do), so the resource is a real
    path and folders can be listed with `Path.glob`.
    """
    from importlib import resources

    return Path(str(resources.files("agent_app").joinpath(*parts)))
