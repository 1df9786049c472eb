"""Splitting a streamed ReAct reply into thought tokens and final-answer tokens as it arrives.

The answer part is emitted without its leading marker, leading spaces or trailing whitespace, so
the concatenated `FinalAnswerToken`s equal the answer the loop returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent_app.agent.parsing import marker_pattern
from agent_app.agent.run import AgentEvent, FinalAnswerToken, ThoughtToken
from agent_app.agent.template import Markers


class AnswerEmitter:
    """Emits answer text: leading whitespace dropped, trailing whitespace held until more text."""

    def __init__(self) -> None:
        self.text = ""
        self._pending = ""

    def feed(self, piece: str) -> Iterator[AgentEvent]:
        if not self.text:
            piece = piece.lstrip()
        piece = self._pending + piece
        body = piece.rstrip()
        self._pending = piece[len(body) :]
        if body:
            self.text += body
            yield FinalAnswerToken(body)


class ReplySplitter:
    """Feeds a free-text ReAct reply chunk by chunk; yields thought and answer events.

    Until a ReAct marker shows up nothing is emitted: a reply with no marker at all is a plain
    answer (chat models often just answer), known only at the end. After `Final Answer:` (with
    no action before it) the rest streams as the answer. With `answer_only` (a forced answer)
    the whole reply is the answer, minus a leading `Final Answer:`.
    """

    def __init__(self, markers: Markers, *, answer_only: bool = False) -> None:
        self.markers = markers
        self.text = ""
        self.answer = AnswerEmitter()
        self._answer_only = answer_only
        self._answer_start: int | None = None  # where the answer starts in `text`
        self._answer_sent = 0
        self._thought_sent = 0
        self._seen_marker = False
        self._thought_end: int | None = None  # where the thought before the answer ends
        flags = re.IGNORECASE
        self._final = re.compile(marker_pattern(markers.final_answer), flags)
        self._any = re.compile(
            "|".join(
                marker_pattern(x) for x in (markers.thought, markers.action, markers.action_input, markers.final_answer)
            ),
            flags,
        )
        self._action_not_input = re.compile(
            marker_pattern(markers.action) + "|" + marker_pattern(markers.action_input), flags
        )
        self._hold = len(markers.final_answer) + 8  # a marker may be split across chunks

    @property
    def plain(self) -> bool:
        """True when the reply had no ReAct marker at all."""
        return not self._seen_marker

    def feed(self, chunk: str) -> Iterator[AgentEvent]:
        self.text += chunk
        if self._answer_start is None:
            self._locate(final=False)
        if self._answer_start is not None:
            yield from self._stream_answer()
        elif self._seen_marker and not self._answer_only:
            yield from self._thought_upto(max(self._thought_sent, len(self.text) - self._hold))

    def close(self) -> Iterator[AgentEvent]:
        """End of the reply: flush what was held back."""
        if self._answer_start is None:
            self._locate(final=True)
        if self._answer_start is not None:
            yield from self._stream_answer()
        elif not self._seen_marker:
            self._answer_start = 0  # a plain reply: all of it is the answer
            yield from self._stream_answer()
        else:
            yield from self._thought_upto(len(self.text))

    def _locate(self, *, final: bool) -> None:
        if not self._seen_marker and self._any.search(self.text):
            self._seen_marker = True
        if self._answer_only:
            if len(self.text) >= self._hold or final:
                match = self._final.match(self.text.lstrip(" \n"))
                self._answer_start = (len(self.text) - len(self.text.lstrip(" \n")) + match.end()) if match else 0
            return
        found = self._final.search(self.text)
        if found is None:
            return
        before = self.text[: found.start()]
        for match in self._action_not_input.finditer(before):
            if not re.match(marker_pattern(self.markers.action_input), before[match.start() :], re.IGNORECASE):
                return  # an action came first: the "answer" after it is invented
        self._thought_end = found.start()
        self._answer_start = found.end()

    def _stream_answer(self) -> Iterator[AgentEvent]:
        assert self._answer_start is not None
        if not self._answer_only:
            yield from self._thought_upto(self._thought_end if self._thought_end is not None else 0)
        piece = self.text[self._answer_start + self._answer_sent :]
        self._answer_sent += len(piece)
        yield from self.answer.feed(piece)

    def _thought_upto(self, end: int) -> Iterator[AgentEvent]:
        if end > self._thought_sent:
            piece = self.text[self._thought_sent : end]
            self._thought_sent = end
            yield ThoughtToken(piece)
