"""Retrieval settings: how documents are split, embedded and searched.

Pydantic only (no heavy imports) so the app's config can embed it as the `retrieval` section.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent_app.postgres import check_store

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".csv", ".json")

_EMBEDDINGS_SPEC = re.compile(r"^(bundled|e5-small|minilm|openai:[\w.\-/]+|hf:\S+)$")
# Tuned on the tuning half of bench/retrieval_questions.yaml (bench/bench_retrieval_quality.py):
# with multilingual-e5-small, fused MRR averaged over chunk sizes 64 and 200 was 0.870 at 0.5,
# 0.910 at 0.7, 0.913 at 0.8 and 0.915 at 0.9 (0.945 at both 0.8 and 0.9 with 128-token
# chunks). BM25 still decides between near-equal vector scores (`fusion.MIN_SPREAD`), and its
# top hit is always kept among the results (`fusion.keep_top_hits`).
DEFAULT_VECTOR_WEIGHT = 0.9


class RetrievalSettings(BaseModel):
    """Everything ingest and search can be configured with. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # 128 tokens (about 100 English words, 150-200 Japanese characters): on the tuning half,
    # hit@1 was 91% at 96 and 128 tokens and 85% at 200; four such chunks fit the local
    # model's context budget with little cutting.
    chunk_size: int = Field(
        128, ge=32, le=8000, description="tokens of the embedding model per chunk (at most what the model reads)"
    )
    chunk_overlap: int = Field(24, ge=0, le=2000, description="tokens shared by neighbouring chunks")
    k: int = Field(4, ge=1, le=50, description="passages returned per question")
    relevance_threshold: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="drop passages whose cosine similarity to the question is below this (e.g. 0.2)",
    )
    vector_weight: float = Field(
        DEFAULT_VECTOR_WEIGHT,
        ge=0.0,
        le=1.0,
        description="weight of vector similarity against keyword (BM25) score when fusing the two rankings",
    )
    context_tokens: int | None = Field(
        None,
        ge=64,
        le=100_000,
        description="most tokens of retrieved text given to the model (default: 600 for the local model, else 3000)",
    )
    default_collection: str = Field("default", description="collection used when none is named")
    embeddings: str = Field(
        "bundled",
        description="'bundled' (multilingual-e5-small, offline), 'e5-small', 'minilm', 'hf:<folder or id>' "
        "or 'openai:<model>'",
    )
    include: list[str] = Field(
        default_factory=list,
        description="glob patterns a file in a folder must match (default: every supported type)",
    )
    exclude: list[str] = Field(
        default_factory=lambda: [".*", "node_modules", "__pycache__"],
        description="glob patterns of files or folders to skip (matched against names and relative paths)",
    )
    max_file_mb: float = Field(50.0, gt=0, description="larger files are skipped")
    store: str = Field(
        "",
        description="where collections live: empty for the data folder (FAISS files), or a PostgreSQL "
        "URL with pgvector, postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
    )
    stores: dict[str, str] = Field(
        default_factory=dict, description="per collection: name -> store (as `store`), overriding `store`"
    )

    def store_for(self, collection: str) -> str:
        """The store of `collection`: "" for the data folder, else a PostgreSQL URL."""
        return self.stores.get(collection, self.store)

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        return check_store(value)

    @field_validator("stores")
    @classmethod
    def _known_stores(cls, value: dict[str, str]) -> dict[str, str]:
        from agent_app.retrieval.storage import check_collection_name

        return {check_collection_name(name): check_store(url) for name, url in value.items()}

    @field_validator("embeddings")
    @classmethod
    def _known_embeddings(cls, value: str) -> str:
        value = value.strip()
        if not _EMBEDDINGS_SPEC.match(value):
            raise ValueError(
                "must be bundled, e5-small, minilm, hf:<folder or id> or openai:<model>, "
                "e.g. openai:text-embedding-3-small"
            )
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
