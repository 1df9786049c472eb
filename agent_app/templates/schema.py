"""The prompt template format: one YAML file, validated by these pydantic models.

Every model forbids unknown keys, so a typo such as `sytem:` is an error instead of a silently
ignored setting. Besides field types, `Template` checks its `{variables}`: each one used in the
text must be either declared under `variables` or provided by the app (`input`, `history`,
`examples`, ... see `Template.builtin_variables`), and each declared one must be used.

README's "Writing a template" has an annotated example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from agent_app.models.params import GenerationParams
from agent_app.templates import json_check
from agent_app.templates.variables import variables_in

_STRICT = ConfigDict(extra="forbid")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Template names: file stems without path separators, so a name can never leave its folder."""


class TemplateProblem(ValueError):
    """A validation problem at a known place (`loc`, a tuple of keys) inside the template.

    Raised inside pydantic validators; the loader recovers `loc` to point at the YAML line.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        self.loc = loc
        super().__init__(message)


# --- messages and variables -------------------------------------------------------------------

Role = Literal["system", "human", "ai"]
_ROLE_ALIASES = {"user": "human", "assistant": "ai"}


class MessageSpec(BaseModel):
    """One chat message of the prompt. `content` may use `{variables}`."""

    model_config = _STRICT

    role: Role = Field(description="system, human (alias user) or ai (alias assistant)")
    content: str = Field(description="message text; {name} is a variable, {{ and }} are literal braces")

    @field_validator("role", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _ROLE_ALIASES.get(value, value) if isinstance(value, str) else value


class VariableSpec(BaseModel):
    """A template variable the user fills with `--var name=value` or `/set name value`."""

    model_config = _STRICT

    description: str = Field("", description="what the variable means, shown in help")
    default: str | None = Field(None, description="value used when the user sets none; none = required")


# --- few-shot examples -----------------------------------------------------------------------


class AllExamples(BaseModel):
    """Use every example, in file order."""

    model_config = _STRICT
    type: Literal["all"] = "all"


class SimilarExamples(BaseModel):
    """Use the `k` examples most similar to the user's input (bundled MiniLM embeddings).

    The most similar example comes last, right before the question, where small models pay
    the most attention.
    """

    model_config = _STRICT
    type: Literal["similarity"]
    k: int = Field(3, ge=1, le=50, description="how many examples to use")
    match_on: str = Field("input", description="the example key compared with the user's input")


class LengthBudgetExamples(BaseModel):
    """Use examples in file order while they fit a length budget (input included)."""

    model_config = _STRICT
    type: Literal["length"]
    max_length: int = Field(200, ge=1, description="budget for examples plus input")
    unit: Literal["words", "characters"] = Field(
        "words", description="how length is counted; use characters for Japanese text"
    )


ExampleSelectorSpec = Annotated[AllExamples | SimilarExamples | LengthBudgetExamples, Field(discriminator="type")]


class FewShot(BaseModel):
    """Worked examples shown to the model before the user's input.

    Give the example format either as chat messages (`example_messages`: each example becomes
    those messages, inserted after the system message) or as text (`example_prompt`: the
    examples, joined by `separator`, fill the `{examples}` variable of the prompt).
    """

    model_config = _STRICT

    examples: list[dict[str, str]] = Field(min_length=1, description="the examples: key -> text")
    example_messages: list[MessageSpec] | None = Field(
        None, description="chat format of one example, e.g. human '{text}' then ai '{keywords}'"
    )
    example_prompt: str | None = Field(None, description="text format of one example")
    separator: str = Field("\n\n", description="between examples rendered with example_prompt")
    selector: ExampleSelectorSpec = Field(default_factory=AllExamples, description="which examples go in")

    @model_validator(mode="after")
    def _one_format(self) -> FewShot:
        if (self.example_messages is None) == (self.example_prompt is None):
            raise TemplateProblem(("few_shot",), "give exactly one of example_messages (chat) or example_prompt (text)")
        for loc, text in self.format_texts():
            try:
                names = variables_in(text)
            except ValueError as exc:
                raise TemplateProblem(("few_shot", *loc), str(exc)) from None
            for i, example in enumerate(self.examples):
                missing = [n for n in names if n not in example]
                if missing:
                    raise TemplateProblem(
                        ("few_shot", "examples", i), f"example has no key {missing[0]!r} used by the format"
                    )
        if isinstance(self.selector, SimilarExamples):
            key = self.selector.match_on
            if any(key not in e for e in self.examples):
                raise TemplateProblem(("few_shot", "selector", "match_on"), f"not every example has {key!r}")
        return self

    def format_texts(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """(location, text) of the example format."""
        if self.example_prompt is not None:
            yield ("example_prompt",), self.example_prompt
        for i, message in enumerate(self.example_messages or []):
            yield ("example_messages", i, "content"), message.content


# --- output ----------------------------------------------------------------------------------


class TextOutput(BaseModel):
    """The model's reply as it is."""

    model_config = _STRICT
    type: Literal["text"] = "text"


class JsonOutput(BaseModel):
    """A JSON value checked against `schema` (a JSON Schema subset, see json_check).

    The prompt may show the schema to the model with the `{schema}` variable.
    """

    model_config = _STRICT
    type: Literal["json"]
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema the reply must satisfy")

    @field_validator("schema_")
    @classmethod
    def _supported(cls, value: dict[str, Any]) -> dict[str, Any]:
        json_check.check_schema(value)
        return value


class ListOutput(BaseModel):
    """A list of strings: one per line (bullets and numbers removed) or comma separated."""

    model_config = _STRICT
    type: Literal["list"]
    style: Literal["lines", "comma"] = Field("lines", description="lines: one item per line; comma: split on , and 、")


OutputSpec = Annotated[TextOutput | JsonOutput | ListOutput, Field(discriminator="type")]


# --- chain kinds -----------------------------------------------------------------------------
# Each kind has its own options model. To add a kind (as `retrieval` was):
# add a model here, add it to ChainSpec, and register its builder in chains/registry.py.


class ChatChain(BaseModel):
    """One call with the chat prompt (system, examples, history, messages)."""

    model_config = _STRICT
    kind: Literal["chat"]


class CompletionChain(BaseModel):
    """One call with a plain prompt string, base-model style (mode: completion)."""

    model_config = _STRICT
    kind: Literal["completion"]


class ChainOfThoughtChain(BaseModel):
    """The model reasons, then gives the final answer after `answer_marker`."""

    model_config = _STRICT
    kind: Literal["chain-of-thought"]
    show_reasoning: bool = Field(True, description="show the reasoning, or only the final answer")
    answer_marker: str = Field("Answer:", min_length=1, description="text that starts the final answer")


class SelfConsistencyChain(BaseModel):
    """Sample several reasoned answers at a temperature and take the majority vote."""

    model_config = _STRICT
    kind: Literal["self-consistency"]
    samples: int = Field(5, ge=2, le=20, description="how many answers to sample")
    temperature: float = Field(0.7, gt=0.0, le=2.0, description="sampling temperature of the samples")
    answer_marker: str = Field("Answer:", min_length=1, description="text that starts each final answer")
    extract: Literal["text", "number"] = Field(
        "text", description="vote on the answer text, or on the first number in it"
    )
    show_votes: bool = Field(True, description="append the vote count to the reply")


DEFAULT_KNOWLEDGE_PROMPT = (
    "Write three short facts that help answer the question below. One fact per line.\n\nQuestion: {input}\nFacts:"
)


class GenerateKnowledgeChain(BaseModel):
    """First ask for relevant facts, then answer with them (`{knowledge}` in the prompt)."""

    model_config = _STRICT
    kind: Literal["generate-knowledge"]
    knowledge_prompt: str = Field(DEFAULT_KNOWLEDGE_PROMPT, description="asks for facts; uses {input}")
    show_knowledge: bool = Field(True, description="show the generated facts before the answer")


class Step(BaseModel):
    """One step of a sequential chain; its output is available to later steps as `{name}`."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="variable name of the output")
    prompt: str = Field(description="the step's prompt (a human message in chat mode)")
    params: GenerationParams | None = Field(None, description="parameters for this step only")


class SequentialChain(BaseModel):
    """Several prompts run in order, each step's output feeding the next by name."""

    model_config = _STRICT
    kind: Literal["sequential"]
    steps: list[Step] = Field(min_length=1, description="the steps; the last one's output is the reply")
    show_steps: bool = Field(False, description="show every step's output, not just the last")


DEFAULT_MAP_PROMPT = 'Summarize this part of a longer text in two or three sentences.\n\n"""\n{text}\n"""'
DEFAULT_REDUCE_PROMPT = "Combine these partial summaries into one short summary.\n\n{summaries}"


class MapReduceChain(BaseModel):
    """Summarise text longer than the context: split it, summarise each part, combine."""

    model_config = _STRICT
    kind: Literal["map-reduce"]
    map_prompt: str = Field(DEFAULT_MAP_PROMPT, description="summarises one part, given as {text}")
    reduce_prompt: str = Field(DEFAULT_REDUCE_PROMPT, description="combines the {summaries} (numbered)")
    chunk_size: int = Field(2000, ge=100, le=200_000, description="part size in characters")
    chunk_overlap: int = Field(100, ge=0, description="characters shared by neighbouring parts")
    show_parts: bool = Field(False, description="show each part's summary before the combined one")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> MapReduceChain:
        if self.chunk_overlap >= self.chunk_size:
            raise TemplateProblem(("chain", "chunk_overlap"), "must be smaller than chunk_size")
        return self


DEFAULT_FIX_PROMPT = (
    "That reply is not valid: {error}\nReply again with only the corrected JSON, matching this schema:\n{schema}"
)


class StructuredChain(BaseModel):
    """JSON output checked against the schema, with an automatic fix-and-retry on failure."""

    model_config = _STRICT
    kind: Literal["structured"]
    retries: int = Field(1, ge=0, le=3, description="fix-and-retry rounds when the reply does not parse")
    fix_prompt: str = Field(DEFAULT_FIX_PROMPT, description="sent after a bad reply; uses {error}, {schema}")


DEFAULT_NO_CONTEXT_ANSWER = "I could not find this in your documents."


class RetrievalChain(BaseModel):
    """Answer from the user's documents: the retrieved passages fill `{context}`, numbered [1], [2]."""

    model_config = _STRICT
    kind: Literal["retrieval"]
    k: int | None = Field(None, ge=1, le=50, description="passages to retrieve; default: the retrieval settings")
    collection: str | None = Field(None, description="collection to search; default: the default collection")
    no_context_answer: str = Field(
        DEFAULT_NO_CONTEXT_ANSWER, min_length=1, description="the reply when nothing is found (no model call)"
    )
    answer_style: Literal["auto", "generative", "extractive"] | None = Field(
        None,
        description="generative: the model answers, a missing citation is added; extractive: the "
        "passages' best sentences, quoted with [n], no model call; auto: generate, and quote "
        "instead when the answer is not supported by the passages. Default: extractive on the "
        "local model, generative elsewhere",
    )
    unsupported_answer: str = Field(
        "Your documents do not seem to contain this.",
        min_length=1,
        description="said when no retrieved sentence answers the question (extractive and auto)",
    )

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, value: str | None) -> str | None:
        from agent_app.retrieval.storage import check_collection_name

        return None if value is None else check_collection_name(value)


ChainSpec = Annotated[
    ChatChain
    | CompletionChain
    | ChainOfThoughtChain
    | SelfConsistencyChain
    | GenerateKnowledgeChain
    | SequentialChain
    | MapReduceChain
    | StructuredChain
    | RetrievalChain,
    Field(discriminator="kind"),
]

KINDS_WITH_OWN_PROMPTS = frozenset({"sequential", "map-reduce"})
"""Kinds that do not use the template's messages/prompt (they declare their prompts instead)."""


# --- the template ----------------------------------------------------------------------------


class CompletionFormat(BaseModel):
    """How earlier turns are written into `{history}` of a completion prompt."""

    model_config = _STRICT
    user_label: str = Field("User", description="speaker label of the user's turns")
    assistant_label: str = Field("Assistant", description="speaker label of the model's turns")


class Template(BaseModel):
    """A prompt template: what the model is told, how it is sampled and which chain runs it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(
        None, pattern=NAME_PATTERN, description="the file stem; if given it must match the file name"
    )
    description: str = Field("", description="one line shown by /templates")
    mode: Literal["chat", "completion"] = Field(
        "chat", description="chat: role messages; completion: one plain prompt string (base-model style)"
    )
    system: str | None = Field(None, description="system message (chat mode); keep it short for small models")
    messages: list[MessageSpec] = Field(
        default_factory=lambda: [MessageSpec(role="human", content="{input}")],
        description="chat messages after system, examples and history; default: one human '{input}'",
    )
    prompt: str | None = Field(None, description="the prompt string of mode completion")
    completion: CompletionFormat = Field(
        default_factory=CompletionFormat, description="history labels of mode completion"
    )
    few_shot: FewShot | None = Field(None, description="worked examples and how to select them")
    variables: dict[str, VariableSpec] = Field(
        default_factory=dict, description="user-settable variables; a string value is shorthand for a default"
    )
    params: GenerationParams = Field(default_factory=GenerationParams, description="generation parameters")
    output: OutputSpec = Field(default_factory=TextOutput, description="text, json (with schema) or list")
    chain: ChainSpec | None = Field(None, description="chain kind and its options; default: the mode's kind")
    delimiter: str | None = Field(
        None,
        min_length=1,
        description='the quotes around the user\'s input in the prompt (e.g. """); they are removed '
        "from the input so it cannot close the quoted block early",
    )

    _source: Path | None = PrivateAttr(None)

    @field_validator("variables", mode="before")
    @classmethod
    def _shorthand_defaults(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"default": str(v)} if isinstance(v, str | int | float) else v for k, v in value.items()}
        return value

    @property
    def kind(self) -> str:
        """The chain kind that runs this template."""
        return self.chain.kind if self.chain is not None else self.mode

    @property
    def source(self) -> Path | None:
        """The file this template was loaded from, if any."""
        return self._source

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema of a json output, else None."""
        return self.output.schema_ if isinstance(self.output, JsonOutput) else None

    def defaults(self) -> dict[str, str]:
        """Default values of the declared variables that have one (and of `{context}`)."""
        values = {k: v.default for k, v in self.variables.items() if v.default is not None}
        if self.kind == "retrieval":
            # The chain replaces it with the retrieved passages; the default lets a preview render.
            from agent_app.retrieval.citations import NO_CONTEXT

            values["context"] = NO_CONTEXT
        return values

    def required_variables(self) -> list[str]:
        """Declared variables without a default: the user must set them."""
        return [k for k, v in self.variables.items() if v.default is None]

    def builtin_variables(self) -> set[str]:
        """Variables the app fills in for the main prompt (messages/prompt)."""
        names = {"input"}
        if self.mode == "completion":
            names.add("history")  # earlier turns as "User: ...\nAssistant: ..." lines
        if self.few_shot is not None and self.few_shot.example_prompt is not None:
            names.add("examples")
        if self.kind == "generate-knowledge":
            names.add("knowledge")
        if self.kind == "retrieval":
            names.add("context")  # the retrieved passages, numbered and in <data> blocks
        if isinstance(self.output, JsonOutput):
            names.add("schema")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        self._check_mode()
        self._check_variables()
        return self

    def _check_mode(self) -> None:
        set_fields = self.model_fields_set
        if self.mode == "chat" and self.prompt is not None:
            raise TemplateProblem(("prompt",), "only for mode: completion; chat templates use messages")
        if self.mode == "completion":
            if self.prompt is None and self.kind not in KINDS_WITH_OWN_PROMPTS:
                raise TemplateProblem(("prompt",), "mode: completion needs a prompt string")
            for field in ("system", "messages"):
                if field in set_fields:
                    raise TemplateProblem((field,), "only for mode: chat; completion templates use prompt")
            if self.few_shot is not None and self.few_shot.example_messages is not None:
                raise TemplateProblem(("few_shot", "example_messages"), "mode: completion needs example_prompt")
        if self.kind == "chat" and self.mode != "chat":
            raise TemplateProblem(("chain", "kind"), "kind chat needs mode: chat")
        if self.kind == "completion" and self.mode != "completion":
            raise TemplateProblem(("chain", "kind"), "kind completion needs mode: completion")
        if self.kind == "structured" and not isinstance(self.output, JsonOutput):
            raise TemplateProblem(("output",), "kind structured needs output: {type: json, schema: ...}")
        if self.kind in KINDS_WITH_OWN_PROMPTS:
            for field in ("messages", "prompt", "few_shot"):
                if field in set_fields:
                    raise TemplateProblem((field,), f"not used by chain kind {self.kind}; put the prompts under chain")

    def _check_variables(self) -> None:
        declared = set(self.variables)
        shared = declared | ({"schema"} if isinstance(self.output, JsonOutput) else set())
        for name in declared:
            if not name.isidentifier():
                raise TemplateProblem(("variables", name), "variable names must be plain identifiers")
        reserved = declared & (self.builtin_variables() | {"input", "history", "examples", "knowledge"})
        if reserved:
            name = sorted(reserved)[0]
            raise TemplateProblem(("variables", name), f"{name!r} is filled by the app; choose another name")

        uses: dict[tuple[str | int, ...], list[str]] = {}
        for loc, text, available in self._texts(shared):
            try:
                names = variables_in(text)
            except ValueError as exc:
                raise TemplateProblem(loc, str(exc)) from None
            unknown = [n for n in names if n not in available]
            if unknown:
                raise TemplateProblem(
                    loc, f"undeclared variable {{{unknown[0]}}}: declare it under variables or fix the name"
                )
            uses[loc] = names

        unused = sorted(declared - {n for names in uses.values() for n in names})
        if unused:
            raise TemplateProblem(("variables", unused[0]), "declared but never used in the template text")
        self._check_required_slots(uses)

    def _check_required_slots(self, uses: dict[tuple[str | int, ...], list[str]]) -> None:
        """Each prompt must use the variables that carry its input, or that input would be lost."""

        def require(name: str, where: tuple[str | int, ...], *prefixes: str, why: str) -> None:
            found = any(name in names for loc, names in uses.items() if loc[: len(prefixes)] == prefixes)
            if not found:
                raise TemplateProblem(where, f"{{{name}}} is used nowhere ({why})")

        main_field = "prompt" if self.mode == "completion" else "messages"
        chain = self.chain
        if self.kind not in KINDS_WITH_OWN_PROMPTS:
            require("input", (main_field,), main_field, why="it carries the user's message")
            if "examples" in self.builtin_variables():
                require("examples", (main_field,), main_field, why="few_shot.example_prompt fills it")
        if isinstance(chain, GenerateKnowledgeChain):
            require("knowledge", (main_field,), main_field, why="it carries the generated facts")
            require("input", ("chain", "knowledge_prompt"), "chain", "knowledge_prompt", why="the question")
        elif isinstance(chain, SequentialChain):
            names = [s.name for s in chain.steps]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise TemplateProblem(("chain", "steps"), f"step name {dupes[0]!r} is used twice")
            taken = set(self.variables) | {"input", "history", "schema"}
            for i, name in enumerate(names):
                if name in taken:
                    raise TemplateProblem(("chain", "steps", i, "name"), f"{name!r} is already a variable")
            require("input", ("chain", "steps"), "chain", "steps", why="no step reads the user's message")
        elif isinstance(chain, MapReduceChain):
            require("text", ("chain", "map_prompt"), "chain", "map_prompt", why="it carries each part")
            require("summaries", ("chain", "reduce_prompt"), "chain", "reduce_prompt", why="the summaries")
        elif isinstance(chain, StructuredChain):
            require("error", ("chain", "fix_prompt"), "chain", "fix_prompt", why="the model must see the error")
        elif isinstance(chain, RetrievalChain):
            require("context", (main_field,), main_field, why="it carries the retrieved passages")

    def _texts(self, shared: set[str]) -> Iterator[tuple[tuple[str | int, ...], str, set[str]]]:
        """(location, text, variables available there) for every text field with variables."""
        main = shared | self.builtin_variables()
        if self.system is not None:
            yield ("system",), self.system, shared | {"input"}
        if self.kind not in KINDS_WITH_OWN_PROMPTS:
            if self.mode == "chat":
                for i, message in enumerate(self.messages):
                    yield ("messages", i, "content"), message.content, main
            elif self.prompt is not None:
                yield ("prompt",), self.prompt, main
        if self.mode == "completion":
            for field in ("user_label", "assistant_label"):
                yield ("completion", field), getattr(self.completion, field), shared
        chain = self.chain
        if isinstance(chain, GenerateKnowledgeChain):
            yield ("chain", "knowledge_prompt"), chain.knowledge_prompt, shared | {"input"}
        elif isinstance(chain, SequentialChain):
            available = shared | {"input"}
            for i, step in enumerate(chain.steps):
                yield ("chain", "steps", i, "prompt"), step.prompt, set(available)
                available.add(step.name)
        elif isinstance(chain, MapReduceChain):
            yield ("chain", "map_prompt"), chain.map_prompt, shared | {"text"}
            yield ("chain", "reduce_prompt"), chain.reduce_prompt, shared | {"summaries"}
        elif isinstance(chain, StructuredChain):
            yield ("chain", "fix_prompt"), chain.fix_prompt, {"error", "schema"}

    def schema_text(self) -> str:
        """The output JSON schema as compact text for the `{schema}` variable."""
        return json.dumps(self.json_schema, ensure_ascii=False) if self.json_schema is not None else ""


def is_template_name(text: str) -> bool:
    """True for a bare template name (no path separators, no `..`)."""
    return bool(re.fullmatch(NAME_PATTERN, text)) and ".." not in text
