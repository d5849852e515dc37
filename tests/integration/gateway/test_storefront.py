"""The storefront in a real browser: headless Chromium (Debian's `chromium`, driven over the
DevTools Protocol, `tests.support.browser`) on the demo page an open gateway serves, with a
real worker and the real broker behind it.

A shopper adds two products and the widget shows offers, timed by the page itself (the
widget's `data-basketlift-latency-ms`: cart sent to decision rendered), and the side panel
shows that decision, pushed by the store's event stream; a cart just below
the free-shipping threshold shows the nudge; a click on an offer reaches `shop.clicks` as an
`offer_click` (read back by a consumer), after its `offer_impression`. From a page on
another origin, a gateway with keys is refused by the browser (CORS), and the widget with a
missing key or another shopper's token gets 401 and 403.

Under CI=true a missing chromium fails (`.ci/run` installs it); elsewhere these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from streams.experiment.cohort import cohort_for
from streams.gateway.tokens import mint_token
from tests.integration.gateway.test_gateway import cart, long_poll
from tests.integration.replay_support import (
    STATE_ENV,
    offline_state,
    sample_slice,
    send_replay,
    wait_for_index,
    wait_for_products,
)
from tests.support.browser import Page, chromium, chromium_path
from tests.support.kafka import (
    Deployment,
    GatewayProcess,
    WorkerProcess,
    new_deployment,
    read_all,
    start_gateway,
    start_worker,
    stop_and_delete,
)

pytestmark = pytest.mark.integration

REPLAYED_ORDERS = 300
"""Orders of the sample replayed first: co-purchases for the demo shelf's products."""
OFFERS_WITHIN_MS = 1000.0
"""The issue's bound: offers appear within 1 s of the cart change (measured by the page)."""
PAGE_WAIT_SECONDS = 30.0
"""How long a test waits for the page to reach a state (generous: a loaded machine)."""
SECRET = "sk-browser-0123456789abcdef"
PUBLIC = "pk-browser-0123456789abcdef"
SIGNING = "signing-browser-0123456789abcdef"


@dataclass
class Storefront:
    """A worker that has seen the sample's first orders, the open gateway serving the demo
    page, and a gateway with keys that allows the open gateway's origin only."""

    deployment: Deployment
    worker: WorkerProcess
    gateway: GatewayProcess
    keyed: GatewayProcess
    free_shipping_base: float
    holdout_salt: str
    holdout_fraction: float
    purchases: dict[str, float]
    """Orders per product in the replayed slice (the worker's co-purchase state holds them)."""

    @property
    def demo_url(self) -> str:
        return self.gateway.base_url + "/demo/"

    def treatment_shopper(self) -> str:
        """A new shopper id in the treatment cohort (a holdout shopper is shown nothing)."""
        while True:
            shopper = f"c-browser-{uuid.uuid4().hex[:8]}"
            if cohort_for(shopper, self.holdout_salt, self.holdout_fraction) == "treatment":
                return shopper


@pytest.fixture(scope="module")
def browser_executable() -> str:
    found = chromium_path()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (CI installs Debian's package: .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture(scope="module")
def storefront(
    bootstrap: str, tmp_path_factory: pytest.TempPathFactory, browser_executable: str
) -> Iterator[Storefront]:
    workdir = tmp_path_factory.mktemp("storefront")
    deployment = new_deployment(bootstrap)
    asyncio.run(deployment.create_topics())
    worker = start_worker(deployment, workdir, **STATE_ENV)  # undecayed: checked exactly
    gateway = start_gateway(deployment, workdir)  # no keys: the demo's open loopback gateway
    keyed = start_gateway(
        deployment,
        workdir,
        BASKETLIFT_GATEWAY_SECRET_KEYS=SECRET,
        BASKETLIFT_GATEWAY_PUBLIC_KEYS=PUBLIC,
        BASKETLIFT_GATEWAY_ALLOWED_ORIGINS=gateway.base_url,
        BASKETLIFT_GATEWAY_SIGNING_KEY=SIGNING,
    )
    try:
        worker.wait_healthy()
        gateway.wait_healthy()
        keyed.wait_healthy()
        replayed = sample_slice(REPLAYED_ORDERS)
        send_replay(deployment, replayed)
        purchases, weights, _shoppers = offline_state(replayed)
        # Every co-purchase applied, then a ranker index holding them: offers are then
        # "bought with" ones, not the popularity fallback of a worker still catching up.
        mismatches = wait_for_products(worker, purchases, weights)
        assert not mismatches, mismatches[:5]
        wait_for_index(worker, time.time(), timeout=120)
        asyncio.run(warm_up(gateway))
        settings = deployment.settings(workdir / "settings")
        yield Storefront(
            deployment,
            worker,
            gateway,
            keyed,
            settings.free_shipping_base,
            settings.holdout_salt,
            settings.holdout_fraction,
            dict(purchases),
        )
    finally:
        stop_and_delete(deployment, keyed, gateway, worker)


async def warm_up(gateway: GatewayProcess) -> None:
    """One cart decided end to end: a fresh worker's first decision is slow (its first
    transaction, the ranker's first look-ups), and the page's timing is about the others."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        event = cart(f"c-warm-{uuid.uuid4().hex[:8]}")
        async with http.post(gateway.base_url + "/v1/events/carts", json=event) as response:
            assert response.status == 202, await response.text()
        status, decision, _ = await long_poll(http, gateway, event["event_id"], {})
        assert status == 200, decision


@pytest.fixture
async def page(tmp_path: Path, storefront: Storefront) -> AsyncIterator[Page]:
    async with chromium(tmp_path / "profile") as opened:
        yield opened


async def open_demo(page: Page, storefront: Storefront, shopper: str) -> dict[str, Any]:
    """Open the demo page as `shopper`; its catalog (catalog.json)."""
    await page.goto(f"{storefront.demo_url}?shopper={shopper}")
    await page.wait_for("document.body.dataset.demoReady === 'true'", PAGE_WAIT_SECONDS)
    catalog: dict[str, Any] = await page.evaluate(
        "fetch('catalog.json').then(response => response.json())"
    )
    return catalog


async def add_to_basket(page: Page, product_id: str, times: int = 1) -> None:
    """Press the product's "Add to basket" button on the shelf, `times` times."""
    selector = json.dumps(f'.product[data-product-id="{product_id}"] button')
    await page.evaluate(
        f"(() => {{ const b = document.querySelector({selector});"
        f" for (let i = 0; i < {times}; i++) b.click(); return true; }})()"
    )


async def decision_shown(page: Page, product_ids: list[str]) -> dict[str, Any]:
    """Wait until the widget shows the decision for the basket holding exactly these
    products; what it shows (offers, nudges, the page's timing)."""
    expected = json.dumps(sorted(product_ids), separators=(",", ":"))  # as JSON.stringify
    await page.wait_for(
        "document.querySelector('#offers').dataset.basketliftState === 'shown' &&"
        " JSON.stringify(basketliftDemo.cart().map(l => l.product_id).sort()) ==="
        f" {json.dumps(expected)}",
        PAGE_WAIT_SECONDS,
    )
    shown: dict[str, Any] = await page.evaluate(
        """(() => {
          const box = document.querySelector('#offers');
          const text = (root, selector) =>
            [...root.querySelectorAll(selector)].map(node => node.textContent);
          return {
            latency_ms: Number(box.dataset.basketliftLatencyMs),
            cohort: box.dataset.basketliftCohort,
            offers: [...box.querySelectorAll('.basketlift-offer')].map(offer => ({
              offer_id: offer.dataset.offerId,
              product_id: offer.dataset.productId,
              title: offer.querySelector('.basketlift-offer__title').textContent,
              price: offer.querySelector('.basketlift-offer__price').textContent,
              reason: offer.querySelector('.basketlift-offer__reason').textContent,
              buttons: text(offer, 'button'),
            })),
            nudges: text(box, '.basketlift-nudge__message'),
            region: box.getAttribute('role') + ':' + box.getAttribute('aria-label'),
            min_height: getComputedStyle(box).minHeight,
            height: box.getBoundingClientRect().height,
          };
        })()"""
    )
    return shown


async def test_two_products_in_the_basket_show_offers_within_a_second_and_a_click_is_sent(
    page: Page, storefront: Storefront, tmp_path: Path
) -> None:
    shopper = storefront.treatment_shopper()
    catalog = await open_demo(page, storefront, shopper)
    shelf = catalog["products"]
    assert len(shelf) >= 3 and all(product["title"] for product in shelf)
    # The two shelf products the replay ordered most: the worker knows what goes with them.
    by_orders = sorted(
        shelf, key=lambda p: (-storefront.purchases.get(p["product_id"], 0), p["product_id"])
    )
    first, second = by_orders[0]["product_id"], by_orders[1]["product_id"]
    assert storefront.purchases.get(second, 0) > 0
    await add_to_basket(page, first)
    await add_to_basket(page, second)

    shown = await decision_shown(page, [first, second])
    assert shown["cohort"] == "treatment"
    assert shown["offers"], f"no offers for a basket of {first} and {second}: {shown}"
    timing = {"cart": [first, second], "offers_shown_after_ms": shown["latency_ms"]}
    (tmp_path / "page-timing.json").write_text(json.dumps(timing))
    print(f"the page showed offers {shown['latency_ms']:.1f} ms after sending the cart")
    assert shown["latency_ms"] < OFFERS_WITHIN_MS, (
        f"the page measured {shown['latency_ms']:.0f} ms from sending the cart to showing its"
        f" offers; the bound is {OFFERS_WITHIN_MS:.0f} ms"
    )
    titles = catalog["titles"]
    offer = shown["offers"][0]
    offered_product = offer["product_id"]
    assert offer["title"] == titles.get(offered_product, offered_product)
    assert offer["price"].endswith(" GBP") and offer["reason"]
    # A co-purchase reason, naming the basket's product by its title, not its id.
    assert offer["reason"].startswith("bought with '"), offer["reason"]
    assert any(
        offer["reason"].startswith(f"bought with '{titles[product]}'")
        for product in (first, second)
    ), offer["reason"]
    assert offer["buttons"] == ["Add to basket", "\u00d7"]
    assert shown["region"] == "region:Suggestions for your basket"
    # No layout shift: the box keeps the height the demo's CSS hook reserves (22rem) from
    # mounting, with three offers and their reasons in it.
    assert shown["min_height"] == "352px"
    assert shown["height"] == 352, f"the widget grew to {shown['height']} px with its offers"
    await panel_streams(page, storefront, "cart", "treatment")
    screenshot = await page.screenshot(tmp_path / "storefront-offers.png")
    assert screenshot.stat().st_size > 10_000

    await page.evaluate(
        f"document.querySelector('[data-offer-id={json.dumps(offer['offer_id'])}]"
        " .basketlift-offer__add').click()"
    )
    after_click = await decision_shown(page, [first, second, offered_product])
    dismissed = after_click["offers"][0]["offer_id"]
    remaining, focused = await page.evaluate(
        f"(() => {{ const dismiss = document.querySelector('[data-offer-id={json.dumps(dismissed)}]"
        " .basketlift-offer__dismiss'); dismiss.focus(); dismiss.click();"
        " return [document.querySelectorAll('#offers .basketlift-offer').length,"
        " document.activeElement.closest('.basketlift-offer') !== null]; })()"
    )
    assert remaining == len(after_click["offers"]) - 1
    if remaining:  # the keyboard focus moves to a neighbouring offer, not back to the page
        assert focused
    clicks = await clicks_of(
        storefront, shopper, {"offer_impression", "offer_click", "offer_dismiss"}
    )
    assert {"action": "offer_impression", "offer_id": offer["offer_id"]} in clicks
    assert {"action": "offer_click", "offer_id": offer["offer_id"]} in clicks
    assert {"action": "offer_dismiss", "offer_id": dismissed} in clicks


async def panel_streams(page: Page, storefront: Storefront, placement: str, cohort: str) -> None:
    """The side panel shows the decision the widget just rendered, pushed to it by the
    store's event stream (open on the gateway; the page never polls the summary), and the
    summary's count of that decision's placement and cohort."""
    decision_id = await page.evaluate("basketliftDemo.widget.decision.decision_id")
    row = json.dumps(f'#decisions li[data-decision-id="{decision_id}"]')
    await page.wait_for(f"document.querySelector({row}) !== null", PAGE_WAIT_SECONDS)
    await page.wait_for(
        f"document.querySelector('#decision-counts').textContent.includes('{placement}/{cohort}')",
        PAGE_WAIT_SECONDS,
    )
    assert await page.evaluate("document.querySelector('#stream-status').textContent") == "live"
    polled = await page.evaluate(
        "performance.getEntriesByType('resource').map(entry => entry.name)"
        ".filter(name => name.includes('/v1/store/summary')).length"
    )
    assert polled == 0
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.get(storefront.gateway.base_url + "/metrics") as response,
    ):
        exposition = await response.text()
    store_clients = [
        float(line.rpartition(" ")[2])
        for line in exposition.splitlines()
        if line.startswith('basketlift_gateway_sse_clients{stream="store"} ')
    ]
    assert store_clients and store_clients[0] >= 1, exposition  # this page's, at least


async def clicks_of(
    storefront: Storefront, shopper: str, actions: set[str]
) -> list[dict[str, str]]:
    """The shopper's click events on shop.clicks (action, offer_id), read by a consumer
    until every one of `actions` is among them (the widget sends them as it renders)."""
    topic = storefront.deployment.topic("clicks")
    deadline = time.monotonic() + PAGE_WAIT_SECONDS
    while True:
        records = await read_all(storefront.deployment.access, topic)
        clicks = [
            orjson.loads(value) for _key, value, _partition, _offset in records if value is not None
        ]
        mine = [
            {"action": click["action"], "offer_id": click["offer_id"]}
            for click in clicks
            if click.get("shopper_id") == shopper
        ]
        if actions <= {click["action"] for click in mine} or time.monotonic() > deadline:
            return mine
        await asyncio.sleep(0.2)


async def test_a_basket_just_below_the_threshold_shows_the_free_shipping_nudge(
    page: Page, storefront: Storefront, tmp_path: Path
) -> None:
    shopper = storefront.treatment_shopper()  # new: the store's base threshold is theirs
    catalog = await open_demo(page, storefront, shopper)
    threshold = storefront.free_shipping_base
    # A shelf product and a quantity leaving a gap of 1 to 15% of the threshold.
    product, quantity = next(
        (p, q)
        for p in catalog["products"]
        for q in [math.floor(threshold / p["unit_price"])]
        if 0.01 * threshold <= threshold - q * p["unit_price"] <= 0.15 * threshold
    )
    await add_to_basket(page, product["product_id"], quantity)
    shown = await decision_shown(page, [product["product_id"]])
    gap = round(threshold - quantity * product["unit_price"], 2)
    assert f"Add {gap:.2f} GBP more for free shipping" in shown["nudges"], shown
    assert shown["height"] == 352, f"the widget grew to {shown['height']} px (nudge, offers)"
    progress = await page.evaluate(
        "[...document.querySelectorAll('.basketlift-nudge--free_shipping progress')]"
        ".map(bar => [bar.value, bar.max])"
    )
    assert progress == [[pytest.approx(threshold - gap), threshold]]
    await page.screenshot(tmp_path / "storefront-nudge.png")


async def test_a_gateway_with_keys_refuses_other_origins_missing_keys_and_other_shoppers(
    page: Page, storefront: Storefront
) -> None:
    """The widget on the demo page, pointed at the gateway with keys: from the allowed origin
    with the shopper's token it works; a missing key is 401, another shopper's token 403;
    from another origin (localhost, not 127.0.0.1) the browser gets no response at all."""
    shopper = storefront.treatment_shopper()
    await open_demo(page, storefront, shopper)
    own = mint_token(SIGNING, shopper, now=time.time(), ttl_seconds=300)
    other = mint_token(SIGNING, "c-someone-else", now=time.time(), ttl_seconds=300)
    outcome = """(options) => new Promise(resolve => {
          const box = document.createElement('div');
          document.body.appendChild(box);
          const widget = Basketlift.mount(box, Object.assign({
            shopperId: %s, onError: error => resolve('error: ' + error.message),
            onDecision: decision => resolve('decision: ' + decision.cohort)}, options));
          widget.setCart([{product_id: '85123A', quantity: 1, unit_price: 2.55}]);
        })"""
    call = outcome % json.dumps(shopper)
    keyed = json.dumps(storefront.keyed.base_url)

    async def run(options: str) -> str:
        result: str = await page.evaluate(f"({call})({options})")
        return result

    # README's embedding, productTitle included: `catalog[id].title` throws for a product
    # the page's catalog lacks (every one here); the widget shows the id instead.
    assert (
        await run(
            f"{{gateway: {keyed}, key: {json.dumps(PUBLIC)}, shopperToken: {json.dumps(own)},"
            " productTitle: id => ({})[id].title}"
        )
        == "decision: treatment"
    )
    assert await run(f"{{gateway: {keyed}, shopperToken: {json.dumps(own)}}}") == (
        "error: basketlift: POST carts: 401"
    )
    assert await run(
        f"{{gateway: {keyed}, key: {json.dumps('pk-wrong-0123456789abcdef')},"
        f" shopperToken: {json.dumps(own)}}}"
    ) == ("error: basketlift: POST carts: 401")
    assert await run(
        f"{{gateway: {keyed}, key: {json.dumps(PUBLIC)}, shopperToken: {json.dumps(other)}}}"
    ) == ("error: basketlift: POST carts: 403")

    # The same page from another origin: the gateway refuses it and sends no CORS headers,
    # so the browser hands the page a network error, not the response.
    other_origin = storefront.gateway.base_url.replace("127.0.0.1", "localhost")
    await page.goto(f"{other_origin}/demo/?shopper={shopper}")
    await page.wait_for("document.body.dataset.demoReady === 'true'", PAGE_WAIT_SECONDS)
    refused = await run(
        f"{{gateway: {keyed}, key: {json.dumps(PUBLIC)}, shopperToken: {json.dumps(own)}}}"
    )
    assert refused == "error: Failed to fetch"
