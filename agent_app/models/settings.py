"""The model settings: which model, where it is served, how it samples. Pydantic only, so the
app's configuration (which extends this class) and the model factory can both import it cheaply.

In the configuration these are top-level keys (`model:`, `base_url:`, `params:`, ...), and
`AGENT_APP_MODEL`, `OPENAI_API_KEY`, `OPENAI_BASE_URL` in the environment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from agent_app.models.params import GenerationParams


class ModelSettings(BaseModel):
    """Everything that decides which model answers and how. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str | None = Field(
        None,
        description="'provider/model', a bare provider, a model folder or a Hugging Face id; "
        "default: openai/gpt-4o-mini when an OpenAI key is set, else local",
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server URL (OPENAI_BASE_URL)")
    ollama_host: str = Field("http://localhost:11434", description="where Ollama listens (OLLAMA_HOST)")
    models_dir: str | None = Field(None, description="folder of GGUF files that `models` lists (default: DATA/models)")
    openai_api_key: SecretStr | None = Field(None, description="OpenAI key (OPENAI_API_KEY)")
    request_timeout: float = Field(
        60.0, gt=0, description="seconds a remote model may stay silent before the call is given up"
    )
    max_retries: int = Field(1, ge=0, le=10, description="retries of a failed remote call")
    tool_calling: Literal["auto", "native", "json_schema"] = Field(
        "auto",
        description="how a served model calls tools: native (the server's own tool calls), json_schema "
        "(emulated: the call is decoded as JSON held to the tools' schemas, for servers that ignore "
        "`tools` or models that never call, such as the bundled one on llama.cpp), auto (native on "
        "api.openai.com, else one probe)",
    )
    chat_template: str | None = Field(
        None,
        description="Jinja chat template file for a llamacpp/ GGUF (default: the file's own; the bundled "
        "GGUF gets its ChatML template plus tools, so llama.cpp returns native tool calls)",
    )
    params: GenerationParams = Field(default_factory=GenerationParams)
    threads: int | None = Field(None, ge=1, le=256, description="threads for the local model (torch or ONNX Runtime)")
    # bench/bench_threads.py, 2 cores, fp32 on oneDNN: with the other core idle, 2 threads decode
    # at 19.4 tokens/s against 14.0 on 1; with another program on it, 2 collapse to 4.2 while 1
    # keeps 15.0. "auto" times both on an answer's first tokens (models.decode_threads): 17.9
    # tokens/s idle, 15.5 busy.
    decode_threads: int | Literal["auto"] | None = Field(
        "auto",
        description="threads while the local model writes: auto (timed, 1 or all), a count, or None (same as threads)",
    )
    # bench/bench_int8.py and bench/bench_agent.py, 2 cores: q4 (the GGUF's own 4-bit weights on
    # ONNX Runtime) decodes at 83 tokens/s against 16 for fp32, perplexity 33.2/7.8 against
    # 33.3/7.7 (English/Japanese), the agent's accuracy the same on both halves.
    dtype: Literal["auto", "float32", "bfloat16", "float16", "int8", "q4"] = Field(
        "auto",
        description="weights of the local model: auto (q4 for the bundled model, else float32); q4 runs "
        "the bundled GGUF's 4-bit weights on ONNX Runtime, ~5x faster than float32; int8 ~1.6x for "
        "~15% higher perplexity; bf16 halves memory, no faster on CPU",
    )
    context_window: int | None = Field(None, ge=256, description="prompt+answer token limit (default: the model's own)")

    @field_validator("decode_threads", mode="before")
    @classmethod
    def _auto_or_a_count(cls, value: Any) -> Any:
        # One message for both kinds, instead of pydantic's per-member errors of the union.
        if value is None or value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            return value
        raise ValueError(f"decode_threads must be auto or a thread count of 1 or more, not {value!r}")

    @field_validator("openai_api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value
