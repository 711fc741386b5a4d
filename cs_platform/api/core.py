"""What every API endpoint shares: the Api object, the error shape, the blueprint factory and the
`guarded` decorator (API key and scope, per-key rate limit, documented security and errors)."""

from __future__ import annotations

import time
from collections.abc import Callable
from copy import deepcopy
from http import HTTPStatus
from typing import Any

from flask import Flask, Request, Response, current_app, g, request
from flask_smorest import Api, Blueprint, abort
from marshmallow import RAISE, Schema, fields, missing
from webargs.flaskparser import FlaskParser, is_json_request

from cs_platform.auth.decorators import api_key_required
from cs_platform.extensions import csrf, limiter
from cs_platform.request_bodies import JSONTooDeepError, loads_bounded

PREFIX = "/api/v1"
BEARER = "bearerAuth"
# Marks a view's doc info: a read answering If-None-Match with 304 (see add_etag).
CONDITIONAL = "conditional_read"


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "not_found"})
    message = fields.String(required=True)
    details = fields.Dict(
        required=True,
        metadata={"description": "For 422: the offending fields by location, e.g. query.limit."},
    )


class ErrorSchema(Schema):
    """Every error answer: {"error": {"code", "message", "details"}}."""

    error = fields.Nested(ErrorBodySchema, required=True)


class CsApi(Api):
    """flask-smorest's Api documenting our error shape; the app's own handler renders errors."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        """Leave HTTP errors to cs_platform.errors, which answers {"error": {...}} under /api/."""


def make_api(app: Flask) -> CsApi:
    """A fresh Api bound to `app` (one per app, so several apps in one process stay apart)."""
    app.config.setdefault("API_TITLE", "CS Platform API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = CsApi(
        app,
        spec_kwargs={
            "info": {"description": "Health scores, churn risk, surveys and tasks for RevOps."},
            "servers": [{"url": "/"}],
        },
    )
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "description": "An API key (csk_...)."}
    )
    return api


class BoundedJSONParser(FlaskParser):
    """webargs' parser reading JSON bodies with the app's depth limit (webargs calls json.loads
    itself, so a deeply nested body would otherwise end in a RecursionError)."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return missing
        try:
            return loads_bounded(req.get_data(cache=True))
        except JSONTooDeepError as exc:
            abort(400, exc=exc, messages={"json": [str(exc)]})


class ApiBlueprint(Blueprint):
    """A smorest blueprint that documents If-None-Match and 304 on the reads `guarded` marks,
    and parses bodies with the depth limit."""

    ARGUMENTS_PARSER = BoundedJSONParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_conditional_doc)

    @staticmethod
    def _prepare_conditional_doc(doc: dict, doc_info: dict, *, method: str, **_: Any) -> dict:
        if doc_info.get(CONDITIONAL) and method == "get":
            doc.setdefault("parameters", []).append("IF_NONE_MATCH")
            doc.setdefault("responses", {})[304] = HTTPStatus.NOT_MODIFIED.name
        return doc


def api_blueprint(name: str, import_name: str, description: str) -> ApiBlueprint:
    """A blueprint under /api/v1 with CSRF off (bearer keys, no cookies), ETags and IETF
    RateLimit headers on every answer."""
    blueprint = ApiBlueprint(name, import_name, url_prefix=PREFIX, description=description)
    csrf.exempt(blueprint)
    blueprint.after_request(add_etag)
    blueprint.after_request(add_ratelimit_headers)
    return blueprint


def add_etag(response: Response) -> Response:
    """A strong ETag over the body of every successful read; If-None-Match gives 304."""
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


def add_ratelimit_headers(response: Response) -> Response:
    """RateLimit-Limit/-Remaining/-Reset (seconds) as in the IETF draft, beside Flask-Limiter's
    X-RateLimit-* headers and its Retry-After on 429."""
    current = limiter.current_limit
    if current is not None:
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
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


def api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def guarded(blueprint: Blueprint, scope: str, *, not_found: bool = False) -> Callable:
    """Require a bearer API key with `scope`, count the call against the key's rate limit and
    document both (401, 403, 429, If-None-Match and 304 for reads; 404 when `not_found`)."""

    def decorator(view: Callable) -> Callable:
        documented = blueprint.doc(
            security=[{BEARER: []}], description=f"Needs an API key with the scope {scope}."
        )(view)
        errors: list[tuple[int, str]] = [
            (401, "Missing, unknown or revoked API key."),
            (403, f"The API key lacks the scope {scope}."),
            (429, "Rate limit of the API key exceeded; see Retry-After."),
        ]
        if not_found:
            errors.append((404, "No such record."))
        for status, description in errors:
            documented = blueprint.alt_response(
                status, schema=ErrorSchema, description=description
            )(documented)
        if scope.startswith("read:"):
            documented._apidoc = {**deepcopy(documented._apidoc), CONDITIONAL: True}
        limited = limiter.shared_limit(api_rate_limit, scope="api", key_func=api_key_identity)(
            documented
        )
        return api_key_required(scope)(limited)

    return decorator
