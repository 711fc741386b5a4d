"""The OpenAPI document is written for generated clients: an operationId per operation, resource
tags, every field typed, answers' fields required, one component per enum, shared error
responses with their headers, and the conditional GET documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from cs_platform.api.core import TAGS
from cs_platform.api.enums import ENUMS

RESOURCE_PATHS = ("/api/v1/accounts", "/api/v1/health-scores", "/api/v1/churn-risks",
                  "/api/v1/survey-", "/api/v1/tasks")  # fmt: skip
VERBS = ("list", "get", "create", "update", "upsert", "delete")


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method, path, operation


def resource_operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [op for op in operations(spec) if op[1].startswith(RESOURCE_PATHS)]


def subschemas(node: Any) -> Iterator[dict]:
    """Every schema-like mapping in `node`, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from subschemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from subschemas(value)


def types_of(schema: dict) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def test_every_operation_has_a_unique_snake_case_verb_id(spec):
    ids = [operation.get("operationId") for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids)) >= 12
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", operation_id), operation_id
        assert operation_id.split("_")[0] in VERBS, operation_id


def test_resources_are_tagged_by_name_with_descriptions(spec):
    declared = {tag["name"]: tag.get("description") for tag in spec["tags"]}
    assert {name: declared.get(name) for name in TAGS} == TAGS
    tags = {path: operation["tags"] for _, path, operation in resource_operations(spec)}
    assert tags["/api/v1/accounts"] == ["Accounts"]
    assert tags["/api/v1/churn-risks"] == ["Churn risks"]
    assert tags["/api/v1/health-scores"] == ["Health scores"]
    assert not [name for name in declared if name.endswith("_api") and name in TAGS]
    assert {tag for _, _, op in operations(spec) for tag in op["tags"]} <= set(declared)


def test_no_schema_in_the_document_is_an_untyped_object(spec):
    for schema in subschemas(spec["components"]["schemas"]):
        if "object" in types_of(schema):
            assert schema.get("properties") or isinstance(schema.get("additionalProperties"),
                                                           dict), schema  # fmt: skip
        if "array" in types_of(schema):
            assert schema.get("items"), schema


def test_every_field_of_an_answer_is_required_and_nullable_ones_say_so(spec):
    schemas = spec["components"]["schemas"]
    for name in ("Account", "HealthScore", "AccountHealth", "ChurnRisk", "SurveyResponse",
                 "Task", "MetricRow", "Driver", "BandOverride", "HealthScorePage"):  # fmt: skip
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert types_of(schemas["HealthScore"]["properties"]["churn_probability"]) == {
        "number",
        "null",
    }
    drivers = schemas["HealthScore"]["properties"]["drivers"]
    assert drivers["items"] == {"$ref": "#/components/schemas/Driver"}


def test_each_enum_is_one_component_referenced_everywhere(spec):
    schemas = spec["components"]["schemas"]
    for name, values in ENUMS.items():
        assert schemas[name] == {"type": "string", "enum": list(values)}
    inline = [
        schema["enum"]
        for schema in subschemas([spec["paths"], spec["components"]])
        if "enum" in schema and "type" in schema
    ]
    named = [list(values) for values in ENUMS.values()]
    assert [values for values in inline if values in named] == [
        list(values) for values in ENUMS.values()
    ]
    segment = {"$ref": "#/components/schemas/Segment"}
    account_list = spec["paths"]["/api/v1/accounts"]["get"]["parameters"]
    assert next(p for p in account_list if p["name"] == "segment")["schema"] == segment
    assert schemas["Account"]["properties"]["segment"] == segment


def test_errors_share_one_schema_and_say_their_headers(spec):
    responses = spec["components"]["responses"]
    error = {"$ref": "#/components/schemas/Error"}
    for _, _, operation in resource_operations(spec):
        for status, response in operation["responses"].items():
            if status == "default" or int(status) >= 400:
                name = response["$ref"].rsplit("/", 1)[-1]
                assert responses[name]["content"]["application/json"]["schema"] == error
    assert responses["Unauthorized"]["headers"] == {
        "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}
    }
    assert "Retry-After" in responses["TooManyRequests"]["headers"]


def test_conditional_reads_document_if_none_match_etag_and_a_bodiless_304(spec):
    reads = [(path, op) for method, path, op in resource_operations(spec) if method == "get"]
    assert len(reads) == 11
    for path, operation in reads:
        assert {"$ref": "#/components/parameters/IfNoneMatch"} in operation["parameters"], path
        assert operation["responses"]["304"] == {"$ref": "#/components/responses/NotModified"}
        assert "ETag" in operation["responses"]["200"]["headers"], path
    not_modified = spec["components"]["responses"]["NotModified"]
    assert "content" not in not_modified
    assert set(not_modified["headers"]) == {"ETag"}


def test_bodies_are_required_and_a_missing_one_is_documented(spec):
    for method, path, operation in resource_operations(spec):
        if method in ("put", "patch"):
            assert operation["requestBody"]["required"] is True, path
            assert operation["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}


def test_the_readable_page_writes_out_enums_and_nullable_types(client):
    page = client.get("/api/v1/docs").text
    assert "smb, mid_market, enterprise" in page
    assert "number, nullable" in page
    assert "[&#39;number&#39;" not in page
    assert 'id="schema-Segment"' not in page
