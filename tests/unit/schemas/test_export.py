"""The committed JSON Schemas are current, complete and well-formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import (
    ALL_MODELS,
    INBOUND_MODELS,
    SCHEMA_DIR,
    DeadLetter,
    export_json_schemas,
    render_json_schemas,
)
from schemas.eventtime import MAX_TS_MS
from schemas.export import JSON_SCHEMA_DIALECT, schema_file_name

STALE_HINT = "the JSON Schemas in schemas/json are stale: run `basketlift schemas export`"


def test_committed_schemas_are_current() -> None:
    rendered = render_json_schemas()
    committed = {
        path.name: path.read_text(encoding="utf-8") for path in SCHEMA_DIR.glob("*.schema.json")
    }
    assert sorted(committed) == sorted(rendered), STALE_HINT
    for name, text in rendered.items():
        assert committed[name] == text, f"{name}: {STALE_HINT}"


def test_every_model_has_a_schema() -> None:
    names = {schema_file_name(model) for model in ALL_MODELS.values()}
    assert len(names) == len(ALL_MODELS)
    assert set(render_json_schemas()) == names
    assert "cart_event.schema.json" in names and "dead_letter.schema.json" in names


@pytest.mark.parametrize("name", sorted(render_json_schemas()))
def test_schema_shape(name: str) -> None:
    text = render_json_schemas()[name]
    assert text.endswith("}\n")
    schema = json.loads(text)
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["$id"].startswith("urn:basketlift:schema:v1:")
    assert schema["title"] and schema["description"]
    assert schema["type"] == "object"
    assert schema["properties"]
    assert set(schema["required"]) <= set(schema["properties"])
    # Nested models go to $defs and are referenced from there only.
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"]


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_rendering_is_deterministic() -> None:
    assert render_json_schemas() == render_json_schemas()


def test_export_writes_and_removes_stale_files(tmp_path: Path) -> None:
    (tmp_path / "old_event.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("keep me\n", encoding="utf-8")
    written = export_json_schemas(tmp_path)
    assert sorted(path.name for path in written) == sorted(render_json_schemas())
    assert not (tmp_path / "old_event.schema.json").exists()
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "keep me\n"
    for path in written:
        assert path.read_text(encoding="utf-8") == render_json_schemas()[path.name]


def test_inbound_ts_schemas_state_both_event_time_rules() -> None:
    rendered = render_json_schemas()
    for model in INBOUND_MODELS.values():
        ts = json.loads(rendered[schema_file_name(model)])["properties"]["ts"]
        assert (ts["type"], ts["minimum"], ts["exclusiveMaximum"]) == (
            "integer",
            946_684_800_000,  # 2000-01-01T00:00:00Z
            MAX_TS_MS,
        ), model.__name__
        for mentioned in ("ts_implausible", "BASKETLIFT_MAX_FUTURE_SKEW_SECONDS", "ts_in_future"):
            assert mentioned in ts["description"], model.__name__
    # What Basketlift writes keeps its range.
    letter = json.loads(rendered[schema_file_name(DeadLetter)])
    assert letter["properties"]["ts"]["minimum"] == 0
