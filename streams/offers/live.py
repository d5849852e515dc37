"""The ranker's snapshot on this worker, kept up to date with the replicated views.

Every few seconds (``index_refresh_seconds``), when the views have moved on, a
``SnapshotMaintainer`` takes in the products that changed (a full build every
``index_full_build_seconds`` of event time, or when the product set changes: about a second
per 50,000 products x K=100). It runs in a thread on copies of the views; decisions use the
previous snapshot meanwhile. Before the first refresh completes, the first decision builds one
inline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time

from streams.app import configs, settings
from streams.catalog.facts import PackedCatalogFacts
from streams.catalog.view import catalog_view
from streams.copurchase.model import PackedProductState
from streams.copurchase.view import products_view
from streams.offers.snapshot import RankingSnapshot, Refresh, SnapshotMaintainer
from streams.ops import metrics
from streams.runtime.gcpauses import FULL_COLLECTION_EVERY_S, freeze_survivors
from streams.runtime.memory import release_free_memory

log = logging.getLogger(__name__)


class LiveSnapshot:
    """Holds the current `RankingSnapshot` and knows when the views have moved on.

    `freeze_after_full_build`: after installing a fully built index, move every object alive
    out of the garbage collector's reach (``streams.runtime.gcpauses``), so that its full
    collections do not walk the views and the index each time; the freeze runs a full
    collection first when the last one it ran is `full_collection_every_s` (wall clock) ago
    or more, which frees the cyclic garbage frozen since.
    """

    def __init__(
        self,
        freeze_after_full_build: bool,
        full_collection_every_s: float = FULL_COLLECTION_EVERY_S,
    ) -> None:
        self.freeze_after_full_build = freeze_after_full_build
        self.full_collection_every_s = full_collection_every_s
        self._last_full_collection = -math.inf
        self.snapshot: RankingSnapshot | None = None
        self.built_from: tuple[int, int] = (-1, -1)
        self._building = False
        self._maintainer = SnapshotMaintainer(configs.snapshot)
        self._maintainer_lock = threading.Lock()

    def views_version(self) -> tuple[int, int]:
        """How many records the product and catalog views have applied so far."""
        return (products_view.records_read, catalog_view.records_read)

    def _build(
        self, states: list[PackedProductState], catalog: dict[str, PackedCatalogFacts]
    ) -> Refresh:
        started = time.perf_counter()
        with self._maintainer_lock:  # the inline first build may meet a refresh's thread
            refresh = self._maintainer.refresh(states, catalog)
        metrics.INDEX_BUILD_SECONDS.labels(kind=refresh.kind).observe(time.perf_counter() - started)
        if refresh.kind == "full":
            # A full build frees hundreds of megabytes of short-lived objects at a large
            # catalog; hand what malloc keeps free back (in this thread: off the loop).
            release_free_memory()
        metrics.INDEX_PRODUCTS_INDEXED.labels(kind=refresh.kind).inc(refresh.changed)
        return refresh

    def _install(self, refresh: Refresh, version: tuple[int, int]) -> None:
        snapshot = self.snapshot = refresh.snapshot
        self.built_from = version
        metrics.INDEX_REBUILDS.inc()
        metrics.INDEX_PRODUCTS.set(len(snapshot.index))
        metrics.INDEX_AGE.set(time.time())
        if refresh.kind == "full" and self.freeze_after_full_build:
            now = time.monotonic()
            collect = now - self._last_full_collection >= self.full_collection_every_s
            if collect:
                self._last_full_collection = now
            metrics.GC_FROZEN_OBJECTS.set(freeze_survivors(full_collection=collect))

    def current(self) -> RankingSnapshot:
        """The snapshot to rank with now (built inline the first time)."""
        if self.snapshot is None:
            version = self.views_version()
            states = list(products_view.data.values())
            self._install(self._build(states, dict(catalog_view.data)), version)
        assert self.snapshot is not None
        return self.snapshot

    async def refresh(self) -> bool:
        """Rebuild in a thread if the views changed since the last build; True if rebuilt."""
        version = self.views_version()
        if self._building or version == self.built_from:
            return False
        self._building = True
        try:
            # Copies taken on the event loop: the views keep changing while the thread runs.
            states = list(products_view.data.values())
            catalog = dict(catalog_view.data)
            refresh = await asyncio.to_thread(self._build, states, catalog)
            self._install(refresh, version)
            return True
        finally:
            self._building = False


live_snapshot = LiveSnapshot(freeze_after_full_build=settings.gc_freeze)


async def refresh_ranking_snapshot() -> None:
    """Keep the ranker's index close to the views (errors are logged, the old one kept)."""
    try:
        await live_snapshot.refresh()
    except Exception:
        log.exception("rebuilding the ranker index failed; decisions keep the previous one")
    metrics.INDEX_STALE.set(sum(live_snapshot.views_version()) - sum(live_snapshot.built_from))
    metrics.INDEX_CHECKED.set(time.time())
