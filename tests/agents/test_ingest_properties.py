"""The ingest agents against an offline recomputation, over generated event scripts.

A script (tests/support/strategies.py `scripts`) interleaves orders, carts, clicks and
privacy requests of a few shoppers and guest sessions, with Unicode ids up to the contract's
length limit, times out of order and skewed by years, and exact redeliveries (also after
the shopper was erased). It is fed through the real ingest agents (Faust's test context,
in-memory tables, recorded sends) one topic run at a time, each run processed before the
next starts, so that the arrival order is the script's. The same events are folded offline
through the pure model functions by the rules the agents promise:

- carts, orders and clicks are deduplicated per (topic, routing key) over the last
  `dedupe_window_events` first deliveries; an erasure forgets the shopper's windows;
- an order of a consenting shopper updates their profile and pairs with their recent
  products; every order, consenting or not, counts in the co-purchase deltas;
- a click of a consenting, identified shopper updates their profile;
- grant/revoke/erase set, set and forget consent; revoke and erase delete the profile;
- every fresh cart and order gets exactly one decision; a cart prices its products for the
  graph when neither the catalog nor the graph knows them.

The stored profiles, consent and dedupe windows must equal the offline ones, the deltas
sent (decoded and merged per product) must equal the offline deltas, and the decisions sent
must be one per fresh trigger. The pair cap is lowered to 3 here so that small orders cross
it; the pure tests (tests/unit/copurchase/test_large_orders.py) cover orders at the limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import groupby
from typing import Any
from unittest import mock

import hypothesis
import orjson
from hypothesis import HealthCheck, given, settings

import streams.ingest.agents as ingest_agents
import streams.profiles.agents as shopper_agents
from schemas import CartEvent, ClickEvent, OfferDecision, OrderEvent, PrivacyEvent, decode_event
from streams.catalog.view import catalog_view
from streams.copurchase.model import (
    DELTA_MESSAGE_BYTES,
    TOTAL_ORDERS_KEY,
    CopurchaseConfig,
    OrderFacts,
    ProductDelta,
    deltas_for_order,
    merge_delta_maps,
    total_orders_delta,
)
from streams.copurchase.topics import deltas_topic
from streams.copurchase.view import products_view
from streams.ingest import topics
from streams.ingest.dedupe import DEDUPED_TOPICS, dedupe_key
from streams.offers.topics import fatigue_table, latest_decisions_table, ledger_table
from streams.profiles.model import (
    ShopperProfile,
    click_facts_from_event,
    is_granted,
    order_facts_from_event,
)
from streams.profiles.topics import consent_table, profiles_table
from streams.topology import INGEST_AGENTS
from tests.agents.conftest import Sent, _recorder, home_partition, publishing_in_memory, wait_until
from tests.support.graph import assert_graphs_close
from tests.support.strategies import Script, ScriptEvent, scripts

PAIR_CAP = 3
COPURCHASE_CONFIG = replace(shopper_agents.copurchase_config, max_paired_products=PAIR_CAP)
PROFILE_CONFIG = shopper_agents.profile_config
HALF_LIFE_DAYS = COPURCHASE_CONFIG.half_life_days
STATE_TABLES = (
    profiles_table,
    consent_table,
    topics.dedupe_table,
    fatigue_table,
    ledger_table,
    latest_decisions_table,
)


@dataclass
class Offline:
    """The agents' state and output recomputed from the script with the pure model."""

    window_size: int
    copurchase: CopurchaseConfig
    consent: dict[str, bool] = field(default_factory=dict)
    profiles: dict[str, ShopperProfile] = field(default_factory=dict)
    windows: dict[str, list[str]] = field(default_factory=dict)
    order_deltas: dict[str, ProductDelta] = field(default_factory=dict)
    cart_deltas: dict[str, ProductDelta] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    """What the script exercised (reported in Hypothesis' statistics)."""

    def granted(self, shopper_id: str | None) -> bool:
        if shopper_id is None:
            return False
        current = self.consent.get(shopper_id)
        return is_granted(current, shopper_agents.settings.consent_default_granted)

    def apply(self, logical: str, event: ScriptEvent) -> None:
        if isinstance(event, PrivacyEvent):
            self.privacy(event)
            return
        window = self.windows.setdefault(dedupe_key(logical, event.routing_key), [])
        if event.event_id in window:
            self.seen["a redelivery skipped"] += 1
            return
        window.append(event.event_id)
        del window[: -self.window_size]
        if isinstance(event, OrderEvent):
            self.order(event)
        elif isinstance(event, CartEvent):
            self.cart(event)
        else:
            self.click(event)

    def order(self, event: OrderEvent) -> None:
        recent: dict[str, int] = {}
        shopper_id = event.shopper_id
        if len({item.product_id for item in event.items}) > self.copurchase.max_paired_products:
            self.seen["an order over the pair cap"] += 1
        if shopper_id is not None and self.granted(shopper_id):
            profile = self.profiles.get(shopper_id) or ShopperProfile.empty(shopper_id)
            recent = dict(profile.recent_products)
            self.profiles[shopper_id] = profile.with_order(
                order_facts_from_event(event), PROFILE_CONFIG
            )
        deltas = deltas_for_order(
            OrderFacts.from_lines(event.ts, event.items), recent, self.copurchase
        )
        deltas[TOTAL_ORDERS_KEY] = total_orders_delta(event.ts)
        merge_delta_maps(self.order_deltas, deltas, HALF_LIFE_DAYS)
        self.decisions[event.event_id] += 1

    def cart(self, event: CartEvent) -> None:
        prices = {
            item.product_id: ProductDelta(
                item.product_id, event.ts, 0.0, {}, item.unit_price, event.ts, item.category
            )
            for item in event.items
        }
        merge_delta_maps(self.cart_deltas, prices, HALF_LIFE_DAYS)
        self.decisions[event.event_id] += 1

    def click(self, event: ClickEvent) -> None:
        shopper_id = event.shopper_id
        if shopper_id is not None and self.granted(shopper_id):
            profile = self.profiles.get(shopper_id) or ShopperProfile.empty(shopper_id)
            self.profiles[shopper_id] = profile.with_click(
                click_facts_from_event(event), PROFILE_CONFIG
            )

    def privacy(self, event: PrivacyEvent) -> None:
        shopper_id = event.shopper_id
        if event.action == "grant":
            self.consent[shopper_id] = True
            return
        self.profiles.pop(shopper_id, None)
        if event.action == "revoke":
            self.consent[shopper_id] = False
            return
        self.consent.pop(shopper_id, None)
        for logical in DEDUPED_TOPICS:
            if self.windows.pop(dedupe_key(logical, shopper_id), None):
                self.seen["an erasure forgot event ids"] += 1


def wire(event: ScriptEvent) -> bytes:
    """The event as a producer would send it (absent optional fields left out)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


@dataclass
class Recorded:
    """What the agents sent, by the logical topic of the run that sent it."""

    deltas: dict[str, list[Sent]] = field(default_factory=dict)
    offers: list[Sent] = field(default_factory=list)
    deadletters: list[Sent] = field(default_factory=list)
    rekeyed: list[Sent] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)
    running: str = ""

    def has_processed(self, logical: str, count: int) -> bool:
        """Whether `count` events of the topic have been processed (batches applied)."""
        return self.processed[logical] >= count


@contextmanager
def recording() -> Iterator[Recorded]:
    """Record every send and count processed events; the pair cap lowered to PAIR_CAP."""
    recorded = Recorded()
    process_batch = ingest_agents.process_batch

    async def counting(logical: str, steps: Any, events: Any, **options: Any) -> None:
        await process_batch(logical, steps, events, **options)
        recorded.processed[logical] += len(events)

    async def send_delta(
        *, key: bytes | None, value: bytes, partition: int | None, **_: Any
    ) -> None:
        recorded.deltas.setdefault(recorded.running, []).append(Sent(key, value, partition))

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(ingest_agents, "process_batch", counting))
        stack.enter_context(
            mock.patch.object(shopper_agents, "copurchase_config", COPURCHASE_CONFIG)
        )
        stack.enter_context(mock.patch.object(deltas_topic, "send", send_delta))
        recorded.offers = stack.enter_context(publishing_in_memory()).sent
        stack.enter_context(
            mock.patch.object(topics.deadletter_topic, "send", _recorder(recorded.deadletters))
        )
        for topic in topics.rekey_topics.values():
            stack.enter_context(mock.patch.object(topic, "send", _recorder(recorded.rekeyed)))
        yield recorded


async def feed(script: Script, recorded: Recorded) -> None:
    """Each run of one topic's events through its agent, processed before the next run."""
    for logical, run in groupby(script.events, key=lambda entry: entry[0]):
        events = [event for _logical, event in run]
        target = recorded.processed[logical] + len(events)
        recorded.running = logical
        async with INGEST_AGENTS[logical].test_context() as agent:
            for event in events:
                key = event.routing_key
                await agent.put(value=wire(event), key=key.encode(), partition=home_partition(key))
            await wait_until(
                partial(recorded.has_processed, logical, target),
                f"{len(events)} {logical} events processed",
            )


def merged_sent(sent: list[Sent]) -> dict[str, ProductDelta]:
    """The deltas messages decoded and merged per product, each checked for size and place."""
    merged: dict[str, ProductDelta] = {}
    for message in sent:
        assert message.value is not None and len(message.value) <= DELTA_MESSAGE_BYTES
        for data in orjson.loads(message.value):
            delta = ProductDelta.from_dict(data)
            assert message.partition == home_partition(delta.product_id), delta.product_id
            merge_delta_maps(merged, {delta.product_id: delta}, HALF_LIFE_DAYS)
    return merged


def clear_state_tables() -> None:
    for table in STATE_TABLES:
        table.data.clear()


def erased_last(script: Script) -> set[str]:
    """Shoppers whose last event in the script is an erasure."""
    last: dict[str, ScriptEvent] = {}
    for _logical, event in script.events:
        if event.shopper_id is not None:
            last[event.shopper_id] = event
    return {
        shopper
        for shopper, event in last.items()
        if isinstance(event, PrivacyEvent) and event.action == "erase"
    }


@settings(
    max_examples=15,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=scripts())
async def test_agent_state_and_output_equal_an_offline_recomputation(script: Script) -> None:
    products = {
        item.product_id
        for _logical, event in script.events
        if isinstance(event, CartEvent | OrderEvent)
        for item in event.items
    }
    # Cart prices only go out for products neither the catalog nor the graph knows.
    assert not products & (set(catalog_view.data) | set(products_view.data))
    offline = Offline(ingest_agents.settings.dedupe_window_events, COPURCHASE_CONFIG)
    for logical, event in script.events:
        offline.apply(logical, event)
    for what in offline.seen:
        hypothesis.event(what)

    clear_state_tables()
    try:
        with recording() as recorded:
            await feed(script, recorded)
        stored_keys = set(topics.dedupe_table.data)
        stored = {
            shopper: (
                profiles_table.get(shopper),
                consent_table.get(shopper),
                fatigue_table.get(shopper),
                ledger_table.get(shopper),
                latest_decisions_table.get(shopper),
            )
            for shopper in script.shoppers
        }
        windows = {key: topics.dedupe_table.get(key) for key in stored_keys}
    finally:
        clear_state_tables()

    assert recorded.deadletters == [], "a contract-valid event was dead-lettered"
    assert recorded.rekeyed == [], "an event on its home partition was re-keyed"
    for shopper, (profile, consent, *_offers_state) in stored.items():
        want = offline.profiles.get(shopper)
        assert (None if profile is None else ShopperProfile.from_dict(orjson.loads(profile))) == (
            want
        ), shopper
        assert consent == {True: b"1", False: b"0", None: None}[offline.consent.get(shopper)]
        if offline.consent.get(shopper) is False:
            assert profile is None, "a revoked shopper keeps no profile"
    for shopper in erased_last(script):
        assert stored[shopper] == (None,) * 5, "an erased shopper left state behind"
        assert not any(dedupe_key(t, shopper) in stored_keys for t in DEDUPED_TOPICS)
    assert stored_keys == set(offline.windows)
    assert {key: orjson.loads(raw or b"null") for key, raw in windows.items()} == offline.windows

    assert_graphs_close(offline.order_deltas, merged_sent(recorded.deltas.get("orders", [])))
    assert_graphs_close(offline.cart_deltas, merged_sent(recorded.deltas.get("carts", [])))
    assert not set(recorded.deltas) - {"orders", "carts"}

    decisions = [decode_event(OfferDecision, sent.value or b"") for sent in recorded.offers]
    assert Counter(decision.trigger_event_id for decision in decisions) == offline.decisions
    triggers = {
        event.event_id: event
        for _logical, event in script.events
        if isinstance(event, CartEvent | OrderEvent)
    }
    for decision, sent in zip(decisions, recorded.offers, strict=True):
        trigger = triggers[decision.trigger_event_id]
        assert sent.key == trigger.routing_key.encode()
        assert decision.placement == ("cart" if isinstance(trigger, CartEvent) else "confirmation")
