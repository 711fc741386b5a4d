"""Survey emails: rendering, headers, locales, and real delivery over SMTP (aiosmtpd)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import event, select

from cs_platform.extensions import db
from cs_platform.mail import CRLF, header_line
from cs_platform.models import Contact, utcnow
from cs_platform.outbox import OutboxMessage, enqueue
from surveys.emails import invitation_email
from surveys.models import Invitation, SurveyResponse
from tests.factories import CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import deliver_all, invite, opt_out_of, token_of


def received(invitation: Invitation, number: int) -> EmailMessage:
    """The invitation's email as the recipient's mail client reads it."""
    return invitation_email(invitation, number).message()


def score_urls(email) -> list[str]:
    html = email.get_body(("html",)).get_content()
    return re.findall(r'href="(http[^"]+/s/[A-Za-z0-9_-]{22}/\d+)"', html)


@pytest.mark.parametrize(("kind", "points"), [("nps", 11), ("csat", 5), ("ces", 7)])
def test_the_email_shows_one_link_per_point_of_the_scale(app, kind, points):
    ContactFactory()
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(kind=kind, texts={})))
    email = received(invitation, 0)
    urls = score_urls(email)
    assert len(urls) == points
    assert urls[0].endswith(f"/s/{token_of(invitation)}/{0 if kind == 'nps' else 1}")
    text = email.get_body(("plain",)).get_content()
    assert all(url in text for url in urls)


def test_the_email_carries_one_click_unsubscribe_headers_and_a_stable_message_id(app):
    ContactFactory(email="ana@example.com", name="Ana Lima")
    [invitation] = invite(CampaignFactory())
    first, again = received(invitation, 0), received(invitation, 0)
    assert (
        first["Message-ID"]
        == again["Message-ID"]
        == f"<survey-{invitation.id}-0@cs-platform.localhost>"
    )
    assert received(invitation, 1)["Message-ID"] != first["Message-ID"]
    lasting = f"http://127.0.0.1:5000/unsubscribe/{opt_out_of(invitation)}"
    assert first["List-Unsubscribe"].strip() == f"<{lasting}>"  # folded: it outgrows a line
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first["To"] == "Ana Lima <ana@example.com>"
    html = first.get_body(("html",)).get_content()
    assert "<table" in html and "<img" not in html and "Hi Ana," in html


def test_a_german_contact_gets_german_text_and_a_french_survey_text_overrides(app):
    ContactFactory(locale="de")
    ContactFactory(locale="fr-CA")
    ContactFactory(locale="pt")
    survey = SurveyFactory(
        texts={"fr": {"question": "Recommanderiez-vous {product} ?"}}, product_name="Acme"
    )
    german, french, portuguese = invite(CampaignFactory(survey=survey))
    assert "Wie wahrscheinlich" in received(german, 0).get_body(("plain",)).get_content()
    assert received(german, 1)["Subject"] == "Erinnerung: zwei Klicks zu Acme"
    assert "Recommanderiez-vous Acme ?" in received(french, 0).get_body(("plain",)).get_content()
    assert received(portuguese, 0)["Subject"] == "Quick question about Acme"


@pytest.mark.parametrize(
    ("locale", "closing", "signature"),
    [
        ("en", "Thank you,", "The Acme team"),
        ("de", "Vielen Dank,", "Ihr Acme-Team"),
        ("fr", "Merci,", "L'équipe Acme"),
        ("es", "Gracias,", "El equipo de Acme"),
    ],
)
def test_the_email_is_signed_in_the_contacts_language(app, locale, closing, signature):
    ContactFactory(locale=locale)
    survey = SurveyFactory(texts={}, product_name="Acme", sender_name="Customer Success")
    [invitation] = invite(CampaignFactory(survey=survey))
    email = received(invitation, 0)
    assert f"{closing}\r\n{signature}\r\n" in email.get_body(("plain",)).get_content()
    html = email.get_body(("html",)).get_content()
    assert f"{closing}<br>{escape(signature)}</td>" in html
    assert "Customer Success" not in html


def test_invitations_are_delivered_over_smtp_and_marked_sent(app, smtp_sink):
    ContactFactory.create_batch(3)
    invite(CampaignFactory())
    assert deliver_all() == {"sent": 3}
    assert len(smtp_sink.messages) == 3
    ids = {m["Message-ID"] for m in smtp_sink.messages}
    assert len(ids) == 3
    statuses = set(db.session.scalars(select(Invitation.status)))
    assert statuses == {"sent"}
    assert None not in set(db.session.scalars(select(Invitation.sent_at)))
    assert None not in set(db.session.scalars(select(Contact.last_surveyed_at)))


def test_a_reminder_leaves_the_invitations_first_send_as_it_was(app, smtp_sink):
    ContactFactory()
    [invitation] = invite(CampaignFactory())
    assert deliver_all() == {"sent": 1}
    first_sent = invitation.sent_at
    payload = {"template": "reminder", "invitation_id": invitation.id, "number": 1}
    enqueue("email", payload, f"invitation:{invitation.id}:1")
    db.session.commit()
    assert deliver_all() == {"sent": 1}
    assert (
        smtp_sink.messages[-1]["Message-ID"] == f"<survey-{invitation.id}-1@cs-platform.localhost>"
    )
    assert (invitation.status, invitation.sent_at) == ("sent", first_sent)
    assert invitation.contact.last_surveyed_at > first_sent


@pytest.mark.postgres
def test_each_sent_invitation_is_recorded_in_the_same_statement_as_its_outcome(app, smtp_sink):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("data-modifying CTEs are PostgreSQL's; SQLite runs the writes one by one")
    ContactFactory.create_batch(3)
    invite(CampaignFactory())
    statements: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert deliver_all() == {"sent": 3}
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    writes = [s for s in statements if "UPDATE survey_invitations" in s or "UPDATE contacts" in s]
    assert len(writes) == 3
    assert all("UPDATE outbox_messages" in s and "UPDATE contacts" in s for s in writes)


def test_smtp_down_keeps_messages_queued_until_it_is_back_and_sends_none_twice(app, smtp_server):
    ContactFactory.create_batch(2)
    invite(CampaignFactory())
    smtp_server.stop()
    assert deliver_all() == {"pending": 2}
    errors = set(db.session.scalars(select(OutboxMessage.last_error)))
    assert all("SMTP 127.0.0.1" in error for error in errors)
    smtp_server.start()
    assert deliver_all() == {"sent": 2}
    assert deliver_all() == {}
    assert len(smtp_server.sink.messages) == 2


def test_a_temporary_refusal_is_retried_later(app, smtp_sink):
    ContactFactory()
    invite(CampaignFactory())
    smtp_sink.refuse_all = 451
    assert deliver_all() == {"pending": 1}
    smtp_sink.refuse_all = None
    assert deliver_all() == {"sent": 1}


def test_a_550_at_rcpt_fails_the_message_and_marks_the_contact_as_bouncing(app, smtp_sink):
    contact = ContactFactory(email="bounce@example.com")
    invite(CampaignFactory())
    assert deliver_all() == {"failed": 1}
    db.session.refresh(contact)
    assert contact.bounced_at is not None
    assert db.session.scalar(select(Invitation.status)) == "bounced"


def test_mail_to_an_unsubscribed_contact_is_cancelled_at_send_time(app, smtp_sink):
    contact = ContactFactory()
    invite(CampaignFactory())
    contact.unsubscribed_at = utcnow()
    db.session.commit()
    assert deliver_all() == {"cancelled": 1}
    assert smtp_sink.messages == []


def test_a_paused_campaign_holds_its_mail_until_it_resumes(app, smtp_sink):
    ContactFactory()
    campaign = CampaignFactory()
    invite(campaign)
    campaign.status = "paused"
    db.session.commit()
    assert deliver_all() == {"pending": 1}
    assert smtp_sink.messages == []
    campaign.status = "active"
    db.session.commit()
    assert deliver_all() == {"sent": 1}


def test_the_file_transport_writes_one_eml_per_message_id(app):
    ContactFactory(email="eve@example.com")
    [invitation] = invite(CampaignFactory())
    assert deliver_all() == {"sent": 1}
    path = Path(app.config["MAIL_DIR"]) / f"survey-{invitation.id}-0_cs-platform.localhost.eml"
    email = message_from_bytes(path.read_bytes(), policy=policy.default)
    [to] = email["To"].addresses
    assert (to.display_name, to.addr_spec) == (invitation.contact.name, "eve@example.com")


def test_a_test_email_goes_to_the_colleague_and_its_links_record_nothing(app, smtp_sink, client):
    campaign = CampaignFactory()
    enqueue(
        "email",
        {"template": "test", "campaign_id": campaign.id, "to": "me@example.com", "name": "Me"},
        "test:1",
    )
    db.session.commit()
    assert deliver_all() == {"sent": 1}
    [email] = smtp_sink.messages
    assert email["Subject"].startswith("[Test]")
    html = email.get_body(("html",)).get_content()
    link = re.search(r'href="http://127.0.0.1:5000(/s/[^"]+/9)"', html).group(1)
    page = client.get(link)
    assert page.status_code == 200 and "nothing you do here is recorded" in page.text
    assert client.post(link.replace("/9", "/answer"), data={"score": "9"}).status_code == 303
    assert db.session.scalar(select(SurveyResponse)) is None


def test_non_ascii_names_and_subjects_arrive_intact(app):
    ContactFactory(name="Zoë Ångström", email="zoe@example.se")
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(product_name="Café Crème")))
    email = invitation_email(invitation, 0)
    assert email.raw.isascii()  # every header and body encoded for any relay
    read = email.message()
    assert "Café Crème" in read["Subject"]
    assert read["To"] == "Zoë Ångström <zoe@example.se>"
    assert "Hi Zoë," in read.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "value",
    [
        "<https://surveys.example.com/unsubscribe/24.1.x87ee2cZoMjkpwxYzjU-uw>",
        "<https://surveys.example.com/" + "a" * 1000 + ">",
        "A subject long enough to be folded at one of its spaces, as headers are, really",
        "<https://example.com/unsubscribe/1>, <mailto:unsubscribe@surveys.example.com?subject=1>",
        "Cafe Creme: a question about the product, with a long tail; and more words",
    ],
)
def test_a_long_header_is_folded_as_the_email_package_folds_it(value):
    expected = Header(value, header_name="List-Unsubscribe").encode(linesep=CRLF)
    assert header_line("List-Unsubscribe", value) == f"List-Unsubscribe: {expected}"
