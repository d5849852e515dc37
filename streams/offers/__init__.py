"""Offers: deciding which products to offer a shopper, and at what price.

``ranking`` ranks candidate products by expected revenue per impression (pure; its package
docstring lists its modules); ``decisions`` combines the cohort, the rules, the ranker,
fatigue and nudges into one decision (pure); ``fatigue`` holds offers back after repeated
showings (pure); ``snapshot`` builds the ranker's index from product states; ``live``,
``agents``, ``topics`` and ``web`` are the worker's Faust side.
"""
