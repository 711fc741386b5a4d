"""Admins manage users: list, add, change role, deactivate; nobody else can."""

from __future__ import annotations

from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import AuditEntry, User
from tests.conftest import PASSWORD


def test_an_admin_adds_a_user_who_can_then_sign_in(make_user, login, client):
    admin = login(make_user("admin", name="Ada Admin"))
    response = admin.post(
        "/admin/users",
        data={
            "email": "New.Csm@Example.com",
            "name": "New Csm",
            "role": "csm",
            "password": "long enough password",
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new.csm@example.com"))
    assert user.role == "csm"
    assert "user.created" in db.session.scalars(select(AuditEntry.action)).all()
    page = admin.get("/admin/users").text
    assert "New Csm" in page and "Ada Admin" in page


def test_a_bad_new_user_is_refused_with_readable_messages(make_user, login):
    admin = login(make_user("admin"))
    existing = make_user("csm", email="taken@example.com")
    response = admin.post(
        "/admin/users",
        data={"email": "not-an-email", "name": "", "role": "csm", "password": "short"},
    )
    assert response.status_code == 400
    assert "That is not an email address." in response.text
    assert "Give a name." in response.text
    assert "at least 10 characters" in response.text
    taken = admin.post(
        "/admin/users",
        data={"email": existing.email, "name": "Dup", "role": "csm", "password": PASSWORD},
    )
    assert taken.status_code == 400
    assert "already exists" in taken.text


def test_an_admin_changes_a_role_and_deactivates_a_user(make_user, login):
    admin = login(make_user("admin"))
    csm = make_user("csm")
    response = admin.post(f"/admin/users/{csm.id}", data={"role": "viewer", "status": "off"})
    assert response.status_code == 302
    db.session.refresh(csm)
    assert (csm.role, csm.active) == ("viewer", False)


def test_a_deactivated_user_cannot_sign_in(make_user, client):
    user = make_user("csm")
    user.active = False
    db.session.commit()
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 401


def test_an_admin_cannot_lock_themselves_out(make_user, login):
    me = make_user("admin")
    admin = login(me)
    response = admin.post(f"/admin/users/{me.id}", data={"role": "csm", "status": "active"})
    assert response.status_code == 400
    assert "cannot remove your own admin rights" in response.text
    db.session.refresh(me)
    assert me.role == "admin"


def test_csms_and_viewers_cannot_manage_users(make_user, login):
    target = make_user("csm")
    for role in ("csm", "viewer"):
        client = login(make_user(role))
        assert client.get("/admin/users").status_code == 403
        data = {"role": "admin", "status": "active"}
        assert client.post(f"/admin/users/{target.id}", data=data).status_code == 403
        client.post("/logout")
    db.session.refresh(target)
    assert target.role == "csm"
