#!/usr/bin/env bash
# README command 2: the whole test suite (lint, types, unit, agent and integration tests on a
# real Kafka broker, which is assembled and started here when none is running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/basketlift kafka start
exec .venv/bin/pytest -q -p no:cacheprovider "$@"
