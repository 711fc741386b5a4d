"""What every API endpoint shares: the Api object, the error shape, the blueprint factory and the
`guarded` decorator (API key and scope, per-key rate limit, documented security and errors).

The OpenAPI document is written for generated clients: an operationId per operation (the view's
name), resource tags, shared response components and enums, and the webhook payloads."""

from __future__ import annotations

import time
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from flask_smorest import Api, Blueprint, abort
from marshmallow import RAISE, Schema, fields, missing
from marshmallow.fields import Field
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import TooManyRequests

from cs_platform.auth.decorators import api_key_required
from cs_platform.auth.services import key_has_scope
from cs_platform.extensions import (
    counts_itself,
    csrf,
    current_rate_limit,
    hit_rate_limit,
    parsed_rate_limit,
)
from cs_platform.request_bodies import JSONTooDeepError, decoded_body, loads_bounded

PREFIX = "/api/v1"
BEARER = "bearerAuth"
# What a 401 answer asks for (RFC 6750).
WWW_AUTHENTICATE = 'Bearer realm="api"'
# Marks a view's doc info: a read answering If-None-Match with 304 (see add_etag).
CONDITIONAL = "conditional_read"
# The resource tags of the document; an ApiBlueprint files its operations under one of them.
TAGS = {
    "Accounts": "Accounts and the CRM fields RevOps writes, one at a time or in batches.",
    "Account traits": "Custom typed traits on accounts: their keys, types and labels.",
    "Health scores": "Daily 0-100 health scores and their drivers: latest, history, bulk pulls.",
    "Churn risks": "P(churn before renewal), P(churn within 90 days) and survival curves.",
    "Survey responses": "Survey answers and the NPS, CSAT and CES computed from them.",
    "Tasks": "What the CSM team is doing about each risk.",
    "Webhooks": "Webhook endpoints, and every event published, for receivers catching up.",
    "Contacts": "The people of each account, kept in step with a CRM, and asked for feedback.",
}
# marshmallow's error messages: a list of texts per field, nested per field of a list or object
# (two named components, so that generated clients can follow the recursion).
ERROR_COMPONENTS = {
    "FieldErrors": {
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"$ref": "#/components/schemas/NestedFieldErrors"},
        ]
    },
    "NestedFieldErrors": {
        "type": "object",
        "additionalProperties": {"$ref": "#/components/schemas/FieldErrors"},
    },
}


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True)
    details = fields.Dict(
        required=True,
        metadata={
            "description": "For 400 and 422: the offending fields by location (json, query, "
            'path), e.g. {"query": {"limit": ["..."]}}; for a 409 of a survey invitation the '
            'reason, e.g. {"reason": ["unsubscribed"]}; empty otherwise.',
            "additionalProperties": {"$ref": "#/components/schemas/FieldErrors"},
        },
    )


class ErrorSchema(Schema):
    """Every error answer: {"error": {"code", "message", "details"}}."""

    error = fields.Nested(ErrorBodySchema, required=True)


class CsApi(Api):
    """flask-smorest's Api documenting our error shape; the app's own handler renders errors."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = "Error"

    def _register_error_handlers(self) -> None:
        """Leave HTTP errors to cs_platform.errors, which answers {"error": {...}} under /api/."""

    def register_blueprint(self, blp: Blueprint, **options: Any) -> None:
        """Register `blp`; one that files its operations under a resource tag (TAGS) leaves out
        the tag flask-smorest names after the blueprint, which no operation would carry."""
        super().register_blueprint(blp, **options)
        if getattr(blp, "tag", None):
            name = options.get("name", blp.name)
            tags = self.spec._tags  # apispec offers no public way to drop a tag
            tags[:] = [tag for tag in tags if tag["name"] != name]


def header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A header component that the answers naming it always carry."""
    return {"description": description, "schema": schema, "required": True}


def error_response(description: str, **headers: str) -> dict[str, Any]:
    """A response component with the error body and the named header components."""
    return {
        "description": description,
        "content": {"application/json": {"schema": ErrorSchema}},
        "headers": {name.replace("_", "-"): ref for name, ref in headers.items()},
    }


RESPONSES = {
    "BadRequest": error_response("Malformed or missing JSON body."),
    "Unauthorized": error_response(
        "Missing, unknown or revoked API key.", WWW_Authenticate="WWW-Authenticate"
    ),
    "Forbidden": error_response("The API key lacks the scope the operation needs."),
    "NotFound": error_response("No such record."),
    "Conflict": error_response(
        "The write clashes with what is stored (an email taken, a contact who may not be "
        "asked); `message` says what, and `details.reason` names it where one is listed."
    ),
    "UnprocessableEntity": error_response(
        "A malformed or out-of-range value; `details` names each field by location."
    ),
    "TooManyRequests": error_response(
        "Rate limit of the API key exceeded.", Retry_After="Retry-After"
    ),
    "Error": error_response("Any other error, in the same shape."),
    "NotModified": {
        "description": "Unchanged since the ETag sent as If-None-Match; no body.",
        "headers": {"ETag": "ETag"},
    },
}
HEADERS = {
    "WWW-Authenticate": header(f"Always {WWW_AUTHENTICATE}.", {"type": "string"}),
    "Retry-After": header("Seconds until the key may call again.", {"type": "integer"}),
    "ETag": header(
        "Strong validator of the body; send it back as If-None-Match.", {"type": "string"}
    ),
}
IF_NONE_MATCH = {
    "description": "The ETag of an earlier answer: 304 with no body while it is unchanged.",
    "schema": {"type": "string"},
}


def make_api(app: Flask) -> CsApi:
    """A fresh Api bound to `app` (one per app, so several apps in one process stay apart)."""
    from cs_platform.api.enums import document_enums
    from cs_platform.api.webhook_payloads import document_webhooks

    app.config.setdefault("API_TITLE", "CS Platform API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = CsApi(
        app,
        spec_kwargs={
            "info": {"description": "Health scores, churn risk, surveys and tasks for RevOps."},
            "servers": [{"url": "/"}],
        },
    )
    spec = api.spec
    spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "description": "An API key (csk_...)."}
    )
    for name, component in ERROR_COMPONENTS.items():
        spec.components.schema(name, component)
    for name, description in TAGS.items():
        spec.tag({"name": name, "description": description})
    for name, component in HEADERS.items():
        spec.components.header(name, component)
    for name, component in RESPONSES.items():
        spec.components.response(name, component)
    spec.components.parameter("IfNoneMatch", "header", {"name": "If-None-Match", **IF_NONE_MATCH})
    document_enums(spec, api.ma_plugin.converter)
    api.ma_plugin.converter.add_attribute_function(property_names)
    document_webhooks(spec)
    return api


def property_names(converter: Any, field: Field, ret: dict, **_: Any) -> dict:
    """apispec attribute function: a Dict field's `propertyNames` metadata (the pattern of its
    keys, a JSON Schema keyword apispec does not copy)."""
    names = field.metadata.get("propertyNames")
    return {"propertyNames": names} if names else {}


class BoundedJSONParser(FlaskParser):
    """webargs' parser reading JSON bodies with the app's depth limit (webargs calls json.loads
    itself, so a deeply nested body would otherwise end in a RecursionError), after undoing a
    gzip or deflate Content-Encoding (a 500-row batch compresses tenfold)."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return missing
        try:
            return loads_bounded(decoded_body(current_app.config["MAX_CONTENT_LENGTH"]))
        except JSONTooDeepError as exc:
            abort(400, exc=exc, messages={"json": [str(exc)]})


def require_json_body(view: Callable) -> Callable:
    """400 for a request without a JSON body, which webargs would read as {}."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not is_json_request(request) or not request.get_data(cache=True).strip():
            abort(
                400,
                messages={"json": ["A JSON body is required (Content-Type: application/json)."]},
            )
        return view(*args, **kwargs)

    return wrapped


class ApiBlueprint(Blueprint):
    """A smorest blueprint that files its operations under its resource `tag`, documents
    If-None-Match, ETag and 304 on the reads `guarded` marks, and parses bodies with the depth
    limit, refusing a missing one."""

    ARGUMENTS_PARSER = BoundedJSONParser()

    def __init__(self, *args: Any, tag: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag
        self._prepare_doc_cbks.append(self._prepare_api_doc)

    def route(self, rule: str, *, tags: list[str] | None = None, **options: Any) -> Callable:
        """flask-smorest's route; the operations go under the blueprint's tag unless `tags`."""
        return super().route(rule, tags=tags or ([self.tag] if self.tag else None), **options)

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable:
        """flask-smorest's arguments; a required JSON body that is missing is a 400."""
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json" or not kwargs.get("required", True):
            return decorator
        return lambda view: require_json_body(decorator(view))

    @staticmethod
    def _prepare_api_doc(doc: dict, doc_info: dict, *, method: str, **_: Any) -> dict:
        responses = doc.setdefault("responses", {})
        if 422 in responses:
            responses[422] = "UnprocessableEntity"
        if "requestBody" in doc:
            responses[400] = "BadRequest"
        if doc_info.get(CONDITIONAL) and method == "get":
            doc.setdefault("parameters", []).append("IfNoneMatch")
            if isinstance(responses.get(200), dict):
                responses[200].setdefault("headers", {})["ETag"] = "ETag"
            responses[304] = "NotModified"
        return doc


def api_blueprint(
    name: str, import_name: str, description: str, tag: str | None = None
) -> ApiBlueprint:
    """A blueprint under /api/v1 with CSRF off (bearer keys, no cookies), ETags and IETF
    RateLimit headers on every answer; `tag` (one of TAGS) files its operations."""
    blueprint = ApiBlueprint(name, import_name, url_prefix=PREFIX, description=description, tag=tag)
    csrf.exempt(blueprint)
    counts_itself(blueprint)  # `guarded` counts each call (rate_limited)
    blueprint.after_request(add_etag)
    blueprint.after_request(add_ratelimit_headers)
    blueprint.after_request(add_www_authenticate)
    return blueprint


# The request headers that can make a read conditional (werkzeug's make_conditional reads them).
VALIDATORS = (
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def add_etag(response: Response) -> Response:
    """A strong ETag over the body of every successful read; If-None-Match gives 304. Only a
    request sending a validator goes through werkzeug's conditional handling (whose Date header
    the WSGI server sends anyway)."""
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        response.add_etag()
        environ = request.environ
        if any(name in environ for name in VALIDATORS):
            response.make_conditional(request)
    return response


def add_www_authenticate(response: Response) -> Response:
    """Say how to authenticate on every 401 (RFC 9110 requires WWW-Authenticate there)."""
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    return response


def add_ratelimit_headers(response: Response) -> Response:
    """RateLimit-Limit/-Remaining/-Reset (seconds) as in the IETF draft, beside the older
    X-RateLimit-* headers and Retry-After on 429 (cs_platform.errors)."""
    current = current_rate_limit()
    if current is not None:
        response.headers["RateLimit-Limit"] = str(current.amount)
        response.headers["RateLimit-Remaining"] = str(current.remaining)
        response.headers["RateLimit-Reset"] = str(max(0, int(current.reset_at - time.time())))
    return response


def query_args(blueprint: Blueprint, schema: type[Schema]) -> Callable:
    """Parse the query string with `schema` into keyword arguments; unknown parameters are a
    422, so a misspelt filter (updated_snce=...) never silently returns everything."""
    return blueprint.arguments(schema, location="query", as_kwargs=True, unknown=RAISE)


def api_key_identity() -> str:
    """The rate-limit bucket: one per API key, shared by every endpoint."""
    return f"api-key:{g.api_key_id}"


def rate_limited(view: Callable) -> Callable:
    """Count the call against its key's API_RATE_LIMIT (one bucket across every endpoint and
    process, on the limiter's storage); 429 once the window is spent."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        limit = current_app.config["API_RATE_LIMIT"]
        if not hit_rate_limit(limit, api_key_identity(), "api"):
            raise TooManyRequests(description=str(parsed_rate_limit(limit)))
        return view(*args, **kwargs)

    return wrapped


def guarded(blueprint: Blueprint, scope: str, *, not_found: bool = False) -> Callable:
    """Require a bearer API key with `scope`, count the call against the key's rate limit and
    document both (401, 403, 429, If-None-Match and 304 for reads; 404 when `not_found`); the
    view's name is the operationId, so name views as verbs (list_accounts, get_account)."""

    def decorator(view: Callable) -> Callable:
        documented = blueprint.doc(
            operationId=view.__name__,
            security=[{BEARER: []}],
            description=f"Needs an API key with the scope {scope}.",
        )(view)
        errors = {401: "Unauthorized", 403: "Forbidden", 429: "TooManyRequests"}
        if not_found:
            errors[404] = "NotFound"
        for status, component in errors.items():
            documented = blueprint.alt_response(status, response=component)(documented)
        if scope.startswith("read:"):
            documented._apidoc = {**deepcopy(documented._apidoc), CONDITIONAL: True}
        return api_key_required(scope)(rate_limited(documented))

    return decorator


def shown_to_key(record: Any, status: int, read_scope: str) -> tuple[Any, int] | Response:
    """The written record, for a key that may read it (`read_scope`); 204 for a write-only key."""
    if not key_has_scope(g.api_key, read_scope):
        return Response(status=204)
    return record, status
