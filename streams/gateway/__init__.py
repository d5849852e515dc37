"""`basketlift gateway`: the frontend's real-time door (README, "The gateway").

A separate process from the workers: storefronts and browsers post contract events over
HTTP (`server.py`), which it validates and produces to Kafka, and read the decisions made
for them, which it follows on the offers topic itself into a bounded index (`index.py`), by
long-poll or Server-Sent Events. Who may do what is `auth.py` (keys, origins) and
`tokens.py` (shopper tokens); both are pure.
"""
