"""Packaging facts a newcomer relies on: the two entry points, and conda users getting what pip users get."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_pip_names() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    names, in_pip = set(), False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip:
            if not stripped.startswith("- "):
                if stripped and not stripped.startswith("#"):
                    in_pip = False
                continue
            item = stripped[2:].split("#")[0].strip()
            if item and not item.startswith("-e"):
                names.add(_name(item))
    return names


def test_environment_yml_lists_every_dependency_of_pyproject():
    meta = pyproject()["project"]
    wanted = {_name(r) for r in meta["dependencies"]}
    for extra in meta["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    assert environment_pip_names() == wanted


def test_environment_yml_installs_the_project_with_its_extras():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"-\s+-e\s+\.\[notebooks,dev\]", text)
    assert re.search(r"python>=3\.11", text)


def test_console_scripts_and_python_version():
    meta = pyproject()["project"]
    assert meta["scripts"] == {"minicontainer": "minicontainer.cli:main", "vmcompare": "vmcompare.cli:main",
                               "minicontainer-runc": "minicontainer.runc.cli:main"}
    assert meta["requires-python"] == ">=3.11"


def test_readme_quickstart_is_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make lab", "make test"]


def test_ci_calls_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_test_module_names_are_unique():
    """pytest imports test modules by basename (rootdir conftest, no packages): twins collide."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(names) == sorted(set(names))
