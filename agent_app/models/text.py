"""Text helpers shared by the model wrappers: stop strings, incremental stop detection."""

from __future__ import annotations

from collections.abc import Sequence


def cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    """Return `text` up to the earliest stop string, and whether one was found."""
    if not stop:
        return text, False
    positions = [i for s in stop if (i := text.find(s)) != -1]
    if not positions:
        return text, False
    return text[: min(positions)], True


class StopStringFilter:
    """Streams text while hiding stop strings.

    Text that might be the start of a stop string is held back until it is clear either way,
    so a multi-token stop such as "\\nObservation" never leaks even when it arrives in pieces.
    """

    def __init__(self, stop: Sequence[str] | None) -> None:
        self.stop = [s for s in (stop or []) if s]
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add newly generated text; return what can be shown now."""
        if self.stopped:
            return ""
        if not self.stop:
            return text
        self._pending += text
        cut, found = cut_at_stop(self._pending, self.stop)
        if found:
            self.stopped = True
            self._pending = ""
            return cut
        hold = self._held_back_length(self._pending)
        emit, self._pending = self._pending[: len(self._pending) - hold], self._pending[len(self._pending) - hold :]
        return emit

    def flush(self) -> str:
        """Generation ended: release whatever was held back."""
        rest, self._pending = ("" if self.stopped else self._pending), ""
        return rest

    def _held_back_length(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a stop string."""
        best = 0
        for s in self.stop:
            for n in range(min(len(s) - 1, len(text)), best, -1):
                if text.endswith(s[:n]):
                    best = n
                    break
        return best
