"""How many torch threads write the local model's answer: chosen by timing tokens on each count.

bench/bench_threads.py on the 2-core machine, fp32 on oneDNN (models.cpu_speed): with the other
core idle, 2 threads decode at 19.4 tokens/s against 14.0 on 1; with another program spinning on
it, 2 threads collapse to 4.2 (each token waits for the thread that lost its core) while 1 keeps
15.0. No fixed count is right for both, and a terminal assistant shares its machine. So the first
tokens of an answer are timed on each count, the faster one writes the rest, and the choice is
kept for later answers: tried again when tokens on several threads come clearly slower than when
they were chosen (another program started), and every `RETRY_SECONDS` anyway (it may have stopped).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Literal

DecodeThreadsSetting = int | Literal["auto"] | None
"""ModelSettings.decode_threads: "auto" (chosen here), a fixed count, or None (all threads)."""

TRIAL_TOKENS = 4
"""Tokens timed on each count (after one that absorbs the switch)."""
RETRY_SECONDS = 60.0
SLOWER = 1.6
"""Tokens this much slower than when the count was chosen mean the machine's load changed."""


class DecodeThreads:
    """Chooses among `counts` for token-by-token decoding; `step()` after every forward pass.

    `set_threads` is torch.set_num_threads in the app (a parameter so the choice can be tested
    without timing real kernels)."""

    def __init__(
        self,
        counts: tuple[int, ...],
        set_threads: Callable[[int], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.counts = tuple(dict.fromkeys(counts))  # in order, no repeats
        self._set, self._clock = set_threads, clock
        self.chosen: int | None = self.counts[0] if len(self.counts) == 1 else None
        self._chosen_step = 0.0  # seconds per step when chosen
        self._chosen_at = 0.0
        self._plan: list[int] = []  # the counts still to time in this answer's trial
        self._times: dict[int, list[float]] = {}
        self._current = 0
        self._last = 0.0
        self._recent: list[float] = []

    def start(self) -> None:
        """An answer's first token is about to be computed: set its thread count."""
        due = self.chosen is None or self._clock() - self._chosen_at > RETRY_SECONDS
        self._plan = list(self.counts) if due and len(self.counts) > 1 else []
        self._times = {c: [] for c in self._plan}
        self._recent = []
        self._use(self._plan[0] if self._plan else self.chosen or self.counts[0])

    def step(self) -> None:
        """One forward pass of decoding has finished."""
        now = self._clock()
        elapsed, self._last = now - self._last, now
        if self._plan:
            times = self._times[self._current]
            times.append(elapsed)
            if len(times) > TRIAL_TOKENS:  # the first one paid for the switch
                self._plan.pop(0)
                if self._plan:
                    self._use(self._plan[0])
                else:
                    self._choose()
            return
        self._recent = [*self._recent[-(TRIAL_TOKENS - 1) :], elapsed]
        # Only more threads than the fewest can collapse; slower tokens on the fewest mean a
        # busier machine, where more threads would be slower still.
        if (
            self.chosen != min(self.counts)
            and len(self._recent) == TRIAL_TOKENS
            and statistics.median(self._recent) > SLOWER * self._chosen_step
        ):
            self.chosen = None  # the load changed: the choice no longer holds
            self.start()  # time each count again from here

    def _use(self, count: int) -> None:
        self._current = count
        self._set(count)
        self._last = self._clock()

    def _choose(self) -> None:
        medians = {c: statistics.median(t[1:]) for c, t in self._times.items()}
        self.chosen = min(medians, key=lambda c: medians[c])
        self._chosen_step, self._chosen_at = medians[self.chosen], self._clock()
        self._recent = []
        self._use(self.chosen)
