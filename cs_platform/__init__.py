"""The application factory: read it as the table of contents of the product."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_login import current_user
from werkzeug.datastructures import Headers
from werkzeug.middleware.proxy_fix import ProxyFix

from cs_platform.config import ConfigError, check_database, check_outbox_timing, load_config
from cs_platform.errors import register_error_handlers
from cs_platform.extensions import csrf, db, init_limiter, login_manager, migrate
from cs_platform.logging_setup import configure_logging
from cs_platform.request_args import BoundedRequest, DatabaseIdConverter
from cs_platform.request_bodies import BoundedJSONProvider

if TYPE_CHECKING:
    from cs_platform.domain import Domain

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_app(overrides: dict[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the app: configuration, extensions, every domain's pieces, and the scheduler."""
    app = App(__name__, instance_path=instance_path or os.environ.get("INSTANCE_PATH"))
    app.session_interface = LazySessionInterface()
    bound_input(app)
    app.config.update(load_config(Path(app.instance_path)))
    app.config.update(overrides or {})
    configure_logging(app)
    trust_proxies(app)
    check_outbox_timing(app.config)
    check_database(app.config["SQLALCHEMY_DATABASE_URI"])

    init_extensions(app)

    from cs_platform.domain import install_domains
    from cs_platform.scheduler import start_scheduler_if_enabled

    install_domains(app, product_domains())
    register_error_handlers(app)
    register_response_headers(app)

    start_scheduler_if_enabled(app)
    return app


class App(Flask):
    """Flask, asking once per view or hook whether it is a coroutine function: a request runs
    some twenty hooks, and Flask would inspect each of them again on every request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync_callables: dict[Callable, Callable] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        sync = self.sync_callables.get(func)
        if sync is None:
            sync = self.sync_callables[func] = super().ensure_sync(func)
        return sync


class LazySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session; a request without the cookie (an API call) gets an empty
    one without building the signing serializer."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """An empty session nobody changed writes no cookie: only Vary, as Flask would."""
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:
            response.vary.add("Cookie")


def bound_input(app: Flask) -> None:
    """What every request may bring: JSON of bounded depth, query values and path ids that fit
    the database (sizes: MAX_CONTENT_LENGTH)."""
    app.json = BoundedJSONProvider(app)
    app.request_class = BoundedRequest
    app.url_map.converters["int"] = DatabaseIdConverter


def trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXY_HOPS reverse proxies, the client's address, scheme and host come from
    their X-Forwarded-* headers: rate limits, the audit log and external URLs see the client."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops < 0:
        raise ConfigError(f"TRUSTED_PROXY_HOPS={hops}: use 0 without a proxy, else their number")
    if hops:
        # Flask's documented way to add WSGI middleware; mypy only sees a method being replaced.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def product_domains() -> tuple[Domain, ...]:
    """The product, package by package: each wiring module lists its tables, pages, commands,
    jobs and outbox handlers (imported here, once the configuration is loaded)."""
    from cs_platform.wiring import AREAS
    from integrations.wiring import DOMAIN as INTEGRATIONS
    from scoring.wiring import DOMAIN as SCORING
    from surveys.wiring import DOMAIN as SURVEYS

    return (*AREAS, SURVEYS, INTEGRATIONS, SCORING)


def init_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(MIGRATIONS_DIR),
        render_as_batch=True,
        include_object=include_in_migrations,
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    init_limiter(app)


def include_in_migrations(obj, name: str, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic manages every table but APScheduler's job store, which APScheduler creates."""
    from cs_platform.scheduler import JOB_TABLE

    return not (type_ == "table" and name == JOB_TABLE)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


HSTS = "max-age=31536000; includeSubDomains"
# Headers every answer carries unless its view set them (name lowered, name, value).
SECURITY_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
    )
)


def register_response_headers(app: Flask) -> None:
    """A request id for the logs (the caller's X-Request-ID or a new one) and security headers:
    no caching of signed-in pages, HSTS once cookies are HTTPS-only."""

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = (
            incoming[:64] if incoming.isprintable() and incoming else secrets.token_hex(8)
        )

    @app.after_request
    def add_response_headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        add_missing(response.headers, SECURITY_HEADERS)
        # Customer data, and secrets shown once: never cached. Without a cookie (API calls) no
        # one is signed in, and the user is not loaded.
        if request.cookies and current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Pragma", "no-cache")  # HTTP/1.0 caches
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def add_missing(headers: Headers, defaults: tuple[tuple[str, str, str], ...]) -> None:
    """Add each (lowered name, name, value) of `defaults` whose name `headers` lacks, looking
    through `headers` once (each setdefault would look twice)."""
    present = {name.lower() for name, _ in headers}
    headers.extend([(name, value) for lowered, name, value in defaults if lowered not in present])
