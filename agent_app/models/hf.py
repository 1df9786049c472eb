"""Small shared settings for Hugging Face libraries."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


def quiet_transformers() -> None:
    """Silence transformers' advisory logs and its own progress bars ("Loading weights"): the
    app shows its own progress, and stray bars tear the chat's display."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Nothing from logger `name` while the block runs (transformers loggers are plain `logging`)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
