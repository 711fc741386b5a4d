"""Error responses: JSON under /api and for JSON clients, readable pages elsewhere."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from cs_platform.extensions import current_rate_limit


def json_error(status: int, code: str, message: str, details: Any = None) -> tuple[Response, int]:
    """The one JSON error shape of the product: {"error": {"code", "message", "details"}}."""
    return jsonify(error={"code": code, "message": message, "details": details or {}}), status


def wants_json() -> bool:
    """API paths and clients that prefer JSON get JSON errors."""
    if request.path.startswith(("/api/", "/v1/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_nul_in_form_fields() -> None:
    """No database column can hold a NUL character (PostgreSQL refuses it outright), so a form
    that carries one is answered 400 before any view tries to store it."""
    if request.mimetype not in FORM_TYPES:
        return  # not a form: request.form would be empty, after looking
    if request.form and any("\x00" in value for _, value in request.form.items(multi=True)):
        abort(400, "Text fields must not contain NUL characters.")


def add_rate_limit_headers(response: Response) -> Response:
    """X-RateLimit-Limit, -Remaining and -Reset (epoch seconds) on every rate-limited answer, and
    Retry-After (seconds) only on a 429: RFC 9110 gives it to 429 and 503, and Flask-Limiter's
    own headers (RATELIMIT_HEADERS_ENABLED) would put it on every answer."""
    current = current_rate_limit()
    if current is None:
        return response
    response.headers["X-RateLimit-Limit"] = str(current.amount)
    response.headers["X-RateLimit-Remaining"] = str(current.remaining)
    response.headers["X-RateLimit-Reset"] = str(int(current.reset_at))
    if response.status_code == 429:
        response.headers["Retry-After"] = str(max(1, math.ceil(current.reset_at - time.time())))
    return response


def error_headers(error: HTTPException) -> list[tuple[str, str]]:
    """The headers an error carries besides its body: Allow on a 405, WWW-Authenticate on a
    401, Retry-After on a 503 that names one."""
    return [(name, value) for name, value in error.get_headers() if name != "Content-Type"]


def register_error_handlers(app: Flask) -> None:
    """Render every HTTP error as JSON or as a page, never as a bare stack trace."""
    app.before_request(refuse_nul_in_form_fields)
    app.after_request(add_rate_limit_headers)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            details = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
            response, status = json_error(error.code or 500, code, error.description or "", details)
            response.headers.extend(error_headers(error))
            if error.code == 429 and error.response is not None:
                response.headers.extend(error.response.headers)
            return response, status
        return render_template("errors/error.html", error=error), error.code, error_headers(error)
