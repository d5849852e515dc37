"""Boundary decoding: raw Kafka message values to validated events, and back to bytes."""

from __future__ import annotations

import json
import math
from typing import Any, Final, Literal, TypeVar, get_args

import orjson
from pydantic import BaseModel, ValidationError

from schemas.eventtime import MAX_TS_MS, MIN_TS_MS, iso_utc, latest_allowed_ts
from schemas.limits import MAX_EVENT_BYTES

MAX_DETAIL_CHARS: Final = 500

Reason = Literal[
    "empty",
    "too_large",
    "not_utf8",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "out_of_range",
    "invalid_value",
    "ts_implausible",
    "ts_in_future",
    "unprocessable",
]
"""Why a message was rejected; a bounded set, safe to use as a metric label.

- empty: a tombstone (null value) or zero bytes.
- too_large: more than MAX_EVENT_BYTES (``schemas.limits``).
- not_utf8: the bytes are not valid UTF-8 (for example UTF-16 or Latin-1 text).
- invalid_json: not one strict JSON document (truncated, trailing data, NaN, ...).
- not_an_object: valid JSON whose top level is not an object.
- missing_field: a required field is absent (or a conditionally required one, such as
  the routing key or offer_id on offer_* clicks).
- wrong_type: a field has the wrong JSON type (a string or bool where a number is due).
- out_of_range: a number outside its allowed range (negative price, zero quantity, ...).
- invalid_value: right type, disallowed value (unknown enum value, empty id, bad currency
  code, empty or over-long list, a cross-field rule).
- ts_implausible: `ts` is an integer but not epoch milliseconds between 2000-01-01 and
  3000-01-01 (epoch seconds, micro- or nanoseconds; see schemas/eventtime.py).
- ts_in_future: never produced by the decoder; `ts` is more than the allowed skew ahead of
  the receiving worker's wall clock (see check_not_in_future).
- unprocessable: never produced by the decoder; for events that decoded but could not
  be processed (see make_dead_letter).
"""

REASONS: Final[tuple[Reason, ...]] = get_args(Reason)
DECODER_REASONS: Final[frozenset[Reason]] = frozenset(REASONS) - {"ts_in_future", "unprocessable"}
"""The reasons `decode_event` can give; the others depend on more than the message."""

M = TypeVar("M", bound=BaseModel)

_MAX_ERRORS_SHOWN = 3
_MAX_INPUT_CHARS = 40

# Error types raised by our own validators (PydanticCustomError) or by pydantic.
_REASON_BY_ERROR_TYPE: Final[dict[str, Reason]] = {
    "missing": "missing_field",
    "missing_routing_key": "missing_field",
    "missing_offer_id": "missing_field",
    "none_required": "wrong_type",
    "is_instance_of": "wrong_type",
    "int_from_float": "wrong_type",
    "int_parsing": "wrong_type",
    "float_parsing": "wrong_type",
    "bool_parsing": "wrong_type",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "multiple_of": "out_of_range",
    "finite_number": "out_of_range",
    "int_parsing_size": "out_of_range",
}


class InvalidEvent(ValueError):
    """A message value that does not satisfy the wire contract."""

    reason: Reason
    detail: str

    def __init__(self, reason: Reason, detail: str) -> None:
        # Both go to args so that the exception pickles and unpickles intact.
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def decode_event(model: type[M], raw: bytes | None) -> M:
    """Validate one raw message value against ``model``; raise InvalidEvent if it fails."""
    if raw is None:
        raise InvalidEvent("empty", "the message value is null (a tombstone)")
    size = len(raw)
    if size == 0:
        raise InvalidEvent("empty", "the message value is empty (0 bytes)")
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent(
            "too_large",
            f"the message value is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit",
        )
    try:
        event = model.model_validate_json(raw)
    except ValidationError as exc:
        raise _classify(raw, exc) from exc
    # pydantic's parser rejects invalid UTF-8 itself today; this keeps the guarantee even
    # if it ever stops doing so, for ~40 ns on ASCII (most messages) and a decode otherwise.
    if not raw.isascii():
        _check_utf8(raw)
    return event


def check_not_in_future(ts_ms: int, *, now_ms: int, max_future_skew_ms: int) -> None:
    """Raise InvalidEvent("ts_in_future") when `ts_ms` is more than the skew after `now_ms`.

    `now_ms` is the receiving worker's wall clock: an event may come from a producer whose
    clock runs a little ahead, but not further than `max_future_skew_ms`.
    """
    if ts_ms <= latest_allowed_ts(now_ms, max_future_skew_ms):
        return
    ahead_s = (ts_ms - now_ms) / 1000
    raise InvalidEvent(
        "ts_in_future",
        f"ts: {ts_ms} ({iso_utc(ts_ms)}) is {ahead_s:.3f} s ahead of the processor's clock"
        f" ({iso_utc(now_ms)}); at most {max_future_skew_ms / 1000:g} s ahead is accepted",
    )


def encode(model: BaseModel) -> bytes:
    """Serialise a model to compact JSON bytes for Kafka."""
    return orjson.dumps(model.model_dump(mode="json"))


def _check_utf8(raw: bytes) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        raise InvalidEvent(
            "not_utf8",
            f"the message value is not valid UTF-8: {exc.reason} (byte 0x{bad} at offset"
            f" {exc.start})",
        ) from None


def _classify(raw: bytes, exc: ValidationError) -> InvalidEvent:
    """Turn a pydantic failure into an InvalidEvent; only runs for rejected messages."""
    _check_utf8(raw)
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        ctx = first.get("ctx") or {}
        return InvalidEvent("invalid_json", _cap(f"invalid JSON: {ctx.get('error', first['msg'])}"))
    summary = _summarise(errors)
    # pydantic's parser accepts NaN/Infinity and numbers beyond float range, which are
    # not JSON; a strict parser tells those documents apart from field-level mistakes.
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as json_exc:
        return InvalidEvent("invalid_json", _cap(f"invalid JSON: {json_exc}; {summary}"))
    if first["type"] in ("model_type", "model_attributes_type", "dict_type") and not first["loc"]:
        return InvalidEvent(
            "not_an_object",
            f"the message must be a JSON object, got {_describe(first['input'])}",
        )
    implausible = _implausible_ts(first)
    if implausible is not None:
        return implausible
    return InvalidEvent(_reason_for(first["type"]), summary)


def _implausible_ts(error: Any) -> InvalidEvent | None:
    """A top-level `ts` outside the plausible epoch-milliseconds range: a unit mistake."""
    if error["loc"] != ("ts",):
        return None
    bounds = error.get("ctx") or {}
    got = _describe(error["input"])
    if bounds.get("ge") == MIN_TS_MS:
        seconds = isinstance(error["input"], int) and error["input"] >= 0
        return InvalidEvent(
            "ts_implausible",
            f"ts: must be epoch milliseconds on or after {iso_utc(MIN_TS_MS)} ({MIN_TS_MS});"
            f" got {got}" + (" (epoch seconds instead of milliseconds?)" if seconds else ""),
        )
    if bounds.get("lt") == MAX_TS_MS:
        return InvalidEvent(
            "ts_implausible",
            f"ts: must be epoch milliseconds before {iso_utc(MAX_TS_MS)} ({MAX_TS_MS});"
            f" got {got} (micro- or nanoseconds instead of milliseconds?)",
        )
    return None


def _reason_for(error_type: str) -> Reason:
    reason = _REASON_BY_ERROR_TYPE.get(error_type)
    if reason is not None:
        return reason
    if error_type.endswith("_type"):
        return "wrong_type"
    return "invalid_value"


def _summarise(errors: list[Any]) -> str:
    parts = []
    for error in errors[:_MAX_ERRORS_SHOWN]:
        path = _format_loc(error["loc"])
        text = f"{path}: {error['msg']}" if path else str(error["msg"])
        if error["type"] != "missing" and error["loc"]:
            text += f" (got {_describe(error['input'])})"
        parts.append(text)
    if len(errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - _MAX_ERRORS_SHOWN} more error(s)")
    return _cap("; ".join(parts))


def _format_loc(loc: tuple[int | str, ...]) -> str:
    """Render ('items', 0, 'unit_price') as items[0].unit_price."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _describe(value: object) -> str:
    """Short JSON-flavoured rendering of an offending input value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, int):
        # Very long integers: str() is quadratic and capped by Python; show the size.
        if value.bit_length() > 128:
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return str(value)
    if isinstance(value, str):
        if len(value) > _MAX_INPUT_CHARS:
            return json.dumps(value[:_MAX_INPUT_CHARS], ensure_ascii=False) + "..."
        return json.dumps(value, ensure_ascii=False)
    return type(value).__name__


def _cap(text: str) -> str:
    if len(text) <= MAX_DETAIL_CHARS:
        return text
    return text[: MAX_DETAIL_CHARS - 3] + "..."
