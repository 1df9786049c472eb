"""Template settings: a section of the app configuration (wired into agent_app/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TemplateSettings(BaseModel):
    """Which template to use by default, where user templates live, and preset variables."""

    model_config = ConfigDict(extra="forbid")

    default_template: str = Field("default", description="template used when none is chosen (a name)")
    template_dirs: list[Path] = Field(
        default_factory=list,
        description="user template folders, searched before the shipped prompts/ (first match wins); "
        "the folders in AGENT_APP_TEMPLATE_DIRS (os.pathsep separated) come before these",
    )
    vars: dict[str, str] = Field(
        default_factory=dict, description="template variables preset for every template (like --var)"
    )

    @field_validator("vars", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        # YAML reads `year: 2024` as a number; template variables are text.
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) or v is None else str(v) for k, v in value.items()}
        return value

    @field_validator("template_dirs", mode="before")
    @classmethod
    def _one_dir_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | Path) else value
