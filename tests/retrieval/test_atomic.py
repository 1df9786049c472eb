"""Crash safety and damaged indexes: a failed save leaves the previous index loadable, and a
damaged one gives a message that says how to rebuild it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_app.retrieval import ingest, open_collection
from agent_app.retrieval import storage as storage_module
from agent_app.retrieval.errors import IndexCorruptError, UnsafeIndexPathError
from agent_app.retrieval.vector_store import VectorIndex

pytestmark = pytest.mark.usefixtures("embeddings")


class SimulatedCrash(Exception):
    pass


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The launch code is alpha.\n")
    ingest([folder])
    (folder / "a.txt").write_text("The launch code is omega.\n")
    (folder / "b.txt").write_text("A second file about gardening.\n")
    return folder


def assert_previous_index_intact() -> None:
    coll = open_collection()
    assert [Path(p).name for p in coll.files] == ["a.txt"]
    assert "alpha" in coll.search("launch code", k=1)[0].page_content
    folder = storage_module.collection_dir("default")
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [coll_version_name()]


def coll_version_name() -> str:
    return storage_module.current_version(storage_module.collection_dir("default")).name


def test_crash_at_the_pointer_swap_keeps_the_previous_index(docs: Path, monkeypatch) -> None:
    real_replace = os.replace

    def crash_on_swap(src, dst):
        if Path(dst).name == storage_module.POINTER_FILE:
            raise SimulatedCrash("power cut")
        return real_replace(src, dst)

    # monkeypatch.context(), not undo(): undo would also drop the per-test data folder setting.
    with monkeypatch.context() as patch, pytest.raises(SimulatedCrash):
        patch.setattr(storage_module.os, "replace", crash_on_swap)
        ingest([docs])
    assert_previous_index_intact()

    assert ingest([docs]).updated  # the next ingest works normally
    assert "omega" in open_collection().search("launch code", k=1)[0].page_content


def test_crash_while_writing_index_files_keeps_the_previous_index(docs: Path, monkeypatch) -> None:
    real_save = VectorIndex.save

    def save_half_then_crash(self, folder: Path) -> None:
        real_save(self, folder)
        (folder / "index.faiss").write_bytes(b"half written")
        raise SimulatedCrash("disk full")

    with monkeypatch.context() as patch, pytest.raises(SimulatedCrash):
        patch.setattr(VectorIndex, "save", save_half_then_crash)
        ingest([docs])
    assert_previous_index_intact()


def test_leftovers_of_a_hard_crash_are_ignored_and_cleaned(docs: Path) -> None:
    folder = storage_module.collection_dir("default")
    (folder / ".tmp-deadbeef").mkdir()  # a kill -9 during a save leaves these behind
    (folder / "v1-deadbeef").mkdir()
    assert "alpha" in open_collection().search("launch code", k=1)[0].page_content
    ingest([docs])
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [coll_version_name()]


def test_damaged_index_says_how_to_rebuild_and_ingest_rebuilds_it(docs: Path) -> None:
    version = storage_module.current_version(storage_module.collection_dir("default"))
    (version / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorruptError) as info:
        open_collection()
    message = str(info.value)
    assert "index of collection 'default' is damaged" in message
    assert "python main.py ingest PATH --rebuild" in message

    report = ingest([docs])
    assert report.notes and "rebuilt" in report.notes[0]
    assert sorted(Path(p).name for p in report.added) == ["a.txt", "b.txt"]
    assert "omega" in open_collection().search("launch code", k=1)[0].page_content


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda folder, version: (version / "manifest.json").write_text("{"), "manifest is missing"),
        (lambda folder, version: (version / "docstore.json").unlink(), "cannot read the index"),
        (lambda folder, version: (version / "docstore.json").write_text("[1, 2"), "cannot read the index"),
        (lambda folder, version: (folder / "CURRENT").write_text("../../etc"), "CURRENT names no saved index"),
    ],
)
def test_other_damage_gives_clear_errors(docs: Path, damage, expected: str) -> None:
    folder = storage_module.collection_dir("default")
    damage(folder, storage_module.current_version(folder))
    with pytest.raises(IndexCorruptError, match=expected):
        open_collection()


def test_index_files_are_only_loaded_from_the_data_folder(tmp_path: Path, embeddings) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(UnsafeIndexPathError):
        VectorIndex.load(outside, embeddings, storage_module.collections_root())
    link = storage_module.collections_root() / "sneaky"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)  # a symlink out of the data folder does not count as inside
    with pytest.raises(UnsafeIndexPathError):
        VectorIndex.load(link, embeddings, storage_module.collections_root())
