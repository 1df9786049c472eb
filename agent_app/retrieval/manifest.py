"""The manifest of a collection: which files it holds, their content hash and chunk ids, and
how it was built (embedding model, chunking). Stored as JSON next to the FAISS files."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FileRecord(BaseModel):
    """One ingested file."""

    model_config = ConfigDict(extra="forbid")

    sha256: str
    size: int
    chunk_ids: list[str]
    ingested_at: str = Field(default_factory=now)


class Manifest(BaseModel):
    """Everything about a collection except the vectors and chunk texts."""

    model_config = ConfigDict(extra="forbid")

    format: int = FORMAT_VERSION
    name: str
    embedding_model: str
    dimensions: int | None = None
    chunk_size: int
    chunk_overlap: int
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    files: dict[str, FileRecord] = Field(default_factory=dict)  # absolute path -> record

    @property
    def chunk_count(self) -> int:
        return sum(len(r.chunk_ids) for r in self.files.values())
