"""API fixtures: a key maker that returns Authorization headers, and the app served over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cs_platform.auth.services import create_api_key
from cs_platform.extensions import db


@pytest.fixture
def auth_headers(app) -> Callable[..., dict[str, str]]:
    """Create a committed API key with `scopes` and return its bearer header."""

    def make(*scopes: str) -> dict[str, str]:
        _, plaintext = create_api_key("test client", list(scopes) or ["admin"])
        db.session.commit()
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture(scope="session")
def live_api(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
