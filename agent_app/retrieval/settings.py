"""Retrieval settings: how documents are split, embedded and searched.

Pydantic only (no heavy imports) so the app's config can embed it as the `retrieval` section.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".csv", ".json")

_EMBEDDINGS_SPEC = re.compile(r"^(bundled|openai:[\w.\-/]+)$")


class RetrievalSettings(BaseModel):
    """Everything ingest and search can be configured with. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    chunk_size: int = Field(800, ge=100, le=8000, description="characters per chunk")
    chunk_overlap: int = Field(120, ge=0, le=2000, description="characters shared by neighbouring chunks")
    k: int = Field(4, ge=1, le=50, description="passages returned per question")
    relevance_threshold: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="drop passages whose cosine similarity to the question is below this (e.g. 0.2)",
    )
    default_collection: str = Field("default", description="collection used when none is named")
    embeddings: str = Field("bundled", description="'bundled' (offline all-MiniLM-L6-v2) or 'openai:<model>'")
    include: list[str] = Field(
        default_factory=list,
        description="glob patterns a file in a folder must match (default: every supported type)",
    )
    exclude: list[str] = Field(
        default_factory=lambda: [".*", "node_modules", "__pycache__"],
        description="glob patterns of files or folders to skip (matched against names and relative paths)",
    )
    max_file_mb: float = Field(50.0, gt=0, description="larger files are skipped")

    @field_validator("embeddings")
    @classmethod
    def _known_embeddings(cls, value: str) -> str:
        value = value.strip()
        if not _EMBEDDINGS_SPEC.match(value):
            raise ValueError("must be 'bundled' or 'openai:<model>', e.g. openai:text-embedding-3-small")
        return value

    @field_validator("default_collection")
    @classmethod
    def _valid_collection_name(cls, value: str) -> str:
        from agent_app.retrieval.storage import check_collection_name

        return check_collection_name(value)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RetrievalSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self
