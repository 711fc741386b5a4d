"""A WSGI app served on 127.0.0.1 in a thread, for tests that need a real HTTP receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypeVar

from werkzeug.serving import make_server

App = TypeVar("App", bound=Any)


def serve(app: App, path: str) -> Iterator[App]:
    """Serve `app` on a free port, set its `url` to `path` there, yield it, then stop."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_port}{path}"
    yield app
    server.shutdown()
    thread.join(timeout=5)
