"""`GET /state/products/{product_id}`: a product's purchases and strongest neighbours."""

from __future__ import annotations

from typing import Any

from streams.copurchase.view import products_view


async def product_state(self: Any, request: Any, product_id: str) -> Any:
    """Answered from this worker's global view of the product table: no routing needed."""
    state = products_view.get(product_id)
    if state is None:
        return self.json({"error": f"unknown product {product_id}"}, status=404)
    return self.json(
        {
            "product_id": state.product_id,
            "purchases": state.purchases,
            "as_of_ts": state.as_of_ts,
            "last_price": state.last_price,
            "category": state.category,
            "neighbours": [
                {"product_id": other, "weight": weight} for other, weight in state.top_neighbours()
            ],
        }
    )
