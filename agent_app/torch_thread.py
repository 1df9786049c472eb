"""One thread for all of this process's torch work: generation, model loading, embeddings.

Why: measured on the 2-core target, SmolLM2 generates about 28 tokens/s when only one thread
has ever run torch kernels, but once a second thread of the same process has run them too (say,
MiniLM embeddings on the main thread and generation on a worker), BOTH drop to about 14 tokens/s
and stay there: each thread keeps its own OpenMP team and the teams compete for the cores.
Running every torch computation on this single long-lived thread keeps full speed (and, as a
bonus, serialises work that could not run in parallel on 2 cores anyway).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_NAME = "torch-worker"
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """The process-wide single-thread executor for torch work."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=_NAME)
        return _executor


def on_torch_thread() -> bool:
    return threading.current_thread().name.startswith(_NAME)


def run(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Call `fn` on the torch thread and wait for its result (directly when already there)."""
    if on_torch_thread():
        return fn(*args, **kwargs)
    return executor().submit(fn, *args, **kwargs).result()
