"""Files the package reads at run time, shipped inside it as package data.

They live in this directory (pyproject.toml `[tool.setuptools.package-data]` puts them in the
wheel), so an installed `basketlift` finds them wherever it runs, not only in a checkout:

- ``kafka/pom.xml``: the Maven project whose runtime dependencies are the local broker's jars
  (`basketlift kafka start`, streams.devbroker);
- ``sample/online_retail_sample.parquet``: real orders, the default input of `basketlift
  replay` and `basketlift demo` (``sample/README.md`` says how it was made and its licence);
- ``rules.example.toml``: the offer rules file format, commented (`basketlift rules example`);
- ``web/basketlift.js``: the storefront widget the gateway serves at `/basketlift.js`;
- ``web/demo/``: the demo storefront page the open gateway serves at `/demo/`.

The JSON Schemas of the contract ship with the ``schemas`` package (``schemas/json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

RESOURCES_DIR: Final = Path(__file__).resolve().parent

KAFKA_POM: Final = RESOURCES_DIR / "kafka" / "pom.xml"
"""Maven project resolving Apache Kafka's jars from Maven Central."""

SAMPLE_ORDERS: Final = RESOURCES_DIR / "sample" / "online_retail_sample.parquet"
"""The shipped sample of real orders (the project's `orders` format)."""

RULES_EXAMPLE: Final = RESOURCES_DIR / "rules.example.toml"
"""A commented example of BASKETLIFT_RULES_FILE."""

WIDGET_JS: Final = RESOURCES_DIR / "web" / "basketlift.js"
"""The storefront widget (no build step, no dependencies; under 10 KB)."""

DEMO_DIR: Final = RESOURCES_DIR / "web" / "demo"
"""The demo storefront page: index.html, demo.js, demo.css."""
