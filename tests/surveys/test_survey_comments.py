"""Survey comments are stored whole or refused, never cut: what the textarea allowed is accepted
(its CRLF newlines count as one character, as in the browser), and a longer comment answers 422
with the page, the typed text and a message in the respondent's language, storing nothing."""

from __future__ import annotations

import html
import re

import pytest
from flask import current_app
from sqlalchemy import select

from cs_platform.extensions import db
from surveys.models import SurveyResponse
from surveys.responses import COMMENT_MAX
from surveys.texts import LOCALES, default_texts
from surveys.tokens import preview_token
from tests.factories import AccountFactory, CampaignFactory, ContactFactory, SurveyFactory
from tests.surveys.helpers import footprint, invite, token_of

TOO_LONG = {
    "en": "Your comment is too long. Please shorten it to 5,000 characters or fewer.",
    "de": "Ihr Kommentar ist zu lang. Bitte kürzen Sie ihn auf höchstens 5000 Zeichen.",
    "fr": "Votre commentaire est trop long. Merci de le raccourcir à 5000 caractères au maximum.",
    "es": "Su comentario es demasiado largo. Acórtelo a 5000 caracteres como máximo.",
}


def answered_by(locale: str, score: int = 9) -> str:
    """The token of an invitation to a contact speaking `locale`, who gave `score`."""
    ContactFactory(account=AccountFactory(name="Acme"), name="Dana Diaz", locale=locale)
    [invitation] = invite(CampaignFactory(survey=SurveyFactory(texts={}, product_name="Orbit")))
    token = token_of(invitation)
    current_app.test_client().post(f"/s/{token}/answer", data={"score": str(score)})
    return token


def comment_of_the_response() -> str | None:
    db.session.expire_all()
    return db.session.scalar(select(SurveyResponse.comment))


def a_comment_with_newlines(length: int) -> str:
    """Lines of feedback joined by LF newlines, padded to exactly `length` characters."""
    text = "\n".join(["Exports fail every Monday & the team waits <an hour>."] * 60)[:length]
    return text + "x" * (length - len(text))


def textarea_of(page: str) -> str:
    return html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.S).group(1))


def test_a_comment_as_long_as_the_textarea_allows_is_stored_whole_despite_crlf_newlines(client):
    token = answered_by("en")
    typed = a_comment_with_newlines(COMMENT_MAX)
    sent = typed.replace("\n", "\r\n")  # as a browser submits a textarea
    assert len(sent) > COMMENT_MAX

    saved = client.post(f"/s/{token}/comment", data={"comment": sent})

    assert saved.status_code == 303 and saved.location.endswith("/thanks")
    assert comment_of_the_response() == typed


@pytest.mark.parametrize("locale", LOCALES)
def test_a_comment_one_character_too_long_is_refused_in_the_respondents_language(client, locale):
    token = answered_by(locale)
    typed = a_comment_with_newlines(COMMENT_MAX + 1).replace("\n", "\r\n")

    page = client.post(f"/s/{token}/comment", data={"comment": typed})

    assert page.status_code == 422
    assert f'<html lang="{locale}">' in page.text
    assert TOO_LONG[locale] in html.unescape(page.text)
    assert textarea_of(page.text) == typed
    assert f'maxlength="{COMMENT_MAX}"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert comment_of_the_response() is None


def test_a_one_megabyte_comment_is_refused_and_keeps_the_comment_already_stored(client):
    token = answered_by("en", score=2)
    client.post(f"/s/{token}/comment", data={"comment": "Exports keep failing"})
    before = footprint()

    typed = ("Exports fail. " * 75_000)[:1_000_000]

    page = client.post(f"/s/{token}/comment", data={"comment": typed})

    assert page.status_code == 422
    assert TOO_LONG["en"] in html.unescape(page.text)
    assert textarea_of(page.text) == typed
    assert comment_of_the_response() == "Exports keep failing"
    assert footprint() == before


def test_a_body_past_the_request_size_limit_is_refused_with_a_page_saying_why(client):
    token = answered_by("en")

    page = client.post(f"/s/{token}/comment", data={"comment": "x" * 2_000_000})

    assert page.status_code == 413
    assert "Please go back and shorten your comment." in page.text
    assert comment_of_the_response() is None


def test_a_preview_refuses_a_too_long_comment_as_the_real_page_does(client, app):
    campaign = CampaignFactory(survey=SurveyFactory(texts={}, product_name="Orbit"))
    token = preview_token(current_app.config["SECRET_KEY"], campaign.id)

    page = client.post(f"/s/{token}/comment?score=9", data={"comment": "x" * (COMMENT_MAX + 1)})

    assert page.status_code == 422
    assert TOO_LONG["en"] in html.unescape(page.text)
    assert f'action="/s/{token}/comment?score=9"' in page.text


@pytest.mark.parametrize("locale", LOCALES)
def test_every_language_names_the_limit_the_page_enforces(locale):
    message = default_texts("nps", locale)["comment_too_long"]
    assert re.sub(r"\D", "", message) == str(COMMENT_MAX)
