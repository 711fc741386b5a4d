"""Events without a groupId count for the group their user's latest group() call named, whatever
the order they arrive in; events of users never linked are counted apart as unattributed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cs_platform.extensions import db
from cs_platform.models import utcnow
from integrations.models import Connection, UsageDaily, UsageUserLink
from integrations.usage import hash_write_key, ingest_events, roll_up_all, unattributed_events
from tests.factories import AccountFactory

DAY = utcnow().date() - dt.timedelta(days=1)


@pytest.fixture
def source(make_connection) -> Connection:
    connection = make_connection("segment", "", {}, name="web app")
    connection.write_key_hash = hash_write_key("wk_attribution")
    db.session.commit()
    return connection


def at(hour: int, day: dt.date = DAY) -> str:
    return f"{day}T{hour:02d}:00:00Z"


def track(message_id: str, user: str, hour: int = 12, day: dt.date = DAY, **extra) -> dict:
    """A track without a groupId, as an app sends it once the user is known."""
    return {"type": "track", "messageId": message_id, "userId": user, "event": "Report Exported",
            "timestamp": at(hour, day), **extra}  # fmt: skip


def group(message_id: str, user: str, group_id: str, hour: int = 9, day: dt.date = DAY) -> dict:
    return {"type": "group", "messageId": message_id, "userId": user, "groupId": group_id,
            "timestamp": at(hour, day)}  # fmt: skip


def receive(source: Connection, *events: dict) -> None:
    result = ingest_events(source, list(events))
    db.session.commit()
    assert result.rejected == []


def events_usage(domain: str, day: dt.date = DAY) -> tuple[int, int] | None:
    """(active users, events) of the events roll-up for the account with `domain`."""
    db.session.expire_all()
    account = AccountFactory._meta.model
    row = db.session.execute(
        select(UsageDaily.active_users, UsageDaily.events)
        .join(account, account.id == UsageDaily.account_id)
        .where(account.domain == domain, UsageDaily.day == day, UsageDaily.source == "events")
    ).first()
    return None if row is None else tuple(row)


def test_tracks_sent_before_the_group_call_count_once_it_arrives_in_the_same_window(source):
    AccountFactory(domain="acme.example")
    receive(source, track("t1", "ann", hour=8), track("t2", "ann", hour=8))
    receive(source, group("g1", "ann", "acme.example", hour=9), track("t3", "ann", hour=10))

    roll_up_all()

    assert events_usage("acme.example") == (1, 3)
    assert unattributed_events() == {}


def test_tracks_rolled_up_before_the_group_call_are_recounted_when_it_comes(source):
    AccountFactory(domain="acme.example")
    receive(source, track("t1", "ann"), track("t2", "bob"))
    roll_up_all()
    assert unattributed_events() == {source.id: 2}
    assert events_usage("acme.example") is None

    receive(source, group("g1", "ann", "acme.example"))
    roll_up_all()

    assert events_usage("acme.example") == (1, 1)
    assert unattributed_events() == {source.id: 1}  # bob is still nobody's


def test_an_identify_without_a_group_counts_its_linked_user_as_active(source):
    AccountFactory(domain="acme.example")
    identify = {"type": "identify", "messageId": "i1", "userId": "cy", "timestamp": at(8),
                "traits": {"email": "cy@acme.example"}}  # fmt: skip
    receive(source, identify, group("g1", "ann", "acme.example"), track("t1", "ann"))
    receive(source, group("g2", "cy", "acme.example", hour=10))

    roll_up_all()

    assert events_usage("acme.example") == (2, 1)


def test_the_latest_group_call_wins_and_the_group_it_replaced_loses_the_users_days(source):
    AccountFactory(domain="acme.example")
    AccountFactory(domain="globex.example")
    day_before = DAY - dt.timedelta(days=1)
    receive(source, group("g1", "ann", "acme.example", day=day_before), track("t1", "ann"))
    roll_up_all()
    assert events_usage("acme.example") == (1, 1)

    receive(source, group("g2", "ann", "globex.example", hour=13))
    roll_up_all()

    assert events_usage("globex.example") == (1, 1)
    assert events_usage("acme.example") is None  # ann's track moved; no acme event that day
    assert events_usage("acme.example", day_before) == (1, 0)  # the group call itself


def test_a_group_call_older_than_the_stored_link_changes_nothing(source):
    AccountFactory(domain="acme.example")
    AccountFactory(domain="globex.example")
    receive(source, group("g2", "ann", "globex.example", hour=13), track("t1", "ann"))
    roll_up_all()

    receive(source, group("g1", "ann", "acme.example", hour=9))  # sent earlier, arrived late
    roll_up_all()

    link = db.session.scalar(select(UsageUserLink))
    assert (link.group_id, link.seen_at.hour) == ("globex.example", 13)
    assert events_usage("globex.example") == (1, 1)
    assert events_usage("acme.example") == (1, 0)  # the late group call is ann's activity there


def test_a_track_with_its_own_group_counts_there_whatever_its_user_is_linked_to(source):
    AccountFactory(domain="acme.example")
    AccountFactory(domain="globex.example")
    receive(
        source,
        group("g1", "ann", "acme.example"),
        track("t1", "ann", context={"groupId": "globex.example"}),
        track("t2", "ann"),
    )

    roll_up_all()

    assert (events_usage("acme.example"), events_usage("globex.example")) == ((1, 1), (1, 1))


def test_links_belong_to_their_source(source, make_connection):
    AccountFactory(domain="acme.example")
    mobile = make_connection("segment", "", {}, name="mobile app")
    receive(source, group("g1", "ann", "acme.example"))
    receive(mobile, track("t1", "ann"))

    roll_up_all()

    assert events_usage("acme.example") == (1, 0)  # the web app's group call only
    assert unattributed_events() == {mobile.id: 1}


def test_the_integrations_page_shows_each_event_sources_unattributed_events(
    source, client, make_user, login
):
    receive(source, track("t1", "ann"), track("t2", "ann"), track("t3", "bob"))
    roll_up_all()
    login(make_user("admin"))

    page = client.get("/integrations/").get_data(as_text=True)

    assert "3 unattributed" in page
