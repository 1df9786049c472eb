"""`ingest --ray` on a real local Ray (2 CPUs): the same chunks and vectors as the plain path,
into the folder store and into PostgreSQL, unchanged files skipped by their hash, and a clear
message without Ray."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent_app.retrieval import RetrievalSettings, ingest, open_collection
from agent_app.retrieval.ray_ingest import RayUnavailableError
from tests.support.cli import run_cli

pytestmark = pytest.mark.usefixtures("embeddings")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="ray[data] is in requirements-dev.txt")
    from agent_app.retrieval.ray_ingest import start

    start("")
    try:
        yield
    finally:
        ray.shutdown()


def chunks_and_vectors(name: str, settings: RetrievalSettings) -> dict[str, tuple[str, np.ndarray]]:
    coll = open_collection(name, settings)
    out = {}
    for position in range(coll.chunk_count):
        doc = coll.vectors.document(position)
        out[str(doc.id)] = (doc.page_content, coll.vectors._index.reconstruct(position))
    return out


def test_ray_gives_the_plain_paths_chunks_and_vectors(corpus: Path, local_ray: None) -> None:
    settings = RetrievalSettings()
    plain = ingest([corpus], "plain", settings)
    on_ray = ingest([corpus], "on-ray", settings, ray="")

    assert sorted(on_ray.added) == sorted(plain.added) and on_ray.total_chunks == plain.total_chunks
    assert sorted((s.path, s.reason) for s in on_ray.skipped) == sorted((s.path, s.reason) for s in plain.skipped)
    a, b = chunks_and_vectors("plain", settings), chunks_and_vectors("on-ray", settings)
    assert a.keys() == b.keys()
    for chunk_id, (text, vector) in a.items():
        assert b[chunk_id][0] == text
        # The same model; which of its two engines runs a call depends on the call's size
        # (agent_app.embeddings), so vectors may differ by rounding, never by meaning.
        assert float(b[chunk_id][1] @ vector) > 0.9999, chunk_id
    ours, theirs = open_collection("on-ray", settings).files, open_collection("plain", settings).files
    assert {p: (r.sha256, r.chunk_ids) for p, r in ours.items()} == {
        p: (r.sha256, r.chunk_ids) for p, r in theirs.items()
    }

    again = ingest([corpus], "on-ray", settings, ray="")
    assert not again.added and not again.updated and len(again.unchanged) == len(plain.added)


def test_ray_writes_into_a_postgresql_collection(corpus: Path, local_ray: None, pg_url: str) -> None:
    settings = RetrievalSettings(stores={"shared": pg_url})
    report = ingest([corpus], "shared", settings, ray="")
    coll = open_collection("shared", settings)
    assert type(coll).__name__ == "PgCollection" and coll.chunk_count == report.total_chunks > 0
    assert "two years" in coll.search("How long is the warranty?", 1)[0].page_content


def test_without_ray_the_message_says_how_to_get_it(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(RayUnavailableError) as caught:
        ingest([corpus], "x", RetrievalSettings(), ray="")
    assert "agent-app[ray]" in (caught.value.hint or "")
    result = run_cli("ingest", str(corpus), "--ray")
    assert result.code == 1 and "Traceback" not in result.err and "pip install" in result.err
