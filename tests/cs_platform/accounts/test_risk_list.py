"""The risk list (home page): order, columns, filters, sorting, paging and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

from cs_platform import clock
from cs_platform.extensions import db
from integrations.models import SupportTicket  # noqa: F401 - registers the table for the app
from surveys.models import Survey, SurveyResponse
from tests.conftest import audit_trail
from tests.cs_platform.accounts.workspace_data import scored_account
from tests.factories import AccountFactory, BandOverrideFactory, HealthScoreFactory, TaskFactory


def names_in_order(page: str, *names: str) -> list[str]:
    """The given account names in the order they appear on the page."""
    found = {name: page.find(f">{name}</a>") for name in names}
    return [name for name, at in sorted(found.items(), key=lambda item: item[1]) if at >= 0]


def test_the_home_page_orders_accounts_that_need_action_by_arr_at_risk(csm_client):
    scored_account("Small Risky", arr=10_000, p_churn=0.9)  # 9,000 at risk
    scored_account("Big Safe", arr=500_000, p_churn=0.05)  # 25,000 at risk
    scored_account("Mid", arr=100_000, p_churn=0.15)  # 15,000 at risk
    page = csm_client.get("/").text
    assert names_in_order(page, "Small Risky", "Big Safe", "Mid") == [
        "Big Safe",
        "Mid",
        "Small Risky",
    ]
    assert "$25,000" in page
    assert "ordered by ARR at risk over the next 90 days" in page


def test_the_default_view_leaves_green_accounts_out_and_the_whole_book_is_one_click_away(
    csm_client,
):
    scored_account("Yellow Co", score=45)
    scored_account("Red Co", score=20)
    scored_account("Green Co", score=80)
    page = csm_client.get("/").text
    assert "Yellow Co" in page and "Red Co" in page and "Green Co" not in page
    assert "Accounts that need action" in page
    assert 'href="/?view=all"' in page
    whole = csm_client.get("/?view=all").text
    assert "Green Co" in whole and "All accounts" in whole


def test_a_green_account_with_an_open_churn_risk_task_needs_action(csm_client):
    flagged = scored_account("Flagged Green", score=80)
    TaskFactory(account=flagged, kind="churn_risk", reason="p_churn_90d")
    done = scored_account("Done Green", score=80)
    TaskFactory(account=done, kind="churn_risk", reason="p_churn_90d", status="done")
    page = csm_client.get("/").text
    assert "Flagged Green" in page and "Done Green" not in page


def test_on_cold_start_the_list_is_in_scorecard_order_and_says_so(csm_client):
    for name, score in (("Middling", 45.0), ("Worst", 10.0), ("Poor", 30.0)):
        account = AccountFactory(name=name, arr=Decimal(10_000))
        HealthScoreFactory(account=account, score=score, method="scorecard", churn_probability=None)
    page = csm_client.get("/").text
    assert names_in_order(page, "Middling", "Worst", "Poor") == ["Worst", "Poor", "Middling"]
    assert "ordered by scorecard health, lowest first" in page
    assert "ARR at risk over the next 90 days" not in page


def test_each_row_shows_score_band_trend_sparkline_drivers_tasks_and_owner(csm_client, make_user):
    owner = make_user("csm", name="Riley Chen")
    account = scored_account("Acme", score=25, score_30d_ago=60, p_churn=0.42, owner=owner)
    TaskFactory(account=account, owner=owner)
    page = csm_client.get("/").text
    assert "Riley Chen" in page
    assert "Red" in page  # the band is named in text, not only coloured
    assert "▼ -8" in page  # 7 days of a 35-point fall over 30 days
    assert 'class="sparkline"' in page
    assert "42%" in page
    assert "Acme d1" in page and "Acme d2" in page
    assert "third" not in page  # only the top two drivers
    assert re.search(r'<td class="num">1</td>', page)  # one open task
    assert "in 8" in page or "days" in page


def test_an_active_override_shows_with_the_model_band_beside_it(csm_client):
    account = scored_account("Overridden", score=30)
    BandOverrideFactory(account=account, band="green")
    page = csm_client.get("/?view=all").text
    assert "Green (override)" in page
    assert "model: Red" in page


def test_an_expired_or_ended_override_no_longer_counts(csm_client):
    account = scored_account("Lapsed", score=30)
    BandOverrideFactory(account=account, band="green", expires_on=clock.today() - dt.timedelta(1))
    page = csm_client.get("/?band=red").text
    assert "Lapsed" in page
    assert "(override)" not in page


def test_the_band_filter_uses_the_override_when_there_is_one(csm_client):
    scored_account("Red One", score=20)
    overridden = scored_account("Was Red", score=20)
    BandOverrideFactory(account=overridden, band="yellow")
    scored_account("Green One", score=90)
    red = csm_client.get("/?band=red").text
    assert "Red One" in red
    assert "Was Red" not in red and "Green One" not in red
    assert "Was Red" in csm_client.get("/?band=yellow").text


def test_my_accounts_shows_only_the_signed_in_csms_accounts(make_user, login):
    me = make_user("csm", name="Me Myself")
    other = make_user("csm", name="Someone Else")
    scored_account("Mine", owner=me)
    scored_account("Theirs", owner=other)
    client = login(me)
    page = client.get("/?owner=me").text
    assert "Mine" in page and "Theirs" not in page
    assert "Theirs" in client.get("/").text  # the whole team by default


def test_views_of_one_shape_answer_with_their_own_values(make_user, login):
    """The statement of a shape of view is built once and reused: each request's values count."""
    me, other = make_user("csm", name="Me Myself"), make_user("csm", name="Someone Else")
    scored_account("Acme Mine", owner=me, segment="smb")
    scored_account("Globex Theirs", owner=other, segment="enterprise")
    client = login(me)
    assert "Acme Mine" in client.get("/?q=acme").text
    globex = client.get("/?q=globex").text
    assert "Globex Theirs" in globex and "Acme Mine" not in globex
    theirs = client.get(f"/?owner={other.id}").text
    assert "Globex Theirs" in theirs and "Acme Mine" not in theirs
    mine = client.get("/?owner=me").text
    assert "Acme Mine" in mine and "Globex Theirs" not in mine
    enterprise = client.get("/?segment=enterprise").text
    assert "Globex Theirs" in enterprise and "Acme Mine" not in enterprise


def test_segment_renewal_and_search_filters_combine(csm_client):
    today = clock.today()
    scored_account("Soon Enterprise", segment="enterprise", renewal_date=today + dt.timedelta(20))
    scored_account("Late Enterprise", segment="enterprise", renewal_date=today + dt.timedelta(200))
    scored_account("Soon Smb", segment="smb", renewal_date=today + dt.timedelta(10))
    page = csm_client.get("/?segment=enterprise&renewal_within=30").text
    assert "Soon Enterprise" in page
    assert "Late Enterprise" not in page and "Soon Smb" not in page
    assert "Soon Smb" in csm_client.get("/?q=SMB").text


def test_the_detractor_filter_keeps_accounts_with_a_recent_detractor(csm_client):
    unhappy = scored_account("Unhappy")
    happy = scored_account("Happy")
    survey = Survey(name="NPS", kind="nps")
    db.session.add(survey)
    db.session.flush()
    db.session.add_all(
        [
            SurveyResponse(survey_id=survey.id, account_id=unhappy.id, kind="nps", score=3),
            SurveyResponse(survey_id=survey.id, account_id=happy.id, kind="nps", score=10),
        ]
    )
    db.session.commit()
    page = csm_client.get("/?detractor=1").text
    assert "Unhappy" in page and "Happy<" not in page


def test_every_column_sorts_both_ways(csm_client, make_user):
    scored_account("Alpha", arr=10_000, score=40, p_churn=0.1, owner=make_user(name="Zed"))
    scored_account("Bravo", arr=90_000, score=20, p_churn=0.7, owner=make_user(name="Amy"))
    for column in (
        "name",
        "score",
        "band",
        "trend",
        "p_churn",
        "renewal",
        "arr",
        "risk",
        "tasks",
        "owner",
        "segment",
    ):
        up = csm_client.get(f"/?sort={column}&dir=asc", follow_redirects=True)
        down = csm_client.get(f"/?sort={column}&dir=desc", follow_redirects=True)
        assert up.status_code == down.status_code == 200, column
    assert names_in_order(csm_client.get("/?sort=name").text, "Alpha", "Bravo") == [
        "Alpha",
        "Bravo",
    ]
    assert names_in_order(csm_client.get("/?sort=name&dir=desc").text, "Alpha", "Bravo") == [
        "Bravo",
        "Alpha",
    ]
    assert names_in_order(csm_client.get("/?sort=score").text, "Alpha", "Bravo")[0] == "Bravo"
    assert names_in_order(csm_client.get("/?sort=owner").text, "Alpha", "Bravo")[0] == "Bravo"


def test_column_headers_link_to_the_same_view_sorted(csm_client):
    scored_account("Only")
    page = csm_client.get("/?band=yellow&sort=arr").text
    assert 'href="/?band=yellow&amp;sort=arr&amp;dir=asc"' in page  # clicking again flips
    assert 'aria-sort="descending"' in page


def test_unscored_accounts_are_listed_after_scored_ones(csm_client):
    AccountFactory(name="Not Scored Yet")
    scored_account("Scored")
    page = csm_client.get("/?view=all").text
    assert names_in_order(page, "Not Scored Yet", "Scored") == ["Scored", "Not Scored Yet"]


def test_churned_accounts_are_not_on_the_risk_list(csm_client):
    scored_account("Gone", churned_at=dt.date(2026, 1, 1), lifecycle_stage="churned")
    scored_account("Here")
    page = csm_client.get("/").text
    assert "Here" in page and "Gone" not in page


def test_the_list_pages_fifty_accounts_at_a_time(csm_client):
    AccountFactory.create_batch(51)
    first = csm_client.get("/?view=all").text
    assert "Page 1 of 2" in first
    assert "Next →" in first
    last = csm_client.get("/?view=all&page=2").text
    assert "Page 2 of 2" in last
    assert last.count('href="/accounts/') == 1


def test_a_page_past_the_last_says_so_and_links_to_the_last_page(csm_client):
    AccountFactory.create_batch(51)
    beyond = csm_client.get("/?view=all&page=9")
    assert beyond.status_code == 200
    assert "Page 9 is past the last page (2)." in beyond.text
    assert 'href="/?view=all&amp;page=2">Go to the last page' in beyond.text
    assert "No accounts match" not in beyond.text


def test_unknown_filter_values_are_ignored(csm_client):
    scored_account("Tiny Co", segment="smb")
    response = csm_client.get("/?segment=%27%3Bdrop&sort=evil&band=purple&page=-1&owner=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Tiny Co" in csm_client.get("/").text


def test_empty_filter_fields_redirect_to_a_short_shareable_url(csm_client):
    response = csm_client.get("/?q=&owner=me&segment=&band=red&renewal_within=&sort=risk")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?owner=me&band=red"


def test_account_names_are_escaped(csm_client):
    scored_account("<script>alert(1)</script> Ltd")
    page = csm_client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ltd" in page


def test_the_csv_export_has_the_whole_filtered_view_with_formulas_neutralised(csm_client):
    scored_account('=HYPERLINK("http://evil")', arr=100_000, p_churn=0.5, score=20)
    scored_account("@SUM(A1)", arr=10_000, p_churn=0.5, score=25)
    scored_account("Fine Corp", arr=80_000, p_churn=0.5, score=90)
    response = csm_client.get("/accounts.csv?band=red")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["account"] for row in rows] == ['\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    assert rows[0]["arr_at_risk_90d"] == "50000.00"
    assert rows[0]["p_churn_90d"] == "0.5"
    assert rows[0]["band"] == "red"
    assert rows[0]["driver_1"] == '\'=HYPERLINK("http://evil") d1'
    assert rows[1]["trend_7d"] == "0.0"


def test_the_csv_export_leaves_an_audit_entry_with_who_which_filters_and_how_many_rows(
    make_user, login
):
    scored_account("Red One", score=20)
    scored_account("Red Two", score=25)
    scored_account("Green", score=90)
    csm = make_user("csm")
    login(csm).get("/accounts.csv?band=red&sort=name&page=3")
    [entry] = audit_trail()
    assert (entry.action, entry.actor_id) == ("risk_list.exported", csm.id)
    assert entry.details == {"filters": {"band": "red", "sort": "name"}, "rows": 2}


def test_the_csv_export_needs_a_login(client):
    response = client.get("/accounts.csv")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
