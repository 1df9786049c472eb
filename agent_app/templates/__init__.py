"""YAML prompt templates: the format (schema), loading (loader), lookup (registry), prompts.

    registry = TemplateRegistry.from_settings(settings.templates)
    template = registry.get("few-shot-keywords")        # TemplateError: one line, file and line
    chain = chains.build_chain(template, model)           # see chains/

Importing this package stays light (pydantic and yaml); the LangChain prompt builder is
imported on first use of `TemplatePrompt` or `render_prompt`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_app.templates.loader import load_template, parse_template
from agent_app.templates.registry import (
    SHIPPED_TEMPLATE_DIR,
    TEMPLATE_DIRS_ENV,
    TemplateInfo,
    TemplateRegistry,
)
from agent_app.templates.schema import Template
from agent_app.templates.settings import TemplateSettings

if TYPE_CHECKING:
    from agent_app.templates.prompt_builder import TemplatePrompt, render_prompt

__all__ = [
    "SHIPPED_TEMPLATE_DIR",
    "TEMPLATE_DIRS_ENV",
    "Template",
    "TemplateInfo",
    "TemplatePrompt",
    "TemplateRegistry",
    "TemplateSettings",
    "load_template",
    "parse_template",
    "render_prompt",
]


def __getattr__(name: str) -> Any:
    if name in {"TemplatePrompt", "render_prompt"}:
        from agent_app.templates import prompt_builder

        return getattr(prompt_builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
