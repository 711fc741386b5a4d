"""A marshmallow schema's dump as a plain function, built once from the schema's fields: for a
small answer on a hot path, marshmallow's per-field machinery (get_value, serialize, the hooks
check) costs more than the values' conversions.

The result equals `schema.dump`: common field classes (exactly those, not subclasses) convert
their values inline, as their `_serialize` does; any other field serializes itself, and a schema
with dump hooks or its own attribute access dumps itself whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing, utils
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dump = Callable[[Any], Any]


def compiled_dump(schema: Schema) -> Dump:
    """`schema.dump` (of one object, or of a list with `many`) as a plain function."""
    if dumps_itself(schema):
        return schema.dump
    return one_or_many(object_dump(schema), schema.many)


def dumps_itself(schema: Schema) -> bool:
    """Whether `schema` has dump hooks or reads attributes its own way: it then dumps itself."""
    hooked = schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]
    return bool(hooked) or type(schema).get_attribute is not Schema.get_attribute


def one_or_many(dump_one: Dump, many: bool) -> Dump:
    return (lambda objects: [dump_one(each) for each in objects]) if many else dump_one


def object_dump(schema: Schema) -> Dump:
    """One object as `schema._serialize` dumps it: each field under its data key, the fields whose
    value is missing left out."""
    dumpers = [
        (field.data_key if field.data_key is not None else name, field_dump(name, field, schema))
        for name, field in schema.dump_fields.items()
    ]
    new = schema.dict_class

    def dump(obj: Any) -> dict[str, Any]:
        answer = new()
        for key, dump_field in dumpers:
            value = dump_field(obj)
            if value is not missing:
                answer[key] = value
        return answer

    return dump


def field_dump(name: str, field: fields.Field, schema: Schema) -> Dump:
    """The value `field.serialize(name, obj)` gives for an object."""
    key = field.attribute or name
    if not reads_plainly(field) or "." in key:
        return lambda obj: field.serialize(name, obj, accessor=schema.get_attribute)
    convert = value_conversion(field)
    if convert is None:
        return lambda obj: serialized(field, name, obj, value_at(obj, key))

    def dump(obj: Any) -> Any:
        value = value_at(obj, key)
        return value if value is None or value is missing else convert(value)

    return dump


def reads_plainly(field: fields.Field) -> bool:
    """Whether `field.serialize` is marshmallow's own: the value at its key, missing when absent
    (no default), handed to `field._serialize`."""
    kind = type(field)
    return (
        field._CHECK_ATTRIBUTE
        and field.dump_default is missing
        and kind.serialize is fields.Field.serialize
        and kind.get_value is fields.Field.get_value
    )


def value_at(obj: Any, key: str) -> Any:
    """`obj[key]`, else `obj.key`, else missing (as marshmallow's get_value, faster for dicts)."""
    return obj[key] if type(obj) is dict and key in obj else utils.get_value(obj, key)


def serialized(field: fields.Field, name: str, obj: Any, value: Any) -> Any:
    return value if value is missing else field._serialize(value, name, obj)


def value_conversion(field: fields.Field) -> Dump | None:
    """What `field._serialize` does to a value other than None, for the field classes it is
    known for; None for any other field."""
    conversion = CONVERSIONS.get(type(field))
    return conversion(field) if conversion is not None else None


def number_conversion(field: fields.Number) -> Dump | None:
    return None if field.as_string else field.num_type


def date_conversion(field: fields.Date) -> Dump | None:
    return dt.date.isoformat if field.format in (None, "iso", "iso8601") else None


def unchanged(value: Any) -> Any:
    return value


def list_conversion(field: fields.List) -> Dump | None:
    """Each item converted as the List's inner field does it (None stays None)."""
    inner = value_conversion(field.inner)
    if inner is None:
        return None
    return lambda values: [None if each is None else inner(each) for each in values]


def nested_conversion(field: fields.Nested) -> Dump | None:
    """A Nested field's schema dump, of a list when the field or its schema says `many`."""
    schema = field.schema
    if dumps_itself(schema):
        return None
    return one_or_many(object_dump(schema), field.many or schema.many)


# By exact class: a subclass may serialize otherwise (UtcDateTime adds the UTC offset).
CONVERSIONS: dict[type[fields.Field], Callable[[Any], Dump | None]] = {
    fields.Integer: number_conversion,
    fields.Float: number_conversion,
    fields.String: lambda _: utils.ensure_text_type,
    fields.Date: date_conversion,
    fields.Raw: lambda _: unchanged,
    fields.List: list_conversion,
    fields.Nested: nested_conversion,
}
