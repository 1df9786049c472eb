"""The ReAct template: instructions, the step markers and worked examples, from one YAML file.

Shipped templates live in `prompts/agents/` (a sub-folder, so the chat template registry, which
lists `prompts/*.yaml`, does not mistake them for chat templates). A template is read with
`agent_app.yamlfile` (safe, no aliases) and validated by pydantic with unknown keys rejected, like the chat templates.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent_app.errors import TemplateError
from agent_app.paths import shipped

AGENT_TEMPLATE_DIR = shipped("prompts", "agents")
NO_TOOL = "none"
"""The `action` of an example that answers without a tool."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_STRICT = ConfigDict(extra="forbid")


class Markers(BaseModel):
    """The words that start each part of a ReAct step."""

    model_config = _STRICT
    question: str = "Question:"
    thought: str = "Thought:"
    action: str = "Action:"
    action_input: str = "Action Input:"
    observation: str = "Observation:"
    final_answer: str = "Final Answer:"


class Example(BaseModel):
    """One worked example: a question, optionally one tool use, and the answer."""

    model_config = _STRICT
    question: str
    thought: str = ""
    action: str = NO_TOOL
    input: str = ""
    observation: str = ""
    answer: str

    @model_validator(mode="after")
    def _tool_needs_io(self) -> Example:
        if self.action != NO_TOOL and not (self.input and self.observation):
            raise ValueError(f"example {self.question!r}: a tool example needs input and observation")
        return self


class ReActTemplate(BaseModel):
    """A validated ReAct template; `{tools}`, `{tool_names}` etc. are filled by the agent."""

    model_config = _STRICT
    description: str = ""
    system: str = Field(min_length=1)
    markers: Markers = Field(default_factory=Markers)
    format_error: str = "Invalid format: {problem}."
    unknown_tool: str = "There is no tool named {tool!r}. Use one of: {tool_names}."
    repeated_call: str = "You already ran {tool} with this input."
    forced_answer: str = "Write the Final Answer now."
    examples: list[Example] = Field(default_factory=list)

    def examples_for(self, tool_names: list[str]) -> list[Example]:
        """The examples usable with these tools (tool-free ones always are)."""
        return [e for e in self.examples if e.action == NO_TOOL or e.action in tool_names]


def template_path(name_or_path: str) -> Path:
    """A bare name means `prompts/agents/NAME.yaml`; anything with a slash or suffix is a path."""
    if "/" in name_or_path or "\\" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path).expanduser()
    if not _NAME.match(name_or_path):
        raise TemplateError(f"invalid agent template name {name_or_path!r}")
    return AGENT_TEMPLATE_DIR / f"{name_or_path}.yaml"


def load_react_template(name_or_path: str = "react") -> ReActTemplate:
    """Load and validate a ReAct template (cached per path and modification time)."""
    path = template_path(name_or_path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise TemplateError(f"cannot read agent template {path}: {exc.strerror or exc}") from None
    return _load(path, stamp)


@lru_cache(maxsize=8)
def _load(path: Path, _stamp: int) -> ReActTemplate:
    from agent_app.yamlfile import YAMLProblem, read_yaml_text, validation_message

    try:
        data, text = read_yaml_text(path)
    except YAMLProblem as exc:
        raise TemplateError(f"{exc.where(path)}: cannot read the agent template: {exc.problem}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: an agent template must be a mapping (system, examples, ...)")
    try:
        return ReActTemplate.model_validate(data)
    except ValidationError as exc:
        raise TemplateError(validation_message(exc, path, text)) from None
