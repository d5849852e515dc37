"""The garbage-collector pause bench (bench.gc_pauses) runs at a tiny size."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from bench import gc_pauses


def test_a_tiny_run_times_full_collections_before_and_after_the_freeze(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASKETLIFT_BENCH_RESULTS", str(tmp_path))
    frozen_before = gc.get_freeze_count()
    gc_pauses.main(["--products", "300", "--k", "8", "--categories", "7", "--repeats", "2",
                    "--name", "tiny"])  # fmt: skip
    (size,) = json.loads((tmp_path / "gc_pauses.json").read_text())["tiny"]["sizes"]
    assert size["products"] == 300
    assert len(size["full_collection_s"]) == len(size["full_collection_after_freeze_s"]) == 2
    assert size["objects_tracked"] > 300 and size["objects_frozen"] > 300
    assert gc.get_freeze_count() == frozen_before  # the bench unfreezes what it froze
