"""The SMTP transport against a real server (aiosmtpd): STARTTLS and implicit TLS with a
certificate made for the test, LOGIN and PLAIN logins checked by the server, a refused login,
an untrusted certificate, one session for a batch, the configured rate and idle reconnects."""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.outbox import OutboxMessage, enqueue
from tests.factories import CampaignFactory, ContactFactory
from tests.surveys.helpers import deliver_all, invite
from tests.surveys.smtp import MECHANISMS, Certificate, SmtpServer, SmtpSink, smtp_server_for

# aiosmtpd 1.4.6 itself sets the deprecated Session.login_data on every accepted login.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Session.login_data is deprecated:DeprecationWarning"
)

LOGIN = "surveys@cs-platform.example"
PASSWORD = "Tr0ub4dor&3-smtp"
WRONG_PASSWORD = "hunter2-not-it"


@pytest.fixture
def secure_smtp(app, trusted_certificate: Certificate) -> Iterator[Callable[..., SmtpServer]]:
    """Starts TLS servers that accept LOGIN/PASSWORD only; the app logs in with `password`."""
    with contextlib.ExitStack() as stack:

        def start(
            security: str = "starttls",
            mechanisms: tuple[str, ...] = MECHANISMS,
            password: str = PASSWORD,
        ) -> SmtpServer:
            sink = SmtpSink(accounts={LOGIN: PASSWORD})
            server = SmtpServer(sink, security, trusted_certificate, mechanisms)
            config = {"SMTP_USERNAME": LOGIN, "SMTP_PASSWORD": password}
            return stack.enter_context(smtp_server_for(app, server, **config))

        yield start


def queue_test_email(number: int) -> None:
    """A colleague's test email of a campaign, queued as the admin page does."""
    campaign = CampaignFactory()
    payload = {"template": "test", "campaign_id": campaign.id, "to": "me@example.com", "name": "Me"}
    enqueue("email", payload, f"test:{number}")
    db.session.commit()


def last_error() -> str:
    return db.session.scalar(select(OutboxMessage.last_error))


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_invitations_go_over_tls_once_the_server_has_checked_the_login(
    app, secure_smtp, security, mechanism
):
    server = secure_smtp(security, mechanisms=(mechanism,))
    ContactFactory(email="ana@example.com", name="Ana Lima")
    [invitation] = invite(CampaignFactory())
    assert deliver_all() == {"sent": 1}
    [received] = server.sink.received
    assert received.message["Message-ID"] == f"<survey-{invitation.id}-0@cs-platform.localhost>"
    assert received.message["To"] == "Ana Lima <ana@example.com>"
    assert received.tls_version in ("TLSv1.2", "TLSv1.3")
    assert received.login == LOGIN
    assert server.sink.logins == [(mechanism, LOGIN, True)]


def test_a_wrong_smtp_password_is_retried_until_dead_and_no_error_shows_the_password(
    app, secure_smtp, caplog
):
    caplog.set_level(logging.DEBUG)
    server = secure_smtp(password=WRONG_PASSWORD)
    ContactFactory()
    invite(CampaignFactory())
    outcomes = [deliver_all()]
    while outcomes[-1] == {"pending": 1} and len(outcomes) < 10:
        outcomes.append(deliver_all())
    assert outcomes[0] == {"pending": 1}  # transient: fixing the setting lets the mail go out
    assert outcomes[-1] == {"dead": 1}
    assert last_error() == (
        f"SMTP 127.0.0.1:{server.port} refused the login of '{LOGIN}' "
        "(SMTP 535: 5.7.8 Authentication credentials invalid): "
        "check SMTP_USERNAME and SMTP_PASSWORD"
    )
    assert server.sink.messages == []
    assert {(login, ok) for _, login, ok in server.sink.logins} == {(LOGIN, False)}
    ours = [record for record in caplog.records if not record.name.startswith("mail.log")]
    assert "outbox message dead" in [record.getMessage() for record in ours]
    secrets = {
        WRONG_PASSWORD,
        base64.b64encode(WRONG_PASSWORD.encode()).decode(),  # as AUTH LOGIN sends it
        base64.b64encode(f"\0{LOGIN}\0{WRONG_PASSWORD}".encode()).decode(),  # AUTH PLAIN
    }
    assert [record for record in ours if any(s in str(vars(record)) for s in secrets)] == []


def test_a_server_whose_certificate_is_not_trusted_gets_no_mail(app, certificate):
    server = SmtpServer(SmtpSink(), "starttls", certificate)
    with smtp_server_for(app, server):
        ContactFactory()
        invite(CampaignFactory())
        assert deliver_all() == {"pending": 1}
    assert "CERTIFICATE_VERIFY_FAILED" in last_error()
    assert server.sink.messages == []


def test_a_batch_goes_over_one_smtp_session_with_one_login(app, secure_smtp):
    server = secure_smtp("starttls")
    ContactFactory.create_batch(4)
    invite(CampaignFactory())
    assert deliver_all() == {"sent": 4}
    sink = server.sink
    assert len(sink.messages) == 4
    assert sink.sessions == 1
    assert len(sink.ehlo_peers) == 2  # before STARTTLS and again after it, as RFC 3207 asks
    assert [ok for _, _, ok in sink.logins] == [True]


def test_the_configured_rate_spaces_the_messages_out(app):
    server = SmtpServer(SmtpSink())
    with smtp_server_for(app, server, SMTP_RATE_PER_SECOND=10):
        ContactFactory.create_batch(3)
        invite(CampaignFactory())
        assert deliver_all() == {"sent": 3}
    arrivals = [item.at for item in server.sink.received]
    assert min(later - earlier for earlier, later in itertools.pairwise(arrivals)) >= 0.1
    assert server.sink.sessions == 1


def test_a_connection_the_server_dropped_while_idle_is_reopened_without_a_failure(app):
    server = SmtpServer(SmtpSink(), idle_timeout=0.5)
    with smtp_server_for(app, server):
        queue_test_email(1)
        assert deliver_all() == {"sent": 1}
        time.sleep(1.2)  # the server hangs up on the idle session
        queue_test_email(2)
        assert deliver_all() == {"sent": 1}
    assert len(server.sink.messages) == 2
    assert server.sink.sessions == 2


class ClearTextAuthServer(SmtpServer):
    """A plain-text server that would take a login in the clear (aiosmtpd refuses by default)."""

    def _auth_options(self) -> dict:
        return {**super()._auth_options(), "auth_require_tls": False}


@pytest.fixture
def clear_text_smtp(app) -> Iterator[Callable[..., SmtpServer]]:
    with contextlib.ExitStack() as stack:

        def start(**config) -> SmtpServer:
            server = ClearTextAuthServer(SmtpSink(accounts={LOGIN: PASSWORD}), "plain")
            credentials = {"SMTP_USERNAME": LOGIN, "SMTP_PASSWORD": PASSWORD}
            return stack.enter_context(smtp_server_for(app, server, **credentials, **config))

        yield start


def test_a_login_is_never_sent_over_a_plain_connection_by_default(clear_text_smtp):
    server = clear_text_smtp()
    queue_test_email(1)

    assert deliver_all() == {"pending": 1}  # kept: fixing the setting sends it
    assert server.sink.logins == []
    assert server.sink.messages == []
    assert "SMTP_SECURITY=plain would send" in last_error()


def test_a_plain_login_goes_through_when_explicitly_allowed(clear_text_smtp):
    server = clear_text_smtp(SMTP_ALLOW_PLAIN_AUTH=True)
    queue_test_email(1)

    assert deliver_all() == {"sent": 1}
    assert [(login, ok) for _, login, ok in server.sink.logins] == [(LOGIN, True)]
