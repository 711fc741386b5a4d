"""The daily digest: what each section holds, skipped when nothing changed, sent once each
local morning in the user's time zone, a team lead's covering their team, read from a real
SMTP server, previewed on a page and from the CLI, and built in statements that do not grow
with the number of users."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import event, select

from cs_platform import clock, outbox
from cs_platform.digest.build import build_digests
from cs_platform.digest.models import DigestDay
from cs_platform.digest.sending import send_due_digests
from cs_platform.extensions import db
from cs_platform.models import User
from tests.cs_platform.alerts.conftest import run_outbox
from tests.factories import AccountFactory, HealthScoreFactory, SurveyResponseFactory, TaskFactory
from tests.surveys.smtp import SmtpServer, SmtpSink, smtp_server_for

pytestmark = pytest.mark.usefixtures("app")
# 12:00 UTC: 21:00 in Tokyo (past 07:00), 04:00 in Los Angeles (not yet).
NOON_UTC = dt.datetime(2026, 12, 5, 12, 0)
TODAY = NOON_UTC.date()


@pytest.fixture
def at_noon(monkeypatch) -> dt.datetime:
    monkeypatch.setattr(clock, "utcnow", lambda: NOON_UTC)
    return NOON_UTC


@pytest.fixture
def csm(make_user) -> User:
    user = make_user("csm", name="Kenji Sato")
    user.timezone = "Asia/Tokyo"
    db.session.commit()
    return user


def scored(owner: User, name: str, yesterday: float, today: float, **values):
    account = AccountFactory(name=name, owner=owner, **({"renewal_date": None} | values))
    HealthScoreFactory(account=account, scored_on=TODAY - dt.timedelta(days=1), score=yesterday)
    HealthScoreFactory(account=account, scored_on=TODAY, score=today)
    return account


@pytest.fixture
def busy_book(csm, at_noon):
    """Kenji's book: a band change, a new flag, a detractor, renewals at 29/31/59/89/91 days
    (60 days: entering the window today), an overdue task (due yesterday) and an older one."""
    slid = scored(csm, "Acme Robotics", 55, 31)
    scored(csm, "Steady Co", 80, 81)
    TaskFactory(
        account=slid,
        kind="churn_risk",
        title="P(churn) 62 % before renewal",
        created_at=NOON_UTC - dt.timedelta(hours=3),
    )
    TaskFactory(
        account=slid,
        kind="churn_risk",
        title="Old flag",
        reason="older",
        created_at=NOON_UTC - dt.timedelta(days=3),
    )
    SurveyResponseFactory(
        account=slid,
        score=2,
        comment="<b>Too slow</b> since the upgrade",
        responded_at=NOON_UTC - dt.timedelta(hours=5),
    )
    for days in (29, 31, 60, 89, 91):
        AccountFactory(
            name=f"Renews in {days}", owner=csm, renewal_date=TODAY + dt.timedelta(days=days)
        )
    TaskFactory(
        account=slid,
        kind="manual",
        status="open",
        owner=csm,
        title="Send the QBR deck",
        due_date=TODAY - dt.timedelta(days=1),
    )
    TaskFactory(
        account=slid,
        kind="manual",
        status="open",
        owner=csm,
        title="Call back",
        due_date=TODAY - dt.timedelta(days=9),
        reason="call-back",
    )
    return slid


def lines(digest, section: str) -> list[str]:
    return [f"{line.account}: {line.text}" for line in digest.sections[section]]


def test_each_section_says_what_changed_in_the_book(csm, busy_book):
    digest = build_digests([csm.id], NOON_UTC, TODAY)[csm.id]
    assert lines(digest, "bands") == ["Acme Robotics: yellow → red (score 31)"]
    assert lines(digest, "flags") == ["Acme Robotics: P(churn) 62 % before renewal"]
    assert lines(digest, "detractors") == [
        "Acme Robotics: NPS 2: “<b>Too slow</b> since the upgrade”"
    ]
    renewals = [(line.group, line.account) for line in digest.sections["renewals"]]
    assert renewals == [
        ("within 30 days", "Renews in 29"),
        ("within 60 days", "Renews in 31"),
        ("within 60 days", "Renews in 60"),
        ("within 90 days", "Renews in 89"),
    ]
    overdue = [line.text for line in digest.sections["overdue"]]  # the longest overdue first
    assert overdue == ["Call back (due 26 Nov)", "Send the QBR deck (due 04 Dec)"]
    assert digest.changed
    assert digest.subject() == (
        "Your book today: 1 band change, 1 new risk flag, 1 detractor, "
        "1 renewal within 30 days, 2 overdue tasks"
    )
    assert digest.sections["bands"][0].url == f"http://127.0.0.1:5000/accounts/{busy_book.id}"


def test_a_book_where_nothing_changed_is_skipped_and_recorded(csm, at_noon):
    scored(csm, "Steady Co", 80, 81)
    AccountFactory(name="Renews in 45", owner=csm, renewal_date=TODAY + dt.timedelta(days=45))
    TaskFactory(
        account=AccountFactory(owner=csm),
        kind="manual",
        owner=csm,
        due_date=TODAY - dt.timedelta(days=5),
    )
    assert send_due_digests(NOON_UTC) == {"sent": 0, "skipped": 1}
    db.session.commit()
    assert db.session.scalars(select(outbox.OutboxMessage)).all() == []
    [day] = db.session.scalars(select(DigestDay)).all()
    assert (day.user_id, day.day, day.outcome) == (csm.id, TODAY, "skipped")


def test_it_goes_at_seven_local_time_once_per_local_day(csm, busy_book, make_user):
    angeleno = make_user("csm", name="Rosa Diaz")
    angeleno.timezone = "America/Los_Angeles"
    db.session.commit()
    scored(angeleno, "Pacific Co", 55, 30)
    assert send_due_digests(NOON_UTC) == {"sent": 1, "skipped": 0}  # Tokyo 21:00, LA 04:00
    db.session.commit()
    assert send_due_digests(NOON_UTC + dt.timedelta(minutes=15)) == {"sent": 0, "skipped": 0}
    later = NOON_UTC + dt.timedelta(hours=3, minutes=30)  # LA 07:30
    assert send_due_digests(later) == {"sent": 1, "skipped": 0}
    db.session.commit()
    keys = sorted(db.session.scalars(select(outbox.OutboxMessage.dedupe_key)))
    assert keys == [f"digest:{csm.id}:2026-12-05", f"digest:{angeleno.id}:2026-12-05"]


def test_a_team_leads_digest_covers_the_team(csm, busy_book, make_user):
    lead = make_user("team_lead", name="Lee Lead")
    csm.team_lead_id = lead.id
    db.session.commit()
    digest = build_digests([lead.id, csm.id], NOON_UTC, TODAY)
    assert lines(digest[lead.id], "bands") == lines(digest[csm.id], "bands") != []
    assert not build_digests([make_user("csm").id], NOON_UTC, TODAY).popitem()[1].changed


def test_the_email_arrives_with_absolute_links_and_escaped_comments(app, csm, busy_book):
    with smtp_server_for(app, SmtpServer(SmtpSink())) as server:
        send_due_digests(NOON_UTC)
        db.session.commit()
        run_outbox()
        [message] = server.sink.messages
    assert message["To"] == csm.email
    assert message["Subject"].startswith("Your book today: 1 band change")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "&lt;b&gt;Too slow&lt;/b&gt;" in html and "<b>Too slow" not in html
    links = set(re.findall(r'href="([^"]+)"', html))
    assert f"http://127.0.0.1:5000/accounts/{busy_book.id}" in links
    assert all(link.startswith("http://127.0.0.1:5000/") for link in links)
    assert f"http://127.0.0.1:5000/accounts/{busy_book.id}" in text


def test_the_preview_page_shows_todays_digest_and_only_ones_own_to_a_csm(
    csm, busy_book, login, make_user
):
    client = login(csm)
    page = client.get("/digest")
    assert page.status_code == 200
    assert "yellow → red (score 31)" in page.text and "&lt;b&gt;Too slow" in page.text
    other = make_user("csm", name="Other Person")
    assert client.get(f"/digest?user={other.id}").status_code == 403


def test_an_admin_previews_anyones_digest_and_sees_when_none_would_go(
    csm, busy_book, login, make_user
):
    quiet = make_user("csm", name="Quiet Quinn")
    client = login(make_user("admin"))
    assert "Acme Robotics" in client.get(f"/digest?user={csm.id}").text
    assert (
        "Nothing changed since yesterday: no email would be sent."
        in client.get(f"/digest?user={quiet.id}").text
    )


def test_the_cli_previews_the_text_and_sends_now(runner, csm, busy_book):
    shown = runner.invoke(args=["digest", "preview", "--email", csm.email])
    assert shown.exit_code == 0 and "Subject: Your book today: 1 band change" in shown.output
    sent = runner.invoke(args=["digest", "send-now", "--email", csm.email])
    assert sent.exit_code == 0
    assert db.session.scalar(select(outbox.OutboxMessage.kind)) == "digest"
    missing = runner.invoke(args=["digest", "preview", "--email", "nobody@example.com"])
    assert missing.exit_code != 0 and "no user with email" in missing.output


def test_building_for_more_users_takes_no_more_statements(csm, busy_book, make_user):
    def statements(user_ids) -> int:
        run: list[str] = []
        record = lambda *args: run.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            build_digests(user_ids, NOON_UTC, TODAY)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        return len(run)

    others = [make_user("csm") for _ in range(5)]
    for user in others:
        scored(user, f"Book of {user.id}", 55, 30)
    assert statements([csm.id]) == statements([csm.id, *(u.id for u in others)])
