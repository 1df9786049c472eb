"""Finding the files to ingest: explicit files, and folders walked recursively with
include/exclude glob patterns."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

from agent_app.retrieval.settings import SUPPORTED_SUFFIXES


@dataclass
class Discovery:
    """The files found, plus the given paths that yielded nothing and why."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)  # folders walked (for pruning deleted files)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def discover(
    paths: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Discovery:
    """Resolve `paths` to supported files, sorted and without duplicates.

    A pattern without "/" matches a file name or any folder name on the way (so ".*" skips
    hidden files and folders); a pattern with "/" matches the path relative to the walked folder.
    Files named explicitly skip the include patterns but must still be a supported type.
    """
    found = Discovery()
    seen: set[Path] = set()

    def add(file: Path) -> None:
        if file not in seen:
            seen.add(file)
            found.files.append(file)

    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            found.problems.append((str(path), "not found"))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                add(path.resolve())
            else:
                found.problems.append((str(path), f"unsupported file type {path.suffix or '(none)'}"))
        elif path.is_dir():
            root = path.resolve()
            found.folders.append(root)
            before = len(seen)
            for file in _walk(root, include, exclude):
                add(file)
            if len(seen) == before:
                found.problems.append((str(path), _empty_reason(root)))
        else:
            found.problems.append((str(path), "not a regular file or folder"))
    found.files.sort()
    return found


def _walk(root: Path, include: Sequence[str], exclude: Sequence[str]) -> Iterable[Path]:
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        # Pruning in place stops os.walk from descending into excluded folders.
        dirnames[:] = sorted(d for d in dirnames if not _excluded(_relative(here / d, root), exclude))
        for name in sorted(filenames):
            file = here / name
            relative = _relative(file, root)
            if file.suffix.lower() not in SUPPORTED_SUFFIXES or _excluded(relative, exclude):
                continue
            if include and not _matches(relative, include):
                continue
            if file.is_file():  # skips broken symlinks and sockets
                yield file.resolve()


def _relative(path: Path, root: Path) -> PurePosixPath:
    return PurePosixPath(path.relative_to(root).as_posix())


def _matches(relative: PurePosixPath, patterns: Sequence[str]) -> bool:
    text = str(relative)
    for pattern in patterns:
        pattern = pattern.strip().rstrip("/")
        if "/" in pattern:
            bare = pattern[3:] if pattern.startswith("**/") else pattern
            if fnmatch(text, pattern) or fnmatch(text, bare) or fnmatch(text, "*/" + bare):
                return True
        elif fnmatch(relative.name, pattern):
            return True
    return False


def _excluded(relative: PurePosixPath, patterns: Sequence[str]) -> bool:
    # Checking every prefix makes "build" exclude build/a/b.txt, as users expect.
    parts = relative.parts
    return any(_matches(PurePosixPath(*parts[: i + 1]), patterns) for i in range(len(parts)))


def _empty_reason(root: Path) -> str:
    if not any(root.iterdir()):
        return "empty folder"
    kinds = ", ".join(sorted({s for s in SUPPORTED_SUFFIXES if s not in (".markdown", ".htm")}))
    return f"no supported files ({kinds}) after include/exclude patterns"
