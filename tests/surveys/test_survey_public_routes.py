"""Public response pages: scanner-proof links, comments, closed loop, bad input, unsubscribe
(the link on every answer page, and the confirm page behind it)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cs_platform.extensions import db
from cs_platform.models import Task, TimelineEntry, utcnow
from surveys.models import Invitation, SurveyResponse
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import (
    footprint,
    invite,
    opt_out_of,
    subscribe_to_every_event,
    token_of,
)

# Every page behind an invitation's link, with what a GET or HEAD of it answers before the
# contact has answered: none of them records anything, whatever its query string says.
ANSWER_PAGES = {
    "": 200,
    "/0": 200,
    "/10": 200,
    "/answer?score=0": 400,  # the score page of "answer", which is not on the scale
    "/comment?comment=Terrible": 303,
    "/comment?score=0": 303,
    "/thanks": 200,
    "/unsubscribe": 200,
}


def responses() -> list[SurveyResponse]:
    return list(db.session.scalars(select(SurveyResponse)))


@pytest.fixture
def invited(app, make_user):
    """One NPS invitation to a contact of an account owned by a CSM; returns its token."""
    owner = make_user("csm", name="Olivia Owner")
    account = AccountFactory(name="Acme", owner_id=owner.id)
    ContactFactory(account=account, name="Dana Diaz")
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(product_name="Orbit")))
    return token_of(invitation)


def test_opening_a_score_link_shows_the_score_preselected_and_records_nothing(client, invited):
    page = client.get(f"/s/{invited}/9")
    assert page.status_code == 200
    assert 'value="9" required checked' in page.text
    assert "<script" not in page.text  # nothing posts by itself: a person presses the button
    assert "nothing is saved until you do" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert responses() == []


def open_every_page(client, token: str, method: str) -> list[int]:
    """Request every answer page of the link, and the email's unsubscribe link, with `method`."""
    opt_out = opt_out_of(db.session.scalar(select(Invitation)))
    paths = [f"/s/{token}{page}" for page in ANSWER_PAGES] + [f"/unsubscribe/{opt_out}"]
    return [client.open(path, method=method).status_code for path in paths]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_get_or_head_of_any_answer_page_records_anything(client, invited, method):
    subscribe_to_every_event()
    assert open_every_page(client, invited, method) == [*ANSWER_PAGES.values(), 200]
    assert footprint() == {
        "responses": 0, "tasks": 0, "timeline": 0, "webhooks": 0, "unsubscribed": 0
    }  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_get_or_head_changes_an_answer_already_given(client, invited, method):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    client.post(f"/s/{invited}/comment", data={"comment": "Great exports"})
    before = footprint()
    open_every_page(client, invited, method)
    assert footprint() == before
    [response] = responses()
    assert (response.score, response.comment) == (9, "Great exports")


def test_confirming_records_the_score_then_asks_the_band_follow_up(client, invited):
    answer = client.post(f"/s/{invited}/answer", data={"score": "10"})
    assert answer.status_code == 303 and answer.location.endswith(f"/s/{invited}/comment")
    [response] = responses()
    assert (response.score, response.kind) == (10, "nps")
    comment_page = client.get(answer.location)
    assert "What do you like most about Orbit?" in comment_page.text


def test_a_later_click_changes_the_answer_and_never_creates_a_second_response(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "3"})
    client.post(f"/s/{invited}/answer", data={"score": "8"})
    [response] = responses()
    assert response.score == 8 and response.updated_at is not None
    assert "You can change your answer" in client.get(f"/s/{invited}/9").text


def test_a_comment_is_stored_as_text_and_shown_escaped(client, invited, app):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    saved = client.post(f"/s/{invited}/comment", data={"comment": "<script>alert(1)</script>"})
    assert saved.status_code == 303 and saved.location.endswith("/thanks")
    assert responses()[0].comment == "<script>alert(1)</script>"
    page = client.get(f"/s/{invited}/comment")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Thank you!" in client.get(f"/s/{invited}/thanks").text


def test_a_detractor_opens_one_task_for_the_owner_with_the_comment(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "2"})
    client.post(f"/s/{invited}/comment", data={"comment": "Exports keep failing"})
    client.post(f"/s/{invited}/answer", data={"score": "1"})
    [task] = db.session.scalars(select(Task)).all()
    assert (task.kind, task.reason, task.status) == ("detractor", "detractor", "open")
    assert task.owner.name == "Olivia Owner"
    assert "NPS 1 from Dana Diaz" in task.details and "Exports keep failing" in task.details
    timeline = db.session.scalars(select(TimelineEntry.body)).all()
    assert timeline == ["NPS 1 from Dana Diaz (changed from 2)"]  # one line, kept in step


def test_a_second_detractor_of_the_account_updates_the_one_open_task(client, app):
    account = AccountFactory()
    ContactFactory(account=account, name="First Person")
    ContactFactory(account=account, name="Second Person")
    first, second = invite(CampaignFactory())
    client.post(f"/s/{token_of(first)}/answer", data={"score": "0"})
    client.post(f"/s/{token_of(second)}/answer", data={"score": "4"})
    [task] = db.session.scalars(select(Task)).all()
    assert "NPS 4 from Second Person" in task.details
    assert "NPS 0 from First Person" in task.details


def test_a_promoter_opens_no_task(client, invited):
    client.post(f"/s/{invited}/answer", data={"score": "9"})
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


@pytest.mark.parametrize("raw", ["11", "-1", "ten", "9.5", ""])
def test_scores_off_the_scale_get_400_and_record_nothing(client, invited, raw):
    if raw:
        assert client.get(f"/s/{invited}/{raw}").status_code == 400
    posted = client.post(f"/s/{invited}/answer", data={"score": raw})
    assert posted.status_code == 400
    assert "not on the scale" in posted.text
    assert responses() == []


@pytest.mark.parametrize("token", ["A" * 22, "short", "A" * 21 + "!"])
def test_unknown_or_tampered_tokens_get_a_friendly_404(client, invited, token):
    page = client.get(f"/s/{token}/9")
    assert page.status_code == 404 and "not valid" in page.text
    assert client.post(f"/s/{token}/answer", data={"score": "9"}).status_code == 404
    assert responses() == []


def test_an_expired_link_gets_410_and_records_nothing(client, app):
    ContactFactory()
    [invitation] = invite(CampaignFactory())
    invitation.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    token = token_of(invitation)
    assert client.get(f"/s/{token}/9").status_code == 410
    posted = client.post(f"/s/{token}/answer", data={"score": "9"})
    assert posted.status_code == 410 and "closed" in posted.text
    assert responses() == []


def test_pages_speak_the_contacts_language(client, app):
    ContactFactory(locale="es")
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(texts={}, product_name="Orbit")))
    page = client.get(f"/s/{token_of(invitation)}/7")
    assert '<html lang="es">' in page.text
    assert "¿Qué probabilidad hay de que recomiende Orbit" in page.text


def test_one_click_unsubscribe_post_works_without_a_csrf_token(client, app, csrf_enabled):
    contact = ContactFactory()
    [invitation] = invite(CampaignFactory())
    token = token_of(invitation)
    assert client.get(f"/s/{token}/unsubscribe").status_code == 200
    db.session.refresh(contact)
    assert contact.unsubscribed_at is None  # GET only asks
    done = client.post(f"/s/{token}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    db.session.refresh(contact)
    assert contact.unsubscribed_at is not None


@pytest.mark.parametrize("page", ["/9", "/comment", "/thanks"])
def test_every_answer_page_links_to_the_unsubscribe_confirm_page(client, invited, page):
    client.post(f"/s/{invited}/answer", data={"score": "9"})  # the comment page needs a score
    body = client.get(f"/s/{invited}{page}").text
    assert f'<a href="/s/{invited}/unsubscribe" rel="nofollow">Unsubscribe from surveys</a>' in body


def test_the_unsubscribe_link_speaks_the_contacts_language_and_escapes_custom_text(client, app):
    ContactFactory(locale="de")
    ContactFactory(locale="fr")
    survey = SurveyFactory(texts={"fr": {"unsubscribe": "Ne plus <b>rien</b> recevoir"}})
    german, french = invite(CampaignFactory(survey=survey))
    assert "Keine Umfragen mehr erhalten</a>" in client.get(f"/s/{token_of(german)}/9").text
    page = client.get(f"/s/{token_of(french)}/9").text
    assert "Ne plus &lt;b&gt;rien&lt;/b&gt; recevoir</a>" in page and "<b>rien" not in page


def test_the_public_pages_are_rate_limited(client, invited, app):
    app.config["SURVEY_PAGE_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.get(f"/s/{invited}/9").status_code for _ in range(4)]
    finally:
        app.config["SURVEY_PAGE_RATE_LIMIT"] = "60 per minute"
    assert codes == [200, 200, 200, 429]
