"""Saved views of the risk list: saved, replaced, renamed, shared, deleted, counted, opened."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from cs_platform import clock
from cs_platform.accounts import risk, saved_views
from cs_platform.accounts.models import SavedView
from cs_platform.extensions import db
from cs_platform.models import AccountList, AccountListMember, User
from integrations.models import SupportTicket  # noqa: F401 - registers the table for the app
from tests.conftest import audit_trail
from tests.cs_platform.accounts.workspace_data import scored_account, signed_in


@pytest.fixture
def csm(make_user) -> User:
    return make_user("csm", name="Olivia Owner")


@pytest.fixture
def client_(csm, login):
    return login(csm)


def view_named(name: str) -> SavedView:
    return db.session.scalar(select(SavedView).where(SavedView.name == name))


def test_saving_a_view_stores_its_filters_normalised_and_the_dashboard_counts_it(client_, csm):
    scored_account("Red One", score=20, owner=csm)
    scored_account("Red Two", score=25)
    scored_account("Yellow", score=50, owner=csm)
    response = client_.post("/views", data={"name": "My reds", "query": "page=3&band=red&owner=me"})
    assert response.status_code == 302
    assert view_named("My reds").query_string == "band=red&owner=me"
    page = client_.get("/dashboards").text
    assert "My views" in page and "My reds" in page
    row = page[page.index("My reds") :]
    assert '<td class="num">1</td>' in row[:600]


def test_view_counts_match_the_risk_list_totals_in_one_statement(client_, csm, make_user):
    lead = make_user("team_lead", name="Lea Lead")
    csm.team_lead_id = lead.id
    db.session.commit()
    scored_account("Acme Red", score=20, owner=csm, segment="enterprise")
    scored_account("Beta Yellow", score=50, owner=lead, segment="smb")
    scored_account("Gamma Green", score=90, segment="smb")
    listed = scored_account("Delta Green", score=85, owner=csm)
    account_list = AccountList(name="Targets")
    db.session.add(account_list)
    db.session.flush()
    db.session.add(AccountListMember(list_id=account_list.id, account_id=listed.id, added_by="t"))
    db.session.commit()
    queries = [
        "",
        "view=all",
        "band=red",
        "owner=me",
        "owner=none&view=all",
        "segment=smb&view=all",
        "q=acme",
        f"list={account_list.id}&view=all",
        "owner=team&view=all",
        "renewal_within=3650&view=all",
    ]
    views = [saved_views.save_view(lead, f"v{n}", query) for n, query in enumerate(queries)]
    db.session.commit()
    today = clock.today()
    counts = saved_views.view_counts(views, lead.id, today)
    expected = {
        view.id: risk.risk_page(
            risk.RiskFilters.from_args(dict(parse_qsl(view.query_string))), lead.id, today
        ).total
        for view in views
    }
    assert counts == expected
    assert counts[views[8].id] == 3  # the lead's team: their account and Olivia's three


def test_saving_again_under_the_same_name_asks_before_replacing(client_):
    client_.post("/views", data={"name": "Reds", "query": "band=red"})
    again = client_.post("/views", data={"name": "Reds", "query": "band=yellow"})
    assert again.status_code == 409
    assert "Replace it" in again.text and "band=yellow" in again.text
    assert view_named("Reds").query_string == "band=red"
    client_.post("/views", data={"name": "Reds", "query": "band=yellow", "replace": "y"})
    db.session.expire_all()
    assert view_named("Reds").query_string == "band=yellow"
    assert db.session.query(SavedView).count() == 1


def test_two_users_may_each_have_a_view_of_the_same_name(client_, csm, make_user):
    other = make_user("csm", name="Other")
    saved_views.save_view(other, "Reds", "band=red")
    db.session.commit()
    assert client_.post("/views", data={"name": "Reds", "query": "band=red"}).status_code == 302
    assert db.session.query(SavedView).count() == 2


def test_a_view_is_renamed_but_not_onto_another_of_its_owners_names(client_, csm):
    first = saved_views.save_view(csm, "First", "band=red")
    saved_views.save_view(csm, "Second", "band=yellow")
    db.session.commit()
    client_.post(f"/views/{first.id}/rename", data={"name": "Second"})
    assert "You have a view named “Second” already." in client_.get("/views").text
    client_.post(f"/views/{first.id}/rename", data={"name": "Renamed"})
    db.session.expire_all()
    assert first.name == "Renamed"


def test_a_shared_view_shows_for_everyone_with_its_owners_name_but_only_they_change_it(
    app, client_, csm, make_user
):
    view = saved_views.save_view(csm, "Olivia's reds", "band=red")
    db.session.commit()
    client_.post(f"/views/{view.id}/share", data={"shared": "y"})
    other_client = signed_in(app, make_user("csm", name="Other"))
    page = other_client.get("/").text
    assert "Olivia&#39;s reds" in page and "(Olivia Owner)" in page
    assert other_client.post(f"/views/{view.id}/delete").status_code == 403
    assert other_client.post(f"/views/{view.id}/rename", data={"name": "x"}).status_code == 403
    assert [entry.action for entry in audit_trail()] == ["saved_view.shared"]


def test_another_users_private_view_is_not_found_and_an_admin_may_delete_any(app, csm, make_user):
    view = saved_views.save_view(csm, "Private", "band=red")
    db.session.commit()
    other = signed_in(app, make_user("csm", name="Other"))
    assert other.get(f"/views/{view.id}").status_code == 404
    admin = signed_in(app, make_user("admin", name="Ada Admin"))
    assert admin.post(f"/views/{view.id}/delete").status_code == 302
    assert db.session.query(SavedView).count() == 0
    assert [entry.action for entry in audit_trail()] == ["saved_view.deleted"]


def test_a_view_whose_owner_filter_names_a_deleted_user_opens_without_it_and_says_so(
    client_, csm, make_user
):
    gone = make_user("csm", name="Gone")
    view = saved_views.save_view(csm, "Gone's book", f"band=red&owner={gone.id}")
    db.session.delete(gone)
    db.session.commit()
    response = client_.get(f"/views/{view.id}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/?band=red"
    page = client_.get("/?band=red").text
    assert f"opened without its filter owner: the owner (user {gone.id}) no longer exists" in page
    assert "filter gone" in client_.get("/views").text


def test_a_stored_filter_the_list_no_longer_reads_is_named(csm):
    problems = saved_views.filter_problems("band=purple&trait_tier=gold&list=999")
    assert problems == {
        "band": "“purple” is not a valid value of band",
        "trait_tier": "“trait_tier” is not a filter of the risk list",
        "list": "the account list 999 no longer exists",
    }


def test_saving_a_view_without_a_csrf_token_is_refused(client_, csrf_enabled):
    response = client_.post("/views", data={"name": "Reds", "query": "band=red"})
    assert response.status_code == 400
    assert db.session.query(SavedView).count() == 0
