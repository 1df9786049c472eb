"""Every kind of broken template gives one line naming the file and the line or field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_app.errors import TemplateError
from agent_app.templates import TemplateRegistry, load_template
from tests.support.templates_helpers import write

BROKEN = {
    "yaml-syntax": (
        'description: "unclosed\nsystem: [\n',
        "line 3: invalid YAML: found unexpected end of stream",
    ),
    "not-a-mapping": ("- just\n- a list\n", "a template must be a mapping"),
    "unknown-key": ("description: x\nsytem: Be brief.\n", "line 2 (sytem): unknown key"),
    "unknown-nested-key": (
        "description: x\nchain:\n  kind: chain-of-thought\n  show_reasonin: true\n",
        "line 4 (chain.show_reasonin): unknown key",
    ),
    "unknown-kind": ("chain:\n  kind: magic\n", "line 2 (chain.kind): unknown kind 'magic'; expected one of: 'chat',"),
    "bad-param-value": ("params:\n  temperature: 5\n", "line 2 (params.temperature): Input should be less"),
    "unknown-param": ("params:\n  temprature: 0.5\n", "line 2 (params.temprature): unknown key"),
    "wrong-type": ("messages: hello\n", "line 1 (messages): Input should be a valid list"),
    "undeclared-variable": (
        "description: x\nmessages:\n  - role: human\n    content: 'In {lang}: {input}'\n",
        "line 4 (messages.0.content): undeclared variable {lang}",
    ),
    "unused-variable": (
        "variables:\n  tone: friendly\nsystem: Be brief.\n",
        "line 2 (variables.tone): declared but never used",
    ),
    "missing-input": (
        "messages:\n  - {role: human, content: Say hi}\n",
        "line 1 (messages): {input} is used nowhere",
    ),
    "single-brace": ("system: 'Use { carefully'\n", "line 1 (system): expected '}' before end of string"),
    "attribute-access": ("system: '{input.__class__}'\n", "line 1 (system): invalid variable {input.__class__}"),
    "example-missing-key": (
        "few_shot:\n  example_prompt: 'Q: {q} A: {a}'\n  examples:\n    - {q: one, a: two}\n    - {q: three}\n"
        "messages:\n  - {role: human, content: '{examples} {input}'}\n",
        "line 5 (few_shot.examples.1): example has no key 'a'",
    ),
    "bad-json-schema": (
        "output:\n  type: json\n  schema:\n    oneOf: []\nchain: {kind: structured}\n",
        "line 3 (output.schema): unsupported JSON schema keyword 'oneOf'",
    ),
    "structured-without-json": ("chain:\n  kind: structured\n", "(output): kind structured needs output"),
    "completion-without-prompt": ("mode: completion\n", "(prompt): mode: completion needs a prompt string"),
    "duplicate-step": (
        "chain:\n  kind: sequential\n  steps:\n    - {name: a, prompt: '{input}'}\n    - {name: a, prompt: '{a}'}\n",
        "line 3 (chain.steps): step name 'a' is used twice",
    ),
    "name-mismatch": ("name: other\ndescription: x\n", "line 1 (name): 'other' differs from the file name"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_template_gives_one_line_naming_file_and_place(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    path = write(tmp_path, f"{case}.yaml", text)
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    assert expected in message


def test_registry_keeps_listing_a_broken_template_with_its_error(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", "sytem: x\n")
    registry = TemplateRegistry([tmp_path], shipped_dir=None)
    [info] = registry.list()
    assert info.name == "broken"
    assert info.error is not None and "(sytem): unknown key" in info.error
    with pytest.raises(TemplateError, match="unknown key"):
        registry.get("broken")


def test_missing_variable_at_render_names_the_template_and_how_to_set_it(tmp_path: Path) -> None:
    from agent_app.templates import render_prompt

    write(tmp_path, "needs.yaml", "variables:\n  lang: {description: target language}\nsystem: 'Speak {lang}.'\n")
    template = load_template(tmp_path / "needs.yaml")
    with pytest.raises(TemplateError) as caught:
        render_prompt(template, {"input": "hi"})
    assert str(caught.value) == (
        f"template 'needs' ({tmp_path / 'needs.yaml'}): missing variable {{lang}} "
        "(set it with --var lang=VALUE or /set lang VALUE)"
    )
    assert render_prompt(template, {"input": "hi", "lang": "Dutch"})[0].text == "Speak Dutch."
