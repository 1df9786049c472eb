"""Agent settings: the `agent` section of the app's configuration.

Pydantic only (no LangChain), so the configuration can import it cheaply.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AgentMode = Literal["auto", "react", "native"]


class AgentSettings(BaseModel):
    """How the agent runs: loop kind, limits, and the aids that make a small local model route well."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    mode: AgentMode = Field(
        "auto",
        description="auto: native tool calling for models that support it (gpt-*), ReAct otherwise; "
        "react: the text loop; native: langchain create_agent with real tool calls (the local model "
        "too, by grammar-constrained calls, but auto keeps ReAct there: bench_agent check half, "
        "right tool 96% against 20% native on bench_agent's fresh check half)",
    )
    max_steps: int = Field(4, ge=1, le=20, description="tool calls per question before a forced final answer")
    template: str = Field("react", description="ReAct template: a name in prompts/agents/ or a YAML path")
    examples: int = Field(4, ge=0, le=20, description="few-shot examples shown, chosen by similarity")
    constrained: bool = Field(
        True,
        description="local model: choose the action by scoring valid tool names (not free text); "
        "llama.cpp: hold each step to the format and the tool names with a GBNF grammar",
    )
    routing_prior: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="local model: weight of the embedding-similarity prior over tools (0 = model alone)",
    )
    thoughts: bool | None = Field(
        None, description="write a Thought before each action (default: off on the constrained local model)"
    )
    copy_inputs: bool = Field(
        True,
        description="local model: tool inputs use only words of the question and of earlier "
        "observations (plus math symbols for the calculator)",
    )
    copy_boost: float = Field(
        0.0,
        ge=0.0,
        le=20.0,
        description="local model: logit bonus for the observations' words in the final answer "
        "(0 = off, the default since it paid nothing on a fresh check half: agent.rules)",
    )
    input_max_tokens: int = Field(24, ge=4, le=400, description="new tokens for one action input")
    answer_max_tokens: int = Field(160, ge=8, le=4096, description="new tokens for the final answer")
    step_max_tokens: int = Field(256, ge=16, le=4096, description="new tokens for one free-text ReAct step")
    observation_chars: int = Field(1200, ge=100, le=20000, description="longer observations are cut")
