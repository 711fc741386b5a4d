"""Survey benchmark on PostgreSQL: plan a campaign for ~100k contacts, then deliver over SMTP.

Figures printed:
  * planning time for the campaign (audience + fatigue/throttle + invitations + outbox rows),
    beside its floor in the same run: the same planning as one INSERT ... SELECT with
    data-modifying CTEs (run first, checked to make the same invitations at the same times, then
    deleted); the cost per 1,000 contacts planned, and the peak memory of this process;
  * delivery rate to a local aiosmtpd sink with 1 and with 2 worker processes
    (`flask --app wsgi outbox work`) beside its floor (the same messages' bytes over one SMTP
    connection to the same sink, one UPDATE + COMMIT each), timed in turns: --rounds rounds of
    floor, 1 worker, floor, 2 workers, with the ratios of each round and their medians; the CPU
    per message of the workers, their PostgreSQL backends and the sink; duplicates by Message-ID.

The book is filled set-wise in SQL (N accounts, --contacts each: a champion and users, the
campaign asks the champions; 2 % of accounts churned, 1 % of contacts unsubscribed, 5 % surveyed
recently by another campaign), or with the demo generator (--demo). A scratch database (named
--prefix_...) is created and dropped, also when the bench is stopped by SIGTERM or SIGHUP.

    .venv/bin/python bench/surveys_campaign.py --accounts 100000 --deliver 6000
    .venv/bin/python bench/surveys_campaign.py --accounts 1000000 --contacts 1 --deliver 200
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import os
import re
import resource
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from aiosmtpd.controller import Controller
from api_common import (
    ROOT,
    add_port_option,
    exit_cleanly_on_signals,
    libpq_url,
    port_or_free,
    scratch_database,
)
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
    SELECT a.id, r.role || a.id || '.' || n || '@example.com', 'Person ' || a.id, r.role,
           (ARRAY['en','de','fr','es'])[1 + a.id % 4],
           (ARRAY['Europe/Berlin','America/New_York','Asia/Tokyo','UTC'])[1 + a.id % 4],
           CASE WHEN a.id % 100 = 7 THEN now() END, now(), now()
    FROM accounts a CROSS JOIN generate_series(1, :contacts) AS n
    CROSS JOIN LATERAL (SELECT CASE n WHEN 1 THEN 'champion' ELSE 'user' END AS role) r
    """,
]
# The floor of planning: the bench campaign's rules (audience, not planned yet this period,
# throttle, fatigue; 100 % sample and no drip, as the campaign has) as one statement. The send
# window of each time zone (the first open at :now, as schedule.window_bounds finds it), the
# minute in it, the salt (pgcrypto's gen_random_bytes) and the token hash (HMAC under the secret,
# as tokens.derive_token, then sha256) are all computed in SQL.
FLOOR_SQL = """
WITH audience AS (
  SELECT c.id, c.account_id, c.timezone, c.last_surveyed_at
  FROM contacts c JOIN accounts a ON a.id = c.account_id
  WHERE c.unsubscribed_at IS NULL AND c.bounced_at IS NULL AND a.churned_at IS NULL
    AND a.lifecycle_stage <> 'churned' AND c.role = ANY(:roles)
    AND NOT EXISTS (SELECT FROM survey_invitations i WHERE i.campaign_id = :campaign
                    AND i.contact_id = c.id AND i.period_key = :period)
    AND NOT EXISTS (SELECT FROM survey_skips s WHERE s.campaign_id = :campaign
                    AND s.contact_id = c.id AND s.period_key = :period)
), decided AS (
  SELECT au.*, CASE
    WHEN EXISTS (SELECT FROM survey_invitations i WHERE i.contact_id = au.id
                 AND i.campaign_id = :campaign AND i.created_at >= :campaign_since
                 AND i.status NOT IN ('cancelled', 'failed')) THEN 'campaign_throttle'
    WHEN au.last_surveyed_at >= :global_since
      OR EXISTS (SELECT FROM survey_invitations i WHERE i.contact_id = au.id
                 AND i.created_at >= :global_since AND i.status NOT IN ('cancelled', 'failed'))
      THEN 'global_fatigue'
  END AS reason
  FROM audience au
), zone AS (
  SELECT z.timezone, w.opens,
         greatest(1, floor(extract(epoch FROM w.closes - w.opens) / 60))::int AS minutes
  FROM (SELECT DISTINCT timezone FROM decided WHERE reason IS NULL) z
  CROSS JOIN LATERAL (
    SELECT (greatest(l.local, d.day + make_interval(hours => :start_hour))
            AT TIME ZONE z.timezone) AT TIME ZONE 'UTC' AS opens,
           ((d.day + make_interval(hours => :end_hour)) AT TIME ZONE z.timezone)
            AT TIME ZONE 'UTC' AS closes
    FROM (SELECT (CAST(:now AS timestamp) AT TIME ZONE 'UTC') AT TIME ZONE z.timezone AS local) l
    CROSS JOIN generate_series(0, 7) AS n
    CROSS JOIN LATERAL (SELECT CAST(l.local AS date) + n AS day) d
    WHERE (NOT :weekdays_only OR extract(isodow FROM d.day) < 6)
      AND l.local < d.day + make_interval(hours => :end_hour)
    ORDER BY n LIMIT 1
  ) w
), skipped AS (
  INSERT INTO survey_skips (campaign_id, contact_id, period_key, reason, created_at)
  SELECT :campaign, id, :period, reason, :now FROM decided WHERE reason IS NOT NULL
  ON CONFLICT DO NOTHING
), salted AS (
  SELECT d.id, d.account_id, encode(gen_random_bytes(16), 'hex') AS salt,
         z.opens + (d.id::bigint * 7919 % z.minutes) * interval '1 minute' AS at
  FROM decided d JOIN zone z USING (timezone) WHERE d.reason IS NULL
), invited AS (
  INSERT INTO survey_invitations (campaign_id, contact_id, account_id, period_key, token_salt,
      token_hash, status, scheduled_for, expires_at, reminders_sent, created_at)
  SELECT :campaign, id, account_id, :period, salt,
         encode(sha256(convert_to(rtrim(translate(encode(substring(
           hmac('survey-invitation:' || salt, :secret, 'sha256') FROM 1 FOR 16), 'base64'),
           '+/', '-_'), '='), 'UTF8')), 'hex'),
         'scheduled', at, at + make_interval(days => :expiry_days), 0, :now
  FROM salted
  ON CONFLICT DO NOTHING
  RETURNING id, scheduled_for
), queued AS (
  INSERT INTO outbox_messages (kind, payload, dedupe_key, status, attempts, next_attempt_at,
                               created_at)
  SELECT 'email', json_build_object('template', 'invitation', 'invitation_id', id),
         format('invitation:%s:0', id), 'pending', 0, scheduled_for, :now
  FROM invited
)
SELECT count(*) FROM invited
"""


class Sink:
    """Counts received messages by Message-ID (`apart` sets aside what the floor sends)."""

    def __init__(self) -> None:
        self.ids: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def apart(self) -> Iterator[None]:
        """Count what arrives meanwhile elsewhere (the same work per message, not in `ids`)."""
        kept, self.ids = self.ids, collections.Counter()
        try:
            yield
        finally:
            self.ids = kept

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        found = re.search(rb"^Message-ID: (.+?)\r?$", envelope.content, re.MULTILINE | re.I)
        self.ids[found.group(1).decode() if found else "?"] += 1
        return "250 OK"


@contextlib.contextmanager
def stopping(controller: Controller) -> Iterator[Controller]:
    """The SMTP sink, stopped however the run ends."""
    try:
        yield controller
    finally:
        controller.stop()


def fill(app, accounts: int, contacts: int, demo: bool) -> None:
    from cs_platform.extensions import db

    started = time.perf_counter()
    if demo:
        from cs_platform.demo.service import seed_demo

        seed_demo(accounts=accounts, seed=7, force=True)
    else:
        for statement in FILL_SQL:
            db.session.execute(text(statement), {"accounts": accounts, "contacts": contacts})
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
    from cs_platform.models import utcnow
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
    now = utcnow()
    floor_seconds, floor_invited = plan_floor(campaign, now)
    load, memory_before = os.getloadavg()[0], peak_memory_mib()
    started = time.perf_counter()
    result = plan_campaign(campaign, now=now)
    db.session.commit()
    elapsed = time.perf_counter() - started
    planned = result.invited + sum(result.skipped.values())
    print(
        f"planned campaign: {result.invited} invitations + outbox rows, skipped {result.skipped},"
        f" in {elapsed:.2f} s; floor {floor_seconds:.2f} s ({floor_invited} invitations,"
        f" {differences(campaign.id)} differences), ratio {elapsed / floor_seconds:.2f},"
        f" load {load:.2f}"
    )
    print(
        f"per 1,000 contacts planned: {1000 * elapsed / planned * 1000:.1f} ms"
        f" (floor {1000 * floor_seconds / planned * 1000:.1f} ms); peak memory of this process"
        f" {peak_memory_mib():.0f} MiB ({memory_before:.0f} MiB before planning)"
    )
    again = time.perf_counter()
    rerun = plan_campaign(campaign)
    db.session.commit()
    print(
        f"re-run of the same period: {rerun.invited} new invitations in"
        f" {time.perf_counter() - again:.2f} s"
    )
    return campaign.id


def plan_floor(campaign, now) -> tuple[float, int]:
    """Run the floor (FLOOR_SQL) for `campaign` at `now`, keep what it made in the table
    bench_floor_plan, check one of its tokens, then delete its rows; (seconds, invitations)."""
    from flask import current_app

    from cs_platform.extensions import db
    from surveys.schedule import period_key
    from surveys.tokens import derive_token, hash_token

    db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pgcrypto"))
    db.session.commit()
    secret = current_app.config["SECRET_KEY"]
    params = {
        "campaign": campaign.id,
        "roles": campaign.audience["roles"],
        "period": period_key(now, campaign.period_days),
        "now": now,
        "campaign_since": now - dt.timedelta(days=campaign.throttle_days),
        "global_since": now - dt.timedelta(days=current_app.config["SURVEY_FATIGUE_DAYS"]),
        "start_hour": campaign.window_start_hour,
        "end_hour": campaign.window_end_hour,
        "weekdays_only": campaign.weekdays_only,
        "expiry_days": campaign.expiry_days,
        "secret": secret,
    }
    started = time.perf_counter()
    invited = db.session.execute(text(FLOOR_SQL), params).scalar_one()
    db.session.commit()
    elapsed = time.perf_counter() - started
    mine = {"campaign": campaign.id}
    db.session.execute(
        text(
            "CREATE TABLE bench_floor_plan AS SELECT contact_id, scheduled_for, token_salt,"
            " token_hash FROM survey_invitations WHERE campaign_id = :campaign"
        ),
        mine,
    )
    salt, stored = db.session.execute(
        text("SELECT token_salt, token_hash FROM bench_floor_plan LIMIT 1")
    ).one()
    assert hash_token(derive_token(secret, salt)) == stored, (
        "the floor's tokens are not the product's"
    )
    delete_plan(campaign.id)
    return elapsed, invited


def delete_plan(campaign_id: int) -> None:
    """Delete a campaign's invitations, their emails and its skips, and vacuum the tables."""
    from cs_platform.extensions import db

    mine = {"campaign": campaign_id}
    db.session.execute(
        text(
            "DELETE FROM outbox_messages o USING survey_invitations i"
            " WHERE o.dedupe_key = format('invitation:%s:0', i.id) AND i.campaign_id = :campaign"
        ),
        mine,
    )
    for table in ("survey_invitations", "survey_skips"):
        db.session.execute(text(f"DELETE FROM {table} WHERE campaign_id = :campaign"), mine)
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE survey_invitations, survey_skips, outbox_messages"))


def differences(campaign_id: int) -> int:
    """Invitations (contact, send time) that the floor made and the product did not, or the
    other way round."""
    from cs_platform.extensions import db

    return db.session.execute(
        text(
            """
            SELECT count(*) FROM (
              (SELECT contact_id, scheduled_for FROM bench_floor_plan
               EXCEPT ALL SELECT contact_id, scheduled_for FROM survey_invitations
               WHERE campaign_id = :campaign)
              UNION ALL
              (SELECT contact_id, scheduled_for FROM survey_invitations
               WHERE campaign_id = :campaign
               EXCEPT ALL SELECT contact_id, scheduled_for FROM bench_floor_plan)
            ) d
            """
        ),
        {"campaign": campaign_id},
    ).scalar_one()


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def release(count: int) -> None:
    """Make the first `count` queued emails due now, and only them (the rest wait for their send
    window): those the floor sent and queued again are the first."""
    from cs_platform.extensions import db
    from cs_platform.models import utcnow
    from cs_platform.outbox import OutboxMessage

    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending")
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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by the processes `pids` (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def backend_pids() -> list[int]:
    """The PostgreSQL server processes of the other sessions on this database (the workers')."""
    from cs_platform.extensions import db

    return list(
        db.session.scalars(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    )


def cpu_sample(processes: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds so far of the workers, of their PostgreSQL backends and of this process (the
    SMTP sink, and the polling)."""
    return {
        "workers": cpu_seconds([process.pid for process in processes]),
        "postgres": cpu_seconds(backend_pids()),
        "sink": time.process_time(),
    }


def deliver(workers: int, count: int, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Start `workers` outbox processes until `count` more messages are sent; msgs/s, and the
    CPU milliseconds per message of each `cpu_sample` part, from the first tenth of the messages
    sent (past the workers' start-up) to the last.

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
    started: tuple[int, dict[str, float]] | None = None
    try:
        while (sent := sent_count()) < target:
            if any(process.poll() is not None for process in processes):
                raise SystemExit("a worker exited early")
            if started is None and sent >= target - count * 0.9:
                started = sent, cpu_sample(processes)
            time.sleep(0.2)
        assert started is not None, "no sample past start-up"
        ended = cpu_sample(processes)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)
    per_message = 1000 / (sent - started[0])
    cpu = {part: (ended[part] - started[1][part]) * per_message for part in ended}
    first, last = db.session.execute(
        select(func.min(OutboxMessage.sent_at), func.max(OutboxMessage.sent_at)).where(
            OutboxMessage.sent_at >= since
        )
    ).one()
    return count / max((last - first).total_seconds(), 1e-6), cpu


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
    """The floor of durable delivery, msg/s: the next `count` messages' bytes over one smtplib
    connection, each followed by one UPDATE + COMMIT on a plain psycopg connection (what "sent"
    must cost); then the messages are queued again, for the workers to send next."""
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
        elapsed = time.perf_counter() - started
    requeue([message_id for message_id, _ in emails])
    return len(emails) / elapsed


def requeue(ids: list[int]) -> None:
    """Put messages the floor sent back in the queue as they were, and vacuum the table, so the
    workers find it as the floor did."""
    from cs_platform.extensions import db

    db.session.execute(
        text(
            "UPDATE outbox_messages SET status = 'pending', sent_at = NULL, attempts = 0"
            " WHERE id = ANY(:ids)"
        ),
        {"ids": ids},
    )
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE outbox_messages"))


def hold_queue() -> None:
    """Postpone every queued email by a day, so that only `release` makes any due (the plan
    sends some in the minutes the bench runs)."""
    from cs_platform.extensions import db

    db.session.execute(
        text(
            "UPDATE outbox_messages SET next_attempt_at = next_attempt_at + interval '1 day'"
            " WHERE status = 'pending'"
        )
    )
    db.session.commit()


def queued_count() -> int:
    from cs_platform.extensions import db
    from cs_platform.outbox import OutboxMessage

    return db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    )


@dataclass(frozen=True)
class DeliveryRun:
    """One run of the workers beside the run of the floor just before it."""

    workers: int
    floor: float  # msg/s
    rate: float  # msg/s of all the workers together
    cpu: dict[str, float]  # CPU ms per message of each `cpu_sample` part
    load: float

    @property
    def ratio(self) -> float:
        """Each worker's rate over the floor's."""
        return self.rate / self.workers / self.floor

    def print(self, number: int) -> None:
        print(
            f"round {number}: floor (one SMTP connection, UPDATE + COMMIT per message)"
            f" {self.floor:.0f} msg/s; {self.workers} worker(s) {self.rate:.0f} msg/s"
            f" ({self.rate / self.workers:.0f} per worker, {self.ratio:.2f} of the floor),"
            f" load {self.load:.2f}"
        )
        together = sum(self.cpu.values())
        cores = os.cpu_count() or 1
        print(
            "  CPU ms per message: "
            + ", ".join(f"{name} {ms:.2f}" for name, ms in self.cpu.items())
            + f"; together {together:.2f}, so {cores} cores allow at most"
            f" {1000 * cores / together:.0f} msg/s"
        )


def compare_delivery(count: int, rounds: int, port: int, env: dict[str, str], sink: Sink) -> None:
    """`rounds` rounds of: floor, 1 worker, floor, 2 workers, each floor run just before the
    workers and on the messages they send next, so that each pair sees the same load; prints
    every run, the CPU per message, and the medians of the ratios."""
    needed = 2 * rounds * count
    if queued_count() < needed:
        raise SystemExit(f"{needed} queued emails needed, {queued_count()} planned: more accounts")
    hold_queue()
    ratios: dict[int, list[float]] = {1: [], 2: []}
    adds = []
    for number in range(1, rounds + 1):
        rates = {}
        for workers in (1, 2):
            with sink.apart():
                floor = delivery_floor(count, port, env["DATABASE_URL"])
            load = os.getloadavg()[0]
            run = DeliveryRun(workers, floor, *deliver(workers, count, env), load)
            run.print(number)
            rates[workers] = run.rate
            ratios[workers].append(run.ratio)
        adds.append(rates[2] / rates[1] - 1)
        print(f"  round {number}: the second worker adds {adds[-1]:.0%}")
    print(
        f"median of {rounds} rounds, {count} messages a run: 1 worker"
        f" {statistics.median(ratios[1]):.2f} of the floor, 2 workers"
        f" {statistics.median(ratios[2]):.2f} of it per worker, the second worker adds"
        f" {statistics.median(adds):.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--contacts", type=int, default=2, help="contacts per account")
    parser.add_argument("--deliver", type=int, default=6000, help="messages per delivery run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor and workers")
    parser.add_argument("--demo", action="store_true", help="fill with the demo generator")
    parser.add_argument("--prefix", default="bench_surveys", help="scratch database name prefix")
    add_port_option(parser, what="SMTP sink")
    args = parser.parse_args()
    exit_cleanly_on_signals()

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port_or_free(args.port))
    controller.start()
    with (
        stopping(controller),
        scratch_database(args.prefix) as url,
        tempfile.TemporaryDirectory(prefix="bench-surveys-") as instance,
    ):
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "INSTANCE_PATH": instance,
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
            fill(app, args.accounts, args.contacts, args.demo)
            plan(app)
            compare_delivery(args.deliver, args.rounds, controller.port, env, sink)
            duplicates = sum(n - 1 for n in sink.ids.values() if n > 1)
            print(
                f"received {sum(sink.ids.values())} messages, {len(sink.ids)} distinct"
                f" Message-IDs, {duplicates} duplicates"
            )
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
