"""How each step of the ReAct loop is decided: by reading free text, or by constrained choice.

- `TextPolicy` works on any chat or completion model: the model writes its step, which is read
  tolerantly (`parsing`); the final answer streams as it is written.
- `LocalPolicy` drives the local transformers model: the action is chosen by scoring the valid
  continuations (each tool name, or the final-answer marker), plus an embedding prior; only the
  action input (one line) and the final answer are free text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agent_app.agent import rules
from agent_app.agent.parsing import Decision, clean_input, parse_step
from agent_app.agent.prompting import ReActPrompt, Turn
from agent_app.agent.run import AgentEvent, FinalAnswerToken, ThoughtToken
from agent_app.agent.settings import AgentSettings
from agent_app.agent.streaming import AnswerEmitter, ReplySplitter
from agent_app.agent.template import NO_TOOL, Example

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig


@dataclass
class RunState:
    """What a policy needs to decide the next step of one question."""

    question: str
    history: Sequence[BaseMessage]
    examples: list[Example]
    prior: dict[str, float] | None
    config: RunnableConfig
    turns: list[Turn] = field(default_factory=list)


StepGen = Generator[AgentEvent, None, Decision]
AnswerGen = Generator[AgentEvent, None, str]


class TextPolicy:
    """Free-text ReAct on any chat model (`chat=True`) or completion model."""

    def __init__(
        self, model: Any, prompt: ReActPrompt, settings: AgentSettings, *, chat: bool, grammar: bool = False
    ) -> None:
        """`grammar`: constrain each step with a GBNF grammar (a server that reads one: llama.cpp)."""
        self.model, self.prompt, self.settings, self.chat = model, prompt, settings, chat
        self.grammar: str | None = None
        if grammar:
            from agent_app.agent.grammar import step_grammar

            self.grammar = step_grammar(prompt.markers, prompt.tool_names, thoughts=prompt.thoughts)

    def next_step(self, state: RunState) -> StepGen:
        markers = self.prompt.markers
        splitter = ReplySplitter(markers)
        grammar = {"extra_body": {"grammar": self.grammar}} if self.grammar else {}
        for chunk in self._stream(self._input(state), state.config, self.settings.step_max_tokens, **grammar):
            yield from splitter.feed(chunk)
        yield from splitter.close()
        if not splitter.text.strip():
            return Decision(problem="the reply was empty", raw="(empty reply)")
        if splitter.answer.text:
            return Decision(answer=splitter.answer.text)
        parsed = parse_step(splitter.text, markers)
        if parsed.answer:  # read by the parser but not by the streaming splitter: send it now
            yield FinalAnswerToken(parsed.answer)
            return parsed
        problem = parsed.problem or ("no answer after the marker" if parsed.answer == "" else None)
        return replace(parsed, answer=None, problem=problem, raw=splitter.text)

    def final_answer(self, state: RunState) -> AnswerGen:
        """Ask for the best answer from what is known (the step limit was reached)."""
        forced = self.prompt.message("forced_answer")
        if self.chat:
            from langchain_core.messages import HumanMessage

            messages = self._input(state)
            last = messages[-1]
            if last.type == "human":
                messages[-1] = HumanMessage(f"{last.text}\n\n{forced}")
            else:
                messages.append(HumanMessage(forced))
            request: Any = messages
        else:
            request = f"{self._input(state)}{forced}\n{self.prompt.markers.final_answer}"
        splitter = ReplySplitter(self.prompt.markers, answer_only=True)
        for chunk in self._stream(request, state.config, self.settings.answer_max_tokens):
            yield from splitter.feed(chunk)
        yield from splitter.close()
        return splitter.answer.text

    def _input(self, state: RunState) -> Any:
        if self.chat:
            return self.prompt.chat_messages(state.question, state.history, state.examples, state.turns, split=True)
        return self.prompt.completion_text(state.question, state.history, state.examples, state.turns)

    def _stream(self, request: Any, config: RunnableConfig, max_tokens: int, **extra: Any) -> Iterator[str]:
        stop = [self.prompt.markers.observation]
        for chunk in self.model.stream(request, config=config, stop=stop, max_tokens=max_tokens, **extra):
            text = chunk if isinstance(chunk, str) else chunk.text
            if text:
                yield text


class LocalPolicy:
    """Constrained ReAct on the local model (`LocalChatModel`): scored actions, short free text."""

    def __init__(self, model: Any, prompt: ReActPrompt, settings: AgentSettings) -> None:
        from agent_app.models.profile import profile_of

        self.model, self.prompt, self.settings = model, prompt, settings
        self.runtime = profile_of(model).scoring
        """What scores the actions and writes constrained text (models.profile)."""
        self.actions = [*prompt.tool_names, NO_TOOL]

    def next_step(self, state: RunState) -> StepGen:
        from agent_app.agent.scoring import score_continuations

        m = self.prompt.markers
        text = self._prompt(state)
        thought = ""
        if self.prompt.thoughts:
            text += m.thought
            pieces = []
            for piece in self._generate(text, state, max_tokens=48):
                pieces.append(piece)
                yield ThoughtToken(piece)
            thought = "".join(pieces).strip()
            text += f" {thought}\n"
        candidates = [f"{m.action} {name}\n" for name in self.prompt.tool_names] + [m.final_answer]
        raw = score_continuations(self.runtime, text, candidates)
        scores = dict(zip(self.actions, raw, strict=True))
        if state.prior and not state.turns and self.settings.routing_prior:
            # The prior is about the question, so it only speaks to the first action.
            for action in scores:
                scores[action] += self.settings.routing_prior * math.log(state.prior.get(action, 1e-3))
        action = max(scores, key=lambda a: scores[a])
        if action == NO_TOOL:
            answer = yield from self._answer(text + m.final_answer, state)
            return Decision(thought=thought, answer=answer, scores=scores)
        text += f"{m.action} {action}\n{m.action_input}"
        profile = self.prompt.tool_profiles.get(action)
        read = profile.reads_question if profile and not state.turns and rules.on("tool_reads_question") else None
        action_input = read(state.question) if read else None
        if action_input is None:
            written = clean_input(self._write_input(text, action, state))
            action_input = written or (state.question if rules.on("question_as_input") else "")
        return Decision(thought=thought, action=action, action_input=action_input, scores=scores)

    def final_answer(self, state: RunState) -> AnswerGen:
        answer = yield from self._answer(self._prompt(state) + self.prompt.markers.final_answer, state)
        return answer

    def _write_input(self, text: str, action: str, state: RunState) -> str:
        """The action input: free greedy text, or copied from the question's words (see settings)."""
        if not self.settings.copy_inputs:
            return "".join(self._generate(text, state, max_tokens=self.settings.input_max_tokens))
        from agent_app.agent.scoring import stream_from

        allowed = copyable_tokens(
            self.runtime.tokenizer,
            [state.question, *(t.observation for t in state.turns)],
            extra_words=self._input_words(action),
        )
        with llm_run(state.config, text, self.runtime.tokenizer) as done:
            written = "".join(
                stream_from(self.runtime, text, allowed=allowed, max_tokens=self.settings.input_max_tokens)
            )
            done(written)
        return written

    def _input_words(self, action: str) -> str:
        profile = self.prompt.tool_profiles.get(action)
        return profile.input_words if profile else ""

    def _prompt(self, state: RunState) -> str:
        messages = self.prompt.chat_messages(state.question, state.history, state.examples, split=False)
        return self.model.render(messages) + self.prompt.scratchpad(state.turns)

    def _answer(self, text: str, state: RunState) -> AnswerGen:
        emitter = AnswerEmitter()
        if state.turns and self.settings.copy_boost:
            from agent_app.agent.scoring import stream_from

            observations = [t.observation for t in state.turns if not t.raw]
            with llm_run(state.config, text, self.runtime.tokenizer) as done:
                for piece in stream_from(
                    self.runtime,
                    text,
                    max_tokens=self.settings.answer_max_tokens,
                    copy_from=observations,
                    boost_value=self.settings.copy_boost,
                ):
                    yield from emitter.feed(piece)
                done(emitter.text)
        else:
            for piece in self._generate(text, state, max_tokens=self.settings.answer_max_tokens):
                yield from emitter.feed(piece)
        return emitter.text

    def _generate(self, text: str, state: RunState, *, max_tokens: int) -> Iterator[str]:
        """One line of greedy text, through the LangChain model so callbacks see the call."""
        yield from self.model.llm.stream(text, config=state.config, stop=["\n"], max_tokens=max_tokens, temperature=0)


def copyable_tokens(tokenizer: Any, sources: Sequence[str], *, extra_words: str = "") -> set[int]:
    """Token ids of the words in `sources` (as written, lower case, capitalised; with and without
    a leading space), plus `extra_words` (a tool's own: agent_app.tool_profile)."""
    words = set(re.findall(r"\w+|[^\w\s]+", " ".join(sources))) | set(extra_words.split())
    ids: set[int] = set()
    for word in words:
        for variant in {word, word.lower(), word.capitalize()}:
            ids.update(tokenizer.encode(variant))
            ids.update(tokenizer.encode(" " + variant))
    return ids


@contextmanager
def llm_run(config: RunnableConfig, prompt: str, tokenizer: Any) -> Iterator[Callable[[str], None]]:
    """Report a generation done outside LangChain's models to the callbacks, like a model call,
    with its token usage counted by `tokenizer` (what `/stats` and `ask --json` add up)."""
    from langchain_core.callbacks import CallbackManager
    from langchain_core.outputs import Generation, LLMResult

    manager = CallbackManager.configure(config.get("callbacks"), inheritable_tags=config.get("tags"))
    runs = manager.on_llm_start({"name": "constrained-input"}, [prompt], name="constrained-input")
    out: list[str] = []
    try:
        yield out.append
    except BaseException as exc:
        for run in runs:
            run.on_llm_error(exc)
        raise
    text = out[0] if out else ""
    counts = [len(tokenizer.encode(t)) for t in (prompt, text)]
    usage = {"input_tokens": counts[0], "output_tokens": counts[1], "total_tokens": sum(counts)}
    for run in runs:
        run.on_llm_end(LLMResult(generations=[[Generation(text=text, generation_info={"usage": usage})]]))
