"""Behind TRUSTED_PROXY_HOPS reverse proxies the client's own address and scheme count (rate
limits, audit log, URLs); with none trusted, a forged X-Forwarded-For changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from cs_platform import trust_proxies
from tests.conftest import audit_trail
from tests.factories import CampaignFactory, ContactFactory
from tests.surveys.helpers import invite, token_of

BALANCER = {"REMOTE_ADDR": "10.0.0.2"}


@pytest.fixture
def proxied(app: Flask, monkeypatch) -> Iterator[Flask]:
    """The app as configured with TRUSTED_PROXY_HOPS=1 (one load balancer in front)."""
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_HOPS", 1)
    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app)
    trust_proxies(app)
    yield app


@pytest.fixture
def survey_page(app, monkeypatch) -> str:
    monkeypatch.setitem(app.config, "SURVEY_PAGE_RATE_LIMIT", "2 per minute")
    ContactFactory()
    [invitation] = invite(CampaignFactory())
    return f"/s/{token_of(invitation)}"


def visits(client, path: str, client_address: str) -> list[int]:
    headers = {"X-Forwarded-For": client_address}
    return [client.get(path, headers=headers, environ_base=BALANCER).status_code for _ in range(3)]


def test_respondents_behind_one_balancer_get_their_own_rate_limits(proxied, client, survey_page):
    assert visits(client, survey_page, "203.0.113.1") == [200, 200, 429]
    assert visits(client, survey_page, "203.0.113.2") == [200, 200, 429]


def test_without_trusted_proxies_a_forged_forwarded_address_escapes_nothing(client, survey_page):
    assert visits(client, survey_page, "203.0.113.1") == [200, 200, 429]
    assert visits(client, survey_page, "203.0.113.2") == [429, 429, 429]


def test_the_audit_log_records_the_client_behind_the_proxy(proxied, client, make_user):
    user = make_user("csm")
    client.post(
        "/login",
        data={"email": user.email, "password": "a wrong password"},
        headers={"X-Forwarded-For": "198.51.100.7"},
        environ_base=BALANCER,
    )

    [entry] = audit_trail(sign_ins=True)
    assert entry.remote_addr == "198.51.100.7"


def test_scheme_host_and_port_are_taken_from_the_same_trusted_hops(proxied):
    fix = proxied.wsgi_app

    assert isinstance(fix, ProxyFix)
    assert (fix.x_for, fix.x_proto, fix.x_host, fix.x_port) == (1, 1, 1, 1)


def test_no_forwarded_header_is_read_by_default(app):
    assert not isinstance(app.wsgi_app, ProxyFix)
