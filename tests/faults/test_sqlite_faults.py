"""The embedded default, SQLite, under real processes: a web process killed during answers
leaves no half-written answer; respondents answering while the models retrain are never told
"database is locked"; two gunicorn workers with the scheduler enabled fire each job once, and
the survivor takes over when the firing one dies."""

from __future__ import annotations

import itertools
import sys
import threading
from collections import Counter
from pathlib import Path

import requests

from tests.factories import AccountFactory, CampaignFactory, ContactFactory
from tests.faults.conftest import free_port, wait_for
from tests.integrations.test_ingest_live import port_open
from tests.surveys.helpers import invite, subscribe_to_every_event, token_of

RESPONSES = "SELECT count(*) FROM survey_responses"
# An answer is whole when its response, its invitation's status, its timeline line and its
# webhook event are all there, or none of them.
HALF_WRITTEN = {
    "responses of unanswered invitations": (
        "SELECT count(*) FROM survey_responses r JOIN survey_invitations i "
        "ON i.id = r.invitation_id WHERE i.status != 'answered'"
    ),
    "answered invitations without a response": (
        "SELECT count(*) FROM survey_invitations WHERE status = 'answered' "
        "AND id NOT IN (SELECT invitation_id FROM survey_responses)"
    ),
}
TIMELINE_LINES = "SELECT count(*) FROM timeline_entries"
RESPONSE_EVENTS = (
    "SELECT count(*) FROM webhook_deliveries WHERE event_type = 'survey_response.created'"
)


def answer_all(base_url: str, tokens: list[str], stop: threading.Event) -> None:
    """Answer each invitation once (detractors and promoters), until stopped or refused."""
    with requests.Session() as session:
        for token, score in zip(tokens, itertools.cycle(["3", "9"]), strict=False):
            if stop.is_set():
                return
            try:
                session.post(
                    f"{base_url}/s/{token}/answer",
                    data={"score": score},
                    allow_redirects=False,
                    timeout=10,
                )
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                return  # the web process was killed, before or during this answer's response


def test_a_web_process_killed_during_answers_leaves_no_half_written_answer(sqlite_db, processes):
    subscribe_to_every_event()
    for account in AccountFactory.create_batch(30):
        ContactFactory.create_batch(10, account=account)
    tokens = [token_of(invitation) for invitation in invite(CampaignFactory())]
    port = free_port()
    web = processes.start("web", ["run", "--port", str(port), "--no-reload"], sqlite_db.env())
    wait_for(lambda: port_open(port), 30, "the web process to listen")

    stop = threading.Event()
    respondents = [
        threading.Thread(target=answer_all, args=(f"http://127.0.0.1:{port}", share, stop))
        for share in (tokens[n::8] for n in range(8))
    ]
    for respondent in respondents:
        respondent.start()
    wait_for(lambda: sqlite_db.scalar(RESPONSES) >= 60, 120, "answers being stored", 0.01)
    processes.kill(web)
    stop.set()
    for respondent in respondents:
        respondent.join(timeout=15)

    stored = sqlite_db.scalar(RESPONSES)
    half = {name: sqlite_db.scalar(sql) for name, sql in HALF_WRITTEN.items()}
    print(f"\nweb process killed during answers: {stored} of {len(tokens)} stored, {half}")
    assert 0 < stored < len(tokens)
    assert half == dict.fromkeys(HALF_WRITTEN, 0)
    assert sqlite_db.scalar(TIMELINE_LINES) == stored
    assert sqlite_db.scalar(RESPONSE_EVENTS) == stored


def answer_until(base_url: str, tokens: list[str], done: threading.Event, codes: Counter) -> None:
    """Answer, and answer again with another score, until `done`: every answer is a write."""
    with requests.Session() as session:
        for token, score in zip(itertools.cycle(tokens), itertools.cycle("3948"), strict=False):
            if done.is_set():
                return
            response = session.post(
                f"{base_url}/s/{token}/answer", data={"score": score}, allow_redirects=False
            )
            codes[response.status_code] += 1


def test_respondents_answering_during_retraining_on_sqlite_are_never_refused(sqlite_db, processes):
    demo = processes.start("demo", ["demo", "--accounts", "300", "--no-scoring"], sqlite_db.env())
    assert demo.wait(timeout=300) == 0, processes.log_of(demo)
    tokens = [token_of(invitation) for invitation in invite(CampaignFactory())][:120]
    port, unlimited = free_port(), sqlite_db.env(SURVEY_PAGE_RATE_LIMIT="100000 per minute")
    processes.start("web", ["run", "--port", str(port), "--no-reload"], unlimited)
    wait_for(lambda: port_open(port), 30, "the web process to listen")

    trainer = processes.start("train", ["scoring", "train"], sqlite_db.env())
    done, codes = threading.Event(), Counter()
    respondents = [
        threading.Thread(target=answer_until, args=(f"http://127.0.0.1:{port}", share, done, codes))
        for share in (tokens[n::20] for n in range(20))
    ]
    for respondent in respondents:
        respondent.start()
    status = trainer.wait(timeout=600)
    done.set()
    for respondent in respondents:
        respondent.join(timeout=30)

    print(f"\nanswers during retraining on SQLite: {dict(codes)}")
    assert status == 0, processes.log_of(trainer)
    assert sum(codes.values()) > 100
    assert set(codes) == {303}, f"respondents were refused: {dict(codes)}"
    active = "SELECT count(*) FROM model_versions WHERE active"
    assert sqlite_db.scalar(active) == 2


def ticks(path: Path) -> Counter[int]:
    """Firings of the tick job, per process id."""
    return Counter(int(line) for line in path.read_text().split()) if path.exists() else Counter()


def test_two_gunicorn_workers_on_sqlite_fire_each_job_once_and_one_takes_over(
    sqlite_db, processes, tmp_path
):
    tick_file = tmp_path / "ticks.txt"
    env = sqlite_db.env(
        SCHEDULER_ENABLED=1,
        SCHEDULER_EXTRA_JOB_MODULES="tests.faults.fault_jobs",
        FAULT_JOBS="tick-file",
        FAULT_TICK_FILE=tick_file,
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    port = free_port()
    argv = [gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    processes.start_program("gunicorn", argv, env)
    wait_for(lambda: sum(ticks(tick_file).values()) >= 6, 90, "six ticks")

    firing = set(ticks(tick_file))
    assert len(firing) == 1, f"both workers fired the job: {ticks(tick_file)}"
    [leader] = firing
    processes.kill_pid(leader)
    wait_for(lambda: set(ticks(tick_file)) - firing, 60, "another worker to take over")
    before = ticks(tick_file)
    wait_for(lambda: sum(ticks(tick_file).values()) >= sum(before.values()) + 5, 60, "ticks")
    after = ticks(tick_file) - before
    print(f"\ntwo gunicorn workers on SQLite: ticks by pid {dict(ticks(tick_file))}")
    assert len(after) == 1, f"two workers fire after the takeover: {after}"
