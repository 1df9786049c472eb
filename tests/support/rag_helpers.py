"""A chat session over a retrieval template with a chosen answer style and a scripted model."""

from __future__ import annotations

from pathlib import Path

from agent_app.chat.session import ChatSession
from agent_app.config import load_settings
from agent_app.models.fake import ScriptedChatModel
from agent_app.models.handle import ModelHandle


def rag_session(tmp_path: Path, style: str, replies: list[str] | None = None) -> tuple[ChatSession, ScriptedChatModel]:
    """A session on template `ragx` (kind retrieval, `answer_style: style`) whose model replies
    `replies` in turn (echoes without them), over the default collection."""
    template = tmp_path / "t" / "ragx.yaml"
    template.parent.mkdir(exist_ok=True)
    template.write_text(
        'system: Answer from the context.\nmessages:\n  - {role: human, content: "{context}\\n\\n{input}"}\n'
        f"chain:\n  kind: retrieval\n  answer_style: {style}\n"
    )
    settings = load_settings(environ={}, overrides={"templates": {"template_dirs": [str(template.parent)]}})
    model = ScriptedChatModel(replies=replies or [], echo=not replies)
    return ChatSession(settings, template="ragx", models=ModelHandle.given(model, "fake")), model
