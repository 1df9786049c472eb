"""Routing to tools the ReAct template has no worked examples of (an MCP server's tools): they
vote with their name and description, and a question that names one votes for it."""

from __future__ import annotations

from agent_app.agent.routing import ExampleRouter, routing_texts
from agent_app.agent.template import Example


class WordEmbeddings:
    """Bag-of-words vectors over a fixed vocabulary: deterministic, no model."""

    VOCAB = ("weather", "city", "capital", "letters", "text", "secret", "word", "hello", "loud")

    def _vector(self, text: str) -> list[float]:
        words = text.lower().replace(".", " ").replace("?", " ").split()
        return [float(words.count(w)) + 1e-3 for w in self.VOCAB]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


EXAMPLES = [
    Example(question="weather in a city", action="weather", input="Paris", observation="12 °C", answer="12 °C"),
    Example(question="hello there", action="none", answer="Hi!"),
]


def test_routing_texts_are_the_name_in_words_and_the_first_line():
    assert routing_texts("secret_word", "Return the secret word.\nMore.") == ["secret word", "Return the secret word."]
    assert routing_texts("ping", "") == ["ping"]


def test_a_described_tool_gets_the_vote_its_description_earns_and_is_never_shown_as_an_example():
    router = ExampleRouter(
        EXAMPLES, WordEmbeddings(), {"shout": routing_texts("shout", "Return the text in capital letters.")}
    )
    actions = ["weather", "shout", "none"]
    prior = router.prior("make this text loud, in capital letters", actions)
    assert max(prior, key=lambda a: prior[a]) == "shout"
    assert sorted(e.action for e in router.select("capital letters", k=4)) == ["none", "weather"]


def test_a_question_that_names_a_described_tool_votes_for_it():
    router = ExampleRouter(EXAMPLES, WordEmbeddings(), {"secret_word": ["secret word"], "shout": ["shout"]})
    actions = ["weather", "secret_word", "shout", "none"]
    named = router.prior("hello, what is the secret word?", actions)
    assert max(named, key=lambda a: named[a]) == "secret_word"
    # Built-in tools keep their example-only prior: naming "weather" adds nothing.
    plain = ExampleRouter(EXAMPLES, WordEmbeddings())
    assert plain.prior("weather hello", ["weather", "none"]) == router.prior("weather hello", ["weather", "none"])
