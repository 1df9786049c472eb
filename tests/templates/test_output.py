"""Output formats: the JSON schema subset checker and the json/list parsers."""

from __future__ import annotations

import pytest
from langchain_core.exceptions import OutputParserException

from agent_app.templates.json_check import check_schema, validate
from agent_app.templates.output import OutputFormatError, TemplateOutputParser, parse_json, parse_list
from agent_app.templates.schema import JsonOutput, ListOutput

SCHEMA = {
    "type": "object",
    "required": ["people"],
    "additionalProperties": False,
    "properties": {
        "people": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "count": {"type": "integer", "minimum": 0},
        "mood": {"enum": ["happy", "sad"]},
    },
}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"people": ["Ann"], "count": 2, "mood": "happy"}, None),
        ({}, "$: missing required property 'people'"),
        ({"people": ["Ann", 3]}, "$.people[1]: expected string, got integer"),
        ({"people": [], "extra": 1}, "$: unexpected property 'extra'"),
        ({"people": [], "count": -1}, "$.count: below the minimum 0"),
        ({"people": [], "count": True}, "$.count: expected integer, got boolean"),
        ({"people": [], "mood": "meh"}, "$.mood: must be one of ['happy', 'sad']"),
        ({"people": ["a", "b", "c", "d"]}, "$.people: more than 3 items"),
        ([], "$: expected object, got array"),
    ],
)
def test_validate(value, error) -> None:
    if error is None:
        validate(value, SCHEMA)
    else:
        with pytest.raises(ValueError) as caught:
            validate(value, SCHEMA)
        assert str(caught.value) == error


def test_check_schema_refuses_keywords_it_would_ignore() -> None:
    check_schema(SCHEMA)
    with pytest.raises(ValueError, match=r"properties\.x: unsupported JSON schema keyword 'pattern'"):
        check_schema({"properties": {"x": {"type": "string", "pattern": "a+"}}})
    with pytest.raises(ValueError, match="unknown type 'text'"):
        check_schema({"type": "text"})


def test_parse_json_finds_the_object_in_chatter_and_fences() -> None:
    reply = 'Sure! Here it is:\n```json\n{"people": ["Ann"]}\n```\nAnything else?'
    assert parse_json(reply, SCHEMA) == {"people": ["Ann"]}
    with pytest.raises(OutputFormatError, match="no JSON object or array"):
        parse_json("no json here", SCHEMA)
    with pytest.raises(OutputFormatError, match="invalid JSON: Expecting"):
        parse_json('{"people": [}', SCHEMA)
    with pytest.raises(OutputFormatError, match=r"JSON does not match the schema: \$: missing required"):
        parse_json('{"who": 1}', SCHEMA)


def test_parse_list_styles() -> None:
    assert parse_list("- one\n2. two\n* three\n\n") == ["one", "two", "three"]
    assert parse_list(" Stripe、決済処理, API。\nignored line", "comma") == ["Stripe", "決済処理", "API"]


def test_langchain_parser_wraps_failures_in_output_parser_exception() -> None:
    parser = TemplateOutputParser(spec=JsonOutput.model_validate({"type": "json", "schema": SCHEMA}))
    assert parser.invoke('{"people": []}') == {"people": []}
    with pytest.raises(OutputParserException):
        parser.invoke("nope")
    assert TemplateOutputParser(spec=ListOutput(type="list")).parse("a\nb") == ["a", "b"]
