"""A readable page of the OpenAPI document, rendered on the server (no script, no CDN)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Blueprint, current_app, render_template

bp = Blueprint("api_docs", __name__)
METHODS = ("get", "put", "post", "patch", "delete")


def ref_name(item: dict[str, Any]) -> str:
    """The last part of a $ref ("#/components/schemas/Account" -> "Account"), else ""."""
    return item.get("$ref", "").rsplit("/", 1)[-1]


def resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """`item`, or the component its $ref points at."""
    if "$ref" not in item:
        return item
    node: Any = spec
    for part in item["$ref"].removeprefix("#/").split("/"):
        node = node[part]
    return node


def is_enum(schema: dict[str, Any]) -> bool:
    return "enum" in schema and "properties" not in schema


def plain(node: Any, enums: dict[str, dict[str, Any]]) -> Any:
    """`node` in the terms the page shows (OpenAPI 3.0's): one type and `nullable` instead of a
    type list or anyOf with null, and enum components written out where they are used."""
    if isinstance(node, list):
        return [plain(item, enums) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: plain(value, enums) for key, value in node.items()}
    options = node.get("anyOf", [])
    if {"type": "null"} in options and len(options) == 2:
        node.pop("anyOf")
        node |= next(option for option in options if option != {"type": "null"})
        node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [kind for kind in node["type"] if kind != "null"]
        node["nullable"] = len(types) < len(node["type"])
        node["type"] = " or ".join(types)
    if ref_name(node) in enums:
        node = {**enums[ref_name(node)], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def readable(spec: dict[str, Any]) -> dict[str, Any]:
    """The document as the page shows it (see `plain`), without the enum components."""
    schemas = spec["components"]["schemas"]
    enums = {name: schema for name, schema in schemas.items() if is_enum(schema)}
    shown = plain(deepcopy(spec), enums)
    shown["components"]["schemas"] = {
        name: schema for name, schema in shown["components"]["schemas"].items() if name not in enums
    }
    return shown


def operations_by_tag(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each tag's operations in document order: method, path and the operation object."""
    grouped: dict[str, list[dict[str, Any]]] = {tag["name"]: [] for tag in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                for tag in operation.get("tags", ["other"]):
                    grouped.setdefault(tag, []).append(
                        {"method": method.upper(), "path": path, "op": operation}
                    )
    return grouped


@bp.route("/api/v1/docs")
def index():
    """The API reference: endpoints by resource, their parameters, answers and schemas."""
    spec = readable(current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict())
    return render_template(
        "api/docs.html",
        spec=spec,
        tags={tag["name"]: tag.get("description", "") for tag in spec.get("tags", [])},
        groups=operations_by_tag(spec),
        ref_name=ref_name,
        resolve=lambda item: resolve(spec, item),
    )
