"""Behind TRUSTED_PROXY_HOPS reverse proxies the client's own address and scheme count (rate
limits, audit log, URLs); with none trusted, a forged X-Forwarded-For changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, request_started, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from cs_platform import trust_proxies
from cs_platform.config import ConfigError, load_config
from tests.conftest import audit_trail
from tests.factories import CampaignFactory, ContactFactory
from tests.surveys.helpers import invite, token_of

BALANCER = {"REMOTE_ADDR": "10.0.0.2"}
# What a TLS-terminating balancer adds to a request it passes on over plain HTTP.
FROM_HTTPS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "cs.example.com",
    "X-Forwarded-Port": "443",
}


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


def external_sign_in_url(app: Flask, client, headers: dict[str, str]) -> str:
    """The sign-in page's external URL as the app builds it while serving a request that came
    through the balancer with `headers`."""
    built = []

    def build(sender: Flask, **extra) -> None:
        built.append(url_for("auth.login", _external=True))

    with request_started.connected_to(build, app):
        client.get("/healthz", headers=headers, environ_base=BALANCER)
    return built[0]


def test_urls_carry_the_scheme_and_host_the_client_used_behind_the_proxy(proxied, client):
    assert external_sign_in_url(proxied, client, FROM_HTTPS) == "https://cs.example.com/login"


def test_without_trusted_proxies_forged_scheme_and_host_are_ignored(app, client):
    assert external_sign_in_url(app, client, FROM_HTTPS) == "http://localhost/login"


def test_the_number_of_hops_is_read_from_the_environment_as_a_whole_number(tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "2")
    assert load_config(tmp_path)["TRUSTED_PROXY_HOPS"] == 2
    monkeypatch.setenv("TRUSTED_PROXY_HOPS", "one")
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS='one' is not an integer"):
        load_config(tmp_path)


def test_a_negative_number_of_proxy_hops_stops_start_up(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRUSTED_PROXY_HOPS", -1)
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS=-1"):
        trust_proxies(app)


def test_no_forwarded_header_is_read_by_default(app):
    assert not isinstance(app.wsgi_app, ProxyFix)
