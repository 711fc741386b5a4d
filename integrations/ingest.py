"""Segment-style ingestion: POST /v1/track, /v1/identify, /v1/group and /v1/batch.

Authenticated like Segment's HTTP API: HTTP Basic with the source's write key as the username
(and an empty password), or `writeKey` in the body. CSRF-exempt (no cookies involved).
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest

from cs_platform.errors import json_error
from cs_platform.extensions import csrf, db, limiter
from integrations.usage import (
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    IngestResult,
    ingest_events,
    source_for_write_key,
)

bp = Blueprint("ingest", __name__, url_prefix="/v1")
csrf.exempt(bp)


def write_key() -> str:
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.username:
        return auth.username
    body = request.get_json(silent=True)
    return str(body.get("writeKey", "")) if isinstance(body, dict) else ""


def rate_limit_key() -> str:
    return f"ingest:{write_key() or request.remote_addr}"


@bp.before_request
def authenticate():
    limit = MAX_BATCH_BYTES if request.path.endswith("/batch") else MAX_EVENT_BYTES
    if (request.content_length or 0) > limit:
        return json_error(400, "too_large", f"request body is larger than {limit // 1024} KB")
    g.ingest_source = source_for_write_key(write_key())
    if g.ingest_source is None:
        return json_error(401, "unauthorized", "unknown write key: send it as the Basic username")
    return None


def body_json() -> dict:
    try:
        body = request.get_json(force=True)
    except BadRequest:
        body = None
    if not isinstance(body, dict):
        raise InvalidBodyError("the body must be a JSON object")
    return body


class InvalidBodyError(Exception):
    """The request body is not the JSON object the endpoint expects."""


@bp.errorhandler(InvalidBodyError)
def invalid_body(error: InvalidBodyError):
    return json_error(400, "invalid_json", str(error))


def answer(result: IngestResult):
    db.session.commit()
    if result.rejected:
        return json_error(
            400,
            "invalid_events",
            f"{len(result.rejected)} event(s) rejected; {result.accepted} accepted",
            {"accepted": result.accepted, "rejected": result.rejected},
        )
    return jsonify(success=True, accepted=result.accepted)


def ingest_limit() -> str:
    return current_app.config["INGEST_RATE_LIMIT"]


@bp.post("/track")
@bp.post("/identify")
@bp.post("/group")
@bp.post("/page")
@bp.post("/screen")
@limiter.limit(ingest_limit, key_func=rate_limit_key)
def single():
    """Record one event of the type the path names."""
    kind = request.path.rsplit("/", 1)[-1]
    return answer(ingest_events(g.ingest_source, [body_json()], kind))


@bp.post("/batch")
@limiter.limit(ingest_limit, key_func=rate_limit_key)
def batch():
    """Record a batch of events (`batch`: a list, each with its `type`)."""
    events = body_json().get("batch")
    if not isinstance(events, list):
        raise InvalidBodyError("batch must be a list of events")
    return answer(ingest_events(g.ingest_source, events))
