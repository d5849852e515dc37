"""The complete worker: the app with every domain's agents and the web endpoints registered."""

from __future__ import annotations

import streams.ingest.agents
import streams.web
from streams.app import app

__all__ = ["app", "streams"]
