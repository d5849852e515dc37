"""JSON Schema (draft 2020-12) export of the wire contract models."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel

from schemas.events import ALL_MODELS, INBOUND_MODELS

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "json"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
CONTRACT_VERSION: Final = 1
_SUFFIX: Final = ".schema.json"


def schema_file_name(model: type[BaseModel]) -> str:
    """File name for a model's schema: CartEvent -> cart_event.schema.json."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", model.__name__).lower() + _SUFFIX


def render_json_schemas() -> dict[str, str]:
    """Render every message model's JSON Schema as deterministic, pretty JSON text."""
    rendered: dict[str, str] = {}
    for name, model in ALL_MODELS.items():
        # Inbound schemas describe what we accept; outbound ones what we write.
        mode: Literal["validation", "serialization"] = (
            "validation" if name in INBOUND_MODELS else "serialization"
        )
        file_name = schema_file_name(model)
        stem = file_name.removesuffix(_SUFFIX)
        body = model.model_json_schema(mode=mode)
        schema: dict[str, Any] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"urn:basketlift:schema:v{CONTRACT_VERSION}:{stem}",
            "title": body.pop("title", model.__name__),
            "description": body.pop("description", ""),
            **body,
        }
        rendered[file_name] = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    return rendered


def export_json_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write the schemas into directory, delete stale *.schema.json files, return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    rendered = render_json_schemas()
    written: list[Path] = []
    for file_name, text in sorted(rendered.items()):
        path = directory / file_name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    for path in sorted(directory.glob("*" + _SUFFIX)):
        if path.name not in rendered:
            path.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    """Export the schemas to the directory given as the only argument, or SCHEMA_DIR."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else SCHEMA_DIR
    for path in export_json_schemas(directory):
        print(path)
    return 0
