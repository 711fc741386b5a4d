"""The audit log page: admins read it newest first, a page at a time, as escaped text; nobody
else may see it."""

from __future__ import annotations

import re

import pytest

from cs_platform.admin.routes import AUDIT_PAGE
from tests.factories import AuditEntryFactory


@pytest.fixture
def admin_client(make_user, login):
    return login(make_user("admin", name="Ada Admin"))


def targets_on(page: str) -> list[str]:
    return re.findall(r"csk_\d{8}", page)


def test_an_admin_reads_the_audit_log_newest_first_a_page_at_a_time(admin_client):
    AuditEntryFactory.create_batch(AUDIT_PAGE + 5)
    first = admin_client.get("/admin/audit")
    assert first.status_code == 200
    shown = targets_on(first.text)
    assert len(shown) == AUDIT_PAGE
    assert shown == sorted(shown, reverse=True)  # the latest entry first
    older = re.search(r'href="(/admin/audit\?before=\d+)"', first.text).group(1)
    last = admin_client.get(older).text
    rest = targets_on(last)
    assert len(rest) == 5 and rest == sorted(rest, reverse=True) and max(rest) < min(shown)
    assert "/admin/audit?before" not in last  # the last page has no older link


def test_the_audit_log_shows_who_did_it_and_escapes_what_was_recorded(admin_client, make_user):
    csm = make_user("csm", name="Casey <b>Bold</b>")
    AuditEntryFactory(
        actor=csm,
        action="risk_list.exported",
        target="<script>alert(1)</script>",
        details={"filters": {"q": "<img src=x onerror=alert(2)>"}, "rows": 3},
    )
    page = admin_client.get("/admin/audit").text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "Casey &lt;b&gt;Bold&lt;/b&gt;" in page and csm.email in page
    assert "risk_list.exported" in page and "rows:</span> 3" in page


@pytest.mark.parametrize("role", ["csm", "viewer"])
def test_only_admins_may_see_the_audit_log(make_user, login, role):
    client = login(make_user(role))
    assert client.get("/admin/audit").status_code == 403
    assert 'href="/admin/audit"' not in client.get("/").text


def test_the_admin_nav_links_to_the_audit_log(admin_client):
    assert 'href="/admin/audit"' in admin_client.get("/").text
