"""A real HTTP server on 127.0.0.1 around a werkzeug app, with injectable faults."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    stall_seconds: float = 0.0  # sleep before answering (a client timeout)


@dataclass
class FakeVendor:
    """Base of a vendor fake: `handle(request)` answers; faults queued with `inject` come first."""

    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    rate_limit_every: int = 0  # every Nth data request gets the vendor's 429 (0: never)
    served: int = 0
    url: str = ""
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, status: int, times: int = 1, **kwargs: Any) -> None:
        self.faults.extend(Fault(status, **kwargs) for _ in range(times))

    def rate_limited(self) -> Response:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        with self._lock:
            self.requests.append(request)
            fault = self.faults.pop(0) if self.faults else None
            self.served += 1
            limited = self.rate_limit_every and self.served % self.rate_limit_every == 0
        if fault is not None:
            time.sleep(fault.stall_seconds)
            body = fault.body or {"error": "injected"}
            response = json_response(body, fault.status, fault.headers)
        elif limited:
            response = self.rate_limited()
        else:
            response = self.handle(request)
        return response(environ, start_response)

    def start(self) -> str:
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
