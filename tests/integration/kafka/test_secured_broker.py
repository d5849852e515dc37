"""A real broker with a SASL_SSL (SCRAM-SHA-512) and a mutual-TLS listener, of this module
alone (the shared broker is never reconfigured): the whole pipeline runs over each, and a
worker or command-line tool with wrong credentials, an untrusted certificate or a plaintext
connection to a TLS port stops at once with one line saying which, never showing the
password."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.replay_support import send_events
from tests.support.kafka import (
    Deployment,
    StoppableBroker,
    WorkerProcess,
    free_port,
    new_deployment,
    read_all,
    start_worker,
    stoppable_broker,
)

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "wrong-password-" + uuid.uuid4().hex
ACCESS_FAILURE_SECONDS = 15
"""A command refused by Kafka has exited by then (the subprocess is killed otherwise)."""


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppableBroker]:
    """A broker of this module with its secured listeners; stopped afterwards."""
    broker = stoppable_broker(tmp_path_factory.mktemp("secured-kafka"), secured=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def listener_env(broker: StoppableBroker, listener: str) -> dict[str, str]:
    """The BASKETLIFT_* client settings of one secured listener."""
    listeners = broker.listeners
    return listeners.sasl_ssl_env() if listener == "sasl_ssl" else listeners.mutual_tls_env()


def secured_deployment(broker: StoppableBroker, listener: str) -> Deployment:
    """A deployment whose workers and clients connect through `listener` only."""
    env = listener_env(broker, listener)
    bootstrap = env.pop("BASKETLIFT_BROKER").removeprefix("kafka://")
    deployment = new_deployment(bootstrap)
    deployment.kafka_env = env
    asyncio.run(deployment.create_topics())
    return deployment


def shopper_event(shopper: str, kind: str) -> dict[str, Any]:
    """A contract-valid `cart` or `order` event of the shopper (an order gives them a
    profile), of one product of its own."""
    tag = uuid.uuid4().hex[:8]
    event: dict[str, Any] = {
        "event_id": f"{kind}-{tag}",
        "ts": int(time.time() * 1000) - 1_000,
        "shopper_id": shopper,
        "session_id": f"s-{tag}",
        "currency": "GBP",
        "items": [{"product_id": f"p-{tag}", "quantity": 1, "unit_price": 9.5, "category": "test"}],
    }
    if kind == "order":
        event |= {"order_id": f"o-{tag}", "shipping_fee": 0.0}
    else:
        event["cart_id"] = f"k-{tag}"
    return event


def decision_for(deployment: Deployment, trigger_id: str, timeout: float = 90) -> dict[str, Any]:
    """The decision on the offers topic made for the trigger event (read over the listener)."""
    deadline = time.monotonic() + timeout
    while True:
        for _key, value, _partition, _offset in asyncio.run(
            read_all(deployment.access, deployment.topic("offers"))
        ):
            decision: dict[str, Any] = orjson.loads(value or b"null")
            if decision["trigger_event_id"] == trigger_id:
                return decision
        assert time.monotonic() < deadline, f"no decision for {trigger_id}"
        time.sleep(1)


def wait_for_state(worker: WorkerProcess, path: str, timeout: float = 90) -> Any:
    """Poll a data endpoint until it answers 200; return the body."""
    deadline = time.monotonic() + timeout
    status, body = worker.api_get(path)
    while status != 200:
        assert worker.alive(), worker.log_tail()
        assert time.monotonic() < deadline, (path, status, body, worker.log_tail())
        time.sleep(0.5)
        status, body = worker.api_get(path)
    return body


@pytest.mark.parametrize("listener", ["sasl_ssl", "mutual_tls"])
def test_cart_in_decision_out_over_the_secured_listener(
    secured_broker: StoppableBroker, tmp_path: Path, listener: str
) -> None:
    deployment = secured_deployment(secured_broker, listener)
    worker = start_worker(deployment, tmp_path, BASKETLIFT_LOG_LEVEL="info")
    try:
        worker.wait_healthy(timeout=180)
        shopper = f"c-{uuid.uuid4().hex[:8]}"
        cart = shopper_event(shopper, "cart")
        send_events(
            deployment,
            [("orders", shopper, shopper_event(shopper, "order")), ("carts", shopper, cart)],
        )
        decision = decision_for(deployment, cart["event_id"])
        assert (decision["shopper_id"], decision["placement"]) == (shopper, "cart")
        state = wait_for_state(worker, f"/state/shoppers/{shopper}")
        assert state["shopper_id"] == shopper
        assert state["order_count"] == 1, state
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
        password = secured_broker.listeners.paths.scram_password.read_text().strip()
        assert password not in worker.log_path.read_text(errors="replace")
        asyncio.run(deployment.delete_topics())


def test_a_worker_that_may_not_create_topics_checks_them_all(
    secured_broker: StoppableBroker, tmp_path: Path
) -> None:
    deployment = secured_deployment(secured_broker, "sasl_ssl")
    try:
        # Only the contract topics exist: every internal one is named as missing.
        refused = run_cli(
            ["worker"], deployment.env(tmp_path / "data", BASKETLIFT_CREATE_TOPICS="false")
        )
        assert refused.returncode == 2, refused.stderr
        [line] = refused.stderr.splitlines()
        assert line.startswith("error: BASKETLIFT_CREATE_TOPICS=false and the topics"), line
        for internal in (
            f"{deployment.app_id}-rekey-carts is missing",
            f"{deployment.app_id}-copurchase-deltas is missing",
            f"{deployment.app_id}-shopper-profiles-changelog is missing",
            f"{deployment.app_id}-__assignor-__leader is missing",
        ):
            assert internal in line
        assert deployment.topic("carts") not in line

        # Once a worker allowed to create them has, one that may not starts.
        (tmp_path / "creator").mkdir()
        (tmp_path / "checker").mkdir()
        creator = start_worker(deployment, tmp_path / "creator")
        try:
            creator.wait_healthy(timeout=180)
        finally:
            creator.stop()
        checker = start_worker(deployment, tmp_path / "checker", BASKETLIFT_CREATE_TOPICS="false")
        try:
            checker.wait_healthy(timeout=180)
        finally:
            checker.stop()
    finally:
        asyncio.run(deployment.delete_topics())


def run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    """`python -m streams.cli ARGS` with exactly `env`; killed (and failing) after
    ACCESS_FAILURE_SECONDS."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=ACCESS_FAILURE_SECONDS,
    )


def client_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """The environment of a command with exactly these BASKETLIFT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASKETLIFT_")}
    env.update(
        BASKETLIFT_DATA_DIR=str(tmp_path / "data"),
        BASKETLIFT_WEB_PORT=str(free_port()),  # the worker checks it before Kafka
        BASKETLIFT_APP_ID=f"refused-{uuid.uuid4().hex[:8]}",
    )
    env.update(variables)
    return env


def refused_env(broker: StoppableBroker, case: str) -> tuple[dict[str, str], str]:
    """Client settings that Kafka refuses, and the line that must say why."""
    listeners = broker.listeners
    host = listeners.host
    sasl = listeners.sasl_ssl_env()
    if case == "wrong-password":
        sasl.pop("BASKETLIFT_KAFKA_SASL_PASSWORD_FILE")
        sasl["BASKETLIFT_KAFKA_SASL_PASSWORD"] = WRONG_PASSWORD
        return sasl, (
            "error: Kafka rejected the SASL credentials for user 'basketlift' (SCRAM-SHA-512)"
            f" at {host}:{listeners.sasl_ssl_port}"
        )
    if case == "untrusted-certificate":
        sasl.pop("BASKETLIFT_KAFKA_SSL_CAFILE")  # the system's CAs did not sign it
        return sasl, (
            f"error: Kafka's TLS certificate at {host}:{listeners.sasl_ssl_port} is not"
            " trusted: unable to get local issuer certificate (set"
            " BASKETLIFT_KAFKA_SSL_CAFILE to the CA that signed it)"
        )
    assert case == "plaintext-on-tls-port"
    return {"BASKETLIFT_BROKER": f"kafka://{host}:{listeners.mutual_tls_port}"}, (
        f"error: Kafka at {host}:{listeners.mutual_tls_port} expects TLS, but"
        " BASKETLIFT_KAFKA_SECURITY_PROTOCOL is PLAINTEXT (set SSL or SASL_SSL)"
    )


@pytest.mark.parametrize("command", [["worker"], ["produce", "-", "--topic", "carts"], ["report"]])
@pytest.mark.parametrize(
    "case", ["wrong-password", "untrusted-certificate", "plaintext-on-tls-port"]
)
def test_a_refused_client_stops_at_once_with_one_line_saying_why(
    secured_broker: StoppableBroker, tmp_path: Path, command: list[str], case: str
) -> None:
    variables, line = refused_env(secured_broker, case)
    cart = orjson.dumps(shopper_event("c-refused", "cart")).decode() + "\n"
    result = run_cli(command, client_env(tmp_path, **variables), stdin=cart)
    assert result.stderr.splitlines() == [line], result.stderr
    assert result.returncode == 2
    assert WRONG_PASSWORD not in result.stdout + result.stderr
    password = secured_broker.listeners.paths.scram_password.read_text().strip()
    assert password not in result.stdout + result.stderr
