"""Quiet hours hold an alert until they end, in the user's own time zone, across midnight too."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cs_platform import clock, outbox
from cs_platform.alerts.notify import Alert, enqueue_alerts
from cs_platform.alerts.quiet_hours import quiet_until
from cs_platform.extensions import db
from tests.cs_platform.alerts.conftest import messages, prefer

NEW_YORK = ZoneInfo("America/New_York")  # EDT (UTC-4) from 2036-03-09
NIGHT = (dt.time(22, 0), dt.time(7, 0))
LUNCH = (dt.time(12, 0), dt.time(13, 30))


@pytest.mark.parametrize(
    ("now", "window", "released"),
    [
        # 22:30 local on the 10th: held until 07:00 local on the 11th.
        (dt.datetime(2036, 3, 11, 2, 30), NIGHT, dt.datetime(2036, 3, 11, 11, 0)),
        # 00:30 local on the 11th: the same window's end, the same morning.
        (dt.datetime(2036, 3, 11, 4, 30), NIGHT, dt.datetime(2036, 3, 11, 11, 0)),
        # 08:00 local: outside the night window.
        (dt.datetime(2036, 3, 11, 12, 0), NIGHT, None),
        # 12:15 local: inside a same-day window, released at its end.
        (dt.datetime(2036, 3, 11, 16, 15), LUNCH, dt.datetime(2036, 3, 11, 17, 30)),
        # 13:30 local: the end itself is no longer quiet.
        (dt.datetime(2036, 3, 11, 17, 30), LUNCH, None),
    ],
)
def test_the_release_is_the_end_of_the_window_now_falls_in(now, window, released):
    assert quiet_until(now, *window, NEW_YORK) == released


def test_no_window_holds_nothing():
    now = dt.datetime(2036, 3, 11, 2, 30)
    assert quiet_until(now, None, None, NEW_YORK) is None
    assert quiet_until(now, dt.time(9), dt.time(9), NEW_YORK) is None


def test_the_end_is_read_on_the_local_calendar_across_a_dst_change():
    # 23:00 EST on 2036-03-08; 07:00 on the 9th is already EDT (UTC-4).
    now = dt.datetime(2036, 3, 9, 4, 0)
    assert quiet_until(now, *NIGHT, NEW_YORK) == dt.datetime(2036, 3, 9, 11, 0)


@pytest.fixture
def now_is(monkeypatch):
    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(clock, "utcnow", lambda: moment)

    return set_now


def alert(user) -> Alert:
    return Alert(user.id, "escalation", 17, "Acme", "still red after 7 days", "esc:17:7d")


def test_an_alert_raised_in_the_users_quiet_night_waits_for_its_morning(csm, now_is):
    csm_zone = "America/New_York"
    prefer(csm, timezone=csm_zone, quiet_start=NIGHT[0], quiet_end=NIGHT[1])
    now_is(dt.datetime(2036, 3, 11, 2, 30))  # 22:30 in New York, 02:30 in UTC
    assert enqueue_alerts([alert(csm)]) == 1
    db.session.commit()
    [message] = messages()
    assert message.next_attempt_at == dt.datetime(2036, 3, 11, 11, 0)
    assert outbox.process_batch("test-worker", 10).claimed == 0  # not due before then


def test_without_a_zone_of_their_own_the_business_zone_counts(app, csm, now_is):
    prefer(csm, quiet_start=NIGHT[0], quiet_end=NIGHT[1])
    now_is(dt.datetime(2036, 3, 11, 2, 30))  # 02:30 in UTC, the business zone here
    enqueue_alerts([alert(csm)])
    db.session.commit()
    assert messages()[0].next_attempt_at == dt.datetime(2036, 3, 11, 7, 0)


def test_an_alert_outside_quiet_hours_is_due_at_once(csm, now_is):
    prefer(csm, timezone="America/New_York", quiet_start=NIGHT[0], quiet_end=NIGHT[1])
    now_is(dt.datetime(2036, 3, 11, 12, 0))  # 08:00 in New York
    enqueue_alerts([alert(csm)])
    db.session.commit()
    assert messages()[0].next_attempt_at < dt.datetime(2036, 3, 11, 12, 0)
