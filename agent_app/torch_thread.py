"""One thread for all of this process's torch work: generation, model loading, embeddings.

Why: measured on the 2-core target, SmolLM2 generates about 28 tokens/s when only one thread
has ever run torch kernels, but once a second thread of the same process has run them too (say,
MiniLM embeddings on the main thread and generation on a worker), BOTH drop to about 14 tokens/s
and stay there: each thread keeps its own OpenMP team and the teams compete for the cores.
Running every torch computation on this single long-lived thread keeps full speed (and, as a
bonus, serialises work that could not run in parallel on 2 cores anyway).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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


_DONE = object()


def stream(fn: Callable[..., T], *args: Any) -> Generator[Any, None, T]:
    """Run `fn(*args, emit, cancel)` on the torch thread and yield whatever it `emit`s, as it
    happens; the generator's return value is `fn`'s. The one bridge from the torch thread to a
    consumer on another thread (local generation and the agent's constrained decoding use it).

    Closing the generator early (a consumer that stops, Ctrl-C) sets `cancel`, which `fn`
    checks between tokens. A failure of `fn` is raised in the consumer.
    """
    pieces: queue.Queue[Any] = queue.Queue()
    cancel = threading.Event()
    future = executor().submit(fn, *args, pieces.put, cancel)
    future.add_done_callback(lambda _f: pieces.put(_DONE))
    try:
        while (item := pieces.get()) is not _DONE:
            yield item
        return future.result()
    finally:
        cancel.set()


def wait_idle() -> None:
    """Block until the torch work submitted so far has finished."""
    if not on_torch_thread():
        run(lambda: None)
