"""bench.shoppers's cart maker: carts spread over the seeded shoppers and any others."""

from __future__ import annotations

from bench.shoppers import carts_of_many_shoppers, shopper_id


def test_carts_come_from_seeded_and_other_shoppers_keyed_by_their_shopper() -> None:
    source = [("k1", {"shopper_id": "a", "items": [1]}), ("k2", {"shopper_id": "b", "items": [2]})]
    carts = carts_of_many_shoppers(source, 3, 400, seed=1, others=["U1", "U2"])
    assert len(carts) == 400
    assert {key for key, _cart in carts} == {
        shopper_id(0),
        shopper_id(1),
        shopper_id(2),
        "U1",
        "U2",
    }
    assert all(cart["shopper_id"] == key for key, cart in carts)
    assert [cart["items"] for _key, cart in carts[:2]] == [[1], [2]]
    assert len({cart["session_id"] for _key, cart in carts}) == 400


def test_carts_of_seeded_shoppers_alone_stay_within_the_seeded() -> None:
    source = [("k1", {"shopper_id": "a"})]
    carts = carts_of_many_shoppers(source, 2, 50, seed=0)
    assert {key for key, _cart in carts} == {shopper_id(0), shopper_id(1)}
