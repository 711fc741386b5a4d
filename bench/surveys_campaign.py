"""Survey benchmark on PostgreSQL: plan a campaign for ~100k contacts, then deliver over SMTP.

Figures printed:
  * planning time for the campaign (audience + fatigue/throttle + invitations + outbox rows);
  * delivery rate to a local aiosmtpd sink with 1 and with 2 worker processes
    (`flask --app wsgi outbox work`), and duplicates by Message-ID.

The book is filled set-wise in SQL (N accounts, two contacts each: a champion and a user; 2 % of
accounts churned, 1 % of contacts unsubscribed, 5 % surveyed recently by another campaign), or
with the demo generator (--demo). A scratch database is created and dropped.

    .venv/bin/python bench/surveys_campaign.py --accounts 100000 --deliver 6000
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

import psycopg
from aiosmtpd.controller import Controller
from api_common import ROOT, free_port, libpq_url, scratch_database
from sqlalchemy import func, select, text, update

FILL_SQL = [
    """
    INSERT INTO accounts (name, domain, segment, plan, arr, seats, lifecycle_stage, churned_at,
                          is_demo, created_at, updated_at)
    SELECT 'Account ' || g, 'a' || g || '.example.com',
           (ARRAY['smb','mid_market','enterprise'])[1 + g % 3],
           (ARRAY['starter','growth','enterprise'])[1 + g % 3], 10000, 20,
           CASE WHEN g % 50 = 0 THEN 'churned' ELSE 'mature' END,
           CASE WHEN g % 50 = 0 THEN DATE '2026-01-01' END, true, now(), now()
    FROM generate_series(1, :accounts) AS g
    """,
    """
    INSERT INTO contacts (account_id, email, name, role, locale, timezone, unsubscribed_at,
                          created_at, updated_at)
    SELECT a.id, r.role || a.id || '@example.com', 'Person ' || a.id, r.role,
           (ARRAY['en','de','fr','es'])[1 + a.id % 4],
           (ARRAY['Europe/Berlin','America/New_York','Asia/Tokyo','UTC'])[1 + a.id % 4],
           CASE WHEN a.id % 100 = 7 THEN now() END, now(), now()
    FROM accounts a CROSS JOIN (VALUES ('champion'), ('user')) AS r(role)
    """,
]


class Sink:
    """Counts received messages by Message-ID."""

    def __init__(self) -> None:
        self.ids: collections.Counter[str] = collections.Counter()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        found = re.search(rb"^Message-ID: (.+?)\r?$", envelope.content, re.MULTILINE | re.I)
        self.ids[found.group(1).decode() if found else "?"] += 1
        return "250 OK"


def fill(app, accounts: int, demo: bool) -> None:
    from cs_platform.extensions import db

    started = time.perf_counter()
    if demo:
        from cs_platform.demo.service import seed_demo

        seed_demo(accounts=accounts, seed=7, force=True)
    else:
        for statement in FILL_SQL:
            db.session.execute(text(statement), {"accounts": accounts})
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    print(f"filled {accounts} accounts in {time.perf_counter() - started:.1f} s")


def recent_invitations(campaign_id: int) -> None:
    """5 % of champions were surveyed recently by another campaign (global fatigue)."""
    from cs_platform.extensions import db

    db.session.execute(
        text(
            """
            INSERT INTO survey_invitations (campaign_id, contact_id, account_id, period_key,
                token_hash, token_salt, status, scheduled_for, expires_at, sent_at,
                reminders_sent, created_at)
            SELECT :campaign, c.id, c.account_id, 'p0', md5(c.id::text) || md5(c.email), 'x',
                   'sent', now() - interval '10 days', now() + interval '20 days',
                   now() - interval '10 days', 0, now() - interval '10 days'
            FROM contacts c WHERE c.role = 'champion' AND c.account_id % 20 = 0
            """
        ),
        {"campaign": campaign_id},
    )
    db.session.commit()


def plan(app) -> int:
    from cs_platform.extensions import db
    from surveys.models import Campaign, Survey
    from surveys.planning import plan_campaign

    survey = Survey(name="Relationship NPS", kind="nps", texts={}, product_name="Orbit")
    earlier = Campaign(name="Earlier", survey=survey, cron="0 6 * * *", audience={})
    campaign = Campaign(
        name="Quarterly NPS",
        survey=survey,
        trigger="recurring",
        cron="0 6 * * mon",
        audience={"roles": ["champion"]},
        window_start_hour=0,
        window_end_hour=24,
        weekdays_only=False,
    )
    db.session.add_all([survey, earlier, campaign])
    db.session.commit()
    recent_invitations(earlier.id)
    started = time.perf_counter()
    result = plan_campaign(campaign)
    db.session.commit()
    elapsed = time.perf_counter() - started
    print(
        f"planned campaign: {result.invited} invitations + outbox rows, skipped {result.skipped},"
        f" in {elapsed:.2f} s"
    )
    again = time.perf_counter()
    rerun = plan_campaign(campaign)
    db.session.commit()
    print(
        f"re-run of the same period: {rerun.invited} new invitations in"
        f" {time.perf_counter() - again:.2f} s"
    )
    return campaign.id


def release(count: int) -> None:
    """Make `count` more queued emails due now (the rest wait for their send window)."""
    from cs_platform.extensions import db
    from cs_platform.models import utcnow
    from cs_platform.outbox import OutboxMessage

    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at > utcnow())
        .order_by(OutboxMessage.id)
        .limit(count)
    )
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(due)).values(next_attempt_at=utcnow())
    )
    db.session.commit()


def sent_count() -> int:
    from cs_platform.extensions import db
    from cs_platform.outbox import OutboxMessage

    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
    )


def deliver(workers: int, count: int, env: dict[str, str]) -> float:
    """Start `workers` outbox processes until `count` more messages are sent; msgs/s.

    The rate is taken from the messages' own sent_at stamps, so process start-up is not counted.
    """
    from cs_platform.extensions import db
    from cs_platform.models import utcnow
    from cs_platform.outbox import OutboxMessage

    release(count)
    since = utcnow()
    target = sent_count() + count
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work", "--batch", "200"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        for _ in range(workers)
    ]
    try:
        while sent_count() < target:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker exited early")
            time.sleep(0.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    first, last = db.session.execute(
        select(func.min(OutboxMessage.sent_at), func.max(OutboxMessage.sent_at)).where(
            OutboxMessage.sent_at >= since
        )
    ).one()
    return count / max((last - first).total_seconds(), 1e-6)


def due_emails(count: int) -> list[tuple[int, object]]:
    """`count` more due invitation messages with the product's own bytes, built beforehand."""
    from cs_platform.extensions import db
    from cs_platform.outbox import OutboxMessage
    from surveys.emails import invitation_email
    from surveys.mailer import prefetch_invitations

    release(count)
    messages = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= func.now())
        .order_by(OutboxMessage.id)
        .limit(count)
    ).all()
    invitations = {invitation.id: invitation for invitation in prefetch_invitations(messages)}
    return [(m.id, invitation_email(invitations[m.payload["invitation_id"]], 0)) for m in messages]


def delivery_floor(count: int, port: int, url: str) -> float:
    """The floor of durable delivery: the same messages' bytes over one smtplib connection, each
    followed by one UPDATE + COMMIT on a plain psycopg connection (what "sent" must cost)."""
    emails = due_emails(count)
    with psycopg.connect(libpq_url(url)) as connection, smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for message_id, email in emails:
            smtp.sendmail(email.sender, [email.recipient], email.raw)
            connection.execute(
                "UPDATE outbox_messages SET status = 'sent', sent_at = now(), "
                "attempts = attempts + 1 WHERE id = %s",
                (message_id,),
            )
            connection.commit()
        return len(emails) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--deliver", type=int, default=6000, help="messages per delivery run")
    parser.add_argument("--demo", action="store_true", help="fill with the demo generator")
    args = parser.parse_args()

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    with scratch_database("bench_surveys") as url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(controller.port),
            "LOG_LEVEL": "WARNING",
            "SCHEDULER_ENABLED": "0",
        }
        os.environ.update(env)
        from cs_platform import create_app
        from cs_platform.extensions import db

        app = create_app()
        with app.app_context():
            db.create_all()
            fill(app, args.accounts, args.demo)
            plan(app)
            floor = delivery_floor(args.deliver, controller.port, url)
            print(f"floor (one SMTP connection, UPDATE + COMMIT per message): {floor:.0f} msg/s")
            for workers in (1, 2):
                rate = deliver(workers, args.deliver, env)
                print(
                    f"{workers} worker(s): {rate:.0f} messages/s"
                    f" ({rate / workers:.0f} per worker, {rate / workers / floor:.2f} of the"
                    f" floor), {args.deliver} messages"
                )
            duplicates = sum(n - 1 for n in sink.ids.values() if n > 1)
            print(
                f"received {sum(sink.ids.values())} messages, {len(sink.ids)} distinct"
                f" Message-IDs, {duplicates} duplicates"
            )
            db.session.remove()
            db.engine.dispose()
    controller.stop()


if __name__ == "__main__":
    main()
