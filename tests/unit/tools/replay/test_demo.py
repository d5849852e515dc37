"""`basketlift demo`'s gateway runs without keys on loopback: the demo page calls it without
any, and a keyless gateway binds loopback only."""

from __future__ import annotations

from streams.tools.replay.demo import gateway_env


def test_the_demo_gateway_drops_configured_keys_and_binds_loopback() -> None:
    env = {
        "BASKETLIFT_GATEWAY_SECRET_KEYS": "sk-0123456789abcdef0123",
        "BASKETLIFT_GATEWAY_PUBLIC_KEYS": "pk-0123456789abcdef0123",
        "BASKETLIFT_GATEWAY_HOST": "0.0.0.0",
        "BASKETLIFT_GATEWAY_PORT": "7070",
        "BASKETLIFT_BROKER": "kafka://127.0.0.1:9092",
    }
    assert gateway_env(env) == {
        "BASKETLIFT_GATEWAY_HOST": "127.0.0.1",
        "BASKETLIFT_GATEWAY_PORT": "7070",
        "BASKETLIFT_BROKER": "kafka://127.0.0.1:9092",
    }
    assert env["BASKETLIFT_GATEWAY_HOST"] == "0.0.0.0"  # the caller's environment is kept
