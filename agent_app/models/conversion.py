"""Writing a converted model into the cache: whole or not at all."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent_app.errors import ModelError


@contextmanager
def converted_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target` to write a conversion into, renamed to `target` when
    the block ends: an interrupted conversion is redone, never half-used. A failure to write is
    a one-line ModelError."""
    tmp = target.with_name(target.name + f".tmp-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        yield tmp
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except OSError as exc:
        raise ModelError(f"cannot write the converted model to {target.parent}: {exc.strerror}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
