"""Each chain kind on the scripted fake model: the exact prompts sent and the results."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import LLM, FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import Field

from agent_app.chains import CHAIN_BUILDERS, ChainResult, ModelOutputError, build_chain, result_text
from agent_app.errors import TemplateError
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.text import cut_at_stop
from agent_app.templates import TemplateRegistry, parse_template


class RecordingLLM(LLM):
    """A completion model that answers from a list and records prompts and kwargs."""

    replies: list[str]
    prompts: list[str] = Field(default_factory=list)
    kwargs: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _call(self, prompt: str, stop: list[str] | None = None, run_manager=None, **kwargs: Any) -> str:
        self.prompts.append(prompt)
        self.kwargs.append({**kwargs, "stop": stop})
        return cut_at_stop(self.replies.pop(0), stop)[0]


def template(text: str, **kw):
    return parse_template(text, **kw)


# --- chat and completion -------------------------------------------------------------------


def test_chat_sends_system_history_input_with_bound_params_and_streams() -> None:
    t = template("system: Be brief.\nparams: {temperature: 0.2, max_tokens: 50}\n")
    model = ScriptedChatModel(replies=["Paris is the capital."])
    chain = build_chain(t, model)
    history = [HumanMessage("Hi"), AIMessage("Hello!")]
    pieces = list(chain.stream({"input": "Capital of France?", "history": history}))
    assert "".join(pieces) == "Paris is the capital." and len(pieces) > 1
    assert model.calls == [
        [SystemMessage("Be brief."), HumanMessage("Hi"), AIMessage("Hello!"), HumanMessage("Capital of France?")]
    ]
    assert model.call_kwargs == [{"temperature": 0.2, "max_tokens": 50}]


def test_user_params_win_over_the_template_and_history_slot_can_be_off() -> None:
    t = template("system: Be brief.\nparams: {temperature: 0.2, max_tokens: 50}\n")
    model = ScriptedChatModel(replies=["ok"])
    chain = build_chain(t, model, history_slot=False, params={"temperature": 0.9})
    assert chain.invoke({"input": "q", "history": [HumanMessage("ignored")]}) == "ok"
    assert model.calls == [[SystemMessage("Be brief."), HumanMessage("q")]]
    assert model.call_kwargs == [{"temperature": 0.9, "max_tokens": 50}]


CHARACTER = """
mode: completion
prompt: "{history}User: {input}\\nCharacter: "
completion: {user_label: User, assistant_label: Character}
params: {temperature: 0.1, top_k: 20, stop: ["\\n"]}
"""


def test_completion_runs_on_a_completion_llm_with_the_newline_stop() -> None:
    llm = RecordingLLM(replies=["Fine, thanks!\nUser: and you?"])
    chat = ScriptedChatModel(replies=[])
    chain = build_chain(template(CHARACTER), chat, llm=llm)
    out = chain.invoke({"input": "How are you?", "history": [("human", "Hi"), ("ai", "Hey!")]})
    assert out == "Fine, thanks!"
    assert llm.prompts == ["User: Hi\nCharacter: Hey!\nUser: How are you?\nCharacter: "]
    assert llm.kwargs == [{"temperature": 0.1, "top_k": 20, "stop": ["\n"]}]
    assert chat.calls == []


def test_completion_on_a_chat_model_sends_the_prompt_as_one_human_message() -> None:
    model = ScriptedChatModel(replies=["Fine.\nUser: more"])
    assert build_chain(template(CHARACTER), model).invoke({"input": "How are you?"}) == "Fine."
    assert model.calls == [[HumanMessage("User: How are you?\nCharacter: ")]]


def test_completion_with_langchains_fake_list_llm() -> None:
    chain = build_chain(template(CHARACTER), ScriptedChatModel(), llm=FakeListLLM(responses=["Yo"]))
    assert chain.invoke({"input": "Hi"}) == "Yo"


def test_a_list_output_gives_a_result_with_the_items() -> None:
    t = template("output: {type: list, style: comma}\n")
    out = build_chain(t, ScriptedChatModel(replies=["Stripe、API, payments"])).invoke({"input": "x"})
    assert isinstance(out, ChainResult)
    assert out.data == ["Stripe", "API", "payments"] and out.text == "Stripe、API, payments"


def test_a_missing_variable_fails_with_the_template_error() -> None:
    t = template("variables: {lang: {description: language}}\nsystem: 'Speak {lang}.'\n")
    with pytest.raises(TemplateError, match=r"missing variable \{lang\}"):
        build_chain(t, ScriptedChatModel()).invoke({"input": "x"})


# --- chain-of-thought and self-consistency -------------------------------------------------

COT = """
messages:
  - {role: human, content: "{input}\\nLet's think step by step."}
chain: {kind: chain-of-thought, show_reasoning: SHOW}
"""
COT_REPLY = "5 + 6 = 11.\nAnswer: 11 tennis balls.\nQuestion: next one?"


@pytest.mark.parametrize(("show", "shown"), [("true", COT_REPLY), ("false", "11 tennis balls.")])
def test_chain_of_thought_shows_or_hides_the_reasoning(show: str, shown: str) -> None:
    model = ScriptedChatModel(replies=[COT_REPLY])
    out = build_chain(template(COT.replace("SHOW", show)), model).invoke({"input": "Roger?"})
    assert out.text == shown
    assert (out.answer, out.reasoning) == ("11 tennis balls.", "5 + 6 = 11.")
    assert model.calls == [[HumanMessage("Roger?\nLet's think step by step.")]]


def test_chain_of_thought_without_marker_takes_the_last_line() -> None:
    model = ScriptedChatModel(replies=["First, add.\nThe total is 7."])
    out = build_chain(template(COT.replace("SHOW", "false")), model).invoke({"input": "q"})
    assert out.text == "The total is 7." and out.reasoning == "First, add."


SELF_CONSISTENCY = """
system: Solve it.
messages: [{role: human, content: "Q: {input}"}]
chain: {kind: self-consistency, samples: 5, temperature: 0.8, extract: number}
params: {max_tokens: 100, seed: 7}
"""


def test_self_consistency_samples_votes_and_shows_the_vote() -> None:
    replies = ["So Answer: 11", "Answer: 12", "Answer: 11 balls.", "I do not know", "Answer: 11.0"]
    model = ScriptedChatModel(replies=list(replies))
    out = build_chain(template(SELF_CONSISTENCY), model).invoke({"input": "Roger?"})
    assert out.answer == "11"
    assert out.votes == {"11": 3, "12": 1}
    assert out.samples == replies
    assert out.text == "11\n(votes: 11 ×3, 12 ×1; 1 without an answer; 5 samples)"
    assert model.calls == [[SystemMessage("Solve it."), HumanMessage("Q: Roger?")]] * 5
    # each sample at the kind's temperature, with its own seed so they can differ
    assert model.call_kwargs == [{"max_tokens": 100, "seed": 7 + i, "temperature": 0.8} for i in range(5)]


def test_self_consistency_tie_goes_to_the_first_answer_and_text_answers_are_normalised() -> None:
    t = template("chain: {kind: self-consistency, samples: 4, show_votes: false}\n")
    replies = ["Answer: Paris.", "Answer: Lyon", "Answer: paris", "Answer: Lyon."]
    out = build_chain(t, ScriptedChatModel(replies=replies)).invoke({"input": "q"})
    assert out.votes == {"paris": 2, "lyon": 2} and out.text == "paris"


# --- generate-knowledge and sequential -----------------------------------------------------

KNOWLEDGE = """
system: Be factual.
messages:
  - {role: human, content: "Facts:\\n{knowledge}\\nQuestion: {input}\\nAnswer:"}
chain:
  kind: generate-knowledge
  knowledge_prompt: "Facts about: {input}"
"""


def test_generate_knowledge_asks_for_facts_then_answers_with_them() -> None:
    model = ScriptedChatModel(replies=["Golf has holes.\nLower is better.", " Yes, lower wins. "])
    out = build_chain(template(KNOWLEDGE), model).invoke({"input": "Is a low golf score good?"})
    assert model.calls == [
        [SystemMessage("Be factual."), HumanMessage("Facts about: Is a low golf score good?")],
        [
            SystemMessage("Be factual."),
            HumanMessage("Facts:\nGolf has holes.\nLower is better.\nQuestion: Is a low golf score good?\nAnswer:"),
        ],
    ]
    assert out.knowledge == "Golf has holes.\nLower is better."
    assert out.answer == "Yes, lower wins."
    assert out.text == "Knowledge:\nGolf has holes.\nLower is better.\n\nAnswer:\nYes, lower wins."


SEQUENTIAL = """
variables: {audience: children}
chain:
  kind: sequential
  show_steps: true
  steps:
    - {name: outline, prompt: "Outline for {audience}: {input}", params: {max_tokens: 20}}
    - {name: story, prompt: "Write from this outline:\\n{outline}"}
params: {temperature: 0.5}
"""


def test_sequential_feeds_each_output_to_the_next_step_by_name() -> None:
    model = ScriptedChatModel(replies=["1. a cat\n2. a hat", "The cat wore a hat."])
    out = build_chain(template(SEQUENTIAL), model).invoke({"input": "a cat"})
    assert model.calls == [
        [HumanMessage("Outline for children: a cat")],
        [HumanMessage("Write from this outline:\n1. a cat\n2. a hat")],
    ]
    assert model.call_kwargs == [{"temperature": 0.5, "max_tokens": 20}, {"temperature": 0.5}]
    assert out.steps == {"outline": "1. a cat\n2. a hat", "story": "The cat wore a hat."}
    assert out.text == "[outline]\n1. a cat\n2. a hat\n\n[story]\nThe cat wore a hat."


# --- map-reduce ----------------------------------------------------------------------------

MAP_REDUCE = """
chain:
  kind: map-reduce
  chunk_size: 120
  chunk_overlap: 0
  map_prompt: "Summarize: {text}"
  reduce_prompt: "Combine:\\n{summaries}"
"""


def test_map_reduce_summarises_each_part_then_combines() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 18 for i in range(1, 6)]  # ~100 characters each
    text = "\n\n".join(p.strip() for p in paragraphs)
    replies = [f"S{i}" for i in range(1, 6)] + ["All five."]
    model = ScriptedChatModel(replies=replies)
    out = build_chain(template(MAP_REDUCE), model).invoke({"input": text})
    assert out.parts == ["S1", "S2", "S3", "S4", "S5"]  # the seeds' five parts
    assert [c[0].text for c in model.calls[:5]] == [f"Summarize: {p.strip()}" for p in paragraphs]
    assert model.calls[5] == [HumanMessage("Combine:\n1. S1\n2. S2\n3. S3\n4. S4\n5. S5")]
    assert out.text == "All five."


def test_map_reduce_combines_in_groups_when_summaries_are_long() -> None:
    text = "\n\n".join(f"Part {i} " + "x " * 50 for i in range(4))
    long = "y" * 50  # two numbered summaries fit into the 120 characters of a part, three do not
    model = ScriptedChatModel(replies=[long] * 4 + ["G1", "G2", "Final"])
    out = build_chain(template(MAP_REDUCE), model).invoke({"input": text})
    assert len(out.parts) == 4 and out.text == "Final"
    assert model.calls[4] == [HumanMessage(f"Combine:\n1. {long}\n2. {long}")]
    assert model.calls[-1] == [HumanMessage("Combine:\n1. G1\n2. G2")]
    assert len(model.calls) == 7


def test_map_reduce_short_text_is_one_call() -> None:
    model = ScriptedChatModel(replies=["Short."])
    out = build_chain(template(MAP_REDUCE), model).invoke({"input": "A short text."})
    assert out.text == "Short." and len(model.calls) == 1


# --- structured ----------------------------------------------------------------------------

STRUCTURED = """
system: Reply with JSON.
messages: [{role: human, content: "Text: {input}"}]
output:
  type: json
  schema: {type: object, required: [people], properties: {people: {type: array, items: {type: string}}}}
chain: {kind: structured}
"""
FIX = (
    "That reply is not valid: JSON does not match the schema: $: missing required property 'people'\n"
    "Reply again with only the corrected JSON, matching this schema:\n"
    '{"type": "object", "required": ["people"], '
    '"properties": {"people": {"type": "array", "items": {"type": "string"}}}}'
)


def test_structured_valid_json_needs_no_retry() -> None:
    model = ScriptedChatModel(replies=['```json\n{"people": ["Ann"]}\n```'])
    out = build_chain(template(STRUCTURED), model).invoke({"input": "Ann met Bob."})
    assert out.data == {"people": ["Ann"]} and out.retries == 0
    assert out.text == '{\n  "people": [\n    "Ann"\n  ]\n}'


def test_structured_retries_once_with_the_error_in_the_prompt() -> None:
    model = ScriptedChatModel(replies=['{"names": ["Ann"]}', '{"people": ["Ann", "Bob"]}'])
    out = build_chain(template(STRUCTURED), model).invoke({"input": "Ann met Bob."})
    assert out.data == {"people": ["Ann", "Bob"]} and out.retries == 1
    first = [SystemMessage("Reply with JSON."), HumanMessage("Text: Ann met Bob.")]
    assert model.calls == [first, [*first, AIMessage('{"names": ["Ann"]}'), HumanMessage(FIX)]]


def test_structured_gives_up_after_the_retry_with_the_last_reply() -> None:
    model = ScriptedChatModel(replies=["no json", "still none"])
    with pytest.raises(ModelOutputError) as caught:
        build_chain(template(STRUCTURED), model).invoke({"input": "x"})
    assert "no valid JSON after 1 retry: no JSON object or array found in the reply" in str(caught.value)
    assert caught.value.raw == "still none"
    assert len(model.calls) == 2


def test_structured_in_completion_mode_appends_the_fix_to_the_prompt() -> None:
    t = template(
        'mode: completion\nprompt: "Text: {input}\\nJSON: "\n'
        "output: {type: json, schema: {type: object}}\n"
        "chain: {kind: structured, fix_prompt: 'Error: {error}. Fixed JSON:'}\n"
    )
    llm = RecordingLLM(replies=["oops", "{}"])
    out = build_chain(t, ScriptedChatModel(), llm=llm).invoke({"input": "x"})
    assert out.data == {} and out.retries == 1
    assert llm.prompts == [
        "Text: x\nJSON: ",
        "Text: x\nJSON: oops\n\nError: no JSON object or array found in the reply. Fixed JSON:\n",
    ]


# --- the kind registry and the shipped templates -------------------------------------------


def test_every_schema_kind_has_a_builder() -> None:
    from typing import get_args

    from agent_app.templates.schema import ChainSpec

    union = get_args(ChainSpec)[0]
    kinds = {get_args(m.model_fields["kind"].annotation)[0] for m in get_args(union)}
    assert kinds == set(CHAIN_BUILDERS)
    assert "retrieval" in CHAIN_BUILDERS


@pytest.mark.parametrize(
    ("name", "replies", "expected"),
    [
        ("default", ["Hello!"], "Hello!"),
        ("few-shot-keywords", ["LangChain、チェーン"], "LangChain、チェーン"),
        ("cot-arithmetic", ["3 + 4 = 7.\nAnswer: 7"], "7"),
        ("self-consistency", ["Answer: 7"] * 3 + ["Answer: 8"] * 2, "7\n(votes: 7 ×3, 8 ×2; 5 samples)"),
        ("character", ["よう、元気だぜ！\nユーザー: …"], "よう、元気だぜ！"),
        ("extract-entities", ['{"companies": [], "people": ["Ann"], "topics": [], "themes": []}'], None),
        ("explain-steps", ["points", "answer"], "answer"),
        ("summarize", ["A summary."], "A summary."),
    ],
)
def test_shipped_templates_run_on_the_scripted_model(name: str, replies: list[str], expected) -> None:
    t = TemplateRegistry().get(name)
    out = build_chain(t, ScriptedChatModel(replies=list(replies))).invoke({"input": "Ann adds 3 and 4."})
    if expected is not None:
        assert result_text(out) == expected
    else:
        assert out.data["people"] == ["Ann"]
