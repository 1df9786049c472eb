"""agent.rules: each steering rule is listed once with what it is for, and its switch works."""

from __future__ import annotations

import pytest

from agent_app.agent import AgentSettings, rules


@pytest.fixture(autouse=True)
def _all_rules_on():
    yield
    rules._OFF.clear()


def test_every_rule_says_what_it_is_for_and_where_its_value_came_from():
    assert len(rules.RULES) >= 6
    for rule in rules.RULES.values():
        assert rule.purpose and rule.origin
        if rule.setting:
            assert rule.setting in AgentSettings.model_fields
            AgentSettings(**{rule.setting: rule.off_value})  # the off value is a valid setting


def test_ablating_a_rule_switches_it_off_and_only_it():
    assert rules.on("grounded_answer") and rules.on("tool_reads_question")
    rules.ablate("grounded_answer")
    assert not rules.on("grounded_answer") and rules.on("tool_reads_question")
    rules.ablate("routing_prior")
    assert rules.settings_off() == {"routing_prior": 0.0}
    with pytest.raises(KeyError, match="no rule named"):
        rules.ablate("no_such_rule")


def test_without_the_grounding_rule_an_invented_number_goes_through():
    from agent_app.agent import build_agent
    from agent_app.models.fake import ScriptedChatModel
    from agent_app.tools import build_tools
    from agent_app.tools.settings import ToolsSettings
    from tests.support.agent_helpers import run

    def answer() -> str:
        model = ScriptedChatModel(replies=["Action: calculator\nAction Input: 23*17", "Final Answer: 30"], echo=False)
        agent = build_agent(
            model,
            build_tools(ToolsSettings(enabled=["calculator"])),
            settings=AgentSettings(mode="react"),
            embeddings=None,
        )
        return run(agent, "What is 23*17?")[1].answer

    assert answer() == "The result is 391."
    rules.ablate("grounded_answer")
    assert answer() == "30"
