"""Ingesting a corpus of every format, bad files, and incremental re-ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app.errors import AppError
from agent_app.retrieval import (
    RetrievalSettings,
    describe_collections,
    get_retriever,
    ingest,
    open_collection,
    remove,
)
from agent_app.retrieval.errors import (
    CollectionNotFoundError,
    EmptyCollectionError,
    InvalidCollectionNameError,
    NothingToIngestError,
)

pytestmark = pytest.mark.usefixtures("embeddings")


def names(paths: list[str]) -> list[str]:
    return sorted(Path(p).name for p in paths)


def test_ingest_every_format_and_skip_bad_files_by_name(corpus: Path) -> None:
    progress = []
    report = ingest([corpus], progress=progress.append)

    assert names(report.added) == [
        "guide.md", "japanese.txt", "notes.txt", "page.html", "product.json", "report.pdf", "team.csv",
    ]  # fmt: skip
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert skipped == {
        "blob.txt": "binary file, not text",
        "locked.pdf": "encrypted PDF (needs a password)",
        "broken.pdf": "corrupt or unsupported PDF (PdfStreamError)",
        "broken.json": "invalid JSON at line 1",
    }
    assert report.total_files == 7 and report.total_chunks == report.chunks_added >= 7
    assert report.summary().startswith("default: 7 added, 0 updated, 0 unchanged, 0 removed, 4 skipped")

    # Progress: one "reading" per file, embedding counts, then saving; files_total is fixed.
    assert {p.files_total for p in progress} == {11}
    assert [p.files_done for p in progress if p.stage == "reading"] == list(range(1, 12))
    assert progress[-1].stage == "saving" and progress[-1].chunks_done == report.chunks_added

    coll = open_collection()
    docs = coll.search("how long is the warranty", k=1)
    assert docs[0].metadata["file_name"] == "page.html" and "two years" in docs[0].page_content
    pdf = coll.search("revenue growth", k=1)[0]
    assert pdf.metadata["file_name"] == "report.pdf" and pdf.metadata["page"] == 1
    jp = coll.search("日本の首都", k=1)[0]
    assert jp.metadata["file_name"] == "japanese.txt" and "東京" in jp.page_content
    assert (jp.metadata["start_line"], jp.metadata["end_line"]) == (1, 2)


def test_collections_are_named_and_described(corpus: Path) -> None:
    ingest([corpus / "notes.txt"], collection="work")
    ingest([corpus / "guide.md", corpus / "team.csv"])
    infos = {info.name: info for info in describe_collections()}
    assert set(infos) == {"default", "work"}
    assert infos["work"].file_count == 1 and infos["default"].file_count == 2
    assert infos["default"].embedding_model == "bundled:multilingual-e5-small-q4"
    assert infos["default"].chunk_count == sum(f.chunks for f in infos["default"].files)
    assert open_collection("work").search("backup server", k=4)[0].metadata["file_name"] == "notes.txt"


def test_incremental_reingest_unchanged_changed_removed(corpus: Path) -> None:
    first = ingest([corpus])
    assert len(first.added) == 7

    again = ingest([corpus])
    assert (len(again.added), len(again.updated), len(again.unchanged)) == (0, 0, 7)

    (corpus / "notes.txt").write_text("The backup server was renamed to hermes.\n", encoding="utf-8")
    (corpus / "team.csv").unlink()
    changed = ingest([corpus])
    assert names(changed.updated) == ["notes.txt"]
    assert names(changed.removed) == ["team.csv"]
    assert len(changed.unchanged) == 5 and changed.total_files == 6

    coll = open_collection()
    assert str(corpus / "team.csv") not in coll.files
    texts = [d.page_content for d in coll.search("backup server name", k=4)]
    assert any("hermes" in t for t in texts) and not any("atlas" in t for t in texts)
    assert coll.chunk_count == sum(len(r.chunk_ids) for r in coll.files.values())


def test_remove_files_and_folders(corpus: Path) -> None:
    ingest([corpus])
    report = remove([corpus / "guide.md", corpus / "sub", corpus / "nothing.txt"])
    assert names(report.removed) == ["guide.md", "page.html"]
    assert [s.reason for s in report.skipped] == ["not in the collection"]
    assert report.total_files == 5
    assert all(d.metadata["file_name"] != "page.html" for d in open_collection().search("warranty", k=10))


def test_empty_folder_and_missing_paths_say_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToIngestError, match=r"nothing to ingest \(.*empty: empty folder\)"):
        ingest([tmp_path / "empty"])
    with pytest.raises(NothingToIngestError, match="not found"):
        ingest([tmp_path / "typo"])


def test_asking_before_ingesting_says_how_to_ingest() -> None:
    with pytest.raises(CollectionNotFoundError) as info:
        open_collection("papers")
    assert "python main.py ingest PATH --collection papers" in str(info.value)


def test_changing_the_embedding_model_re_embeds_the_collection(corpus: Path) -> None:
    first = ingest([corpus / "notes.txt"], settings=RetrievalSettings(embeddings="minilm"))
    assert first.embedding_model == "bundled:all-MiniLM-L6-v2"
    again = ingest([corpus / "guide.md"], settings=RetrievalSettings(embeddings="e5-small"))
    assert again.embedding_model == "bundled:multilingual-e5-small-q4"
    assert "re-embedded with bundled:multilingual-e5-small-q4 (was bundled:all-MiniLM-L6-v2)" in again.notes[0]
    assert names(again.added) == ["guide.md", "notes.txt"]  # the earlier file was read again
    coll = open_collection("default")
    assert coll.embedding_model == "bundled:multilingual-e5-small-q4"
    assert coll.vectors.dimensions == 384 and coll.search("notes", k=1)

    rebuilt = ingest([corpus / "guide.md"], rebuild=True)
    assert names(rebuilt.added) == ["guide.md"] and rebuilt.total_files == 1
    assert "rebuilt from scratch" in rebuilt.notes[0]


def test_settings_and_names_are_validated() -> None:
    with pytest.raises(ValueError, match="extra"):
        RetrievalSettings(chunk_sise=100)
    with pytest.raises(ValueError, match="chunk_overlap must be smaller"):
        RetrievalSettings(chunk_size=200, chunk_overlap=300)
    with pytest.raises(ValueError, match="openai:<model>"):
        RetrievalSettings(embeddings="word2vec")
    with pytest.raises(InvalidCollectionNameError):
        open_collection("../etc")
    assert issubclass(InvalidCollectionNameError, AppError)


def test_removing_every_file_leaves_an_empty_collection(corpus: Path) -> None:
    ingest([corpus / "notes.txt"])
    assert remove([corpus / "notes.txt"]).total_files == 0
    with pytest.raises(EmptyCollectionError, match=r"has no documents.*python main\.py ingest PATH"):
        open_collection().search("backup", k=4)
    assert describe_collections()[0].chunk_count == 0


def test_cached_open_is_reused_until_the_collection_changes(corpus: Path) -> None:
    ingest([corpus / "notes.txt"])
    first = open_collection(cached=True)
    assert open_collection(cached=True) is first
    assert open_collection() is not first  # plain opens (for changes) are always fresh
    ingest([corpus / "guide.md"])
    reopened = get_retriever().collection
    assert reopened is not first and len(reopened.files) == 2


def test_embedding_slices_are_length_sorted_and_vectors_keep_their_order(monkeypatch) -> None:
    from langchain_core.embeddings import Embeddings

    from agent_app.retrieval import ingestion

    calls = []

    class LengthEmbeddings(Embeddings):
        def embed_documents(self, texts):
            calls.append([len(t) for t in texts])
            return [[float(len(t))] for t in texts]

        def embed_query(self, text):
            return [float(len(text))]

    monkeypatch.setattr(ingestion, "EMBED_BATCH", 2)
    texts = ["aaa", "a", "aaaaa", "aa", "aaaa"]
    done = []
    vectors = ingestion._embed(texts, LengthEmbeddings(), done.append)
    assert calls == [[5, 4], [3, 2], [1]]
    assert vectors.tolist() == [[3.0], [1.0], [5.0], [2.0], [4.0]]
    assert done == [2, 4, 5]


def test_files_are_embedded_in_windows_while_later_files_are_read(tmp_path: Path, monkeypatch) -> None:
    """Reading and embedding interleave (memory holds one window, not the whole ingest), and
    the collection is the same as one built in a single window."""
    from agent_app.retrieval import ingestion

    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(12):
        (docs / f"note{i:02d}.txt").write_text(f"Note {i}: the server room {i} is on floor {i % 4}.\n")
    progress: list = []
    monkeypatch.setattr(ingestion, "WINDOW_CHUNKS", 3)
    windowed = ingest([docs], collection="windowed", progress=progress.append)
    monkeypatch.setattr(ingestion, "WINDOW_CHUNKS", 10_000)
    whole = ingest([docs], collection="whole")

    stages = [p.stage for p in progress]
    first_embedding, last_reading = stages.index("embedding"), len(stages) - 1 - stages[::-1].index("reading")
    assert first_embedding < last_reading  # embedding began before every file was read
    embedded = [p.chunks_done for p in progress if p.stage == "embedding"]
    assert embedded == sorted(embedded) and embedded[-1] == windowed.chunks_added == whole.chunks_added == 12
    a, b = open_collection("windowed"), open_collection("whole")
    assert sorted(a.files) == sorted(b.files)
    assert sorted(a.vectors.ids()) == sorted(b.vectors.ids())
    hit = a.search("floor of server room 7", k=1)[0]
    assert hit.metadata["file_name"] == "note07.txt"


def test_a_failure_while_reading_ahead_stops_the_ingest_and_keeps_the_saved_version(
    corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    from agent_app.retrieval import ingestion

    ingest([corpus / "notes.txt"])
    real = ingestion._read_file

    def failing(file, *args, **kwargs):
        if file.name == "guide.md":
            raise RuntimeError("disk on fire")
        return real(file, *args, **kwargs)

    monkeypatch.setattr(ingestion, "_read_file", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest([corpus])
    assert names(list(open_collection().files)) == ["notes.txt"]
