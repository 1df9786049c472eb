"""Prompt building: message order, few-shot selection, variables, completion history."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent_app.templates import parse_template, render_prompt
from tests.support.templates_helpers import BagOfWordsEmbeddings

CHAT_FEW_SHOT = """
description: x
system: "Translate to {lang}."
variables:
  lang: French
few_shot:
  example_messages:
    - {role: human, content: "{en}"}
    - {role: ai, content: "{fr}"}
  examples:
    - {en: Hello, fr: Bonjour}
    - {en: Thank you, fr: Merci}
    - {en: Good night, fr: Bonne nuit}
messages:
  - {role: human, content: "English: {input}"}
"""


def test_chat_prompt_order_is_system_examples_history_messages() -> None:
    template = parse_template(CHAT_FEW_SHOT)
    history = [HumanMessage("earlier question"), AIMessage("earlier answer")]
    assert render_prompt(template, {"input": "Good morning", "history": history}) == [
        SystemMessage("Translate to French."),
        HumanMessage("Hello"),
        AIMessage("Bonjour"),
        HumanMessage("Thank you"),
        AIMessage("Merci"),
        HumanMessage("Good night"),
        AIMessage("Bonne nuit"),
        HumanMessage("earlier question"),
        AIMessage("earlier answer"),
        HumanMessage("English: Good morning"),
    ]


def test_variables_override_defaults_and_unrelated_ones_are_ignored() -> None:
    template = parse_template(CHAT_FEW_SHOT)
    messages = render_prompt(template, {"input": "Hi", "lang": "German", "unrelated": "x"}, history_slot=False)
    assert messages[0] == SystemMessage("Translate to German.")
    assert messages[-1] == HumanMessage("English: Hi")


def test_similarity_selector_puts_the_k_most_similar_examples_most_similar_last() -> None:
    template = parse_template(
        CHAT_FEW_SHOT.replace("few_shot:\n", "few_shot:\n  selector: {type: similarity, k: 2, match_on: en}\n")
    )
    messages = render_prompt(template, {"input": "Thank you for the night"}, embeddings=BagOfWordsEmbeddings)
    # "Thank you" shares two words with the input, "Good night" one, "Hello" none
    assert [m.text for m in messages[1:-1]] == ["Good night", "Bonne nuit", "Thank you", "Merci"]


def test_length_selector_keeps_examples_in_order_while_they_fit() -> None:
    template = parse_template(
        CHAT_FEW_SHOT.replace("few_shot:\n", "few_shot:\n  selector: {type: length, max_length: 6}\n")
    )
    # the input takes 2 words; "Hello Bonjour" 2, "Thank you Merci" 3, then the budget of 6 is spent
    messages = render_prompt(template, {"input": "Good morning"})
    assert [m.text for m in messages[1:-1]] == ["Hello", "Bonjour"]
    messages = render_prompt(template, {"input": "Hi"})
    assert [m.text for m in messages[1:-1]] == ["Hello", "Bonjour", "Thank you", "Merci"]


def test_length_selector_can_count_characters_for_japanese() -> None:
    template = parse_template(
        """
        few_shot:
          selector: {type: length, max_length: 20, unit: characters}
          example_prompt: "{t} -> {k}"
          separator: " | "
          examples:
            - {t: 猫が好き, k: 猫}
            - {t: 犬が好き, k: 犬}
        messages:
          - {role: human, content: "{examples} | {input} ->"}
        """
    )
    # input 3 chars + first example 9 chars = 12; the second would make 21 > 20
    [message] = render_prompt(template, {"input": "鳥が好"}, history_slot=False)
    assert message.text == "猫が好き -> 猫 | 鳥が好 ->"


def test_text_examples_fill_the_examples_variable_with_the_separator() -> None:
    template = parse_template(
        """
        system: Extract keywords.
        few_shot:
          example_prompt: "Text: {text}\\nKeywords: {keywords}"
          separator: "\\n##\\n"
          examples:
            - {text: Stripe offers APIs, keywords: "Stripe, API"}
            - {text: OpenAI trains models, keywords: "OpenAI, models"}
        messages:
          - role: human
            content: "{examples}\\n##\\nText: {input}\\nKeywords:"
        """
    )
    messages = render_prompt(template, {"input": "LangChain builds chains"}, history_slot=False)
    assert messages[1] == HumanMessage(
        "Text: Stripe offers APIs\nKeywords: Stripe, API\n##\n"
        "Text: OpenAI trains models\nKeywords: OpenAI, models\n##\n"
        "Text: LangChain builds chains\nKeywords:"
    )


def test_literal_braces_are_written_doubled() -> None:
    template = parse_template('system: "Reply as {{\\"answer\\": ...}}"\n')
    assert render_prompt(template, {"input": "x"})[0].text == 'Reply as {"answer": ...}'


def test_completion_prompt_writes_history_with_labels() -> None:
    template = parse_template(
        """
        mode: completion
        variables: {bot: Marisa}
        prompt: "A chat with {bot}.\\n{history}User: {input}\\n{bot}: "
        completion: {user_label: User, assistant_label: "{bot}"}
        """
    )
    history = [("human", "Hi"), ("ai", "Hey there!")]
    assert render_prompt(template, {"input": "How are you?", "history": history}) == (
        "A chat with Marisa.\nUser: Hi\nMarisa: Hey there!\nUser: How are you?\nMarisa: "
    )


def test_json_output_fills_the_schema_variable() -> None:
    template = parse_template(
        """
        messages:
          - {role: human, content: "Schema: {schema}\\nText: {input}"}
        output:
          type: json
          schema: {type: object, properties: {name: {type: string}}}
        """
    )
    [message] = render_prompt(template, {"input": "Ann"}, history_slot=False)
    assert message.text == 'Schema: {"type": "object", "properties": {"name": {"type": "string"}}}\nText: Ann'


@pytest.fixture(scope="session")
def minilm():
    from agent_app.embeddings import bundled_embeddings

    return bundled_embeddings()


@pytest.mark.real_model  # loads MiniLM (3-12 s on a busy machine)
def test_similarity_selector_with_the_bundled_minilm(minilm) -> None:
    from agent_app.templates import TemplateRegistry

    template = TemplateRegistry().get("few-shot-translate")
    [_system, human] = render_prompt(template, {"input": "Where is the train station?"}, embeddings=lambda: minilm)
    lines = human.text.splitlines()
    # three examples (two lines each) between the instruction and the question; the closest last
    assert len(lines) == 1 + 6 + 2
    assert lines[5:7] == ["English: Where is the station?", "French: Où est la gare ?"]
