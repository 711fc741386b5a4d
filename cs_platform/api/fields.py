"""marshmallow fields for API input that the database can always store or compare.

Generated clients and fuzzers send NUL characters, lone surrogates, out-of-range ids and
timestamps near year 1 or 9999; these fields turn all of that into a 422 naming the field instead
of a database error.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from decimal import Context, Decimal
from typing import Any, AnyStr

from marshmallow import ValidationError, fields, validate

from cs_platform.date_range import EVERGREEN_TEXT, RANGE_TEXT, in_range, is_evergreen
from cs_platform.models import MAX_INT as MAX_ID

NO_CONTROL_CHARACTERS = validate.Regexp(
    r"^[^\u0000-\u0008\u000b-\u001f\u007f]*$", error="must not contain control characters"
)


class FullMatch(validate.Regexp):
    """A pattern the whole value must match (marshmallow's Regexp matches a prefix), documented
    anchored."""

    def __init__(self, regex: re.Pattern, **kwargs: Any) -> None:
        super().__init__(f"^{regex.pattern}$", **kwargs)
        self.whole = regex

    def __call__(self, value: AnyStr) -> AnyStr:  # as Regexp's: str or bytes
        if self.whole.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class Text(fields.String):
    """A string without control characters (tab and newline allowed), documented by a pattern."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.insert(0, NO_CONTROL_CHARACTERS)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("must be valid UTF-8 text") from exc
        return text


class UtcDateTime(fields.DateTime):
    """An ISO 8601 date-time read as naive UTC, the way every timestamp is stored, and written
    with its UTC offset (RFC 3339)."""

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError as exc:
            raise ValidationError("is outside the supported range of dates") from exc


class BoundedDate(fields.Date):
    """An ISO date within the range the database and scoring both hold (cs_platform.date_range),
    documented in its description; with `evergreen`, a renewal date from EVERGREEN_FROM on reads
    as None: no renewal date."""

    def __init__(self, *, evergreen: bool = False, **kwargs: Any) -> None:
        metadata = kwargs.pop("metadata", {})
        rule = f"Dates {RANGE_TEXT}" + (f"; {EVERGREEN_TEXT}, read as null." if evergreen else ".")
        described = " ".join(filter(None, (metadata.get("description"), rule)))
        super().__init__(metadata=metadata | {"description": described}, **kwargs)
        self.evergreen = evergreen

    # A Date (parsed and documented as one) that reads an evergreen date as None.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dt.date | None:
        day = super()._deserialize(value, attr, data, **kwargs)
        if self.evergreen and is_evergreen(day):
            return None
        if not in_range(day):
            rule = f"; {EVERGREEN_TEXT}" if self.evergreen else ""
            raise ValidationError(f"must be a date {RANGE_TEXT}{rule}")
        return day


CENTS = Decimal("0.01")
# Enough digits to round any finite float to cents (the largest has 309 before the point), so an
# absurd amount such as 1e308 reaches the field's Range validator instead of failing to round.
EVERY_FLOAT_TO_CENTS = Context(prec=320)


class Money(fields.Float):
    """A finite JSON number read as a Decimal rounded to cents (documented as a plain number);
    give it a Range the column can hold, checked after rounding."""

    # A Float (parsed and documented as one) that reads as a Decimal.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> Decimal:
        number = super()._deserialize(value, attr, data, **kwargs)  # NaN and Infinity: 422
        return Decimal(repr(number)).quantize(CENTS, context=EVERY_FLOAT_TO_CENTS)


class JsonBoolean(fields.Boolean):
    """true or false in a JSON body, nothing else (marshmallow also takes 1, "yes", "on", ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def Id(**kwargs: Any) -> fields.Integer:  # noqa: N802 - reads like a field class at call sites
    """A positive 32-bit id in a JSON body (a JSON integer; "7" or 7.0 is refused)."""
    return fields.Integer(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)


class QueryId(fields.Integer):
    """A positive 32-bit id in the query string, where every value is text: decimal digits only
    (no sign, space, point or underscore, which int() would take)."""

    DIGITS = re.compile(r"[0-9]{1,10}")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, validate=validate.Range(1, MAX_ID), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and self.DIGITS.fullmatch(value):
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


def _cursor_id(value: Any) -> int:
    """An id of a cursor; one no row can have (past 32 bits) would fail the database's compare."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError("id out of range")
    return number


_DECODERS: dict[type, Any] = {
    int: _cursor_id,
    str: str,
    dt.datetime: dt.datetime.fromisoformat,
    dt.date: dt.date.fromisoformat,
}


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the sort-key values of the last row of a page."""
    plain = [value.isoformat() if isinstance(value, dt.date) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


class Cursor(fields.String):
    """The opaque `next_cursor` of a previous page, decoded into typed sort-key values."""

    def __init__(self, *types: type, **kwargs: Any) -> None:
        kwargs.setdefault(
            "metadata",
            {"description": "The `next_cursor` of the previous page; empty or absent: the first."},
        )
        super().__init__(**kwargs)
        self.types = types

    # A String (documented as one) that reads as the decoded sort keys.
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple | None:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if raw == "":  # `cursor=`: what a client sends for "no cursor yet"
            return None
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if not isinstance(decoded, list) or len(decoded) != len(self.types):
                raise ValueError("wrong shape")
            return tuple(
                _DECODERS[kind](item) for kind, item in zip(self.types, decoded, strict=True)
            )
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise ValidationError("is not a cursor returned by this endpoint") from exc
