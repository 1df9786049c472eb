"""Tool calls and structured output for a model that has no native syntax for them.

The local model is told the tools in its system message and writes a call as one JSON object,
`{"name": TOOL, "arguments": {...}}`, held to the tools' schemas by a grammar
(models.constrained); this module turns that text into LangChain's `tool_calls` and
`tool_call_chunks`, and puts earlier calls back into the prompt in the same form.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.messages.tool import InvalidToolCall, ToolCall, ToolCallChunk

Choice = Literal["auto", "required", "none"] | str
"""auto: the model chooses; required: some tool; none: no tool; any other string: that tool."""


def normalize_choice(tool_choice: Any, names: list[str]) -> Choice:
    """LangChain's spellings of tool_choice (None, "any", True, a name, an OpenAI dict) in one form."""
    if tool_choice in (None, "auto"):
        return "auto"
    if tool_choice in ("any", "required", True):
        return "required"
    if tool_choice in ("none", False):
        return "none"
    if isinstance(tool_choice, dict):
        tool_choice = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
    if isinstance(tool_choice, str) and tool_choice in names:
        return tool_choice
    raise ValueError(f"tool_choice {tool_choice!r} names no bound tool (bound: {', '.join(names) or 'none'})")


def offered(tools: Sequence[Any], tool_choice: Any) -> tuple[list[dict[str, Any]], Choice]:
    """`bind_tools`' arguments in one form: the tools as OpenAI tool dicts, and the choice."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    formatted = [convert_to_openai_tool(t) for t in tools]
    return formatted, normalize_choice(tool_choice, [t["function"]["name"] for t in formatted])


def call_text(name: str, args: dict[str, Any]) -> str:
    """A call as the model writes it (and sees its earlier calls)."""
    return json.dumps({"name": name, "arguments": args}, ensure_ascii=False)


def tools_instruction(tools: list[dict[str, Any]], choice: Choice) -> str:
    """The system-message text that tells the model its tools and how to call one."""
    lines = ["You can call these tools:"]
    for tool in tools:
        function = tool["function"]
        described = {"name": function["name"], "description": function.get("description", "")}
        described["parameters"] = function.get("parameters", {}).get("properties", {})
        lines.append(json.dumps(described, ensure_ascii=False))
    # No placeholder such as "TOOL" or {...} here: a small model copies placeholders into the
    # call's values ("customer_name": "{name}").
    how = 'To call a tool, reply with only a JSON object with the tool\'s "name" and its "arguments".'
    if choice == "auto":
        how += " If no tool is needed, answer in plain text."
    lines.append(how)
    return "\n".join(lines)


def schema_instruction(schema: dict[str, Any]) -> str:
    """The system-message text for structured output."""
    return "Reply with only a JSON object that matches this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)


def with_instruction(messages: list[BaseMessage], text: str) -> list[BaseMessage]:
    """`messages` with `text` added to the system message (one is made if there is none)."""
    if messages and isinstance(messages[0], SystemMessage):
        first = messages[0]
        return [first.model_copy(update={"content": f"{first.text}\n\n{text}"}), *messages[1:]]
    return [SystemMessage(text), *messages]


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def parse_call(text: str, call_id: str | None = None) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """A generated call as (valid calls, invalid calls); a call cut short by max_tokens is
    invalid, with the reason, as LangChain reports unparsable calls."""
    call_id = call_id or new_call_id()
    try:
        data = json.loads(text)
        name, args = data["name"], data["arguments"]
        if not isinstance(name, str) or not isinstance(args, dict):
            raise TypeError("name must be a string and arguments an object")
    except (ValueError, KeyError, TypeError) as exc:
        error = f"the model's tool call is not complete JSON ({exc}); raise max_tokens if it was cut short"
        return [], [InvalidToolCall(name=None, args=text, id=call_id, error=error, type="invalid_tool_call")]
    return [ToolCall(name=name, args=args, id=call_id, type="tool_call")], []


_CALL_HEAD = re.compile(r'^\s*\{"name": "((?:[^"\\]|\\.)*)", "arguments": ')


@dataclass
class CallStreamer:
    """Turns a streamed answer into chunks: plain text as content, a tool call (text that opens
    with "{") as `tool_call_chunks` - the name once known, then the arguments as they come."""

    call_id: str = field(default_factory=new_call_id)
    text: str = ""
    mode: Literal["unknown", "answer", "call"] = "unknown"
    sent: int = 0  # characters of the arguments already sent
    named: bool = False

    def feed(self, piece: str) -> AIMessageChunk | None:
        self.text += piece
        if self.mode == "unknown":
            stripped = self.text.lstrip()
            if not stripped:
                return None
            self.mode = "call" if stripped.startswith("{") else "answer"
            if self.mode == "answer":
                return AIMessageChunk(content=self.text)
        if self.mode == "answer":
            return AIMessageChunk(content=piece)
        return self._call_chunk(final=False)

    def finish(self) -> AIMessageChunk | None:
        """The rest of a call once the model has stopped."""
        return self._call_chunk(final=True) if self.mode == "call" else None

    def _call_chunk(self, *, final: bool) -> AIMessageChunk | None:
        head = _CALL_HEAD.match(self.text)
        if head is None:
            if final and not self.named:  # cut before the arguments: report what there is
                self.named = True
                return self._chunk(None, self.text, first=True)
            return None
        args = self.text[head.end() :]
        # The call's closing brace is the last character; hold one back until the end.
        upto = len(args.rstrip()[:-1]) if final and args.rstrip().endswith("}") else len(args) - 1
        new, self.sent = args[self.sent : max(upto, self.sent)], max(upto, self.sent)
        first = not self.named
        if not first and not new:
            return None
        self.named = True
        return self._chunk(json.loads(f'"{head.group(1)}"') if first else None, new, first=first)

    def _chunk(self, name: str | None, args: str, *, first: bool = False) -> AIMessageChunk:
        """The call's id goes with its first chunk only (chunks join by index; ids would concatenate)."""
        chunk = ToolCallChunk(name=name, args=args, id=self.call_id if first else None, index=0, type="tool_call_chunk")
        return AIMessageChunk(content="", tool_call_chunks=[chunk])
