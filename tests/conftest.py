"""Test-process settings: read once at import, so they are set before anything imports the app.

Agent tests run Faust's test context with in-memory table stores in a throwaway data dir;
integration tests start real workers as subprocesses with their own settings (RocksDB).

Hypothesis profiles (the property tests, tests/support/strategies.py): "dev" by default,
"ci" when CI=true; HYPOTHESIS_PROFILE names one explicitly. Both keep example counts modest
so that every property suite stays within seconds on two cores; deadline=None because a
single example's time is dominated by the machine's load (a shared CI runner, Faust's
batching), not by the code under test, and a timing failure would say nothing about it.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

os.environ.setdefault("BASKETLIFT_STORE", "memory://")
os.environ.setdefault("BASKETLIFT_DATA_DIR", tempfile.mkdtemp(prefix="basketlift-tests-"))

settings.register_profile(
    "dev",
    max_examples=60,
    deadline=None,
    # Extreme examples (orders at the item limit, ids at the length limit) are slow and
    # large to generate on purpose.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# CI is derandomized: the same examples on every run, so a red build always points at the
# change under test and never at a newly drawn example that fails on main too; exploring new
# examples is left to local runs, which keep their failures in .hypothesis/ and replay them.
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, database=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)
