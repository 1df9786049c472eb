"""Collections on disk: their names, their manifest, where they live, and replacing an index
atomically.

Layout: <data dir>/collections/<name>/CURRENT names the live version folder (v<time>-<id>/),
which holds the FAISS files and the manifest. A save writes a complete new version folder,
fsyncs it, and only then swaps CURRENT with os.replace (atomic). A crash at any point leaves
CURRENT naming the previous, complete version; leftovers are cleaned up by the next save.
(A folder cannot be atomically replaced by another non-empty one on POSIX, hence the pointer.)

Writers (ingest, remove, `collections remove`) hold the collection's lock file for the whole
read-embed-save cycle (`writer_lock`): an atomic swap alone let two ingests each save their own
version and the second silently drop the first one's files. Readers take no lock; they see the
old or the new version.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent_app import paths
from agent_app.retrieval.errors import (
    IndexCorruptError,
    InvalidCollectionNameError,
    StorageNotWritableError,
    ingest_command,
)

POINTER_FILE = "CURRENT"
_VERSION_NAME = re.compile(r"^v\d+-[0-9a-f]{8}$")


def collections_root() -> Path:
    """The folder holding every collection (inside the app's data folder)."""
    return paths.data_dir() / "collections"


def collection_dir(name: str) -> Path:
    """The folder of collection `name`; raises InvalidCollectionNameError for unsafe names."""
    try:
        check_collection_name(name)
    except ValueError as exc:
        raise InvalidCollectionNameError(str(exc)) from None
    return collections_root() / name


def collection_names() -> list[str]:
    """Names of the collections that have a live version (or an old layout, to report)."""
    root = collections_root()
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if (p / POINTER_FILE).is_file() or (_NAME.match(p.name) and is_legacy_layout(p))
    )


LEGACY_FILES = ("index.pkl", "index.faiss")
"""What a collection folder held directly before versioned folders (and JSON docstores) came."""


def is_legacy_layout(folder: Path) -> bool:
    """True for a collection folder of the old layout: index files and no CURRENT pointer."""
    return not (folder / POINTER_FILE).exists() and any((folder / f).is_file() for f in LEGACY_FILES)


def delete_collection(name: str, on_wait: Callable[[], None] | None = None) -> bool:
    """Remove collection `name` and its files; False when there is no such collection. The
    folder is first renamed out of the collections (one atomic step), so a reader sees the
    collection whole or not at all, never half deleted. Waits for a running ingest to finish."""
    folder = collection_dir(name)
    with writer_lock(name, on_wait):
        if not (folder / POINTER_FILE).is_file():
            return False
        doomed = collections_root() / f"{name}.deleted-{uuid.uuid4().hex[:8]}"
        folder.rename(doomed)
    (doomed / POINTER_FILE).unlink()  # never listed again, even if the removal below is cut short
    shutil.rmtree(doomed, ignore_errors=True)
    return True


LOCKS_FOLDER = ".locks"


@contextmanager
def writer_lock(name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold collection `name`'s writer lock: one writer at a time, the next one waits.

    An advisory `flock` on collections/.locks/<name>.lock (outside the collection's folder,
    which `delete_collection` renames away). The kernel releases it when its holder dies, so a
    killed ingest never leaves the collection locked; Ctrl-C interrupts the wait. `on_wait` is
    called once if another writer holds it (so the caller can say why nothing happens).
    """
    collection_dir(name)  # validates the name before it becomes a file name
    if os.name == "nt":  # no flock there; Windows is not a supported platform for ingest races
        yield
        return
    import fcntl

    folder = collections_root() / LOCKS_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageNotWritableError(
            f"cannot lock collection {name!r} in {folder} ({exc.strerror or exc})",
            hint="make the data folder writable, or point AGENT_APP_DATA_DIR at another one",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)  # Ctrl-C raises KeyboardInterrupt out of the wait
        yield
    finally:
        os.close(fd)  # releases the lock


def current_version(folder: Path) -> Path | None:
    """The live version folder of a collection, or None if it was never saved."""
    pointer = folder / POINTER_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        name = ""
    version = folder / name
    if not _VERSION_NAME.match(name) or not version.is_dir():
        raise IndexCorruptError(
            f"collection {folder.name!r} is damaged ({POINTER_FILE} names no saved index)",
            hint=f"rebuild it: {ingest_command(folder.name, rebuild=True)}",
        )
    return version


def check_writable(folder: Path) -> None:
    """Fail now, with a clear message, if a collection cannot be saved into `folder`.

    Ingest reads and embeds for minutes before it saves; this is checked first so that a
    read-only data folder is reported at once, not after the work.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise StorageNotWritableError(
            f"cannot save documents in {folder} ({exc.strerror or exc})",
            hint="make the data folder writable, or point AGENT_APP_DATA_DIR at another one",
        ) from None


def write_version(folder: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_folder)`, then make that folder the live version atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = uuid.uuid4().hex[:8]
    staging = folder / f".tmp-{suffix}"
    final = folder / f"v{time.time_ns()}-{suffix}"
    staging.mkdir()
    switched = False
    try:
        write(staging)
        for file in staging.iterdir():
            _fsync_file(file)
        _fsync_dir(staging)
        os.rename(staging, final)
        _fsync_dir(folder)
        _point_to(folder, final.name)
        switched = True
        _fsync_dir(folder)
    finally:
        if not switched:  # the previous version stays live; drop the half-written one
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
    remove_stale_versions(folder)
    return final


def remove_stale_versions(folder: Path) -> None:
    """Delete every version folder and staging leftover except the live one."""
    live = current_version(folder)
    for entry in folder.iterdir():
        if entry.is_dir() and entry != live and entry.name.startswith((".tmp-", "v")):
            shutil.rmtree(entry, ignore_errors=True)


def _point_to(folder: Path, version_name: str) -> None:
    tmp = folder / f"{POINTER_FILE}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(version_name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / POINTER_FILE)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- collection names (they double as folder names) --------------------------------------------

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_collection_name(name: str) -> str:
    """Return `name` if it is a valid collection name, else raise ValueError saying what is allowed."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"invalid collection name {name!r}: use letters, digits, '-', '_' or '.' (at most 64)")
    return name


# -- the manifest: a collection's files, hashes, chunk ids and how it was built ----------------

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


class Calibration(BaseModel):
    """How questions score on this collection, measured at ingest (see
    `agent_app.retrieval.evidence`): an unrelated question's best cosine, per language, and a
    sentence of the documents' own."""

    model_config = ConfigDict(extra="forbid")

    unrelated: float
    related: float
    by_language: dict[str, float] = Field(default_factory=dict)  # "en", "ja" -> unrelated
    language: str = ""  # the documents' main language ("ja" when a fifth of the text is Japanese)


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
    calibration: Calibration | None = None  # None: ingested before it was measured

    @property
    def chunk_count(self) -> int:
        return sum(len(r.chunk_ids) for r in self.files.values())
