"""The app's small exception hierarchy.

Everything that a user can cause or fix (bad input, missing key, server down) is raised as an
`AppError` with a one-line message that says what to do. Only the CLI edge turns these into
printed lines; anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class AppError(Exception):
    """An expected failure with a one-line, actionable message."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(AppError):
    """Invalid configuration, flag or parameter value."""


class ModelError(AppError):
    """A model cannot be selected, loaded or reached."""


class ModelNotFoundError(ModelError):
    """Unknown provider, model name, or a model folder that does not exist."""


class MissingCredentialsError(ModelError):
    """A provider needs a key that is not configured."""


class ProviderError(ModelError):
    """The model service failed: authentication, quota, rate limit, connection, context length."""


class TemplateError(AppError):
    """A prompt template cannot be found, parsed, validated or rendered."""


class ToolError(AppError):
    """A tool could not run; agents turn this into an observation instead of crashing."""


class OutputError(AppError):
    """Standard output cannot be written (a full disk, a closed or failing file)."""
