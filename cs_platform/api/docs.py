"""A readable page of the OpenAPI document, rendered on the server (no script, no CDN)."""

from __future__ import annotations

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
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    return render_template(
        "api/docs.html",
        spec=spec,
        tags={tag["name"]: tag.get("description", "") for tag in spec.get("tags", [])},
        groups=operations_by_tag(spec),
        ref_name=ref_name,
        resolve=lambda item: resolve(spec, item),
    )
