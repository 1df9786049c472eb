"""Errors a user can cause while ingesting or searching documents (all `AppError`s)."""

from __future__ import annotations

from agent_app.errors import AppError

INGEST_COMMAND = "python main.py ingest PATH"


def ingest_command(collection: str, *, rebuild: bool = False) -> str:
    """The command line that (re)builds `collection`, for messages."""
    cmd = INGEST_COMMAND if collection == "default" else f"{INGEST_COMMAND} --collection {collection}"
    return f"{cmd} --rebuild" if rebuild else cmd


class RetrievalError(AppError):
    """Base class of the retrieval errors."""


class InvalidCollectionNameError(RetrievalError):
    """A collection name that cannot be used as a folder name."""


class CollectionNotFoundError(RetrievalError):
    """Asking a collection that was never ingested."""


class EmptyCollectionError(RetrievalError):
    """A collection whose files were all removed."""


class IndexCorruptError(RetrievalError):
    """The index on disk cannot be read."""


class EmbeddingMismatchError(RetrievalError):
    """Ingesting with a different embedding model than the collection was built with."""


class NothingToIngestError(RetrievalError):
    """The given paths hold no supported file (missing path, empty folder, only unsupported types)."""


class UnsafeIndexPathError(RetrievalError):
    """An index location outside the app's data folder (pickle files are only trusted there)."""


class StorageNotWritableError(RetrievalError):
    """The data folder where collections are saved cannot be written."""
