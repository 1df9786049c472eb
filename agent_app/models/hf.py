"""Small shared settings for Hugging Face libraries."""

from __future__ import annotations


def quiet_transformers() -> None:
    """Silence transformers' advisory logs and its own progress bars ("Loading weights"): the
    app shows its own progress, and stray bars tear the chat's display."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
