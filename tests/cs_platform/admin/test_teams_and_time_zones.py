"""Admins make a user a team lead, put users in a lead's team and set their time zone."""

from __future__ import annotations

from cs_platform.extensions import db
from tests.conftest import audit_trail


def change(client, user, **fields):
    data = {"role": user.role, "status": "active", "team_lead": "", "timezone": "", **fields}
    return client.post(f"/admin/users/{user.id}", data=data)


def test_an_admin_makes_a_team_lead_and_puts_a_csm_in_their_team_with_a_time_zone(make_user, login):
    admin = login(make_user("admin", name="Ada Admin"))
    lead, csm = make_user("csm", name="Lea Lead"), make_user("csm", name="Mo Member")
    assert change(admin, lead, role="team_lead").status_code == 302
    response = change(admin, csm, team_lead=str(lead.id), timezone="Europe/Paris")
    assert response.status_code == 302
    db.session.expire_all()
    assert lead.role == "team_lead"
    assert (csm.team_lead_id, csm.timezone) == (lead.id, "Europe/Paris")
    changes = [entry.details["changed"] for entry in audit_trail()]
    assert changes == [
        {"role": ["csm", "team_lead"]},
        {"team_lead_id": [None, lead.id], "timezone": [None, "Europe/Paris"]},
    ]
    page = admin.get("/admin/users").text
    assert '<option value="team_lead" selected>Team lead</option>' in page
    assert 'value="Europe/Paris"' in page


def test_an_unknown_time_zone_is_refused_naming_the_field(make_user, login):
    admin = login(make_user("admin", name="Ada Admin"))
    csm = make_user("csm", name="Mo Member")
    response = change(admin, csm, timezone="Mars/Olympus")
    assert response.status_code == 400
    assert "Time zone: “Mars/Olympus” is not an IANA time zone" in response.text
    db.session.expire_all()
    assert csm.timezone is None


def test_the_team_lead_must_be_a_team_lead_and_not_the_user_themselves(make_user, login):
    admin = login(make_user("admin", name="Ada Admin"))
    lead, csm = make_user("team_lead", name="Lea Lead"), make_user("csm", name="Mo Member")
    assert change(admin, lead, team_lead=str(lead.id)).status_code == 400
    assert change(admin, csm, team_lead=str(csm.id)).status_code == 400
    db.session.expire_all()
    assert (lead.team_lead_id, csm.team_lead_id) == (None, None)


def test_only_admins_change_users(make_user, login):
    lead = login(make_user("team_lead", name="Lea Lead"))
    csm = make_user("csm")
    assert change(lead, csm, role="admin").status_code == 403
