"""`ingest --ray [ADDRESS]`: reading, splitting and embedding as a Ray Data pipeline, for corpora
too big for one machine's cores (tens of GB take weeks on one 2-core machine).

    files -> flat_map(read, hash, split: one row per chunk) -> map_batches(embed) -> the driver

The embedding step is a class-based `map_batches` UDF, so each worker loads the embedding model
once and keeps it; reading and splitting run as plain tasks beside it. Every worker reads the
files itself (on a cluster they must be on a shared filesystem, at the same paths) and skips a
file whose content hash equals the one the collection already holds, as the plain path does.
The driver collects each file's chunks and vectors and hands them to the collection, which
saves once at the end (one atomic swap for the folder store, one transaction for PostgreSQL):
an interrupted run changes nothing, as without Ray.

Ray is an optional extra (`pip install 'agent-app[ray]'`); `ray.init()` starts a local Ray on
this machine's cores when no address is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from agent_app.errors import AppError

if TYPE_CHECKING:
    from agent_app.retrieval.collection import Collection
    from agent_app.retrieval.settings import RetrievalSettings

BATCH = 64  # chunks per embedding call, as the plain path's EMBED_BATCH
EMBED_CPUS, READ_CPUS = 0.75, 0.25
"""Ray's CPU accounting per embedding worker (one per CPU) and per reading task: embedding
workers that claimed whole CPUs left none for the reading tasks that feed them, and the
pipeline waited for ever on 2 CPUs. (The accounting only schedules; a worker's engine uses the
threads it was given.)"""


class RayUnavailableError(AppError):
    """`--ray` without Ray installed, or a Ray cluster that cannot be reached."""


def start(address: str) -> Any:
    """`ray.init` for `address` ("" = a local Ray on this machine), workers able to import the app."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "ingest --ray needs Ray", hint="pip install 'agent-app[ray]' (or: pip install 'ray[data]')"
        ) from None
    import agent_app

    app_root = str(Path(agent_app.__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k.startswith("AGENT_APP_") or k in ("HF_HUB_OFFLINE",)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [app_root, os.environ.get("PYTHONPATH", "")]))
    import logging

    for name in ("ray", "ray.data"):  # its INFO lines would tear the ingest's progress display
        logging.getLogger(name).setLevel(logging.WARNING)
    if not ray.is_initialized():
        try:
            ray.init(
                address=address or None,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": env},
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(
                f"cannot start or reach Ray{f' at {address}' if address else ''} ({exc})",
                hint="check the address (ray://HOST:10001 or HOST:6379), or leave it out for a local Ray",
            ) from None
    return ray


Outcome = tuple[str, str, Any]
"""(path, "unchanged", None) | (path, "skipped", reason) | (path, "chunks", (record, chunks, vectors))."""


def read_and_embed(
    files: list[Path],
    coll: Collection,
    settings: RetrievalSettings,
    max_bytes: int,
    address: str,
    read_file: Callable[..., Any],
) -> Iterator[Outcome]:
    """What became of each file, in file order, as Ray finishes it. `read_file` is the plain
    path's reader (`ingestion._read_file`), run on the workers."""
    import numpy as np

    from agent_app.retrieval.splitting import Chunk
    from agent_app.retrieval.storage import FileRecord

    ray = start(address)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    known = {path: record.sha256 for path, record in coll.files.items()}
    reader = _Reader(read_file, known, settings.model_dump(), coll.embedding_model, max_bytes)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    rows = (
        ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=min(len(files), 4 * cpus) or 1)
        .flat_map(reader, num_cpus=READ_CPUS)
        .map_batches(
            _Embedder,
            fn_constructor_kwargs={"model": coll.embedding_model},
            batch_size=BATCH,
            compute=ray.data.ActorPoolStrategy(size=cpus),
            num_cpus=EMBED_CPUS,
            batch_format="pandas",
        )
    )
    current: str | None = None
    chunks: list[Chunk] = []
    vectors: list[Any] = []
    for row in rows.iter_rows():
        if row["status"] != "chunk":
            yield row["path"], row["status"], row["reason"] or None
            continue
        if current != row["path"]:
            current, chunks, vectors = row["path"], [], []
        chunks.append(Chunk(text=row["text"], metadata=json.loads(row["metadata"]), headings=row["headings"]))
        vectors.append(row["vector"])
        if len(chunks) == row["count"]:
            record = FileRecord(sha256=row["sha256"], size=int(row["size"]), chunk_ids=json.loads(row["ids"]))
            yield row["path"], "chunks", (record, chunks, np.asarray(np.stack(vectors), dtype=np.float32))
            current = None


_ROW = {"path": "", "status": "", "reason": "", "sha256": "", "size": 0, "ids": "[]", "count": 0, "text": "",
        "headings": "", "metadata": "{}", "embedding_text": ""}  # fmt: skip
"""Every row has every column (Arrow blocks need one schema)."""


class _Reader:
    """flat_map: one file -> one row per chunk (or one row saying unchanged / skipped)."""

    def __init__(
        self, read_file: Callable[..., Any], known: dict[str, str], settings: dict[str, Any], model: str, max_bytes: int
    ) -> None:
        self.read_file = read_file
        self.known, self.settings, self.model, self.max_bytes = known, settings, model, max_bytes

    def __call__(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        from agent_app.retrieval.settings import RetrievalSettings

        key = item["path"]
        report = SimpleNamespace(unchanged=[], skipped=[])  # what the reader records, for this file
        files = {key: SimpleNamespace(sha256=self.known[key])} if key in self.known else {}
        stand_in = SimpleNamespace(files=files, embedding_model=self.model)
        settings = RetrievalSettings(**self.settings)
        pending = self.read_file(Path(key), key, stand_in, settings, self.max_bytes, report)
        if pending is None:
            if report.unchanged:
                return [{**_ROW, "path": key, "status": "unchanged"}]
            reason = report.skipped[0].reason if report.skipped else "not read"
            return [{**_ROW, "path": key, "status": "skipped", "reason": reason}]
        ids = json.dumps(pending.record.chunk_ids)
        return [
            {
                **_ROW,
                "path": key,
                "status": "chunk",
                "sha256": pending.record.sha256,
                "size": pending.record.size,
                "ids": ids,
                "count": len(pending.chunks),
                "text": chunk.text,
                "headings": chunk.headings,
                "metadata": json.dumps(chunk.metadata, ensure_ascii=False, default=str),
                "embedding_text": chunk.embedding_text,
            }
            for chunk in pending.chunks
        ]


class _Embedder:
    """map_batches: the embedding model, loaded once per worker, over the chunk rows."""

    def __init__(self, model: str) -> None:
        from agent_app.retrieval.embedding_models import load_embeddings

        self.embeddings = load_embeddings(model)

    def __call__(self, batch: Any) -> Any:
        mask = batch["status"] == "chunk"
        texts = batch.loc[mask, "embedding_text"].tolist()
        vectors = self.embeddings.embed_documents(texts) if texts else []
        column: list[Any] = [None] * len(batch)
        for position, vector in zip(mask[mask].index, vectors, strict=True):
            column[batch.index.get_loc(position)] = [float(x) for x in vector]
        batch = batch.drop(columns=["embedding_text"])
        batch["vector"] = column
        return batch
