"""Finding templates by name in the template folders, with hot reload.

Folders are searched in this order, the first match winning (so user templates override the
shipped ones by name):

1. the folders in `AGENT_APP_TEMPLATE_DIRS` (separated by `os.pathsep`),
2. the configured `template_dirs`,
3. the shipped templates (`prompts/`, installed as `agent_app/prompts/`).

Names and paths resolve only inside these folders: a name is a bare file stem (no `/`, no `..`),
a path must lie inside one of the folders after symlinks are resolved. Each `get` checks the
file's modification time and size, so an edited template takes effect on the next turn.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent_app.errors import TemplateError
from agent_app.paths import shipped
from agent_app.templates.loader import load_template
from agent_app.templates.schema import Template, is_template_name
from agent_app.templates.settings import TemplateSettings

SHIPPED_TEMPLATE_DIR = shipped("prompts")
"""The templates that come with the app (`prompts/`, package data `agent_app/prompts/` when installed)."""

TEMPLATE_DIRS_ENV = "AGENT_APP_TEMPLATE_DIRS"
_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TemplateInfo:
    """One entry of `TemplateRegistry.list()`."""

    name: str
    description: str
    path: Path
    shipped: bool
    """True for a template shipped with the app (`prompts/`)."""
    error: str | None = None
    """Why the file does not load, if it does not (it is still listed, so users can find it)."""


class TemplateRegistry:
    """The templates of a list of folders, by name; cached and reloaded when a file changes."""

    def __init__(
        self,
        template_dirs: Sequence[str | Path] = (),
        *,
        shipped_dir: str | Path | None = SHIPPED_TEMPLATE_DIR,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        from_env = [p for p in environ.get(TEMPLATE_DIRS_ENV, "").split(os.pathsep) if p.strip()]
        folders = [Path(p).expanduser() for p in [*from_env, *template_dirs]]
        self.shipped_dir = Path(shipped_dir).resolve() if shipped_dir is not None else None
        if self.shipped_dir is not None:
            folders.append(self.shipped_dir)
        self.folders: list[Path] = list(dict.fromkeys(p.resolve() for p in folders))
        """Search order: first match wins."""
        self._cache: dict[Path, tuple[int, int, Template]] = {}

    @classmethod
    def from_settings(
        cls, settings: TemplateSettings | None = None, environ: Mapping[str, str] | None = None
    ) -> TemplateRegistry:
        """A registry over the environment's, the configured and the shipped folders."""
        settings = settings or TemplateSettings()
        return cls(settings.template_dirs, environ=environ)

    # -- lookup ------------------------------------------------------------------------------

    def get(self, name_or_path: str | Path) -> Template:
        """The template of that name (or path inside a template folder), reloaded if edited."""
        return self._load(self.find(name_or_path))

    def find(self, name_or_path: str | Path) -> Path:
        """The resolved file of a template name or path; `TemplateError` if there is none."""
        text = str(name_or_path).strip()
        if not text:
            raise TemplateError("empty template name")
        if is_template_name(text):
            for folder in self.folders:
                for filename in _filenames(text):
                    candidate = folder / filename
                    if candidate.is_file():
                        return self._inside(candidate, text)
            raise TemplateError(f"unknown template {text!r}", hint="/templates lists them")
        return self._find_path(text)

    def _find_path(self, text: str) -> Path:
        path = Path(text).expanduser()
        if ".." in path.parts:
            raise TemplateError(f"template path {text!r} must not contain '..'")
        candidates = [path] if path.is_absolute() else [path, *(folder / path for folder in self.folders)]
        for candidate in candidates:
            if candidate.is_file():
                return self._inside(candidate, text)
        raise TemplateError(f"template file not found: {text}")

    def _inside(self, candidate: Path, asked: str) -> Path:
        """`candidate` resolved, if it lies inside a template folder (symlinks followed)."""
        resolved = candidate.resolve()
        if resolved.suffix not in _SUFFIXES:
            raise TemplateError(f"template {asked!r}: not a .yaml file")
        if not any(resolved.is_relative_to(folder) for folder in self.folders):
            raise TemplateError(
                f"template {asked!r} resolves to {resolved}, outside the template folders",
                hint=f"put it into a template folder or add its folder to {TEMPLATE_DIRS_ENV}",
            )
        return resolved

    def _load(self, path: Path) -> Template:
        try:
            stat = path.stat()
        except OSError as exc:
            raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
        cached = self._cache.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        template = load_template(path)  # a broken file raises and leaves the old entry alone
        self._cache[path] = (stat.st_mtime_ns, stat.st_size, template)
        return template

    # -- listing -----------------------------------------------------------------------------

    def list(self) -> list[TemplateInfo]:
        """Every available template by name (overridden ones hidden), sorted by name."""
        found: dict[str, TemplateInfo] = {}
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                name = path.stem
                if path.suffix not in _SUFFIXES or name in found or not is_template_name(name):
                    continue
                if not path.is_file():
                    continue
                found[name] = self._info(name, path, folder)
        return sorted(found.values(), key=lambda info: info.name)

    def names(self) -> builtins.list[str]:  # (`list` is a method here)
        """The names `list()` shows."""
        return [info.name for info in self.list()]

    def _info(self, name: str, path: Path, folder: Path) -> TemplateInfo:
        shipped = folder == self.shipped_dir
        try:
            template = self._load(self._inside(path, name))
        except TemplateError as exc:
            return TemplateInfo(name, "", path, shipped, error=str(exc))
        return TemplateInfo(name, template.description, path, shipped)


def _filenames(name: str) -> list[str]:
    if name.endswith(_SUFFIXES):
        return [name]
    return [name + suffix for suffix in _SUFFIXES]
