"""Survey fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1, plain or over TLS with a
certificate made for the test session (see tests.surveys.smtp)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from tests.surveys.smtp import Certificate, SmtpServer, SmtpSink, make_certificate, smtp_server_for


@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpServer]:
    """A plain aiosmtpd server; the app sends to it over SMTP for the duration of the test."""
    with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
        yield server


@pytest.fixture
def smtp_sink(smtp_server: SmtpServer) -> SmtpSink:
    return smtp_server.sink


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trusted_certificate(certificate: Certificate, monkeypatch) -> Certificate:
    """The test certificate as the only CA the app trusts, through OpenSSL's SSL_CERT_FILE,
    the way an operator points it at a private CA; the app's TLS code is left as it is."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))
    return certificate
