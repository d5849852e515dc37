"""The complete worker: the app with every domain's agents and the web endpoints registered."""

from __future__ import annotations

import streams.brokerwatch
import streams.copurchase.agents
import streams.copurchase.web
import streams.ingest.agents
import streams.offers.agents
import streams.offers.web
import streams.profiles.agents
import streams.profiles.web
import streams.watchdog
import streams.web
from streams.app import app

__all__ = ["app", "streams"]
