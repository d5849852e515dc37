"""Offline evaluation of the offer rankers on any retailer's order log.

The state is rebuilt from the orders before a split date by the stream's own domain code
(``state``), the rankers are the ones the stream calls (``streams.offers.ranking``), and the
protocol hides one product of each later order (``protocol``); ``runner`` ties them
together and ``report`` shows the result. ``basketlift evaluate`` is the command.
"""

from streams.tools.evaluation.protocol import (
    RANKER_NAMES,
    EvaluationCase,
    RankerContext,
    RankerResult,
    build_context,
    evaluate_cases,
    make_case,
    make_cases,
)
from streams.tools.evaluation.runner import EvaluationReport, parse_split_at, run_evaluation
from streams.tools.evaluation.state import LiveState, fold_orders

__all__ = [
    "RANKER_NAMES",
    "EvaluationCase",
    "EvaluationReport",
    "LiveState",
    "RankerContext",
    "RankerResult",
    "build_context",
    "evaluate_cases",
    "fold_orders",
    "make_case",
    "make_cases",
    "parse_split_at",
    "run_evaluation",
]
