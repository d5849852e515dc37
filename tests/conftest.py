"""Test-process settings: read once at import, so they are set before anything imports the app.

Agent tests run Faust's test context with in-memory table stores in a throwaway data dir;
integration tests start real workers as subprocesses with their own settings (RocksDB).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("BASKETLIFT_STORE", "memory://")
os.environ.setdefault("BASKETLIFT_DATA_DIR", tempfile.mkdtemp(prefix="basketlift-tests-"))
