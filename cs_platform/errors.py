"""Error responses: JSON under /api and for JSON clients, readable pages elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException


def json_error(status: int, code: str, message: str, details: Any = None) -> tuple[Response, int]:
    """The one JSON error shape of the product: {"error": {"code", "message", "details"}}."""
    return jsonify(error={"code": code, "message": message, "details": details or {}}), status


def wants_json() -> bool:
    """API paths and clients that prefer JSON get JSON errors."""
    if request.path.startswith(("/api/", "/v1/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def refuse_nul_in_form_fields() -> None:
    """No database column can hold a NUL character (PostgreSQL refuses it outright), so a form
    that carries one is answered 400 before any view tries to store it."""
    if request.form and any("\x00" in value for _, value in request.form.items(multi=True)):
        abort(400, "Text fields must not contain NUL characters.")


def register_error_handlers(app: Flask) -> None:
    """Render every HTTP error as JSON or as a page, never as a bare stack trace."""
    app.before_request(refuse_nul_in_form_fields)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if wants_json():
            code = (error.name or "error").lower().replace(" ", "_")
            details = getattr(error, "data", {}).get("messages") if hasattr(error, "data") else None
            response, status = json_error(error.code or 500, code, error.description or "", details)
            if error.code == 429 and error.response is not None:
                response.headers.extend(error.response.headers)
            return response, status
        return render_template("errors/error.html", error=error), error.code
