"""Account emails (the password reset) reach a real SMTP server intact: CRLF line ends, as
SMTP wants them, and a reset link that opens the reset page."""

from __future__ import annotations

import re

from tests.cs_platform.alerts.conftest import run_outbox
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for


def test_a_password_reset_email_arrives_over_smtp_with_a_working_link(app, client, make_user):
    user = make_user("csm")
    with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
        client.post("/login/forgot", data={"email": user.email})
        run_outbox()
        [message] = server.sink.messages
    assert message["To"] == user.email
    text = message.get_body(("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/login/reset/\S+", text)
    path = link.split("://", 1)[1].split("/", 1)[1]
    assert client.get(f"/{path}").status_code == 200
