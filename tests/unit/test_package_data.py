"""pyproject.toml ships every run-time file of the packages in the wheel.

A file under streams/resources (or schemas/json) that no `[tool.setuptools.package-data]`
pattern names is found in a checkout and missing from every installed copy.
tests/integration/test_installed_package.py runs the commands from a built wheel; this test
names the forgotten file without building one.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import schemas
from streams import resources

ROOT = Path(__file__).parents[2]
PACKAGE_DATA: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-data"]


def unshipped(package: str, directory: Path) -> list[str]:
    """Non-Python files under `directory` (the folder of `package`) that no pattern ships."""
    patterns = PACKAGE_DATA.get(package, [])
    missing = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in relative:
            continue
        if not any(fnmatch(relative, pattern) for pattern in patterns):
            missing.append(relative)
    return missing


def test_every_resource_file_is_package_data() -> None:
    assert unshipped("streams.resources", resources.RESOURCES_DIR) == []


def test_every_json_schema_file_is_package_data() -> None:
    assert unshipped("schemas", Path(schemas.__file__).parent) == []


def test_the_named_resources_exist() -> None:
    demo_files = [resources.DEMO_DIR / name for name in ("index.html", "demo.js", "demo.css")]
    named = [resources.KAFKA_POM, resources.SAMPLE_ORDERS, resources.RULES_EXAMPLE]
    for path in [*named, resources.WIDGET_JS, *demo_files]:
        assert path.is_file(), path


def test_a_file_no_pattern_names_is_reported(tmp_path: Path) -> None:
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "pom.xml").write_text("<project/>")
    (tmp_path / "new.csv").write_text("a,b\n")
    assert unshipped("streams.resources", tmp_path) == ["new.csv"]
