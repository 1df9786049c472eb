"""Logging settings (configuration section `logging`). Kept free of LangChain and rich imports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoggingSettings(BaseModel):
    """The event log and the live notes."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="write the event log (data folder, logs/events.jsonl)")
    log_content: bool = Field(True, description="include prompts, answers, tool input/output and documents in the log")
    max_bytes: int = Field(5_000_000, ge=10_000, description="rotate the log file at this size")
    backups: int = Field(3, ge=0, le=100, description="rotated log files to keep")
    verbose: Literal["off", "info", "debug"] = Field(
        "off", description="live event notes beside the answer (--verbose, /verbose)"
    )
