"""Segment-style ingestion: POST /v1/track, /v1/identify, /v1/group, /v1/page, /v1/screen and
/v1/batch.

Authenticated like Segment's HTTP API: HTTP Basic with the source's write key as the username
(and an empty password), checked before any of the body is read; or `writeKey` in the body, read
only within the size limit. Bodies may be gzip- or deflate-encoded, as the Segment and
RudderStack SDKs send them; the limits hold for the body on the wire and once decoded. Errors
carry `code` and `message` at the top level too, where those SDKs read them. CSRF-exempt (no
cookies involved).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from cs_platform.extensions import csrf, db, limiter
from cs_platform.request_bodies import decoded_body
from cs_platform.request_metrics import count_ingested_events
from integrations.usage import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    IngestResult,
    ingest_events,
    source_for_write_key,
)

bp = Blueprint("ingest", __name__, url_prefix="/v1")
csrf.exempt(bp)


def ingest_error(status: int, code: str, message: str, details: Any = None):
    """The product's JSON error shape, with `code` and `message` also at the top level, where
    the Segment and RudderStack SDKs look for them."""
    body = {"code": code, "message": message}
    return jsonify(error={**body, "details": details or {}}, **body), status


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    code = "too_large" if error.code == 413 else (error.name or "error").lower().replace(" ", "_")
    return ingest_error(error.code or 500, code, error.description or "")


def body_limit() -> int:
    return MAX_BATCH_BYTES if request.path.endswith("/batch") else MAX_EVENT_BYTES


def basic_auth_key() -> str:
    auth = request.authorization
    return auth.username if auth is not None and auth.type == "basic" and auth.username else ""


def body_write_key() -> str:
    body = body_json(required=False)
    return str(body.get("writeKey", "")) if isinstance(body, dict) else ""


@bp.before_request
def authenticate():
    """Size first (from Content-Length, before reading), then the key; a Basic-auth key is
    checked without reading the body at all."""
    # The body is read through a stream cut one byte past the limit: a chunked body (no
    # Content-Length) that long is known to be too long (413), not silently truncated.
    request.max_content_length = body_limit() + 1
    if (request.content_length or 0) > body_limit():
        return ingest_error(413, "too_large", f"the body is larger than {body_limit() // 1024} KB")
    g.ingest_source = source_for_write_key(basic_auth_key() or body_write_key())
    if g.ingest_source is None:
        return ingest_error(401, "unauthorized", "unknown write key: send it as the Basic username")
    return None


def body_json(required: bool = True) -> Any:
    """The decoded JSON body (cached for the request); None when it is not JSON and not required."""
    if "ingest_body" not in g:
        try:
            g.ingest_body = current_app.json.loads(decoded_body(body_limit()))
        except ValueError as exc:  # invalid JSON or UTF-8, or nested too deep
            g.ingest_body = InvalidBodyError(f"the body is not valid JSON: {exc}")
    if isinstance(g.ingest_body, InvalidBodyError):
        if required:
            raise g.ingest_body
        return None
    return g.ingest_body


def body_object() -> dict:
    body = body_json()
    if not isinstance(body, dict):
        raise InvalidBodyError("the body must be a JSON object")
    return body


class InvalidBodyError(Exception):
    """The request body is not the JSON object the endpoint expects."""


@bp.errorhandler(InvalidBodyError)
def invalid_body(error: InvalidBodyError):
    return ingest_error(400, "invalid_json", str(error))


def answer(result: IngestResult):
    db.session.commit()
    count_ingested_events(g.ingest_source.name, result.accepted, len(result.rejected))
    if result.rejected:
        return ingest_error(
            400,
            "invalid_events",
            f"{len(result.rejected)} event(s) rejected; {result.accepted} accepted",
            {"accepted": result.accepted, "rejected": result.rejected},
        )
    return jsonify(success=True, accepted=result.accepted)


def ingest_limit() -> str:
    return current_app.config["INGEST_RATE_LIMIT"]


def rate_limit_key() -> str:
    """Per source (authentication has already run when route limits are checked)."""
    return f"ingest:{g.ingest_source.id}"


@bp.post("/track")
@bp.post("/identify")
@bp.post("/group")
@bp.post("/page")
@bp.post("/screen")
@limiter.limit(ingest_limit, key_func=rate_limit_key)
def single():
    """Record one event of the type the path names."""
    kind = request.path.rsplit("/", 1)[-1]
    return answer(ingest_events(g.ingest_source, [body_object()], kind))


@bp.post("/batch")
@limiter.limit(ingest_limit, key_func=rate_limit_key)
def batch():
    """Record a batch of events (`batch`: a list, each with its `type`)."""
    events = body_object().get("batch")
    if not isinstance(events, list):
        raise InvalidBodyError("batch must be a list of events")
    return answer(ingest_events(g.ingest_source, events))
