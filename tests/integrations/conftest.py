"""Integration fixtures: vendor fakes served over real HTTP on 127.0.0.1, and connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cs_platform.extensions import db
from integrations.models import Connection
from integrations.services import save_connection
from tests.integrations.fakes.freshdesk import FakeFreshdesk
from tests.integrations.fakes.hubspot import FakeHubSpot
from tests.integrations.fakes.salesforce import FakeSalesforce
from tests.integrations.fakes.zendesk import FakeZendesk


class SleepRecorder:
    """Stands in for time.sleep in the HTTP client: records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(autouse=True)
def vendor_fakes_allowed(request, monkeypatch) -> None:
    """The fakes serve on 127.0.0.1, which an operator allows as an on-premises host would be;
    `localhost` stays refused, so tests can play a foreign host with it."""
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        monkeypatch.setitem(app.config, "INTEGRATIONS_ALLOWED_HOSTS", ["127.0.0.1"])
        monkeypatch.setitem(app.config, "INTEGRATIONS_ALLOW_PRIVATE_HOSTS", True)


@pytest.fixture
def no_sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    fake = FakeZendesk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def make_connection(app) -> Callable[..., Connection]:
    """Create and commit a connection with encrypted credentials."""

    def make(kind: str, base_url: str, credentials: dict[str, Any], **fields: Any) -> Connection:
        connection = save_connection(
            None,
            name=fields.pop("name", f"{kind}-main"),
            kind=kind,
            base_url=base_url,
            credentials=credentials,
            **fields,
        )
        db.session.commit()
        return connection

    return make


@pytest.fixture
def zendesk_connection(zendesk: FakeZendesk, make_connection) -> Connection:
    return make_connection(
        "zendesk", zendesk.url, {"email": zendesk.email, "api_token": zendesk.api_token}
    )


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def hubspot_connection(hubspot: FakeHubSpot, make_connection) -> Connection:
    return make_connection("hubspot", hubspot.url, {"access_token": hubspot.token})


@pytest.fixture
def freshdesk() -> Iterator[FakeFreshdesk]:
    fake = FakeFreshdesk()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def freshdesk_connection(freshdesk: FakeFreshdesk, make_connection) -> Connection:
    return make_connection("freshdesk", freshdesk.url, {"api_key": freshdesk.api_key})


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    fake = FakeSalesforce()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def salesforce_connection(salesforce: FakeSalesforce, make_connection) -> Connection:
    credentials = {"client_id": salesforce.client_id, "client_secret": salesforce.client_secret}
    return make_connection("salesforce", salesforce.url, credentials)
