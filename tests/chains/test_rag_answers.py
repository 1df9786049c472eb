"""RAG answers that come from the passages: quoted (extractive), checked (auto), always cited,
and a plain "not in your documents" when no sentence answers the question."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.handle import ModelHandle
from agent_app.retrieval import ingest
from agent_app.retrieval.answering import (
    answer_type_missing,
    extractive_answer,
    is_supported,
    keywords,
    split_sentences,
    with_citation,
)
from tests.support.rag_helpers import rag_session

pytestmark = pytest.mark.usefixtures("embeddings")

ENGINE = (
    "The Zorblax engine runs at 4,200 rpm. It was designed in Oslo by Kari Nordmann in 1998. "
    "The engine costs 12,000 euros.\n"
)
FUJI = "富士山は日本で一番高い山です。標高は3776メートルです。山梨県と静岡県にまたがっています。\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "engine.txt").write_text(ENGINE)
    (folder / "fuji.txt").write_text(FUJI, encoding="utf-8")
    (folder / "office.txt").write_text("Our office is open from 9 to 5. Parking is free for visitors.\n")
    ingest([folder])
    return folder


_session = rag_session


def test_extractive_quotes_the_answering_sentence_without_a_model_call(docs, tmp_path):
    session, model = _session(tmp_path, "extractive")
    turn = session.reply("Who designed the Zorblax engine?")
    assert "“It was designed in Oslo by Kari Nordmann in 1998.”" in turn.text and "[" in turn.text
    assert model.calls == [] and turn.details["answer_source"] == "quoted"
    index = int(turn.text.split("[")[1].split("]")[0])
    assert turn.sources[index - 1].path.endswith("engine.txt")  # the cited source holds the fact


def test_extractive_works_in_japanese(docs, tmp_path):
    session, _ = _session(tmp_path, "extractive")
    turn = session.reply("日本で一番高い山は？")
    assert "富士山は日本で一番高い山です。" in turn.text and turn.details["answer_source"] == "quoted"


def test_auto_keeps_a_supported_answer_and_adds_its_citation(docs, tmp_path):
    session, _ = _session(tmp_path, "auto", ["The Zorblax engine runs at 4,200 rpm."])
    turn = session.reply("How fast does the Zorblax engine run?")
    assert turn.text.startswith("The Zorblax engine runs at 4,200 rpm.") and turn.text.rstrip().endswith("]")
    assert turn.details["answer_source"] == "generated"


def test_auto_replaces_an_invented_answer_by_the_passage(docs, tmp_path):
    session, _ = _session(tmp_path, "auto", ["The engine was designed by Steve Jobs in 2005 [1]."])
    turn = session.reply("Who designed the Zorblax engine?")
    assert "Steve Jobs" not in turn.text and "Kari Nordmann" in turn.text
    assert turn.details["answer_source"] == "quoted" and "Steve Jobs" in turn.details["raw"]


def test_unanswerable_question_is_refused_with_the_closest_source(docs, tmp_path):
    session, _ = _session(tmp_path, "auto", ["The mayor of Oslo is Anna Berg."])
    turn = session.reply("Who is the mayor of Lima?")
    assert turn.text.startswith("Your documents do not seem to contain this. The closest passage is [1]")
    assert turn.details["answer_source"] == "not found"


def test_generative_answers_always_cite(docs, tmp_path):
    session, _ = _session(tmp_path, "generative", ["Parking is free for visitors."])
    turn = session.reply("Is parking free?")
    assert turn.text.startswith("Parking is free for visitors.") and turn.text.endswith("]")


@pytest.mark.parametrize(
    ("answer", "supported"),
    [
        ("The Zorblax engine runs at 4,200 rpm [1].", True),
        ("The engine costs 15,000 euros.", False),
        ("It was founded by Steve Jobs.", False),
        ("", False),
    ],
)
def test_support_check(answer, supported):
    assert is_supported(answer, [ENGINE]) is supported


def test_sentences_and_citations():
    assert split_sentences(FUJI) == [
        "富士山は日本で一番高い山です。",
        "標高は3776メートルです。",
        "山梨県と静岡県にまたがっています。",
    ]
    assert with_citation("Parking is free.", [ENGINE, "Parking is free for visitors."]) == "Parking is free. [2]"
    assert extractive_answer("What is the capital of Peru?", [ENGINE]) == ("", 0.0)


@pytest.mark.real_model
def test_local_model_rag_falls_back_to_the_passage(docs, local_chat_model):
    session = ChatSession(
        load_settings(overrides={"model": "local"}), template="rag", models=ModelHandle.given(local_chat_model, "local")
    )
    session.set_params({"max_tokens": 60, "temperature": 0})
    turn = session.reply("Who designed the Zorblax engine?")
    # Whatever the 135M model wrote, what is shown is supported by the passages and cited.
    assert turn.details["answer_source"] in {"generated", "quoted"}
    assert "[" in turn.text
    if turn.details["answer_source"] == "quoted":
        assert "Kari Nordmann" in turn.text


def test_no_cut_warning_when_the_quoted_passage_is_shown(docs, tmp_path):
    from langchain_core.messages import AIMessage

    long_wrong = AIMessage("Steve Jobs designed it in 2005.", response_metadata={"finish_reason": "length"})
    session, _ = _session(tmp_path, "auto", [long_wrong])
    turn = session.reply("Who designed the Zorblax engine?")
    assert turn.details["answer_source"] == "quoted"
    assert not any("cut at max_tokens" in w for w in turn.warnings)


def test_auto_does_not_keep_a_generated_answer_without_the_kind_of_value_asked_for(docs, tmp_path):
    # The model repeats a true sentence of the passage, but the question asks for a weight: the
    # generated answer is not kept as the model's. (Which passage sentences are then quoted is
    # the evidence's choice; an answer-type check on quotes was retired, see
    # agent_app/retrieval/evidence.py.)
    session, _ = _session(tmp_path, "auto", ["The Zorblax engine runs at 4,200 rpm."])
    turn = session.reply("How heavy is the Zorblax engine?")
    assert turn.details["answer_source"] != "generated"
    assert turn.text.startswith(("From your documents:", "Your documents do not seem to contain this"))


def test_answer_types_by_hand():
    assert answer_type_missing("How much RAM does it have?", "It weighs 1.2 kilograms.")
    assert not answer_type_missing("How heavy is it?", "It weighs 1.2 kilograms.")
    assert not answer_type_missing("駐車場はいくらですか？", "駐車場は一台500円です。")
    assert answer_type_missing("図書館は何時に開きますか？", "図書館は1978年に開館しました。")
    assert not answer_type_missing("Who designed it?", "It was designed in Oslo.")  # no type: keywords decide


def test_japanese_question_words_are_not_keywords():
    # "Xとは何ですか" is the commonest Japanese question; 何 is in no answer, and counting it as
    # a missing keyword made the chat refuse "RAGとは何ですか？" over a passage that defines RAG.
    assert "何" not in keywords("RAGとは何ですか？") and "誰" not in keywords("館長は誰ですか")
    quoted, score = extractive_answer("RAGとは何ですか？", ["RAGは、検索と生成を組み合わせた技術です。"])
    assert "RAGは" in quoted and score == 1.0


def test_a_typed_question_is_answered_by_a_sentence_holding_that_kind_of_value():
    # The sentence naming the pool matches more words, but only the one with 円 gives a price.
    passage = "あおば市民プールは7月に営業します。市民プールの料金は大人400円です。"
    quoted, _ = extractive_answer("市民プールの料金はいくらですか？", [passage])
    assert "400円" in quoted and "7月" not in quoted
