"""pyproject.toml: every third-party module the code imports is a declared, pinned dependency.

An undeclared import works in the development venv (something else pulled it in) and breaks
`pip install basketlift` as soon as that something changes its own dependencies.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LOCAL_PACKAGES = {"streams", "schemas", "bench", "tests"}
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (`Pydantic_Core` = `pydantic-core`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """`faust-streaming[rocksdict]==0.15.3` -> `faust-streaming`."""
    return normalized(re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0])


def imported_modules(*folders: str) -> dict[str, set[str]]:
    """Top-level module of every absolute import under `folders` -> files importing it."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(modules: dict[str, set[str]], declared: set[str]) -> dict[str, list[str]]:
    """Third-party modules whose distribution is not in `declared`, with the files."""
    distributions = packages_distributions()
    missing = {}
    for module, files in sorted(modules.items()):
        if module in LOCAL_PACKAGES or module in sys.stdlib_module_names:
            continue
        providers = {normalized(d) for d in distributions.get(module, [module])}
        if not providers & declared:
            missing[f"{module} ({', '.join(sorted(providers))})"] = sorted(files)[:3]
    return missing


RUNTIME = {requirement_name(r) for r in PROJECT["dependencies"]}
DEV = {requirement_name(r) for r in PROJECT["optional-dependencies"]["dev"]}


def test_the_package_and_benches_import_only_declared_dependencies() -> None:
    assert undeclared(imported_modules("streams", "schemas", "bench"), RUNTIME) == {}


def test_the_tests_import_only_declared_or_dev_dependencies() -> None:
    assert undeclared(imported_modules("tests"), RUNTIME | DEV) == {}


def test_an_undeclared_import_is_found() -> None:
    assert undeclared({"click": {"streams/cli.py"}}, RUNTIME - {"click"}) == {
        "click (click)": ["streams/cli.py"]
    }


@pytest.mark.parametrize(
    "requirement", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"]
)
def test_every_dependency_is_pinned(requirement: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[a-z0-9,]+\])?==[0-9][0-9A-Za-z.]*", requirement)


def test_the_license_is_an_spdx_expression() -> None:
    # A table (`{text = ...}`) or a License classifier makes setuptools warn at every install.
    assert PROJECT["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", []))
