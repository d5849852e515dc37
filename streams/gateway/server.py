"""The gateway's HTTP server (aiohttp): events in, decisions out, for storefronts and browsers.

Endpoints (README, "The gateway"):

- `POST /v1/events/{carts|orders|clicks}`: one contract event, validated with the workers'
  models (`schemas`), produced keyed by its routing key with the idempotent producer; 202
  `{"event_id", "topic"}`, 400 `{"error": "invalid_event", "reason", "detail"}`, 413 over
  `schemas.limits.MAX_EVENT_BYTES`, 503 when Kafka does not take it.
- `GET /v1/decisions/{trigger_event_id}?wait_ms=N` (0..2000, default 0): the decision made
  for that event, as soon as the gateway has read it from the offers topic; 404 after the wait.
- `GET /v1/shoppers/{shopper_id}/offers/stream`: Server-Sent Events (`event: decision`, the
  decision as `data`, its decision_id as `id`) of that shopper's decisions from now on; a
  browser's EventSource, which cannot send headers, passes its publishable key and shopper
  token as `?key=...&shopper_token=...`.
- `GET /v1/store/decisions/stream`: Server-Sent Events of every shopper's decisions
  (`event: decision`, as above) and, at most once a second when it changed, the store
  summary without its recent decisions (`event: summary`); a secret key (or the open
  loopback gateway: the demo's side panel) only, as `GET /v1/store/summary`.
- `/health` (200 once the producer runs and the offers topic is followed, else 503) and
  `/metrics` (its own registry): both open, without a key.

Access and CORS are decided by `streams.gateway.auth` in one middleware, before any handler.
The gateway follows the offers topic itself (`OffersFollower`): every gateway reads every
partition from its end at start-up (no consumer group: several gateways each see all), with
read_committed, so it serves decisions published from its start on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from schemas import CartEvent, ClickEvent, InvalidEvent, OfferDecision, OrderEvent, decode_event
from schemas.decode import check_not_in_future
from schemas.limits import MAX_EVENT_BYTES, MAX_KAFKA_MESSAGE_BYTES
from streams.gateway import metrics
from streams.gateway.assets import Asset, demo_assets, demo_catalog, widget_asset
from streams.gateway.auth import SHOPPER_TOKEN_HEADER, GatewayAuth, Grant, Refusal, forbidden_for
from streams.gateway.index import STORE, DecisionIndex, IndexedDecision, Subscription
from streams.gateway.store import StoreLedger
from streams.kafka.faustcompat import force_metadata_update
from streams.kafka.producer import make_producer
from streams.kafka.security import KafkaAccess
from streams.ops.access import id_problem
from streams.resources import SAMPLE_ORDERS
from streams.settings import Settings
from streams.tools.replay.orderlog import read_orders_file

__all__ = ["EVENT_MODELS", "MAX_WAIT_MS", "Gateway", "OffersFollower", "OrdersFollower"]

log = logging.getLogger("basketlift.gateway")

ShopperEvent = CartEvent | OrderEvent | ClickEvent
EVENT_MODELS: Final[dict[str, type[ShopperEvent]]] = {
    "carts": CartEvent,
    "orders": OrderEvent,
    "clicks": ClickEvent,
}
"""The logical topics the gateway accepts events for, and the model each is validated with."""
MAX_WAIT_MS: Final = 2000
"""Longest long-poll a client may ask for (`wait_ms`)."""
OPEN_PATHS: Final = frozenset({"/health", "/metrics", "/basketlift.js", "/demo"})
OPEN_PREFIX: Final = "/demo/"
"""Paths answered without a key: health, metrics, the widget and the demo page (which only
an open gateway serves)."""
STREAM_PATH_SUFFIX: Final = "/offers/stream"
STREAM_KEY_PARAM: Final = "key"
STREAM_TOKEN_PARAM: Final = "shopper_token"
"""The query parameters an EventSource (which cannot send headers) passes its publishable
key and shopper token in, on the event stream only."""
TOPIC_RETRY_SECONDS: Final = 1.0
SUMMARY_INTERVAL_SECONDS: Final = 1.0
"""Least time between two `summary` events of the store's stream."""
FOLLOWER_YIELD_EVERY: Final = 64
"""Records a follower hands on before letting the streams run: their queues (256) are
drained between, so a batch of the offers topic never overflows a client that reads."""
FOLLOWER_FETCH_MAX_WAIT_MS: Final = 100
"""Longest a fetch of the offers follower waits at the broker without data (aiokafka's
default is 500 ms), as bench.decision_latency's measuring consumers."""
GRANT_KEY: Final = "basketlift.grant"
"""Where the middleware leaves a request's `Grant` for the handlers."""
CORS_KEY: Final = "basketlift.cors"
"""Where it leaves the CORS headers of a request's response."""


def grant_of(request: web.Request) -> Grant:
    """The grant the middleware gave the request."""
    grant: Grant = request[GRANT_KEY]
    return grant


def cors_of(request: web.Request) -> dict[str, str]:
    """The CORS headers the middleware chose for the request's response."""
    cors: dict[str, str] = request[CORS_KEY]
    return cors


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response (orjson)."""
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def refusal_response(refusal: Refusal, cors: dict[str, str]) -> web.Response:
    """A refusal as its JSON response, readable by an allowed origin."""
    return json_response(refusal.body(), refusal.status, {**refusal.headers, **cors})


def id_refusal(name: str, value: str, cors: dict[str, str]) -> web.Response | None:
    """400 for a path id that is not looked up (too long, not UTF-8), else None."""
    problem = id_problem(value)
    if problem is None:
        return None
    return json_response({"error": "bad_request", "detail": f"{name} {problem}"}, 400, cors)


class TopicFollower:
    """Reads one topic (every partition, from its end at start-up, read_committed) and hands
    each record's value to `add`; `ready` once its position on every partition is fixed."""

    def __init__(self, access: KafkaAccess, topic: str) -> None:
        self.access = access
        self.topic = topic
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Follow the topic until cancelled (waiting for it to exist first)."""
        consumer = AIOKafkaConsumer(
            **self.access.client_options(),
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=MAX_KAFKA_MESSAGE_BYTES,
            fetch_max_wait_ms=FOLLOWER_FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
        try:
            await force_metadata_update(consumer)  # a fresh consumer knows no topic yet
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                log.warning("topic %s does not exist yet; waiting for it", self.topic)
            while not partitions:
                await asyncio.sleep(TOPIC_RETRY_SECONDS)
                await force_metadata_update(consumer)
                partitions = consumer.partitions_for_topic(self.topic)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # resolves the end offsets now: records from here on are seen
                await consumer.position(tp)
            self.ready.set()
            log.info("following %s (%d partitions)", self.topic, len(tps))
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for messages in batch.values():
                    for position, message in enumerate(messages, 1):
                        self.add(message.value)
                        if position % FOLLOWER_YIELD_EVERY == 0:
                            await asyncio.sleep(0)
        finally:
            await consumer.stop()

    def add(self, value: bytes | None) -> None:
        """Take one record's value."""
        raise NotImplementedError


class OffersFollower(TopicFollower):
    """Follows the offers topic into the decision index and the store ledger."""

    def __init__(
        self, access: KafkaAccess, topic: str, index: DecisionIndex, ledger: StoreLedger
    ) -> None:
        super().__init__(access, topic)
        self.index = index
        self.ledger = ledger

    def add(self, value: bytes | None) -> None:
        """Index one record of the offers topic (an invalid one is counted and logged)."""
        try:
            decision = decode_event(OfferDecision, value)
        except InvalidEvent as error:
            metrics.DECISIONS_INVALID.inc()
            log.warning("skipping a record of %s that is not a decision: %s", self.topic, error)
            return
        assert value is not None  # decode_event refuses a tombstone
        indexed = IndexedDecision(
            decision.decision_id, decision.trigger_event_id, decision.routing_key, value
        )
        if self.index.add(indexed):
            metrics.DECISIONS_INDEXED.inc()
            self.ledger.add_decision(decision)
        else:
            metrics.DECISIONS_DUPLICATE.inc()
        metrics.INDEX_SIZE.set(len(self.index))


class OrdersFollower(TopicFollower):
    """Follows the orders topic into the store ledger (AOV per cohort, the lift)."""

    def __init__(self, access: KafkaAccess, topic: str, ledger: StoreLedger) -> None:
        super().__init__(access, topic)
        self.ledger = ledger

    def add(self, value: bytes | None) -> None:
        """Count one order (an invalid one is skipped and logged: the workers dead-letter it)."""
        try:
            order = decode_event(OrderEvent, value)
        except InvalidEvent as error:
            metrics.ORDERS_READ.labels(outcome="invalid").inc()
            log.warning("skipping a record of %s that is not an order: %s", self.topic, error)
            return
        metrics.ORDERS_READ.labels(outcome="counted").inc()
        self.ledger.add_order(order)


class Gateway:
    """The gateway's state (producer, index, follower) and its aiohttp application."""

    def __init__(
        self,
        settings: Settings,
        access: KafkaAccess,
        auth: GatewayAuth,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.access = access
        self.auth = auth
        self.clock = clock
        self.index = DecisionIndex(settings.gateway_index_size)
        self.ledger = StoreLedger()
        self.follower = OffersFollower(access, settings.topic_offers, self.index, self.ledger)
        self.orders_follower = OrdersFollower(access, settings.topic_orders, self.ledger)
        self.widget = widget_asset()
        self.demo = demo_assets()
        self.catalog: Asset | None = None
        self.producer: AIOKafkaProducer | None = None
        self.follower_task: asyncio.Task[None] | None = None
        self.topics = {logical: settings.inbound_topics[logical] for logical in EVENT_MODELS}
        self.streams: set[asyncio.Task[Any]] = set()
        """The handlers of open event streams, ended at shutdown (they never end by
        themselves, and aiohttp would otherwise wait for them)."""

    def application(self) -> web.Application:
        """The aiohttp application: routes, the access middleware, start-up and shutdown of
        the producer and the follower."""
        app = web.Application(client_max_size=MAX_EVENT_BYTES, middlewares=[self.middleware])
        topics = "|".join(EVENT_MODELS)
        app.router.add_post(f"/v1/events/{{topic:{topics}}}", self.post_event)
        app.router.add_get("/v1/decisions/{trigger_event_id}", self.get_decision)
        app.router.add_get("/v1/shoppers/{shopper_id}/offers/stream", self.stream_offers)
        app.router.add_get("/v1/store/summary", self.store_summary)
        app.router.add_get("/v1/store/decisions/stream", self.stream_store)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/basketlift.js", self.serve_widget)
        app.router.add_get("/demo", self.demo_redirect)
        app.router.add_get("/demo/catalog.json", self.demo_catalog)
        app.router.add_get("/demo/{name:(?:demo\\.js|demo\\.css)?}", self.demo_file)
        app.cleanup_ctx.append(self.kafka_clients)
        app.on_shutdown.append(self.end_streams)
        return app

    async def kafka_clients(self, _app: web.Application) -> AsyncIterator[None]:
        """Start the producer and the follower; stop them on shutdown."""
        producer = make_producer(self.access)
        await producer.start()
        self.producer = producer
        follower = asyncio.create_task(self.follower.run(), name="offers-follower")
        follower.add_done_callback(log_follower_end)
        self.follower_task = follower
        orders = asyncio.create_task(self.orders_follower.run(), name="orders-follower")
        orders.add_done_callback(log_follower_end)
        try:
            yield
        finally:
            for task in (follower, orders):
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
                except Exception:  # logged by log_follower_end when it happened
                    pass
            self.producer = None
            await producer.stop()

    async def end_streams(self, _app: web.Application) -> None:
        """Cancel the open event streams (clients reconnect to another gateway)."""
        for task in list(self.streams):
            task.cancel()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Access and CORS for every request, and the request counter."""
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        response = await self.answer(request, handler)
        metrics.REQUESTS.labels(route=route_name, status=str(response.status)).inc()
        return response

    async def answer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """The response to one request: refused, preflight, or the handler's."""
        origin = request.headers.get("Origin")
        cors = self.auth.cors_headers(origin)
        if request.method == "OPTIONS":
            preflight = self.auth.preflight(origin)
            if isinstance(preflight, Refusal):
                return refusal_response(preflight, {})
            return web.Response(status=204, headers=preflight)
        if request.path not in OPEN_PATHS and not request.path.startswith(OPEN_PREFIX):
            # A browser on another origin never gets further (the open loopback gateway
            # excepted: the pages it serves itself send their own Origin).
            refused = (
                None if origin is None or self.auth.is_open else self.auth.origin_refusal(origin)
            )
            if refused is not None:
                return refusal_response(refused, {})
            authorization = request.headers.get("Authorization")
            shopper_token = request.headers.get(SHOPPER_TOKEN_HEADER)
            key_in_url = (
                authorization is None
                and STREAM_KEY_PARAM in request.query
                and request.path.endswith(STREAM_PATH_SUFFIX)
            )
            if key_in_url:  # an EventSource: no headers but the browser's own
                authorization = f"Bearer {request.query[STREAM_KEY_PARAM]}"
                shopper_token = request.query.get(STREAM_TOKEN_PARAM)
            grant = self.auth.authenticate(
                authorization=authorization,
                origin=origin,
                shopper_token=shopper_token,
                peer=request.remote,
                now=self.clock(),
                key_in_url=key_in_url,
            )
            if isinstance(grant, Refusal):
                return refusal_response(grant, cors)
            request[GRANT_KEY] = grant
        request[CORS_KEY] = cors
        try:
            response = await handler(request)
        except web.HTTPException as error:  # 404 of an unknown path, 405, 413 ...
            return json_response(
                {"error": error.reason.lower().replace(" ", "_"), "detail": error.text or ""},
                error.status,
                cors,
            )
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return json_response(
                {"error": "internal_error", "detail": "the gateway failed (logged)"}, 500, cors
            )
        if not response.prepared:
            response.headers.update(cors)
        return response

    async def post_event(self, request: web.Request) -> web.Response:
        """Validate one event and produce it (see the module docstring)."""
        logical = request.match_info["topic"]
        cors = cors_of(request)
        if request.content_length is not None and request.content_length > MAX_EVENT_BYTES:
            return self.rejected(logical, "too_large", f"over {MAX_EVENT_BYTES} bytes", cors)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self.rejected(logical, "too_large", f"over {MAX_EVENT_BYTES} bytes", cors)
        try:
            event = decode_event(EVENT_MODELS[logical], body)
            check_not_in_future(
                event.ts,
                now_ms=int(self.clock() * 1000),
                max_future_skew_ms=self.settings.max_future_skew_ms,
            )
        except InvalidEvent as error:
            return self.rejected(logical, error.reason, error.detail, cors)
        routing_key, event_id = event.routing_key, event.event_id
        if not grant_of(request).allows(routing_key):
            return refusal_response(forbidden_for(routing_key), cors)
        producer = self.producer
        if producer is None:
            return json_response({"error": "not_ready", "detail": "starting up"}, 503, cors)
        try:
            await producer.send_and_wait(
                self.topics[logical], body, key=routing_key.encode("utf-8")
            )
        except KafkaError as error:
            log.warning("could not produce an event to %s: %r", self.topics[logical], error)
            return json_response(
                {"error": "kafka_unavailable", "detail": "Kafka did not take the event; retry"},
                503,
                cors,
            )
        metrics.EVENTS_PRODUCED.labels(topic=logical).inc()
        return json_response({"event_id": event_id, "topic": logical}, 202, cors)

    def rejected(
        self, logical: str, reason: str, detail: str, cors: dict[str, str]
    ) -> web.Response:
        """400 (413 for too large) for an event that is not valid, counted by reason."""
        metrics.EVENTS_REJECTED.labels(topic=logical, reason=reason).inc()
        status = 413 if reason == "too_large" else 400
        return json_response(
            {"error": "invalid_event", "reason": reason, "detail": detail}, status, cors
        )

    async def get_decision(self, request: web.Request) -> web.Response:
        """The decision for a trigger event, waiting up to `wait_ms` for it."""
        cors = cors_of(request)
        trigger_event_id = request.match_info["trigger_event_id"]
        unusable = id_refusal("trigger_event_id", trigger_event_id, cors)
        if unusable is not None:
            return unusable
        raw_wait = request.query.get("wait_ms", "0")
        if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT_MS:
            return json_response(
                {"error": "bad_request", "detail": f"wait_ms must be an integer 0..{MAX_WAIT_MS}"},
                400,
                cors,
            )
        started = time.monotonic()
        decision = await self.index.wait(trigger_event_id, int(raw_wait) / 1000)
        outcome = "miss" if decision is None else "hit"
        metrics.DECISION_LOOKUPS.labels(outcome=outcome).inc()
        metrics.DECISION_WAIT_SECONDS.labels(outcome=outcome).observe(time.monotonic() - started)
        if decision is None:
            return json_response(
                {"error": "not_found", "detail": "no decision for this event (yet)"}, 404, cors
            )
        if not grant_of(request).allows(decision.routing_key):
            return refusal_response(forbidden_for(decision.routing_key), cors)
        return web.Response(body=decision.json, content_type="application/json", headers=cors)

    async def stream_offers(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events of one shopper's decisions, until the client goes away."""
        cors = cors_of(request)
        shopper_id = request.match_info["shopper_id"]
        unusable = id_refusal("shopper_id", shopper_id, cors)
        if unusable is not None:
            return unusable
        if not grant_of(request).allows(shopper_id):
            return refusal_response(forbidden_for(shopper_id), cors)
        return await self.serve_stream(request, shopper_id, "shopper")

    async def stream_store(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events of every decision and of the store summary: the whole store's,
        so for a secret key (or the open loopback gateway) only."""
        if grant_of(request).subject is not None:
            return refusal_response(whole_store_refusal("stream"), cors_of(request))
        return await self.serve_stream(request, STORE, "store")

    async def serve_stream(
        self, request: web.Request, routing_key: str | None, stream: str
    ) -> web.StreamResponse:
        """An event stream of the decisions for `routing_key` (`STORE`: every decision, and
        the summary), until the client goes away, falls too far behind (dropped: its
        connection is aborted) or the gateway shuts down."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
                **cors_of(request),
            }
        )
        task = asyncio.current_task()
        assert task is not None  # aiohttp runs each handler in a task
        subscription = self.index.subscribe(routing_key)
        subscription.on_overflow = task.cancel  # even a write waiting on the client ends
        clients = metrics.SSE_CLIENTS.labels(stream=stream)
        clients.inc()
        self.streams.add(task)
        try:
            await response.prepare(request)
            # The comment tells the client it is subscribed: decisions from now on reach it.
            await response.write(b": subscribed\nretry: 2000\n\n")
            await self.pump(response, subscription, summaries=routing_key is STORE)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.streams.discard(task)
            self.index.unsubscribe(subscription)
            clients.dec()
        if subscription.overflowed.is_set():
            task.uncancel()
            metrics.SSE_DROPPED.labels(stream=stream).inc()
            log.info(
                "dropped a %s stream client more than %d decisions behind",
                stream,
                subscription.queue.maxsize,
            )
            if request.transport is not None:
                request.transport.abort()  # nothing more is written to a client that lags
        return response

    async def pump(
        self, response: web.StreamResponse, subscription: Subscription, *, summaries: bool
    ) -> None:
        """Write the subscription's decisions as they come, the store summary when it
        changed (at most every `SUMMARY_INTERVAL_SECONDS`, with `summaries`), and a comment
        after `gateway_sse_heartbeat_seconds` without anything. Returns when the
        subscription overflowed; a client gone raises ConnectionResetError."""
        heartbeat = self.settings.gateway_sse_heartbeat_seconds
        last_write = next_summary = time.monotonic()
        summary_sent: int | None = None
        while not subscription.overflowed.is_set():
            now = time.monotonic()
            if summaries and now >= next_summary:
                next_summary = now + SUMMARY_INTERVAL_SECONDS
                if self.ledger.changes != summary_sent:
                    summary_sent = self.ledger.changes
                    figures = orjson.dumps(self.store_state(recent=False))
                    await response.write(sse_event("summary", figures))
                    last_write = now
            wake = (
                min(next_summary, last_write + heartbeat) if summaries else last_write + heartbeat
            )
            try:
                # asyncio.timeout, not wait_for: no task per wait, so the stream runs as soon
                # as a decision is queued (the follower yields every FOLLOWER_YIELD_EVERY).
                async with asyncio.timeout(max(0.0, wake - now)):
                    first = await subscription.queue.get()
            except TimeoutError:
                if time.monotonic() - last_write >= heartbeat:
                    await response.write(b": keep-alive\n\n")
                    last_write = time.monotonic()
                continue
            queued = [first]
            while not subscription.queue.empty():  # all that is queued, in one write
                queued.append(subscription.queue.get_nowait())
            await response.write(b"".join(sse_message(decision) for decision in queued))
            last_write = time.monotonic()

    def store_state(self, *, recent: bool) -> dict[str, Any]:
        """The store summary (`streams.gateway.store`), with its recent decisions or not,
        and whether the orders topic is followed yet."""
        summary = self.ledger.summary()
        if not recent:
            summary = {name: value for name, value in summary.items() if name != "recent_decisions"}
        return {**summary, "following_orders": self.orders_follower.ready.is_set()}

    async def store_summary(self, request: web.Request) -> web.Response:
        """Orders, AOV per cohort, the lift and the recent decisions the gateway has read
        (`streams.gateway.store`): the whole store's, so for a secret key (or the open
        loopback gateway) only, never for a shopper's token."""
        cors = cors_of(request)
        if grant_of(request).subject is not None:
            return refusal_response(whole_store_refusal("summary"), cors)
        return json_response(
            self.store_state(recent=True), headers={**cors, "Cache-Control": "no-store"}
        )

    async def serve_widget(self, request: web.Request) -> web.Response:
        """The storefront widget, public and cacheable (`streams.gateway.assets`)."""
        return asset_response(request, self.widget)

    async def demo_redirect(self, _request: web.Request) -> web.Response:
        """/demo -> /demo/ (the page's relative links need the slash)."""
        return web.Response(status=302, headers={"Location": "/demo/"})

    async def demo_file(self, request: web.Request) -> web.Response:
        """The demo page and its script and style, on an open gateway only."""
        if not self.auth.is_open:
            return demo_refusal()
        return asset_response(request, self.demo[request.match_info["name"]])

    async def demo_catalog(self, request: web.Request) -> web.Response:
        """The demo's products (the shipped sample's most ordered), read once, on an open
        gateway only."""
        if not self.auth.is_open:
            return demo_refusal()
        if self.catalog is None:
            catalog = await asyncio.to_thread(lambda: demo_catalog(read_orders_file(SAMPLE_ORDERS)))
            self.catalog = Asset(orjson.dumps(catalog), "application/json", "no-cache")
        return asset_response(request, self.catalog)

    async def health(self, _request: web.Request) -> web.Response:
        """200 once events can be produced and decisions are followed, else 503 saying why."""
        if self.producer is None:
            return json_response({"status": "starting", "detail": "producer not started"}, 503)
        task = self.follower_task
        if task is not None and task.done():
            detail = f"stopped following {self.follower.topic} (see the log)"
            return json_response({"status": "failing", "detail": detail}, 503)
        if not self.follower.ready.is_set():
            detail = f"not yet following {self.follower.topic}"
            return json_response({"status": "starting", "detail": detail}, 503)
        return json_response({"status": "ok", "decisions": len(self.index)})

    async def metrics(self, _request: web.Request) -> web.Response:
        """The gateway's Prometheus metrics."""
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def log_follower_end(task: asyncio.Task[None]) -> None:
    """Log why a follower stopped, at once (/health then answers 503 for the offers')."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the %s stopped", task.get_name(), exc_info=task.exception())


def asset_response(request: web.Request, asset: Asset) -> web.Response:
    """The asset, or 304 when the request's If-None-Match names its version."""
    if asset.not_modified(request.headers.get("If-None-Match")):
        return web.Response(status=304, headers={"ETag": asset.etag})
    return web.Response(body=asset.body, headers=asset.headers())


def demo_refusal() -> web.Response:
    """404 for the demo on a gateway with keys (its page calls the gateway without any)."""
    return json_response(
        {"error": "not_found", "detail": "the demo is served by a gateway without keys only"},
        404,
    )


def whole_store_refusal(what: str) -> Refusal:
    """403 for a shopper token asking for the whole store's summary or stream."""
    return Refusal(403, "forbidden", f"the store {what} needs a secret key, not a shopper token")


def sse_event(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One Server-Sent Events message: `event`, one line of `data` (line breaks dropped:
    orjson's JSON has none), and `event_id` (line breaks made spaces) when given."""
    head = b""
    if event_id is not None:
        head = b"id: " + event_id.replace("\r", " ").replace("\n", " ").encode("utf-8") + b"\n"
    clean = data.replace(b"\r", b"").replace(b"\n", b"")
    return head + b"event: " + event.encode("ascii") + b"\ndata: " + clean + b"\n\n"


def sse_message(decision: IndexedDecision) -> bytes:
    """One decision as a Server-Sent Events message, its decision_id as the event id."""
    return sse_event("decision", decision.json, decision.decision_id)


def run_gateway(settings: Settings, access: KafkaAccess, auth: GatewayAuth) -> None:
    """Serve the gateway until SIGINT/SIGTERM."""
    gateway = Gateway(settings, access, auth)
    web.run_app(
        gateway.application(),
        host=settings.gateway_host,
        port=settings.gateway_port,
        print=lambda *_: None,
        access_log=None,
    )
