"""Template lookup: user folders override shipped ones, hot reload, no escaping the folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent_app.errors import TemplateError
from agent_app.templates import TEMPLATE_DIRS_ENV, TemplateRegistry, TemplateSettings
from tests.support.templates_helpers import write


def _bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_user_folder_overrides_a_shipped_template_and_adds_new_ones(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    write(user, "default.yaml", "description: my default\nsystem: Talk like a pirate.\n")
    write(user, "extra.yaml", "description: an extra one\n")
    registry = TemplateRegistry.from_settings(TemplateSettings(template_dirs=[user]), environ={})

    assert registry.get("default").system == "Talk like a pirate."
    infos = {i.name: i for i in registry.list()}
    assert infos["default"].description == "my default" and not infos["default"].shipped
    assert infos["extra"].path == user / "extra.yaml"
    assert infos["concise"].shipped  # the other shipped ones are still there


def test_environment_folders_come_before_configured_ones(tmp_path: Path) -> None:
    env_dir, conf_dir = tmp_path / "env", tmp_path / "conf"
    write(env_dir, "t.yaml", "description: from env\n")
    write(conf_dir, "t.yaml", "description: from config\n")
    write(conf_dir, "u.yaml", "description: only in config\n")
    environ = {TEMPLATE_DIRS_ENV: os.pathsep.join([str(tmp_path / "missing"), str(env_dir)])}
    registry = TemplateRegistry([conf_dir], shipped_dir=None, environ=environ)
    assert registry.get("t").description == "from env"
    assert registry.get("u").description == "only in config"
    assert registry.folders == [(tmp_path / "missing").resolve(), env_dir.resolve(), conf_dir.resolve()]


def test_the_environment_variable_is_read_from_os_environ(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "envonly.yaml", "description: via os.environ\n")
    monkeypatch.setenv(TEMPLATE_DIRS_ENV, str(tmp_path))
    assert TemplateRegistry().get("envonly").description == "via os.environ"


def test_editing_a_template_takes_effect_on_the_next_get(tmp_path: Path) -> None:
    path = write(tmp_path, "live.yaml", "description: first\n")
    registry = TemplateRegistry([tmp_path], shipped_dir=None)
    first = registry.get("live")
    assert registry.get("live") is first  # unchanged file: cached object

    path.write_text("description: second\n", encoding="utf-8")
    _bump_mtime(path)
    assert registry.get("live").description == "second"


def test_a_broken_edit_raises_and_fixing_it_recovers(tmp_path: Path) -> None:
    path = write(tmp_path, "live.yaml", "description: good\n")
    registry = TemplateRegistry([tmp_path], shipped_dir=None)
    assert registry.get("live").description == "good"

    path.write_text("description: good\nsytem: oops\n", encoding="utf-8")
    _bump_mtime(path)
    with pytest.raises(TemplateError, match=r"live\.yaml line 2 \(sytem\): unknown key"):
        registry.get("live")

    path.write_text("description: fixed\n", encoding="utf-8")
    _bump_mtime(path)
    assert registry.get("live").description == "fixed"


def test_a_path_inside_a_template_folder_is_accepted(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "sub", "deep.yaml", "description: deep\n")
    registry = TemplateRegistry([tmp_path], shipped_dir=None)
    assert registry.get(str(path)).description == "deep"
    assert registry.get("sub/deep.yaml").description == "deep"  # relative to a template folder
    monkeypatch.chdir(tmp_path)
    assert registry.get("./sub/deep.yaml").description == "deep"  # relative to the working folder


@pytest.mark.parametrize(
    "asked",
    ["../secret.yaml", "sub/../../secret.yaml", "..", "ok/../../../etc/passwd"],
)
def test_dot_dot_is_refused(tmp_path: Path, asked: str) -> None:
    write(tmp_path, "secret.yaml", "description: secret\n")
    registry = TemplateRegistry([tmp_path / "templates"], shipped_dir=None)
    with pytest.raises(TemplateError, match=r"must not contain '\.\.'"):
        registry.get(asked)


def test_an_absolute_path_outside_the_folders_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere", "evil.yaml", "description: evil\n")
    registry = TemplateRegistry([tmp_path / "templates"], shipped_dir=None)
    (tmp_path / "templates").mkdir()
    with pytest.raises(TemplateError, match="outside the template folders"):
        registry.get(str(outside))


def test_a_symlink_escaping_the_folder_is_refused(tmp_path: Path) -> None:
    outside = write(tmp_path / "elsewhere", "evil.yaml", "description: evil\n")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "innocent.yaml").symlink_to(outside)
    registry = TemplateRegistry([folder], shipped_dir=None)
    with pytest.raises(TemplateError, match="outside the template folders"):
        registry.get("innocent")
    [info] = registry.list()
    assert info.error is not None and "outside the template folders" in info.error


def test_unknown_names_and_non_yaml_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "notes.txt", "description: x\n")
    registry = TemplateRegistry([tmp_path], shipped_dir=None)
    with pytest.raises(TemplateError, match="unknown template 'nope'"):
        registry.get("nope")
    with pytest.raises(TemplateError, match=r"not a \.yaml file"):
        registry.get(str(tmp_path / "notes.txt"))


def test_settings_reject_unknown_keys_and_accept_a_single_folder() -> None:
    from pydantic import ValidationError

    assert TemplateSettings.model_validate({"template_dirs": "/x", "vars": {"year": 2024}}).vars == {"year": "2024"}
    with pytest.raises(ValidationError):
        TemplateSettings.model_validate({"template_dir": "/x"})
