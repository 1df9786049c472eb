"""Settings of `serve` (the `serve:` section of config.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class ServeSettings(BaseModel):
    """The OpenAI-compatible server: where it listens, who may use it, and its limits."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    host: str = Field("127.0.0.1", description="address to bind; any other than loopback requires api_keys")
    port: int = Field(8000, ge=0, le=65535, description="port to bind (0: any free port)")
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="keys a client sends as 'Authorization: Bearer KEY' (or AGENT_APP_SERVE_KEYS=KEY1,KEY2)",
    )
    max_request_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted")
    max_tokens: int = Field(4096, ge=1, description="largest max_tokens a request may ask for")
    url: str | None = Field(None, description="a running server that `ask` sends questions to (ask --server)")

    def keys(self) -> list[str]:
        return [key.get_secret_value() for key in self.api_keys if key.get_secret_value()]
