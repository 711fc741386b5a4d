"""The REST API for RevOps under /api/v1: flask-smorest blueprints described by an OpenAPI
document at /api/v1/openapi.json and a readable page at /api/v1/docs (see docs/api.md)."""

from __future__ import annotations

from flask import Flask


def init_api(app: Flask) -> None:
    """Register the API blueprints, the OpenAPI document, its docs page and the key admin."""
    from cs_platform.api import (
        accounts,
        contacts,
        docs,
        events,
        scores,
        surveys,
        tasks,
        traits,
        webhooks,
    )
    from cs_platform.api.core import make_api

    api = make_api(app)
    for module in (accounts, traits, contacts, scores, surveys, tasks, events, webhooks):
        api.register_blueprint(module.bp)
    app.register_blueprint(docs.bp)
