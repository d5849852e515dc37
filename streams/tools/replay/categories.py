"""Coarse product categories derived from product titles.

The UCI online-retail data has no category column, but the engine falls back to
category-level statistics for products it has seen rarely. ``category_from_title``
derives a coarse, deterministic category from a title such as
``"WHITE HANGING HEART T-LIGHT HOLDER"`` -> ``"holder"``:

1. lower-case the title and keep its head: the text before the first comma or the
   first connector word (``for``, ``with``, ``in``, ``on``, ``of``), so
   ``"RED HARMONICA IN BOX"`` -> ``"red harmonica"``;
2. split the head into runs of letters (digits and punctuation separate words, so
   ``"T-LIGHT"`` gives ``"t"`` and ``"light"``) and drop words shorter than three
   letters and the words in ``CATEGORY_STOP_WORDS`` (colours, sizes, pack words,
   patterns, materials, themes);
3. if nothing is left, do the same with the whole title (``"SET OF 6 SOLDIER SKITTLES"``);
4. take the last remaining word (English titles put the noun last), fold a simple
   plural (``-ies`` -> ``-y``, ``-ches/-shes/-sses/-xes`` -> drop ``-es``, else drop a
   final ``-s`` unless the word ends in ``-ss/-us/-is``) and apply the few spelling
   aliases in ``CATEGORY_ALIASES``.

A title with no usable word gives ``None``. About 840 categories come out of the 5,300
distinct titles of the shared data; the 100 largest cover about 70% of the order lines.
It is a heuristic good enough for a category-level fallback, not a taxonomy.
"""

from __future__ import annotations

import re

__all__ = ["CATEGORY_ALIASES", "CATEGORY_STOP_WORDS", "category_from_title"]

CATEGORY_STOP_WORDS: frozenset[str] = frozenset(
    {
        # connectors and pack words
        "and", "the", "for", "with", "from", "set", "sets", "pack", "packs", "piece", "pieces",
        "pcs", "assorted", "asst", "asstd", "ass", "col", "mix", "mixed",
        # sizes
        "large", "small", "medium", "mini", "jumbo", "giant", "big", "tiny", "little", "size",
        "long", "short", "tall", "tier", "tiers",
        # colours
        "pink", "blue", "red", "green", "white", "black", "cream", "ivory", "gold", "silver",
        "purple", "brown", "clear", "orange", "yellow", "grey", "gray", "lilac", "turquoise",
        "natural", "copper", "bronze", "pastel", "colour", "colours", "coloured",
        # patterns and styles
        "design", "designs", "retrospot", "polkadot", "spot", "spots", "spotty", "dot", "dots",
        "paisley", "flock", "stripe", "stripes", "striped", "vintage", "antique", "ant", "retro",
        "rustic", "finish", "font", "english", "french", "edwardian", "folkart",
        # materials and make
        "metal", "zinc", "wood", "wooden", "wicker", "enamel", "ceramic", "hanging", "engraved",
        "boxed",
        # themes and product ranges
        "christmas", "xmas", "easter", "london", "woodland", "pantry", "spaceboy", "dolly",
        "girl", "boy",
    }
)  # fmt: skip
"""Words never used as a category: colours, sizes, pack words, patterns, materials, themes."""

CATEGORY_ALIASES: dict[str, str] = {
    "dec": "decoration",
    "decs": "decoration",
    "doiley": "doily",
    "leaves": "leaf",
    "knives": "knife",
    "shelves": "shelf",
    "neckl": "necklace",
}
"""Abbreviations, irregular plurals and misspellings seen in titles, mapped to one word."""

_WORD_RE = re.compile(r"[a-z]+")
_HEAD_END_RE = re.compile(r",|\b(?:for|with|in|on|of)\b")
_MIN_WORD_LENGTH = 3


def _singular(word: str) -> str:
    """Fold a simple English plural to its singular (best effort, no dictionary)."""
    if word in CATEGORY_ALIASES:
        return CATEGORY_ALIASES[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _category_words(text: str) -> list[str]:
    """Return the words of ``text`` that may name a category, in title order."""
    return [
        word
        for word in _WORD_RE.findall(text)
        if len(word) >= _MIN_WORD_LENGTH and word not in CATEGORY_STOP_WORDS
    ]


def category_from_title(title: str | None) -> str | None:
    """Derive a coarse lower-case category (the title's last meaningful noun) or None."""
    if title is None:
        return None
    text = title.strip().lower()
    head = _HEAD_END_RE.split(text, maxsplit=1)[0]
    words = _category_words(head) or _category_words(text)
    if not words:
        return None
    singular = _singular(words[-1])
    return CATEGORY_ALIASES.get(singular, singular)
