#!/usr/bin/env bash
# README command 1: install, start a local Kafka, run a worker and replay real orders through it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/basketlift demo "$@"
